"""Checkpointed runs: resumed in process after a crash, and after SIGKILL of a real `vot ask` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.agent.graph.helpers import DocumentBuilder, scene_document
from tests.conftest import moving_square_frames
from videothought.agent.context import VoTContext
from videothought.agent.graph import build_vot_graph
from videothought.agent.llm import FakeLanguageModel
from videothought.agent.rules.nodes import NODES
from videothought.agent.run import run_question
from videothought.agent.trace import read_trace
from videothought.perception.video import write_video

CHOICES = ["it collides with the blue square", "it stops", "it enters the scene", "it turns", "it disappears"]
QUESTION = "What does the red circle do?"
VOT_NODES = ["identify_targets", "track", "analyze_actions", "rank_answers", "verify"]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("resume") / "scene.mp4", moving_square_frames(30), fps=10.0)


def fake_context():
    return VoTContext(lm=FakeLanguageModel(replies=["red circle", "The red circle hits the blue square.", "8", "yes"]),
                      stsg_builder=DocumentBuilder())


def test_crashed_run_resumes_from_the_last_finished_node(video, tmp_path):
    calls = []

    def crashing_analyze(state, runtime):
        calls.append("analyze")
        if len(calls) == 1:
            raise RuntimeError("power cut")
        return NODES["analyze_actions"](state, runtime)

    graph = build_vot_graph(nodes={"analyze_actions": crashing_analyze})
    db, trace = tmp_path / "runs.sqlite", tmp_path / "trace.jsonl"
    context = fake_context()
    with pytest.raises(RuntimeError, match="power cut"):
        run_question(QUESTION, video_path=video, choices=CHOICES, context=context, db_path=db, trace_path=trace, graph=graph)
    assert [r.node for r in read_trace(trace)] == ["identify_targets", "track"]
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=context, db_path=db, trace_path=trace, graph=graph)
    assert result.resumed and result.answer_index == 0
    assert [r["node"] for r in result.trace] == VOT_NODES
    assert context.stsg_builder.calls == 1  # track finished before the crash: not run again
    assert [r.node for r in read_trace(trace)] == VOT_NODES
    again = run_question(QUESTION, video_path=video, choices=CHOICES, context=context, db_path=db, graph=graph)
    assert again.answer_index == 0 and not again.resumed and len(calls) == 2  # finished: returned as stored


def vot_ask(video, stsg, db, trace, thread):
    return [sys.executable, "-m", "videothought.cli", "ask", str(video), QUESTION, *sum((["--choice", c] for c in CHOICES), []),
            "--stsg", str(stsg), "--db", str(db), "--trace", str(trace), "--thread", thread, "--json"]


@pytest.mark.slow
def test_sigkilled_vot_ask_resumes_with_the_same_answer_and_a_complete_trace(video, tmp_path):
    """The embedded SmolLM2 in a real subprocess, killed after two nodes finished, then rerun."""
    stsg = tmp_path / "scene.json"
    stsg.write_text(json.dumps(scene_document()))
    env = {**os.environ, "VIDEOTHOUGHT_LLM": "embedded"}
    db, trace = tmp_path / "runs.sqlite", tmp_path / "trace.jsonl"

    process = subprocess.Popen(vot_ask(video, stsg, db, trace, "killed"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if trace.exists() and len(trace.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    assert process.poll() is None, f"the run ended before it could be killed: {process.communicate()}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = [r.node for r in read_trace(trace)]
    assert before[:2] == ["identify_targets", "track"] and len(before) < len(VOT_NODES)

    resumed = subprocess.run(vot_ask(video, stsg, db, trace, "killed"), capture_output=True, text=True, env=env, timeout=400)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout.splitlines()[-1])
    assert result["resumed"]
    names = [r["node"] for r in result["trace"]]
    attempts = max(r["attempt"] for r in result["trace"])
    for attempt in range(attempts + 1):  # every node exactly once per attempt
        in_attempt = [r["node"] for r in result["trace"] if r["attempt"] == attempt]
        assert in_attempt == (VOT_NODES if attempt == 0 else ["analyze_actions", "rank_answers", "verify"]) or \
            in_attempt == ["rank_answers", "verify"], names
    # the JSONL holds each finished step once: the killed process's lines, then the resumed ones
    assert [r.node for r in read_trace(trace)] == names

    fresh = subprocess.run(vot_ask(video, stsg, tmp_path / "fresh.sqlite", tmp_path / "fresh.jsonl", "fresh"),
                           capture_output=True, text=True, env=env, timeout=400)
    assert fresh.returncode == 0, fresh.stderr
    uninterrupted = json.loads(fresh.stdout.splitlines()[-1])
    assert (result["answer"], result["answer_index"]) == (uninterrupted["answer"], uninterrupted["answer_index"])
    assert names == [r["node"] for r in uninterrupted["trace"]]
