"""The writer's rewards run its program: a gold program earns them, and no degenerate program can."""

from __future__ import annotations

import json

import pytest

from videothought.evals.world import generate_world, load_world
from videothought.evals.world.programs import gold_program
from videothought.training.nodes import rewards
from videothought.training.nodes.writer_rewards import WRITER_REWARDS


@pytest.fixture(scope="module")
def questions(tmp_path_factory):
    """(completion of the gold program, truth) per question of a small world; the world's true STSG
    stands in for the tracked one (the rewards read both the same way)."""
    root = tmp_path_factory.mktemp("rewards") / "w0"
    generate_world(root, 6, 0, seconds=4.0)
    rows = []
    for video in load_world(root):
        path = str(root / "stsg" / f"{video.video_id}.json")
        for question in video.questions:
            if question.type == "predictive":
                continue  # extrapolation: the gold program itself is not always right
            truth = {"choices": list(question.options), "answer": int(question.answer), "tracked": path, "world": path,
                     "objects": [int(i) for i in question.object_ids],
                     "events": sorted({e["type"] for e in question.events})}
            rows.append((gold_program(question.question, question.options), truth))
    assert len(rows) >= 25
    return rows


def scores(completion: str, truth: dict) -> dict:
    return rewards.score("writer", completion, truth)


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_the_gold_program_earns_every_reward(questions):
    results = [scores(gold.writer_json(), truth) for gold, truth in questions]
    assert mean(r["answer"] for r in results) == 1.0 and mean(r["format"] for r in results) == 1.0
    # a counterfactual program asks about no event kind: neither right nor wrong there (0.5)
    assert mean(r["objects"] for r in results) > 0.95 and mean(r["events"] for r in results) > 0.85


def test_a_program_that_always_fails_earns_nothing(questions):
    results = []
    for gold, truth in questions:
        always_unknown = {"program": [{"op": "find", "name": "dog"}, {"op": "count"}], "options": gold.options}
        results.append(scores(json.dumps(always_unknown), truth))
    assert mean(r["answer"] for r in results) == 0.0 and mean(r["objects"] for r in results) < 0.05


def test_selecting_every_object_earns_little(questions):
    results = []
    for gold, truth in questions:
        steps = [{"op": "find"}] + [s.to_dict() for s in gold.steps[1:]] if gold.steps[0].op == "find" else None
        if steps is None or not truth["objects"]:
            continue
        results.append(scores(json.dumps({"program": steps, "options": gold.options}), truth))
    assert results and mean(r["objects"] for r in results) < 0.6


def test_a_constant_answer_is_right_about_as_often_as_chance(questions):
    constant = {"program": [{"op": "events", "kind": "enter"}, {"op": "count"}]}
    results = [scores(json.dumps({**constant, "options": [{"number": n} for n in range(len(truth["choices"]))]}), truth)
               for _, truth in questions]
    assert mean(r["answer"] for r in results) <= 0.35


def test_one_value_for_every_option_is_no_answer(questions):
    results = []
    for gold, truth in questions:
        same = {"program": [s.to_dict() for s in gold.steps], "options": [gold.options[truth["answer"]]] * len(gold.options)}
        results.append(scores(json.dumps(same), truth))
    assert mean(r["answer"] for r in results) == 0.0


def test_a_reply_that_is_not_a_program_earns_nothing(questions):
    _, truth = questions[0]
    for reply in ("", "the red circle", '{"program": []}', '{"program":[{"op":"fly"}]}'):
        assert all(value == 0.0 for value in scores(reply, truth).values())
    assert set(WRITER_REWARDS) == {"answer", "format", "objects", "events"}
