"""Held-out phrasings (evals/world/reword.py): same answer and meaning, other words, two disjoint families."""

from __future__ import annotations

import csv
import json
import re

import pytest

from videothought.cli import main
from videothought.evals.world import load_world
from videothought.evals.world.oracle import OracleError, oracle_answer
from videothought.evals.world.questions import Question
from videothought.evals.world.reword import (
    EVENT_TEMPLATES,
    FAMILIES,
    ORIGINAL_QA,
    QUESTION_TEMPLATES,
    SHAPE_NOUNS,
    RewordError,
    family_templates,
    reword,
    reword_world,
    third_person,
)


def question(text: str, options: list[str], answer: int = 2, qid: str = "q1") -> Question:
    return Question(qid, "w0_000000", text, options, answer, "descriptive", "colour", [1], [], [0, 0])


@pytest.fixture(scope="module")
def questions(small_world):
    _, videos = small_world
    return [q for v in videos for q in v.questions]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_world_question_is_reworded_with_its_answer_kept(questions, family):
    assert len(questions) >= 30
    for original in questions:
        new = reword(original, family, seed=0)
        assert new.answer == original.answer and new.qid == original.qid and new.type == original.type
        assert new.question != original.question
        assert all(a != b for a, b in zip(new.options, original.options)), (original.options, new.options)
        assert len(set(new.options)) == 5
        # The world's own grammar no longer reads it: the wording really changed.
        with pytest.raises(OracleError):
            oracle_answer(new.question, new.options, {"tracks": {}, "events": [], "video": {"fps": 12}})


@pytest.mark.parametrize("family", FAMILIES)
def test_meaning_carriers_survive(questions, family):
    """Colours, seconds, counts and ordinals are what the answer depends on: they are kept."""
    for original in questions:
        new = reword(original, family, seed=3)
        for colour in re.findall(r"\b(red|orange|yellow|green|cyan|blue|purple|pink|white)\b", original.question):
            assert colour in new.question
        for number in re.findall(r"\d+\.\d", original.question):
            assert number in new.question
        for ordinal in re.findall(r"\b(second|third|fourth|fifth)\b", original.question):
            assert ordinal in new.question
        for old, option in zip(original.options, new.options):
            if old.isdigit():
                assert old in option or ("zero one two three four".split()[int(old)]) in option
            for colour in re.findall(r"\b(red|orange|yellow|green|cyan|blue|purple|pink|white)\b", old):
                assert colour in option


def test_exact_wordings_for_a_seed():
    colour = question("What colour is the large circle?", ["red", "blue", "green", "white", "pink"])
    assert reword(colour, "heldout", 3).question == "Which colour does the big ball have?"
    assert reword(colour, "heldout", 3).options == ["it is red", "it is blue", "it is green", "it is white", "it is pink"]
    assert reword(colour, "train", 3).question == "Which colour is the large disc?"
    event = question("What does the red circle do right after it collides with the red square?",
                     ["stops", "changes direction", "bounces off the top edge", "collides with the blue star",
                      "leaves the scene"], answer=3)
    new = reword(event, "heldout", 2)
    assert new.question == ("The red ball bumps into the red square block. "
                            "What does the red ball do directly after that?")
    assert new.options == ["comes to rest", "reverses its heading", "bounces back from the top border",
                           "bumps into the blue five-pointed star", "exits the frame"]
    assert new.answer == 3


def test_deterministic_per_seed_and_the_seed_matters(questions):
    for family in FAMILIES:
        first = [reword(q, family, seed=5) for q in questions]
        assert first == [reword(q, family, seed=5) for q in questions]
        other = [reword(q, family, seed=6) for q in questions]
        assert sum(a.question != b.question for a, b in zip(first, other)) >= len(questions) // 4


def test_train_and_heldout_templates_are_disjoint():
    train, heldout = family_templates("train"), family_templates("heldout")
    assert len(train) > 60 and len(heldout) > 60
    assert train & heldout == set()
    for family in FAMILIES:  # an object word names one shape only
        nouns = SHAPE_NOUNS[family]
        for shape, words in nouns.items():
            others = {w for s, ws in nouns.items() if s != shape for w in ws}
            assert not set(words) & others and not any(o in w for w in words for o in nouns if o != shape), words
    for table in (QUESTION_TEMPLATES, EVENT_TEMPLATES):
        for slot, per_family in table.items():
            assert set(per_family) == set(FAMILIES), slot
            assert len(per_family["train"]) >= 2 and len(per_family["heldout"]) >= 2, slot


def test_both_families_use_several_wordings_per_type(questions):
    for family in FAMILIES:
        frames: dict[str, set[str]] = {}
        for q in questions:
            for seed in range(4):
                frames.setdefault(q.subtype, set()).add(re.sub(r"\d", "#", reword(q, family, seed).question)[:18])
        assert all(len(v) >= 2 for v in frames.values()), frames


def test_conjugation():
    assert third_person("come to a stop") == "comes to a stop"
    assert third_person("be hidden by the red box") == "is hidden by the red box"
    assert third_person("hit the top wall and bounce back") == "hits the top wall and bounces back"
    assert third_person("push the red box along") == "pushes the red box along"


def test_text_outside_the_grammar_is_refused():
    with pytest.raises(RewordError, match="no rewording rule"):
        reword(question("Is the boy holding a ball?", list("abcde")), "heldout")
    with pytest.raises(RewordError, match="not an event phrase"):
        reword(question("What does the red circle do right after it dances?", list("abcde")), "heldout")
    with pytest.raises(ValueError, match="family must be one of"):
        reword(question("What colour is the large circle?", list("abcde")), "test")


def test_reworded_world_is_read_unchanged_by_the_loaders(small_world, tmp_path, capsys):
    from videothought.evals.datasets import load_world as load_samples

    source, videos = small_world
    out = tmp_path / "heldout"
    assert main(["world", "reword", str(source), "--family", "heldout", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["questions"] == sum(len(v.questions) for v in videos) and summary["family"] == "heldout"
    copied = load_world(out)
    originals = {q.qid: q for v in videos for q in v.questions}
    for video in copied:
        assert video.path.is_file() and not video.path.is_symlink()
        for q in video.questions:
            assert q.answer == originals[q.qid].answer and q.question == reword(originals[q.qid], "heldout", 0).question
    samples = load_samples(out)  # root confinement: every video resolves inside the copy
    assert len(samples) == summary["questions"] and all(str(out.resolve()) in s.video_path for s in samples)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["reworded"] == {"from": str(source.resolve()), "family": "heldout", "seed": 0}
    with open(out / ORIGINAL_QA, newline="") as handle:
        assert [row["question"] for row in csv.DictReader(handle)][0] == videos[0].questions[0].question
    with pytest.raises(SystemExit, match="is the source world itself"):
        main(["world", "reword", str(out), "--family", "train", "--out", str(out)])


def test_reword_world_refuses_a_directory_that_is_not_a_world(tmp_path):
    with pytest.raises(FileNotFoundError):
        reword_world(tmp_path / "missing", tmp_path / "out", family="train")


def test_needle_questions_of_long_videos():
    colour = question("What colour is the star that bounces off the left edge, somewhere in the video?",
                      ["cyan", "red", "blue", "green", "pink"], answer=0)
    new = reword(colour, "heldout", 0)
    assert "left" in new.question and new.options[0] in ("it is cyan", "a cyan one") and new.answer == 0
    when = question("The pink star stops once in this video. In which minute?",
                    [f"in minute {m}" for m in range(3, 8)], answer=4)
    new = reword(when, "train", 0)
    assert "pink" in new.question and new.options[4].endswith("minute 7") and new.options[4] != "in minute 7"
