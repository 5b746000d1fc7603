"""The long-video needle suite (evals/long_videos.py --suite): the same question mix at every
length, refused when the worlds cannot give it; a smoke run through the real graph (fake LLM)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from videothought.evals.long_videos import SuiteError, main, needle_mix, world_minutes
from videothought.evals.world import generate_world


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> list[Path]:
    """Two held-out long worlds at each of two lengths (30 s and 60 s), one video each."""
    root = tmp_path_factory.mktemp("long")
    made = []
    for seconds, seeds in ((30.0, (1201, 1202)), (60.0, (1203, 1204))):
        for seed in seeds:
            made.append(generate_world(root / f"s{int(seconds)}-{seed}", 1, seed, long=True, seconds=seconds,
                                       questions_per_video=12))
    return made


def test_the_mix_is_the_same_at_every_length(worlds):
    plan = needle_mix(worlds, min_needles=4, min_worlds=2)
    assert sorted(plan["lengths"]) == [0.5, 1.0]
    per_length = [Counter((s.evidence or {}).get("subtype") for s in samples) for samples in plan["lengths"].values()]
    assert per_length[0] == per_length[1] == Counter(plan["mix"]) and sum(plan["mix"].values()) >= 4
    assert "when" not in plan["mix"]  # "in which minute" needs five minutes of video: absent at both lengths
    for samples in plan["lengths"].values():
        assert len({s.video_path for s in samples}) == 2  # both worlds of the length contribute


def test_the_suite_refuses_what_it_cannot_measure(worlds, tmp_path):
    with pytest.raises(SuiteError, match="needs 3 held-out worlds"):
        needle_mix(worlds, min_worlds=3)
    with pytest.raises(SuiteError, match="fewer than 500"):
        needle_mix(worlds, min_needles=500)
    short = generate_world(tmp_path / "short", 1, 5, seconds=4.0)
    with pytest.raises(SuiteError, match="not a --long world"):
        world_minutes(short)
    dev = generate_world(tmp_path / "dev", 1, 9001, long=True, seconds=30.0)
    with pytest.raises(SuiteError, match="development seed"):
        world_minutes(dev)


@pytest.mark.slow
def test_a_smoke_run_through_the_graph_reports_each_length(worlds, tmp_path, capsys):
    out = tmp_path / "suite.json"
    status = main([*map(str, worlds), "--suite", "--out", str(out), "--min-needles", "4", "--min-latency", "2",
                   "--limit", "2", "--context", "tests.evals.agent_context:fake_llm_context"])
    assert status == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["partial"] is True and set(result["lengths"]) == {"0.5", "1.0"}
    for length in result["lengths"].values():
        assert length["questions"] == 2 and length["median_seconds"] > 0
        assert length["index_build_seconds"] > 0 and length["peak_rss_mb_so_far"] > 0
        assert all(row["needed"] and row["segments"] for row in length["rows"])  # the graph read the index
    assert "ratio_median_seconds" in result
    assert main([*map(str, worlds), "--suite", "--out", str(out), "--min-latency", "500"]) == 2  # 500 > the mix
