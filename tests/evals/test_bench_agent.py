"""`vot bench agent` on a one-video world with the fake LM: structure, resumable rows, safe paths."""

from __future__ import annotations

import argparse
import json

import pytest

from videothought.agent import bench


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from videothought.evals.world.dataset import generate_world

    return generate_world(tmp_path_factory.mktemp("world"), 1, 5)


def arguments(world, rows, **extra) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.configure(parser)
    args = parser.parse_args(["--data", str(world), "--limit", "3", "--rows", str(rows), "--lm", "fake"])
    for key, value in extra.items():
        setattr(args, key, value)
    return args


@pytest.mark.slow
def test_bench_reports_each_condition_by_type_and_resumes(world, tmp_path):
    rows = tmp_path / "rows.jsonl"
    out = bench.run(arguments(world, rows))["accuracy"]
    assert out["questions"] == 3
    for condition in ("blind", "frames", "graph"):
        assert out[condition]["n"] == 3 and 0.0 <= out[condition]["accuracy"] <= 1.0
        assert sum(v["n"] for v in out[condition]["by_type"].values()) == 3
    assert out["blind"]["median_llm_calls"] == 1 and out["graph"]["max_llm_calls"] >= 1
    lines = rows.read_text().splitlines()
    assert len(lines) == 9 and {json.loads(line)["condition"] for line in lines} == {"blind", "frames", "graph"}
    again = bench.run(arguments(world, rows))["accuracy"]  # everything is in rows.jsonl: nothing recomputed
    assert len(rows.read_text().splitlines()) == 9 and again["graph"]["accuracy"] == out["graph"]["accuracy"]


def test_video_names_cannot_leave_the_dataset(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "qa.csv").write_text("video,question,answer,qid,type,a0,a1\n../../etc/passwd,Q?,0,q0,descriptive,a,b\n")
    with pytest.raises(SystemExit, match="escapes"):
        bench.load_questions(str(tmp_path), 5)
    with pytest.raises(SystemExit, match="has no qa.csv"):
        bench.load_questions(str(tmp_path / "videos"), 5)


def test_summarise_compares_the_graph_with_the_baselines():
    rows = [{"qid": f"q{i}", "type": "causal", "condition": c, "correct": c == "graph" or i == 0, "llm_calls": 1,
             "seconds": 1.0, "track_seconds": 0.5, "first_on_video": i == 0, "verified": True}
            for i in range(4) for c in ("blind", "frames", "graph")]
    out = bench.summarise(rows, ["blind", "frames", "graph"])
    assert out["blind"]["accuracy"] == 0.25 and out["graph"]["accuracy"] == 1.0
    assert out["graph_beats"] == {"blind": True, "frames": True}
    assert out["graph"]["median_seconds_after_tracking"] == 0.5
