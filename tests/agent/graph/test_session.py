"""Session: a real tracker indexes a video once into a SQLite library, questions retrieve segments,
chat keeps history on one thread."""

from __future__ import annotations

import numpy as np
import pytest

from videothought.agent.context import VoTContext, VoTSettings
from videothought.agent.llm import FakeLanguageModel
from videothought.agent.session import Session, answer_object, history_entry, split_choices
from videothought.graph.segments import merge_documents
from videothought.library import CorruptLibraryError
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
    assert session.library.path == tmp_path / "library.sqlite" and session.index_seconds > 0
    hits = session.index.search("the blue circle", ["blue circle"], k=2)
    assert [h.start_seconds for h in sorted(hits, key=lambda h: h.segment)] == [0.0, 3.0]
    assert "red square" in hits[-1].summary or "red square" in hits[0].summary
    assert session.index.retrieve("What does the blue circle do?", ["blue circle"], k=1)[1] == [1]
    assert session.index.retrieve("What does the red square do?", ["red square"], k=1)[1] == [0]

    again = Session(video, context=context(["x"]), cache_dir=tmp_path, segment_seconds=3.0, index_fps=5.0)
    assert again.index_seconds == 0 and again.index.record == session.index.record  # found in the library

    answer = session.chat("Which object is in the video? the red square | the green star")
    assert answer == "the red square"
    assert session.history[0]["targets"] == ["red square"]  # the answer names a tracked object
    follow_up = session.ask("What does it do?", remember=True)
    assert follow_up.state["segments"], "a long video's question looks at retrieved segments"
    assert [turn["question"] for turn in session.history] == ["Which object is in the video?", "What does it do?"]
    assert follow_up.thread_id == session.thread_id
    assert follow_up.state["history"][0]["answer"] == "the red square"  # the earlier turn, in this turn's state

    across = Session(context=context(["x"]), library=tmp_path / "library.sqlite")
    assert across.index is None and across.library.videos()[0].status == "complete"


def test_history_names_the_answer_object_when_it_is_tracked():
    doc = {"graph": {"nodes": []}, "tracks": {"3": {"label": "red circle", "attributes": {"colour": "red"}}},
           "events": []}
    assert answer_object("the red circle", doc) == "red circle"
    assert answer_object("it bounces off the top edge", doc) is None
    state = {"stsg": doc, "targets": [{"phrase": "blue star", "track_ids": [4]}], "segments": [2]}
    assert history_entry("Which object stops?", "The red circle.", state)["targets"] == ["red circle"]
    assert history_entry("What does it do?", "it stops", state) == {
        "question": "What does it do?", "answer": "it stops", "targets": ["blue star"], "segments": [2],
        "statement": "it stops", "anchor_frame": None, "track_ids": []}  # no earlier turn to name "it"
    # the claim that supported the answer gives a later "after that" its moment and "it" its tracks
    checked = {**state, "verification": {"perception": {"score": 1.0, "frame": 41, "track_ids": [3]}}}
    entry = history_entry("Which object stops?", "the red circle", checked)
    assert (entry["anchor_frame"], entry["track_ids"]) == (41, [3])
    unseen = {**state, "verification": {"perception": {"score": -1.0, "frame": None, "track_ids": []}}}
    unseen_entry = history_entry("Which object stops?", "the red circle", unseen)
    assert unseen_entry["anchor_frame"] is None
    assert unseen_entry["track_ids"] == [3]  # nothing checked it, but the answer names one tracked object: "it"
    state["history"] = [{"question": "Which object stops?", "answer": "the red circle", "targets": ["red circle"]}]
    entry = history_entry("What does it do right after that?", "bounces off the top edge", state)
    assert entry["statement"] == "the red circle bounces off the top edge right after that"


def test_answer_statements():
    from videothought.agent.session import answer_statement

    assert answer_statement("Which object does it hit after that?", "the blue star", "the red circle") == \
        "the red circle hit the blue star after that"
    assert answer_statement("Which object collides with the star first?", "the red circle") == \
        "the red circle collides with the star first"
    assert answer_statement("What colour is the star?", "red") is None


def test_a_corrupt_library_file_is_rebuilt(video, tmp_path):
    (tmp_path / "library.sqlite").write_bytes(b"garbage" * 50)
    with pytest.raises(CorruptLibraryError):
        from videothought.library import Library

        Library(tmp_path / "library.sqlite")
    session = Session(video, context=context(["x"]), cache_dir=tmp_path, segment_seconds=3.0, index_fps=5.0)
    assert session.index.record.status == "complete"
    assert list(tmp_path.glob("library.sqlite.corrupt-*"))


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
    with pytest.raises(ValueError, match="needs a video, a library, or both"):
        Session(context=context(["x"]))
    assert split_choices("Which? a | b") == ("Which?", ["a", "b"])
    assert split_choices("What happens?") == ("What happens?", [])


@pytest.mark.slow
def test_vot_chat_indexes_with_a_progress_bar_and_answers_lines(video, tmp_path):
    import subprocess
    import sys

    lines = "Which object is in the video? the red square | the green star\n/trace\n/quit\n"
    result = subprocess.run([sys.executable, "-m", "videothought.cli", "chat", str(video), "--lm", "fake",
                             "--cache-dir", str(tmp_path), "--segment-seconds", "3", "--index-fps", "5"],
                            input=lines, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "indexing" in result.stderr and "2 segments indexed" in result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "the red square"
    assert "1. identify_targets" in result.stdout  # /trace printed the last answer's steps
