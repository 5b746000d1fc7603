"""The writer's single-option readings: derived from its training rows, one option alone, that option's value."""

from __future__ import annotations

import json

import pytest

from videothought.agent.writer import parse_question_text, question_text
from videothought.evals.world import generate_world
from videothought.training.nodes.writer_data import option_examples, writer_examples


@pytest.mark.parametrize("history", [None, [{"question": "Which one hits the red star?", "answer": "the blue circle"}]])
@pytest.mark.parametrize("choices", [[], ["it stops", "it turns at the top edge", "1. odd -> text"]])
def test_the_writer_prompt_reads_back(history, choices):
    text = question_text("What does it do next?\nSay it plainly.", choices, "colour: red, blue; shape: star", history)
    assert parse_question_text(text) == ("What does it do next?\nSay it plainly.", choices,
                                         "colour: red, blue; shape: star", history or [])
    assert parse_question_text(question_text("Who enters?", [], ""))[2] == ""
    with pytest.raises(ValueError, match="Names"):
        parse_question_text("Question: who?")


def test_option_examples_hold_one_option_and_its_value(tmp_path):
    root = tmp_path / "w0"
    generate_world(root, 2, 0, seconds=4.0)
    rows = writer_examples([root], rewordings=1, paraphrases=0)
    options = option_examples(rows, per_row=1, seed=0)
    with_options = [r for r in rows if len(json.loads(r["completion"]).get("options") or []) >= 2]
    assert len(options) == len(with_options) > 0
    for row, single in zip(with_options, options):
        whole = json.loads(row["completion"])
        question, choices, names, _ = parse_question_text(row["prompt"][-1]["content"])
        asked, alone, names_alone, _ = parse_question_text(single["prompt"][-1]["content"])
        k = single["option"]
        assert (asked, names_alone, alone) == (question, names, [choices[k]])
        assert json.loads(single["completion"]) == {"program": whole["program"], "options": [whole["options"][k]]}
        assert single["completion"].startswith(row["completion"].split('"options":[')[0])  # the same program text
    assert len(writer_examples([root], rewordings=1, paraphrases=0, option_reads=1)) == len(rows) + len(options)
    broken = dict(with_options[0], completion=json.dumps({"program": [], "options": [{"number": 1}] * 9}))
    with pytest.raises(ValueError, match="options in the prompt"):
        option_examples([broken])


def test_paraphrase_families_are_chosen_by_the_recipe(tmp_path):
    from videothought.training.nodes.recipe import DataSpec, RecipeError

    root = tmp_path / "w0"
    generate_world(root, 2, 0, seconds=4.0)
    only_a = writer_examples([root], rewordings=0, paraphrases=1)
    both = writer_examples([root], rewordings=0, paraphrases=1, families=("a", "b", "c"))
    wordings = {r["wording"] for r in both}
    assert {r["wording"] for r in only_a} <= {"world", "para-a-0"}
    assert {"para-a-0", "para-b-0", "para-c-0"} <= wordings
    texts = {f: {r["prompt"][-1]["content"] for r in both if r["wording"] == f"para-{f}-0"} for f in "abc"}
    assert not texts["c"] & (texts["a"] | texts["b"])  # the third voice says every question its own way
    # every program of the "b" wordings is the one the question's own wording has
    programs = {(r["qid"], r["wording"]): r["completion"] for r in both}
    for (qid, wording), completion in programs.items():
        assert completion == programs[(qid, "world")]
    assert DataSpec(paraphrase_families=["a", "b"]).paraphrase_families == ["a", "b"]
    for bad in (["heldout"], [], ["a", "d"]):
        with pytest.raises(RecipeError, match="paraphrase_families"):
            DataSpec(paraphrase_families=bad)


def test_the_rl_stages_read_answer_only_questions_in_the_recipes_family(tmp_path, monkeypatch):
    # after a writer supervised on "a" and "b", RL's answer-only questions must come in a family it never saw
    from videothought.training.nodes import pipeline, writer_data
    from videothought.training.nodes.recipe import DataSpec, NodeRecipe, RecipeError

    asked = {}

    def answer_only(worlds, **kwargs):
        asked.update(kwargs)
        return [{"node": "writer", "prompt": [], "completion": ""}]

    monkeypatch.setattr(writer_data, "writer_rl_examples", answer_only)
    monkeypatch.setattr("videothought.training.nodes.data.ensure_worlds", lambda worlds, per_seed: [])
    recipe = NodeRecipe(stage="rejection", nodes=["writer"], output_dir=str(tmp_path / "out"), init_from=str(tmp_path),
                        data=DataSpec(examples=str(tmp_path / "rl.jsonl"), seeds=[400], rl_family="c"))
    pipeline.ensure_examples(recipe)
    assert asked["family"] == "c"
    assert DataSpec().rl_family == "b"
    for bad in ("heldout", "d"):
        with pytest.raises(RecipeError, match="rl_family"):
            DataSpec(rl_family=bad)
