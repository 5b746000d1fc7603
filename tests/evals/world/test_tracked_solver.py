"""The world-grammar solver (a labelled reference condition, moved out of the agent): it reads the
world's wording and an STSG; on the ground truth it answers the grammar's exact types right."""

from __future__ import annotations

from videothought.evals.world.reword import reword
from videothought.evals.world.tracked_solver import (
    WORLD_SOLVER_LABEL,
    option_scores,
    parse_world_phrase,
    solve,
    visible_until_seconds,
    world_rank_answers,
)

# Subtypes whose answer the solver reads straight off an STSG (no physics extrapolation, no
# counterfactual): on the ground truth it must get every one of them.
EXACT_SUBTYPES = {"before", "after", "order", "count", "shape", "turn", "stop", "start"}


def test_on_the_ground_truth_the_grammar_s_exact_subtypes_are_all_right(small_world):
    _, videos = small_world
    checked = 0
    for video in videos:
        for question in video.questions:
            if question.subtype in EXACT_SUBTYPES:
                assert solve(question.question, question.options, video.stsg) == question.answer, question.question
                checked += 1
    assert checked >= 20


def test_reworded_questions_are_outside_its_grammar(small_world):
    _, videos = small_world
    for question in videos[0].questions:
        new = reword(question, "heldout", 0)
        assert option_scores(new.question, new.options, videos[0].stsg) == [None] * 5
        assert solve(new.question, new.options, videos[0].stsg) is None


def test_grammar_helpers():
    assert visible_until_seconds("Watching only the first 2.5 seconds, what will the red circle do next?") == 2.5
    assert visible_until_seconds("What will the red circle do next?") is None
    assert parse_world_phrase("bounces off the top edge") == ("turn_wall", "top")
    assert parse_world_phrase("collides with the red circle") == ("collide", "red circle")
    assert parse_world_phrase("dances") is None


def test_the_rank_answers_node_answers_from_the_state_s_stsg(small_world):
    _, videos = small_world
    video = videos[0]
    question = next(q for q in video.questions if q.subtype in EXACT_SUBTYPES)
    out = world_rank_answers({"question": question.question, "choices": question.options, "stsg": video.stsg})
    assert out["answer_index"] == question.answer and out["answer"] == question.options[question.answer]
    record = out["trace"][0]
    assert record["node"] == "rank_answers" and record["llm_calls"] == 0 and record["errors"] == []
    assert record["inputs"]["solver"] == WORLD_SOLVER_LABEL
    outside = world_rank_answers({"question": "Is the boy happy?", "choices": ["yes", "no"], "stsg": video.stsg})
    assert outside["answer_index"] == -1 and outside["trace"][0]["errors"]
    assert [row["score"] for row in outside["candidate_scores"]] == [None, None]
