"""`vot ask` as a user runs it, and the shipped LLM scoring all candidates in one forward pass."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from langgraph.runtime import Runtime

from tests.agent.graph.helpers import scene_document
from tests.conftest import moving_square_frames
from videothought.agent.context import VoTContext, VoTSettings
from videothought.agent.rules import nodes
from videothought.perception.video import write_video

CHOICES = ["it collides with the blue square", "it stops", "it enters the scene", "it turns", "it disappears"]


def vot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "videothought.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def video_and_stsg(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    stsg = folder / "scene.json"
    stsg.write_text(json.dumps(scene_document()))
    return write_video(folder / "scene.mp4", moving_square_frames(30), fps=10.0), stsg


def test_vot_ask_json_prints_answer_and_node_records(video_and_stsg):
    video, stsg = video_and_stsg
    result = vot("ask", str(video), "What does the red circle do?", *sum((["--choice", c] for c in CHOICES), []),
                 "--stsg", str(stsg), "--lm", "fake", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert (out["answer"], out["answer_index"]) == (CHOICES[0], 0)
    assert [r["node"] for r in out["trace"]][:2] == ["identify_targets", "track"]
    assert all("node" in r and "latency_seconds" in r for r in out["trace"])


def test_vot_ask_readable_trace_and_bad_input(video_and_stsg, tmp_path):
    video, stsg = video_and_stsg
    result = vot("ask", str(video), "What does the red circle do?", "--choice", CHOICES[0], "--choice", CHOICES[1],
                 "--stsg", str(stsg), "--lm", "fake")
    assert result.returncode == 0, result.stderr
    assert "1. identify_targets" in result.stdout and "Answer (choice 1): it collides with the blue square" in result.stdout
    missing = vot("ask", str(tmp_path / "nope.mp4"), "What?", "--lm", "fake")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == f"vot ask: {tmp_path / 'nope.mp4'}: no such file"
    bad_stsg = tmp_path / "bad.json"
    bad_stsg.write_text("{not json")
    broken = vot("ask", str(video), "What?", "--lm", "fake", "--stsg", str(bad_stsg))
    assert broken.returncode == 1 and "not JSON" in broken.stderr and "Traceback" not in broken.stderr


@pytest.mark.slow
def test_embedded_llm_scores_every_candidate_in_one_forward():
    import torch

    from videothought.agent.llm import load_language_model

    lm = load_language_model("embedded", dtype="float32")
    forwards = []

    def count(module, args, kwargs, output):
        tokens = args[0] if args else kwargs.get("input_ids", kwargs.get("inputs_embeds"))
        forwards.append(tuple(tokens.shape))

    handle = lm.model.register_forward_hook(count, with_kwargs=True)
    try:
        context = VoTContext(lm=lm, settings=VoTSettings(rate_candidates=False))
        state = {"question": "What does the red circle do?", "choices": CHOICES, "stsg": scene_document(),
                 "partial_stsg": "At 1.2s the red circle collides with the blue square.",
                 "action_analysis": "The red circle hits the blue square.",
                 "targets": [{"phrase": "red circle", "track_ids": [1], "score": 1.0}]}
        with torch.no_grad():
            update = nodes.rank_answers(state, Runtime(context=context))
    finally:
        handle.remove()
    assert len(forwards) == 1, forwards  # all five candidates in one forward pass
    assert update["trace"][0]["llm_calls"] == 1
    rows = update["candidate_scores"]
    assert all(row["loglik"] < 0 for row in rows)
    assert update["answer_index"] == 0
