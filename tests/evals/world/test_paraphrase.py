"""The paraphrase family (training wordings of the program writer): it says the gold program's
question, and it shares no phrase with the held-out family that evaluation alone reads."""

from __future__ import annotations

import inspect
import random
import re

from tests.test_agent_rule import _normalised, heldout_phrases
from videothought.agent import writer
from videothought.evals.world import paraphrase
from videothought.evals.world.programs import gold_program
from videothought.training.nodes import writer_shapes


def training_texts() -> list[str]:
    """Every literal string of the paraphrase generator, the people shapes and the few-shot examples."""
    texts = []
    for module in (paraphrase, writer_shapes):
        texts += re.findall(r'"([^"\n]*)"', inspect.getsource(module))
    texts += [example[0] for example in writer.EXAMPLES] + [c for example in writer.EXAMPLES for c in example[1]]
    return texts


FUNCTION_WORDS = {"a", "an", "the", "at", "in", "on", "of", "to", "it", "its", "is", "does", "do", "did", "what", "which",
                  "how", "many", "much", "and", "or", "by", "for", "with", "that", "this", "after", "before", "from"}


def test_the_training_wordings_share_no_phrase_with_the_held_out_family():
    # a phrase of function words alone ("at the") is any sentence's; every other held-out phrase is checked
    phrases = {p for p in heldout_phrases() if not set(p.split()) <= FUNCTION_WORDS}
    found = set()
    for text in training_texts():
        for piece in re.split(r"\{\w+\}", text):
            words = _normalised(piece).strip()
            for phrase in phrases:
                if words == phrase or (len(phrase.split()) >= 2 and f" {phrase} " in f" {words} "):
                    found.add((phrase, text))
    assert found == set(), sorted(found)


def test_a_paraphrase_says_the_same_program_in_other_words():
    question = "What does the large red circle do right after it collides with the blue star?"
    options = ["stops", "bounces off the top edge", "collides with the green square", "leaves the scene", "appears"]
    gold = gold_program(question, options)
    seen = set()
    for seed in range(12):
        text, said = paraphrase.paraphrase(gold, question, options, random.Random(seed))
        assert len(said) == 5 and len(set(said)) == 5
        seen.add(text)
    assert len(seen) >= 6  # many wordings of one program
    assert paraphrase.paraphrase(gold, question, options, random.Random(3)) == \
        paraphrase.paraphrase(gold, question, options, random.Random(3))
    assert paraphrase.infinitive("bumps into the disc") == "bump into the disc"
    assert paraphrase.infinitive("hits the top edge and turns") == "hit the top edge and turn"
