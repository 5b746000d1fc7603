"""The runner over the real VoT agent graph (videothought.agent.graph) on a generated world video:
real perception and STSG, a scripted fake LLM. Checks that the agent's state and trace feed every metric."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from videothought.evals.report import write_report
from videothought.evals.runner import read_records
from videothought.graph.metrics import document_observations

REPO = Path(__file__).resolve().parents[2]


def vot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "videothought.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


@pytest.mark.slow
def test_world_generator_and_agent_through_the_runner(tmp_path):
    # The modules the subprocesses run, imported here so that a broken import fails the test with
    # its own traceback instead of a bare exit status.
    importlib.import_module("videothought.agent.graph")
    importlib.import_module("videothought.evals.world.cli")
    made = vot("world", "generate", "--out", str(tmp_path / "world"), "--videos", "1", "--seconds", "2",
               "--questions-per-video", "3", "--seed", "3", "--no-progress")  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    done = vot("eval", "--task", "world", "--data", str(tmp_path / "world"), "--context",
               "tests.evals.agent_context:fake_llm_context", "--out", str(tmp_path / "run"), "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["answered"] == 3 and summary["errors"] == 0, summary
    records = read_records(tmp_path / "run")
    for record in records:
        nodes = [step["node"] for step in record["trace"]]
        assert nodes[:3] == ["identify_targets", "track", "analyze_actions"] and "verify" in nodes
        metrics = record["metrics"]
        assert {"targets", "tracking", "events"} <= set(metrics), sorted(metrics)
        # scored on exactly the frames the agent looked at, against every visible true object there
        truth = document_observations(json.loads((tmp_path / "world" / "stsg" / f"{record['sample']['video_id']}.json")
                                                 .read_text()))
        looked_at = set(record["prediction"]["frame_indices"]) & {o.frame_index for o in truth}
        assert len(looked_at) >= 12 and metrics["tracking"]["frames"] == len(looked_at)
        assert metrics["tracking"]["num_objects"] == sum(o.visible and o.frame_index in looked_at for o in truth)
        assert len(metrics["verification"]) >= 1  # the agent's verify steps are read as judgments
        assert metrics["nodes"]["analyze_actions"]["llm_calls"] >= 1
    write_report([tmp_path / "run"], tmp_path / "report")
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| tracking IDF1 | n/a |" not in report and "| target recall | n/a |" not in report
