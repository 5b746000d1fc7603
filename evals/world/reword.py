"""Held-out phrasings: the world's questions and options said in other words, same meaning.

The world writes every question in one grammar (questions.py, phrases.py). A model (or an
agent) that learned those sentences rather than their meaning shows it when the words change.
This module rewrites a question and its five options by hand-written templates, in two
disjoint families:

    train     wordings node post-training may use (with the originals)
    heldout   wordings never used for tuning or training: for testing only

Every slot has its own templates per family: the question's frame (per type and subtype),
the object referent ("the large circle" -> "the big ball"), sizes, event phrases
("collides with the red square" -> "bumps into the red box"), causes, counts (digits or
words), colours, shapes, times. The two families share no template of any slot, and no
family holds the world's own wording of a question frame or an event phrase.

    reworded = reword(question, "heldout", seed=0)   # same qid, answer index, meaning
    reword_world("runs/world", "runs/world-heldout", family="heldout", seed=0)
    vot world reword runs/world --family heldout --out runs/world-heldout

Within one question every option of a kind uses the same wording (drawn once per question,
seeded by (seed, family, qid)), so how an option is written says nothing about whether it is
right. The answer index never changes.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import random
import re
import shutil
from pathlib import Path

from .config import SHAPES, SIZES
from .questions import NUM_OPTIONS, Question

logger = logging.getLogger(__name__)

FAMILIES = ("train", "heldout")
ORIGINAL_QA = "original_qa.csv"  # in a reworded world: the questions in the world's own words
WALLS = ("left", "right", "top", "bottom")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth")


class RewordError(ValueError):
    """A question or option outside the world's grammar: it cannot be reworded faithfully."""


# ---------------------------------------------------------------------------------------
# The templates. Placeholders: {ref}/{Ref} an object referent (Ref: capitalised at the start of
# a sentence), {label} a reworded "colour shape", {verb}/{inf} an event phrase (3rd person /
# infinitive), {dir} after|before, {when} " for the second time" (or ""), {s} seconds,
# {c} a colour, {noun} a shape noun, {nouns} its plural, {n} a digit, {word} a number word.
#
# Event phrases are written in the infinitive; `third_person` conjugates them.

QUESTION_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "colour": {
        "train": ("Which colour is {ref}?", "What is the colour of {ref}?", "Tell me the colour of {ref}."),
        "heldout": ("Which colour does {ref} have?", "{Ref} is what colour?", "In what colour is {ref} drawn?"),
    },
    "shape": {
        "train": ("Which shape is {ref}?", "What is the shape of {ref}?", "Tell me the shape of {ref}."),
        "heldout": ("What kind of shape is {ref}?", "{Ref} has which shape?", "What form does {ref} take?"),
    },
    "count_colour": {
        "train": ("How many objects are {c}?", "Count the {c} objects.", "How many {c} objects does the video show?"),
        "heldout": ("What is the number of {c} shapes in the video?", "How many {c} things can be seen?",
                    "In total, how many items are {c}?"),
    },
    "count_shape": {
        "train": ("How many {nouns} does the video show?", "Count the {nouns}.", "How many {nouns} are in the video?"),
        "heldout": ("What is the number of {nouns} in the video?", "How many {nouns} can be seen?",
                    "In total, how many {nouns} appear in the clip?"),
    },
    "count_collisions": {
        "train": ("How many collisions happen?", "Count the collisions in the video.",
                  "How many collisions does the video show?"),
        "heldout": ("What is the number of collisions?", "How many times do two objects crash together?",
                    "In total, how many collisions can be seen?"),
    },
    "count_enter": {
        "train": ("How many objects come into the scene?", "Count the objects that enter the scene.",
                  "How many objects does the video show entering the scene?"),
        "heldout": ("What is the number of objects that move into the picture?",
                    "How many shapes come into the frame from outside?", "In total, how many items enter the frame?"),
    },
    "count_turns": {
        "train": ("How often does {ref} change its direction?", "Count how many times {ref} changes direction.",
                  "How many times does {ref} alter its course?"),
        "heldout": ("How many direction changes does {ref} make?", "How many times does {ref} switch direction?",
                    "In total, how often does {ref} reverse its heading?"),
    },
    "count_partners": {
        "train": ("How many distinct objects crash into {ref}?", "Count the different objects that collide with {ref}.",
                  "How many different objects run into {ref}?"),
        "heldout": ("With how many different objects does {ref} collide?", "How many separate objects bump into {ref}?",
                    "In total, how many other objects hit {ref}?"),
    },
    "after_before": {
        "train": ("What does {ref} do immediately {dir} it {verb}?", "Immediately {dir} {ref} {verb}, what does it do?",
                  "What is the action of {ref} immediately {dir} it {verb}?"),
        "heldout": ("What does {ref} do just {dir} it {verb}?", "Just {dir} {ref} {verb}, what does it do?",
                    "{Ref} {verb}. What does {ref} do directly {dir} that?"),
    },
    "order": {
        "train": ("Which object is the first to {inf}?", "Which object {verb} before all the others?",
                  "Which object {verb} earliest?"),
        "heldout": ("Of all the objects, which one {verb} first?", "Which shape is first to {inf}?",
                    "Which item {verb} ahead of every other one?"),
    },
    "causal": {
        "train": ("What makes {ref} {inf}{when}?", "For what reason does {ref} {inf}{when}?",
                  "What is the reason {ref} {verb}{when}?"),
        "heldout": ("What causes {ref} to {inf}{when}?", "{Ref} {verb}{when}. Why?",
                    "Explain why {ref} {verb}{when}."),
    },
    "next": {
        "train": ("Having seen only the first {s} seconds, what will {ref} do next?",
                  "Based on the first {s} seconds alone, what will {ref} do next?",
                  "From just the first {s} seconds of video, predict the next thing {ref} does."),
        "heldout": ("If you stop the video at {s} seconds, what will {ref} do next?",
                    "Given only the opening {s} seconds, what is {ref} going to do next?",
                    "Up to the {s}-second mark, what would you expect {ref} to do next?"),
    },
    "remove": {
        "train": ("Which event would not occur if the {label} were taken out of the scene?",
                  "Suppose the {label} were absent: which event would not happen?",
                  "If there were no {label}, which event would not take place?"),
        "heldout": ("Without the {label}, which of these events would never take place?",
                    "Had the {label} not been there, which event would be missing?",
                    "Which event depends on the {label} being in the scene?"),
    },
    "needle_colour": {
        "train": ("Somewhere in the video {a_noun} {verb}: what colour is it?",
                  "Which colour is the {noun} that {verb} at some point in the video?"),
        "heldout": ("At some moment {a_noun} {verb}. Which colour does it have?",
                    "What is the colour of the {noun} that {verb} somewhere in this video?"),
    },
    "needle_when": {
        "train": ("In which minute does the {label} {inf}? It happens once.",
                  "The {label} {verb} a single time in this video. During which minute?"),
        "heldout": ("During what minute of the video does the {label} {inf} (it happens only once)?",
                    "Once in this video, the {label} {verb}. Which minute is that in?"),
    },
}

# Options, per form. {x} is the option's value (a colour, a shape noun, a label, ...).
OPTION_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "colour": {"train": ("{c} in colour", "coloured {c}"), "heldout": ("it is {c}", "a {c} one")},
    "shape": {"train": ("{a_noun}", "the shape of {a_noun}"), "heldout": ("it is {a_noun}", "it has the form of {a_noun}")},
    "count": {"train": ("{word}", "{n} in all"), "heldout": ("exactly {word}", "{n} in total")},
    "object": {"train": ("it is the {label}", "the {label} is the one"), "heldout": ("the {label} does", "that would be the {label}")},
    "timed_event": {"train": ("the {label} {verb} at {s} seconds", "at {s} seconds, the {label} {verb}"),
                    "heldout": ("at the {s}-second mark the {label} {verb}", "the {label} {verb} {s} s into the video")},
    "minute": {"train": ("during minute {m}", "in the video's minute {m}"),
               "heldout": ("within minute number {m}", "at some point in minute {m}")},
}

# Event phrases in the infinitive ({x}: a label, {w}: a wall). The world's own: phrases.py.
EVENT_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "turn": {"train": ("change its direction", "alter its course"), "heldout": ("switch direction", "reverse its heading")},
    "stop": {"train": ("come to a stop", "halt"), "heldout": ("stop moving", "come to rest")},
    "start": {"train": ("begin to move", "set off"), "heldout": ("start to move", "get going")},
    "exit": {"train": ("exit the scene", "leave the frame"), "heldout": ("exit the frame", "leave the picture")},
    "enter": {"train": ("come into the scene", "enter the frame"), "heldout": ("enter the picture", "move into the frame")},
    "appear": {"train": ("show up", "become visible"), "heldout": ("pop into view", "come into sight")},
    "disappear": {"train": ("disappear", "be gone all at once"), "heldout": ("disappear from sight", "blink out of view")},
    "turn_wall": {"train": ("rebound from the {w} edge", "bounce off the {w} side"),
                  "heldout": ("bounce back from the {w} border", "hit the {w} wall and bounce back")},
    "collide": {"train": ("crash into the {x}", "run into the {x}"), "heldout": ("bump into the {x}", "hit the {x}")},
    "hidden": {"train": ("pass behind the {x}", "be hidden by the {x}"),
               "heldout": ("slip behind the {x}", "be covered by the {x}")},
    "push": {"train": ("shove the {x}", "push the {x} along"), "heldout": ("give the {x} a push", "drive the {x} forward")},
    "pushed": {"train": ("get shoved by the {x}", "be pushed along by the {x}"),
               "heldout": ("get pushed by the {x}", "be driven forward by the {x}")},
}

CAUSE_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "wall": {"train": ("it reached the {w} edge", "because it bounced off the {w} edge"),
             "heldout": ("it ran into the {w} border", "because of the {w} wall")},
    "collide": {"train": ("it crashed into the {x}", "because the {x} collided with it"),
                "heldout": ("because it bumped into the {x}", "due to a collision with the {x}")},
    "pushed": {"train": ("the {x} shoved it", "because it was pushed by the {x}"),
               "heldout": ("the {x} gave it a push", "due to a push from the {x}")},
    "self": {"train": ("nothing caused it; it did so by itself", "by itself"),
             "heldout": ("of its own accord", "nothing else made it happen")},
}

# Object words. Each shape's nouns are distinct from every other shape's, within a family.
SHAPE_NOUNS: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {"circle": ("circle", "disc"), "square": ("square", "square tile"), "triangle": ("triangle", "three-sided shape"),
              "star": ("star", "star shape"), "hexagon": ("hexagon", "six-sided shape"), "diamond": ("diamond", "rhombus")},
    "heldout": {"circle": ("ball", "round shape"), "square": ("box", "square block"),
                "triangle": ("triangular shape", "three-cornered shape"), "star": ("star-shaped object", "five-pointed star"),
                "hexagon": ("hexagonal shape", "six-cornered shape"), "diamond": ("diamond shape", "lozenge")},
}
SIZE_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {"small": ("small",), "medium": ("medium", "medium-sized"), "large": ("large",)},
    "heldout": {"small": ("little",), "medium": ("mid-sized",), "large": ("big",)},
}
OBJECT_NOUNS = {"train": ("object", "thing"), "heldout": ("shape", "item")}
RELATIVE = {"train": ("that",), "heldout": ("which",)}
WHEN_TEMPLATES = {"train": (" for the {ordinal} time",), "heldout": (" on the {ordinal} occasion",)}


# ---------------------------------------------------------------------------------------
# Parsing the world's wording (the inverse of questions.py / phrases.py)

_SIMPLE_EVENTS = {"changes direction": "turn", "stops": "stop", "starts moving": "start", "leaves the scene": "exit",
                  "enters the scene": "enter", "appears": "appear", "vanishes": "disappear"}
_OBJECT_EVENTS = (("collides with the ", "collide"), ("goes behind the ", "hidden"), ("pushes the ", "push"),
                  ("is pushed by the ", "pushed"))
_CAUSAL_VERBS = {"change direction": "turn", "stop": "stop", "start moving": "start"}
_LABEL = r"(\w+) (" + "|".join(SHAPES) + r")"


def parse_event(text: str) -> tuple[str, str | None]:
    """"collides with the red circle" -> ("collide", "red circle"); ("turn_wall", "top"); ("stop", None)."""
    text = text.strip()
    if text in _SIMPLE_EVENTS:
        return _SIMPLE_EVENTS[text], None
    if match := re.fullmatch(r"bounces off the (left|right|top|bottom) edge", text):
        return "turn_wall", match.group(1)
    for prefix, kind in _OBJECT_EVENTS:
        if text.startswith(prefix) and re.fullmatch(_LABEL, text[len(prefix):]):
            return kind, text[len(prefix):]
    raise RewordError(f"{text!r} is not an event phrase of the world's grammar")


@dataclasses.dataclass
class Referent:
    """"the large red object that stops": size, colour, shape, and an optional event clause."""

    size: str | None
    colour: str | None
    shape: str | None
    clause: tuple[str, str | None] | None


def parse_referent(text: str) -> Referent:
    text = text.strip()
    if not text.startswith("the "):
        raise RewordError(f"referent {text!r} does not start with 'the '")
    noun, _, clause = text[4:].partition(" that ")
    tokens = noun.split()
    size = tokens.pop(0) if tokens and tokens[0] in SIZES else None
    if len(tokens) == 2 and tokens[1] == "object":
        return Referent(size, tokens[0], None, parse_event(clause) if clause else None)
    if len(tokens) == 1 and tokens[0] in SHAPES:
        return Referent(size, None, tokens[0], parse_event(clause) if clause else None)
    if len(tokens) == 2 and tokens[1] in SHAPES:
        return Referent(size, tokens[0], tokens[1], parse_event(clause) if clause else None)
    raise RewordError(f"referent {text!r} is not of the world's grammar")


# ---------------------------------------------------------------------------------------
# Writing: one Wording per question (every choice drawn once, so options read alike)


def third_person(infinitive: str) -> str:
    """Conjugate each verb: "come to a stop" -> "comes to a stop", "be hidden" -> "is hidden",
    "hit the wall and bounce back" -> "hits the wall and bounces back"."""
    return " and ".join(_conjugate_first(part) for part in infinitive.split(" and "))


def _conjugate_first(infinitive: str) -> str:
    first, _, rest = infinitive.partition(" ")
    irregular = {"be": "is", "have": "has", "do": "does", "go": "goes"}
    if first in irregular:
        verb = irregular[first]
    elif first.endswith(("s", "sh", "ch", "x", "z")):
        verb = first + "es"
    elif first.endswith("y") and first[-2:-1] not in "aeiou":
        verb = first[:-1] + "ies"
    else:
        verb = first + "s"
    return f"{verb} {rest}".strip()


def plural(noun: str) -> str:
    """"ball" -> "balls", "box" -> "boxes", "rhombus" -> "rhombuses", "star shape" -> "star shapes"."""
    return noun + "es" if noun.endswith(("s", "sh", "ch", "x", "z")) else noun + "s"


def with_article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


class Wording:
    """The wording of one question in one family: every choice drawn once from a seeded rng."""

    def __init__(self, family: str, rng: random.Random):
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        self.family = family
        self.rng = rng
        self._chosen: dict[tuple, str] = {}

    def pick(self, key: tuple, options: tuple[str, ...]) -> str:
        if key not in self._chosen:
            self._chosen[key] = options[self.rng.randrange(len(options))]
        return self._chosen[key]

    # -- objects
    def noun(self, shape: str) -> str:
        return self.pick(("noun", shape), SHAPE_NOUNS[self.family][shape])

    def label(self, label: str) -> str:
        """"red circle" -> "red ball"."""
        match = re.fullmatch(_LABEL, label)
        if not match:
            raise RewordError(f"label {label!r} is not 'colour shape'")
        return f"{match.group(1)} {self.noun(match.group(2))}"

    def referent(self, text: str) -> str:
        ref = parse_referent(text)
        words = []
        if ref.size:
            words.append(self.pick(("size", ref.size), SIZE_WORDS[self.family][ref.size]))
        if ref.colour:
            words.append(ref.colour)
        words.append(self.noun(ref.shape) if ref.shape else self.pick(("object",), OBJECT_NOUNS[self.family]))
        out = "the " + " ".join(words)
        if ref.clause:
            out += f" {self.pick(('relative',), RELATIVE[self.family])} {self.event(*ref.clause)}"
        return out

    # -- events
    def event_infinitive(self, kind: str, argument: str | None) -> str:
        template = self.pick(("event", kind), EVENT_TEMPLATES[kind][self.family])
        if kind == "turn_wall":
            return template.format(w=argument)
        if "{x}" in template:
            return template.format(x=self.label(argument))
        return template

    def event(self, kind: str, argument: str | None) -> str:
        return third_person(self.event_infinitive(kind, argument))

    def event_text(self, text: str) -> str:
        return self.event(*parse_event(text))

    # -- templates
    def question(self, subtype: str, **slots) -> str:
        template = self.pick(("question", subtype), QUESTION_TEMPLATES[subtype][self.family])
        if "{Ref}" in template:
            slots["Ref"] = slots["ref"][0].upper() + slots["ref"][1:]
        text = template.format(**slots)
        return text[0].upper() + text[1:]

    def option(self, form: str, **slots) -> str:
        return self.pick(("option", form), OPTION_TEMPLATES[form][self.family]).format(**slots)


# ---- question frames --------------------------------------------------------------------
def _reword_question_text(text: str, w: Wording) -> tuple[str, str]:
    """(reworded question, option form) for a question in the world's grammar."""
    # Needle questions first: their text would also match the short-video rules.
    if m := re.fullmatch(r"What colour is the (\w+) that (.+), somewhere in the video\?", text):
        if m.group(1) not in SHAPES:
            raise RewordError(f"no shape in {text!r}")
        noun = w.noun(m.group(1))
        return w.question("needle_colour", noun=noun, a_noun=with_article(noun), verb=w.event_text(m.group(2))), "colour"
    if m := re.fullmatch(r"The " + _LABEL + r" (.+) once in this video\. In which minute\?", text):
        kind, argument = parse_event(m.group(3))
        return w.question("needle_when", label=w.label(f"{m.group(1)} {m.group(2)}"), verb=w.event(kind, argument),
                          inf=w.event_infinitive(kind, argument)), "minute"
    if m := re.fullmatch(r"What colour is (the .+)\?", text):
        return w.question("colour", ref=w.referent(m.group(1))), "colour"
    if m := re.fullmatch(r"What shape is (the .+)\?", text):
        return w.question("shape", ref=w.referent(m.group(1))), "shape"
    if text == "How many collisions are there?":
        return w.question("count_collisions"), "count"
    if text == "How many objects enter the scene?":
        return w.question("count_enter"), "count"
    if m := re.fullmatch(r"How many times does (the .+) change direction\?", text):
        return w.question("count_turns", ref=w.referent(m.group(1))), "count"
    if m := re.fullmatch(r"How many different objects collide with (the .+)\?", text):
        return w.question("count_partners", ref=w.referent(m.group(1))), "count"
    if m := re.fullmatch(r"How many (\w+) objects are there\?", text):
        return w.question("count_colour", c=m.group(1)), "count"
    if (m := re.fullmatch(r"How many (\w+)s are there\?", text)) and m.group(1) in SHAPES:
        return w.question("count_shape", nouns=plural(w.noun(m.group(1)))), "count"
    if m := re.fullmatch(r"What does (the .+?) do right (after|before) it (.+)\?", text):
        return w.question("after_before", ref=w.referent(m.group(1)), dir=m.group(2),
                          verb=w.event_text(m.group(3))), "event"
    if m := re.fullmatch(r"Which object (.+) first\?", text):
        kind, argument = parse_event(m.group(1))
        return w.question("order", verb=w.event(kind, argument), inf=w.event_infinitive(kind, argument)), "object"
    if m := re.fullmatch(r"Why does (the .+?) (change direction|stop|start moving)(?: for the (\w+) time)?\?", text):
        kind = _CAUSAL_VERBS[m.group(2)]
        when = ""
        if m.group(3):
            if m.group(3) not in ORDINAL_WORDS:
                raise RewordError(f"ordinal {m.group(3)!r} in {text!r}")
            when = w.pick(("when",), WHEN_TEMPLATES[w.family]).format(ordinal=m.group(3))
        return w.question("causal", ref=w.referent(m.group(1)), inf=w.event_infinitive(kind, None),
                          verb=w.event(kind, None), when=when), "cause"
    if m := re.fullmatch(r"Watching only the first ([\d.]+) seconds, what will (the .+) do next\?", text):
        return w.question("next", s=m.group(1), ref=w.referent(m.group(2))), "event"
    if m := re.fullmatch(r"If the (.+) were removed, which event would not happen\?", text):
        return w.question("remove", label=w.label(m.group(1))), "timed_event"
    raise RewordError(f"no rewording rule for question {text!r}")


# ---- option forms -----------------------------------------------------------------------
def _reword_option(text: str, form: str, w: Wording) -> str:
    if form == "colour":
        return w.option("colour", c=text)
    if form == "shape":
        if text not in SHAPES:
            raise RewordError(f"shape option {text!r}")
        noun = w.noun(text)
        return w.option("shape", noun=noun, a_noun=with_article(noun))
    if form == "count":
        if not text.isdigit():
            raise RewordError(f"count option {text!r} is not a number")
        n = int(text)
        return w.option("count", n=n, word=NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n))
    if form == "object":
        if not text.startswith("the "):
            raise RewordError(f"object option {text!r}")
        return w.option("object", label=w.label(text[4:]))
    if form == "event":
        return w.event_text(text)
    if form == "cause":
        return _reword_cause(text, w)
    if form == "timed_event":
        m = re.fullmatch(r"the " + _LABEL + r" (.+) at ([\d.]+) seconds", text)
        if not m:
            raise RewordError(f"timed event option {text!r}")
        return w.option("timed_event", label=w.label(f"{m.group(1)} {m.group(2)}"), verb=w.event_text(m.group(3)),
                        s=m.group(4))
    if form == "minute":
        m = re.fullmatch(r"in minute (\d+)", text)
        if not m:
            raise RewordError(f"minute option {text!r}")
        return w.option("minute", m=m.group(1))
    raise RewordError(f"unknown option form {form!r}")


def _reword_cause(text: str, w: Wording) -> str:
    if m := re.fullmatch(r"because it hits the (left|right|top|bottom) edge", text):
        return w.pick(("cause", "wall"), CAUSE_TEMPLATES["wall"][w.family]).format(w=m.group(1))
    if m := re.fullmatch(r"because it collides with the (.+)", text):
        return w.pick(("cause", "collide"), CAUSE_TEMPLATES["collide"][w.family]).format(x=w.label(m.group(1)))
    if m := re.fullmatch(r"because the (.+) pushes it", text):
        return w.pick(("cause", "pushed"), CAUSE_TEMPLATES["pushed"][w.family]).format(x=w.label(m.group(1)))
    if text == "it does so on its own":
        return w.pick(("cause", "self"), CAUSE_TEMPLATES["self"][w.family])
    raise RewordError(f"cause option {text!r} is not of the world's grammar")


# ---------------------------------------------------------------------------------------
# The API


def reword(question: Question, family: str, seed: int = 0) -> Question:
    """The question and its options in the `family`'s wording: same qid, answer index and meaning.

    Deterministic in (seed, family, qid). Raises RewordError for text outside the world's grammar.
    """
    w = Wording(family, random.Random(f"{seed}:{family}:{question.qid}"))
    text, form = _reword_question_text(question.question, w)
    options = [_reword_option(option, form, w) for option in question.options]
    if len(set(options)) != len(options):  # a template bug, never expected: fail loudly
        raise RewordError(f"{question.qid}: rewording merged options {options}")
    return dataclasses.replace(question, question=text, options=options)


def reword_world(source: str | os.PathLike, out: str | os.PathLike, *, family: str, seed: int = 0) -> dict:
    """A full world directory with every question reworded (`vot world reword`).

    Everything but qa.csv is copied (stsg/, specs/, evidence.jsonl, captions.jsonl; the source's
    qa.csv as original_qa.csv, for the oracle ceiling only); videos are
    hard-linked when the file system allows it, else copied: a dataset's files must lie inside its
    root (evals/datasets.py refuses symlinks out), so the eval runner and the bench read the copy
    unchanged. meta.json records where it came from. Returns a summary dict.
    """
    from .dataset import QA_COLUMNS, WorldFormatError, load_world

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    source, out = Path(source), Path(out)
    if source.resolve() == out.resolve():
        raise ValueError(f"--out {out} is the source world itself; write the reworded copy elsewhere")
    videos = load_world(source)  # validates the source
    meta = json.loads((source / "meta.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("stsg", "specs", "videos"):
        (out / sub).mkdir(exist_ok=True)
    for video in videos:
        for sub, suffix in (("stsg", ".json"), ("specs", ".json"), ("videos", ".mp4")):
            origin = source / sub / f"{video.video_id}{suffix}"
            if origin.is_file():
                _link_or_copy(origin, out / sub / origin.name)
    for name in ("evidence.jsonl", "captions.jsonl"):
        shutil.copyfile(source / name, out / name)
    # The world's own wording, by qid: the oracle (a ceiling that parses the world's grammar)
    # answers the same question from it; nothing else may read it.
    shutil.copyfile(source / "qa.csv", out / ORIGINAL_QA)
    rows, failed = [], []
    with open(source / "qa.csv", newline="") as handle:
        original_rows = list(csv.DictReader(handle))
    by_qid = {q.qid: (v, q) for v in videos for q in v.questions}
    for row in original_rows:
        video, question = by_qid[row["qid"]]
        try:
            new = reword(question, family, seed)
        except RewordError as error:
            raise WorldFormatError(f"{source / 'qa.csv'} {row['qid']}: {error}") from None
        if new.answer != question.answer or len(new.options) != NUM_OPTIONS:
            failed.append(row["qid"])
        rows.append({**row, "question": new.question, **{f"a{i}": o for i, o in enumerate(new.options)}})
    if failed:
        raise RuntimeError(f"rewording changed the answer of {failed}")
    with open(out / "qa.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=QA_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    meta["reworded"] = {"from": str(source.resolve()), "family": family, "seed": seed}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    logger.info("reworded %d questions (%s family) from %s into %s", len(rows), family, source, out)
    return {"out": str(out), "questions": len(rows), "family": family, "seed": seed}


def _link_or_copy(origin: Path, target: Path) -> None:
    if target.exists():
        target.unlink()
    try:
        os.link(origin, target)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(origin, target)


def template_fragments(family: str | None = None) -> list[str]:
    """Every template's literal text (placeholders cut out), for the agent-rule test and the
    family-disjointness test. With `family`, only that family's."""
    pieces: list[str] = []
    tables = [QUESTION_TEMPLATES, OPTION_TEMPLATES, EVENT_TEMPLATES, CAUSE_TEMPLATES]
    for table in tables:
        for per_family in table.values():
            for name, templates in per_family.items():
                if family in (None, name):
                    pieces += [p for t in templates for p in re.split(r"\{\w+\}", t)]
    return [p.strip() for p in pieces if p.strip()]


def family_templates(family: str) -> set[str]:
    """Every template string of one family, for the disjointness test."""
    found: set[str] = set()
    for table in (QUESTION_TEMPLATES, OPTION_TEMPLATES, EVENT_TEMPLATES, CAUSE_TEMPLATES):
        for per_family in table.values():
            found |= set(per_family[family])
    found |= {noun for nouns in SHAPE_NOUNS[family].values() for noun in nouns}
    found |= {word for words in SIZE_WORDS[family].values() for word in words}
    found |= set(OBJECT_NOUNS[family]) | set(RELATIVE[family]) | set(WHEN_TEMPLATES[family])
    return found
