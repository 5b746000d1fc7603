"""Session: a real tracker indexes a video once into segments, questions retrieve segments, chat keeps history."""

from __future__ import annotations

import numpy as np
import pytest

from videothought.agent.context import VoTContext, VoTSettings
from videothought.agent.llm import FakeLanguageModel
from videothought.agent.session import Session, SegmentIndex, merge_documents, split_choices
from videothought.perception.video import VideoNotFoundError, write_video


def two_part_frames(fps: int = 10, seconds: int = 3) -> np.ndarray:
    """A red square crosses left to right, then a blue circle crosses right to left, on grey."""
    n = fps * seconds
    frames = np.full((2 * n, 120, 160, 3), 90, dtype=np.uint8)  # (T, H, W, 3)
    yy, xx = np.mgrid[0:120, 0:160]
    for t in range(n):
        x = 10 + t * 4
        frames[t, 50:70, x : x + 20] = (220, 30, 30)
        cx = 150 - t * 4
        frames[n + t][(xx - cx) ** 2 + (yy - 60) ** 2 <= 100] = (40, 70, 225)
    return frames


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("session") / "two.mp4", two_part_frames(), fps=10.0)


def context(replies):
    return VoTContext(lm=FakeLanguageModel(replies=replies), settings=VoTSettings(segments_per_question=1))


@pytest.mark.slow
def test_index_once_retrieve_segments_and_chat(video, tmp_path):
    session = Session(video, context=context(["The square moves.", "yes"]), cache_dir=tmp_path, segment_seconds=3.0,
                      index_fps=5.0)
    index = session.index
    assert [s["start_frame"] for s in index.segments] == [0, 30] and session.index_seconds > 0
    labels = [sorted(v["label"] for v in s["labels"].values()) for s in index.segments]
    assert "red square" in labels[0] and "blue circle" in labels[1], labels
    assert index.retrieve("What does the blue circle do?", ["blue circle"], k=1)[1] == [1]
    assert index.retrieve("What does the red square do?", ["red square"], k=1)[1] == [0]

    again = Session(video, context=context(["x"]), cache_dir=tmp_path, segment_seconds=3.0, index_fps=5.0)
    assert again.index_seconds == 0 and again.index.segments == index.segments  # loaded from the cache

    answer = session.chat("Which object is in the video? the red square | the green star")
    assert answer == "the red square"
    follow_up = session.ask("What does it do?", remember=True)
    first = follow_up.trace[0]
    assert first["node"] == "identify_targets" and first["outputs"]["targets"][0] == "red square"
    assert follow_up.state["segments"] == [0]
    assert [turn["question"] for turn in session.history] == ["Which object is in the video?", "What does it do?"]
    assert follow_up.thread_id == session.thread_id
    assert follow_up.state["history"][0]["answer"] == "the red square"  # the earlier turn, in this turn's state


def test_merge_documents_keeps_tracks_of_segments_apart():
    def doc(track_id, frame):
        node = {"id": f"o:{track_id}:{frame}", "kind": "observation", "track_id": track_id, "frame_index": frame,
                "box": [0, 0, 4, 4]}
        return {"video": {"width": 16, "height": 16}, "graph": {"nodes": [node], "links": []},
                "tracks": {str(track_id): {"label": "red circle", "attributes": {}}},
                "events": [{"type": "stop", "track_ids": [track_id], "start_frame": frame, "end_frame": frame}]}

    merged = merge_documents([doc(1, 5), doc(1, 95)], [0, 3], fps=10.0)
    assert sorted(merged["tracks"]) == ["1", "300001"]
    assert [n["id"] for n in merged["graph"]["nodes"]] == ["o:1:5", "o:300001:95"]
    assert [e["track_ids"] for e in merged["events"]] == [[1], [300001]]


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(VideoNotFoundError, match="no such file"):
        Session(tmp_path / "missing.mp4", context=context(["x"]), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="index version"):
        SegmentIndex.from_dict({"version": 99})
    assert split_choices("Which? a | b") == ("Which?", ["a", "b"])
    assert split_choices("What happens?") == ("What happens?", [])


@pytest.mark.slow
def test_vot_chat_indexes_with_a_progress_bar_and_answers_lines(video, tmp_path):
    import subprocess
    import sys

    lines = "Which object is in the video? the red square | the green star\n/trace\n/quit\n"
    result = subprocess.run([sys.executable, "-m", "videothought.agent.cli", "chat", str(video), "--lm", "fake",
                             "--cache-dir", str(tmp_path), "--segment-seconds", "3", "--index-fps", "5"],
                            input=lines, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "indexing" in result.stderr and "2 segments indexed" in result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "the red square"
    assert "1. identify_targets" in result.stdout  # /trace printed the last answer's steps
