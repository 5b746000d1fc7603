"""The RL stages' rewards (training/nodes/rewards.py): each is a plain function with a test that can
fail; the known reward hacks earn nothing; a trace that reads time-reversed evidence earns less."""

from __future__ import annotations

import pytest

from videothought.training.nodes import rewards

TRUTH = {
    "question": "What does the pink star do after it collides with the purple circle?",
    "choices": ["it stops", "it bounces off the top edge", "it leaves the scene", "it turns blue", "nothing happens"],
    "answer": 1,
    "targets": ["pink star", "purple circle"],
    "objects": ["pink star", "purple circle"],
    "events": [{"type": "collide", "labels": ["pink star", "purple circle"], "frame": 20},
               {"type": "turn", "labels": ["pink star"], "frame": 31}],
    "scene_events": [{"type": "enter", "labels": ["green square"], "frame": 2},
                     {"type": "collide", "labels": ["pink star", "purple circle"], "frame": 20},
                     {"type": "turn", "labels": ["pink star"], "frame": 31},
                     {"type": "stop", "labels": ["green square"], "frame": 40}],
}
ACTIONS = ("At 2.0s the pink star collides with the purple circle. "
           "At 3.1s the small pink star turns at the top edge.")


def trace(targets="pink star, purple circle", actions=ACTIONS, answer="B. it bounces off the top edge",
          verdict="the facts agree with the answer.") -> str:
    return (f" Step 1 (targets): {targets}.\nStep 2 (tracks): pink star -> track 3; purple circle -> track 1.\n"
            f"Step 3 (actions): {actions}\nStep 4 (answer): {answer}\nStep 5 (verify): {verdict}")


def test_a_right_trace_earns_every_reward():
    assert rewards.score("vot", trace(), TRUTH) == {"format": 1.0, "answer": 1.0, "targets": 1.0, "events": 1.0,
                                                   "verdict": 1.0}
    assert rewards.passes_every_step("vot", trace(), TRUTH)


def test_a_wrong_answer_loses_the_answer_and_the_agreeing_verdict():
    wrong = rewards.score("vot", trace(answer="A. it stops"), TRUTH)
    assert wrong["answer"] == 0.0 and wrong["verdict"] == 0.0 and wrong["format"] == 1.0
    honest = rewards.score("vot", trace(answer="A. it stops", verdict="no - the facts do not show it."), TRUTH)
    assert honest["verdict"] == 1.0  # rejecting a wrong answer is the right verdict
    assert rewards.score("vot", trace(verdict="no, it is wrong."), TRUTH)["verdict"] == 0.0
    no_answer = rewards.score("vot", trace(answer="I cannot tell", verdict="the facts do not show it."), TRUTH)
    assert no_answer["verdict"] == 0.0  # doubting a missing answer is no verdict (what GRPO first found to score)


def test_format_needs_five_steps_in_order_and_one_option():
    assert rewards.format_reward(trace().replace("Step 3 (actions)", "Step 6 (actions)"), TRUTH) == 0.0
    assert rewards.format_reward(trace(answer="it bounces"), TRUTH) == 0.0  # no letter: unparsable
    swapped = trace().replace("Step 4 (answer)", "Step X").replace("Step 5 (verify)", "Step 4 (answer)")
    assert rewards.format_reward(swapped, TRUTH) == 0.0


def test_gated_step_rewards_need_a_complete_trace():
    gated = rewards.RewardConfig(steps_need_format=True)
    unfinished = trace(answer="the facts agree with the answer.")  # right targets and events, no option
    assert rewards.score("vot", unfinished, TRUTH)["targets"] == 1.0  # ungated: Step 1 alone earns
    assert rewards.score("vot", unfinished, TRUTH, gated) == {"format": 0.0, "answer": 0.0, "targets": 0.0,
                                                              "events": 0.0, "verdict": 0.0}
    complete = rewards.score("vot", trace(targets="pink star", answer="A. it stops"), TRUTH, gated)
    assert complete["format"] == 1.0 and complete["targets"] == 0.5 and complete["events"] == 1.0
    assert rewards.score("verify", " yes", {**TRUTH, "correct": True}, gated) == {"verdict": 1.0}  # traces only


def test_target_recall_and_naming_everything():
    assert rewards.target_reward(trace(targets="pink star"), TRUTH) == 0.5
    assert rewards.target_reward(trace(targets="the star, the circle"), TRUTH) == 1.0  # the question's own words
    assert rewards.target_reward(trace(targets="pink star, green square, red cube, blue ball"), TRUTH) == 0.0
    assert rewards.target_reward(trace(targets="none"), TRUTH) == 0.0


@pytest.mark.parametrize("actions, expected", [
    (ACTIONS, 1.0),
    ("At 2.0s the pink star collides with the purple circle.", 0.5),                       # one of two events
    (ACTIONS + " At 3.5s the pink star collides with the green square.", 2 / 3),          # a collision that never was
    ("At 2.0s the pink star collides with the green square. At 3.1s the pink star turns.", 0.25),  # wrong object
    ("The pink star is seen from 0.1s to 4.0s, moving up-right.", 0.0),                     # no event claimed
    ("Something collides. At 3.1s the pink star turns.", 0.25),                             # an unverifiable claim
])
def test_event_reward_checks_what_happened_and_with_whom(actions, expected):
    assert rewards.event_reward(trace(actions=actions), TRUTH) == pytest.approx(expected)


def test_time_reversed_evidence_does_not_earn_the_same_reward():
    """Video-R1's temporal contrast: a rollout that read the evidence reversed reports the events in
    the reversed order; the order check against the world's truth gives it nothing for Step 3."""
    reversed_actions = "At 0.9s the pink star turns at the top edge. At 2.0s the pink star collides with the purple circle."
    forward = rewards.score("vot", trace(), TRUTH)
    backward = rewards.score("vot", trace(actions=reversed_actions), TRUTH)
    assert forward["events"] == 1.0 and backward["events"] == 0.0
    assert sum(backward.values()) < sum(forward.values())


# ---- the four reward hacks earn nothing ----------------------------------------------------------------------
def hacks() -> dict[str, str]:
    options = "\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(TRUTH["choices"]))
    return {
        "only the format": "Step 1 (targets): ...\nStep 2 (tracks): ...\nStep 3 (actions): ...\nStep 4 (answer): ...\n"
                           "Step 5 (verify): ...",
        "names every option": trace(answer=options.replace("\n", " ")),
        "names every option in the actions": trace(actions=ACTIONS + " " + " ".join(TRUTH["choices"]) + "."),
        "repeats the question": trace(actions=TRUTH["question"] + " " + ACTIONS),
        "far over the length budget": trace(actions=ACTIONS + " The pink star is seen." * 40),
    }


@pytest.mark.parametrize("name", list(hacks()))
def test_reward_hacks_earn_nothing(name):
    completion = hacks()[name]
    assert sum(rewards.score("vot", completion, TRUTH).values()) == 0.0, name
    assert not rewards.passes_every_step("vot", completion, TRUTH)


def test_the_length_gate_falls_between_budget_and_far_over():
    config = rewards.RewardConfig(length_budget_words=100, overlong_factor=1.5)
    assert rewards.length_factor("w " * 100, config) == 1.0
    assert rewards.length_factor("w " * 125, config) == pytest.approx(0.5)
    assert rewards.length_factor("w " * 150, config) == 0.0
    with pytest.raises(ValueError, match="overlong_factor must be > 1, got 1"):
        rewards.RewardConfig(overlong_factor=1)


def test_verify_and_rating_rewards():
    right = {**TRUTH, "correct": True}
    wrong = {**TRUTH, "correct": False}
    assert rewards.score("verify", " yes", right) == {"verdict": 1.0}
    assert rewards.score("verify", " yes", wrong) == {"verdict": 0.0}
    assert rewards.score("verify", " no - the video shows: it stops.", wrong) == {"verdict": 1.0}
    assert rewards.score("verify", " maybe", right) == {"verdict": 0.0}
    assert rewards.score("verify", " yes " + TRUTH["question"], right) == {"verdict": 0.0}  # echo
    assert rewards.score("rank_answers", " 9 - the facts support it.", right) == {"rating": 1.0}
    assert rewards.score("rank_answers", " 9 - the facts support it.", wrong) == {"rating": 0.0}
    assert rewards.score("rank_answers", " 2 - no.", wrong) == {"rating": 1.0}
    assert rewards.score("rank_answers", " 5", right) == {"rating": 0.0}
    with pytest.raises(KeyError, match="no rewards for node 'identify_targets'"):
        rewards.score("identify_targets", "x", TRUTH)


def test_truth_comes_from_the_world(tmp_path):
    """question_truth on a real training world: events in time order, labels of the true objects,
    and the reference trace built by the data builder passes every reward."""
    import random

    from videothought.training.nodes.data import (
        attach_truth,
        ensure_world,
        node_examples,
        question_truth,
        reference_analysis,
        reference_targets,
        trace_text,
        worded_questions,
    )

    root = ensure_world(tmp_path / "w100", 100, 1)
    items = worded_questions(root, family=None, rewordings=0, include_original=True)
    with_events = [i for i in items if i.evidence.get("events")]
    assert with_events
    for item in items:
        truth = question_truth(item)
        frames = [e["frame"] for e in truth["events"]]
        assert frames == sorted(frames)
        assert all(e in truth["scene_events"] for e in truth["events"])
        reference = " " + trace_text(reference_targets(item.question, item.evidence, item.truth_doc), {"x": [1]},
                                     reference_analysis(item.evidence, item.truth_doc), item.choices, item.answer,
                                     "the facts agree with the answer.")
        assert rewards.passes_every_step("vot", reference, truth), (reference, truth)
    examples = node_examples(items[0], {}, random.Random(0))
    assert attach_truth(examples, items) == len(examples) and attach_truth(examples, items) == 0  # once
    for row in examples:
        assert row["truth"]["answer"] == items[0].answer
        if row["node"] == "verify":
            assert row["truth"]["correct"] == row["correct"]
        if row.get("kind") == "rating":
            assert row["truth"]["correct"] == row["completion"].startswith(" 9")
