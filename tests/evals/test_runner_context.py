"""`vot eval --graph mod:fn`: a user's graph that reuses VoT nodes gets the agent's default context."""

from __future__ import annotations

import functools

import pytest
from langgraph.graph import END, START, StateGraph

from tests.evals.world_fixture import write_tiny_world
from videothought.agent.state import VoTState
from videothought.evals import runner
from videothought.evals.task import load_task
from videothought.evals.runner import RunOptions, build_context, build_graph, read_records, run_task, uses_vot_nodes

SENTINEL = object()


def sentinel_context():
    return SENTINEL


def my_vot_graph():
    """A user's factory around the agent's builder (e.g. with a node swapped): not DEFAULT_GRAPH by name."""
    from videothought.agent.graph import build_vot_graph

    return build_vot_graph()


def one_vot_node_graph():
    """A plain StateGraph (no context schema) that reuses one agent node, wrapped in a partial."""
    from videothought.agent.rules.nodes import NODES

    graph = StateGraph(VoTState)
    graph.add_node("rank_answers", functools.partial(NODES["rank_answers"]))
    graph.add_edge(START, "rank_answers")
    graph.add_edge("rank_answers", END)
    return graph


def no_vot_graph():
    def answer(state: dict) -> dict:
        return {"answer": state["choices"][0], "answer_index": 0}

    graph = StateGraph(VoTState)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph


@pytest.mark.parametrize(("factory", "expected"), [
    ("my_vot_graph", True), ("one_vot_node_graph", True), ("no_vot_graph", False)])
def test_auto_context_follows_the_nodes_the_graph_runs(monkeypatch, factory, expected):
    monkeypatch.setattr(runner, "DEFAULT_CONTEXT", f"{__name__}:sentinel_context")
    spec = f"{__name__}:{factory}"
    graph = build_graph(spec)  # compiled
    assert uses_vot_nodes(graph) is expected and uses_vot_nodes(globals()[factory]()) is expected  # and uncompiled
    assert (build_context("auto", spec, graph) is SENTINEL) is expected
    assert build_context(None, spec, graph) is build_context("auto", spec, graph)
    assert build_context("none", spec, graph) is None  # asked for no context: none
    assert build_context(f"{__name__}:sentinel_context", spec, None) is SENTINEL  # explicit always wins
    assert build_context("auto", runner.DEFAULT_GRAPH, None) is SENTINEL  # the default graph, by name


def test_the_oracle_test_graph_needs_no_context():
    graph = build_graph("tests.evals.oracle_graph:build_oracle_graph")
    assert not uses_vot_nodes(graph) and build_context("auto", "tests.evals.oracle_graph:build_oracle_graph", graph) is None


@pytest.mark.slow
def test_vot_eval_runs_a_custom_vot_graph_with_the_default_context(monkeypatch, tmp_path):
    """Before the fix the custom graph ran with no context and every question was an error record."""
    monkeypatch.setattr(runner, "DEFAULT_CONTEXT", "tests.evals.agent_context:fake_llm_context")
    world = write_tiny_world(tmp_path / "world", num_videos=1)
    task = load_task("world", world, limit=1)
    summary = run_task(task, tmp_path / "run", RunOptions(graph=f"{__name__}:my_vot_graph", progress=False))
    records = read_records(tmp_path / "run")
    assert summary["errors"] == 0 and [r["status"] for r in records] == ["ok"]
    assert records[0]["answer_index"] in range(4) and records[0]["answer"] == task.samples[0].choices[records[0]["answer_index"]]
    assert [t["node"] for t in records[0]["trace"]][:2] == ["identify_targets", "track"]
