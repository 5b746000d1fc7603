"""Follow-up conversations through the real runner: turns in order, the agent's own answers as
history, and a follow-up right only when "it" resolved to the true referent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langgraph.graph import END, START, StateGraph

from videothought.agent.state import VoTState
from videothought.evals.conversations import ConversationError, graph_input, score_turn, shard_key
from videothought.evals.task import load_task
from videothought.evals.runner import RunOptions, read_records, run_task, shard_samples

HERE = "tests.evals.test_conversations"


def _answer(state: dict, wrong_first: bool) -> dict:
    video = Path(state["video_path"])
    root = video.parent.parent
    turns = [json.loads(line) for line in (root / "followups.jsonl").read_text().splitlines()]
    history = state.get("history") or []
    opening = history[0]["question"] if history else state["question"]
    conversation = next(t["conversation"] for t in turns if t["video"] == video.stem and t["turn"] == 1
                        and t["question"] == opening)
    turn = next(t for t in turns if t["conversation"] == conversation and t["turn"] == len(history) + 1)
    index = turn["answer"]
    if wrong_first and turn["turn"] == 1:
        index = (index + 1) % len(turn["options"])
    targets = [{"phrase": history[-1]["targets"][0], "track_ids": [1]}] if history else []
    doc = json.loads((root / "stsg" / f"{video.stem}.json").read_text())
    return {"answer": state["choices"][index], "answer_index": index, "targets": targets, "stsg": doc,
            "action_analysis": json.dumps(history)}


def _build(wrong_first: bool) -> StateGraph:
    graph = StateGraph(VoTState)
    graph.add_node("rank_answers", lambda state: _answer(state, wrong_first))
    graph.add_edge(START, "rank_answers")
    graph.add_edge("rank_answers", END)
    return graph


def build_right() -> StateGraph:
    return _build(False)


def build_wrong_first() -> StateGraph:
    return _build(True)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from videothought.evals.world import generate_world
    from videothought.evals.world.followups import write_followups

    out = tmp_path_factory.mktemp("conversations") / "world"
    generate_world(out, 6, 0, seconds=4.0)
    write_followups(out)
    return out


def test_turns_see_their_own_earlier_answers_and_score_strictly(world, tmp_path):
    task = load_task("world-followups", world)
    assert task.samples and task.samples[0].metadata["turn"] == 1
    summary = run_task(task, tmp_path / "right", RunOptions(graph=f"{HERE}:build_right", progress=False))
    assert summary["accuracy"] == 1.0 and summary["errors"] == 0
    records = {r["key"]: r for r in read_records(tmp_path / "right")}
    second = next(r for r in records.values() if r["sample"]["metadata"]["turn"] == 2)
    seen = json.loads(second["prediction"]["action_analysis"])
    first = records[second["key"].replace("_t2", "_t1")]
    assert [h["answer"] for h in seen] == [first["answer"]]
    assert seen[0]["targets"] == [second["sample"]["metadata"]["referent"]]  # "the X" answered -> it = X
    assert second["metrics"]["referent_resolved"] is True

    run_task(task, tmp_path / "wrong", RunOptions(graph=f"{HERE}:build_wrong_first", progress=False))
    wrong = read_records(tmp_path / "wrong")
    follow_ups = [r for r in wrong if r["sample"]["metadata"]["turn"] > 1]
    assert follow_ups and all(r["metrics"]["answer_correct"] for r in follow_ups)  # the options were right...
    assert not any(r["correct"] for r in follow_ups)  # ...but "it" was the wrong object: counted wrong


def test_shards_keep_conversations_together_and_order_is_checked(world):
    task = load_task("world-followups", world)
    for index in range(2):
        picked = [s for _, s in shard_samples(task.samples, index, 2)]
        groups = {s.metadata["conversation"]: [] for s in picked}
        for s in picked:
            groups[s.metadata["conversation"]].append(s.metadata["turn"])
        assert all(turns == [1, 2, 3] for turns in groups.values())
    assert shard_key(7, task.samples[0]) == task.samples[0].metadata["shard_group"]
    second = next(s for s in task.samples if s.metadata["turn"] == 2)
    with pytest.raises(ConversationError, match="no record of turn"):
        graph_input(second, {})


def test_score_turn_only_touches_follow_ups():
    plain = {"correct": True, "metrics": {"correct": True}, "sample": {"metadata": {}}}
    assert score_turn(plain) is plain
    follow = {"correct": True, "metrics": {}, "prediction": {"targets": [{"phrase": "red circles"}]},
              "sample": {"metadata": {"referent": "red circle", "turn": 2}}}
    assert score_turn(follow)["correct"] is True  # same content words ("circles" ~ "circle")
    follow["prediction"]["targets"] = [{"phrase": "red"}]
    assert score_turn(follow)["correct"] is False
    # the object the turn is about is its first target: an option's object listed later is no resolution
    follow["prediction"]["targets"] = [{"phrase": "blue star"}, {"phrase": "red circle"}]
    assert score_turn(follow)["correct"] is False
