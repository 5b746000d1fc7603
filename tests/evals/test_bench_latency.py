"""`vot bench agent --latency` (evals/bench_latency.py): seconds per question and per node on world
clips and real clips (the real graph, the fake LLM), the model load time and the load average."""

from __future__ import annotations

import hashlib
import json

import pytest

from videothought.evals import bench_agent as bench
from videothought.evals.bench_latency import (in_turn, latency_summary, latency_table, median_p90, real_latency,
                                             run_latency)

from .agent_context import fake_llm_context


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A one-video 10-second world where the latency bench looks for its world clips."""
    from videothought.evals.world.dataset import generate_world

    work = tmp_path_factory.mktemp("latency")
    generate_world(work / "ten_seconds", 1, 5, seconds=10.0)
    return work


def arguments(work, *extra: str):
    import argparse

    parser = argparse.ArgumentParser()
    bench.configure(parser)
    return parser.parse_args(["--latency-only", "--work-dir", str(work), *extra])


def test_median_and_nearest_rank_p90():
    assert median_p90([3.0, 1.0, 2.0]) == {"median": 2.0, "p90": 3.0}
    assert median_p90(list(range(1, 11))) == {"median": 5.5, "p90": 9}
    assert median_p90([]) == {"median": None, "p90": None}


def test_items_are_taken_from_each_clip_in_turn():
    assert in_turn({"a": [1, 2, 3], "b": [4], "c": [5, 6]}, 5) == [1, 4, 5, 2, 6]
    assert in_turn({"a": [1], "b": []}, 9) == [1]


def test_the_summary_keeps_tracking_apart():
    runs = [{"seconds": 10.0, "track_seconds": 8.0, "node_seconds": {"track": 8.0, "rank_answers": 2.0}, "llm_calls": 2},
            {"seconds": 3.0, "track_seconds": 0.0, "node_seconds": {"track": 0.0, "rank_answers": 3.0}, "llm_calls": 1},
            {"seconds": 4.0, "track_seconds": 0.0, "node_seconds": {"track": 0.0, "rank_answers": 4.0}, "llm_calls": 3}]
    summary = latency_summary(runs, [True, False, False])
    assert summary["seconds"] == {"median": 4.0, "p90": 10.0}
    assert summary["seconds_after_tracking"] == {"median": 3.0, "p90": 4.0}
    assert summary["tracking_seconds_per_video"] == {"median": 8.0, "p90": 8.0}  # first questions only
    assert summary["nodes"]["rank_answers"] == {"median": 3.0, "p90": 4.0}
    assert summary["median_llm_calls"] == 2


def test_world_clips_per_node_through_the_real_graph(world, capsys):
    out = run_latency(arguments(world, "--latency-sets", "world", "--latency-questions", "2"), fake_llm_context(),
                      bench.load_questions)
    assert set(out) == {"world"}
    summary = out["world"]
    assert summary["questions"] == 2
    assert {"identify_targets", "track", "rank_answers"} <= set(summary["nodes"])
    assert summary["tracking_seconds_per_video"]["median"] > 0  # the first question tracked the video
    assert summary["seconds"]["p90"] >= summary["seconds"]["median"] > 0
    table = latency_table(out)
    assert "| track |" in table and "world clips (2 questions)" in table


def _clip_set(tmp_path, clip_bytes: bytes, video_name: str = "clip.mp4"):
    """A real-footage set of two questions on one clip (a world video stands in for the footage)."""
    root = tmp_path / "set"
    (root / "clips").mkdir(parents=True)
    (root / "clips" / video_name).write_bytes(clip_bytes)
    manifest = {"roots": [{"name": "here", "path": "clips", "relative_to": "dataset", "how": "copy it"}],
                "clips": [{"file": video_name, "sha256": hashlib.sha256(clip_bytes).hexdigest()}]}
    (root / "clips.json").write_text(json.dumps(manifest))
    questions = [{"qid": f"q{i}", "video": video_name, "type": "direction", "question": "Which way does it move?",
                  "options": ["left", "right", "up", "down", "it stays"], "answer": i, "evidence_frames": [0]}
                 for i in range(2)]
    (root / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    return root


def test_real_clips_per_node_and_per_clip(world, tmp_path, monkeypatch):
    monkeypatch.delenv("VOT_REAL_CLIPS", raising=False)
    video = next((world / "ten_seconds" / "videos").glob("*.mp4"))
    root = _clip_set(tmp_path, video.read_bytes())
    out = real_latency(fake_llm_context(), 5, root, ("clip.mp4",))
    assert out["questions"] == 2 and 0 <= out["correct"] <= 1  # answers 0 and 1: at most one is right
    assert list(out["clips"]) == ["clip.mp4"] and out["clips"]["clip.mp4"]["questions"] == 2
    assert out["tracking_seconds_per_video"]["median"] > 0 and "analyze_actions" in out["nodes"]


def test_real_clips_missing_are_skipped_with_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("VOT_REAL_CLIPS", raising=False)
    root = _clip_set(tmp_path, b"not this")
    (root / "clips" / "clip.mp4").unlink()
    out = real_latency(fake_llm_context(), 5, root, ("clip.mp4",))
    assert out["note"].startswith("skipped: real clip 'clip.mp4'") and "Looked in" in out["note"]
    assert real_latency(fake_llm_context(), 5, root, ("other.mp4",)) == {"note": "skipped: no questions on ['other.mp4']"}


def test_the_command_reports_model_load_and_load_average(world, capsys):
    from videothought.cli import main

    assert main(["bench", "agent", "--latency-only", "--latency-sets", "world", "--latency-questions", "1",
                 "--lm", "fake", "--work-dir", str(world)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    latency = json.loads(printed[-1])["latency"]
    assert latency["model_load_seconds"] >= 0 and latency["lm"]
    assert len(latency["load_average"]["start"]) == 3 and len(latency["load_average"]["end"]) == 3
    assert latency["world"]["questions"] == 1
    assert any(line.startswith("model load ") for line in printed)


def test_unknown_sets_are_named(world):
    with pytest.raises(SystemExit, match="unknown --latency-sets"):
        run_latency(arguments(world, "--latency-sets", "world,moon"), fake_llm_context(), bench.load_questions)
