"""Gold programs: each world question's program (graph/program.py) and its options' values, from
the world's own grammar. They are what the program writer is trained on (training seeds only) and
the perception ceiling of `vot bench agent` (gold programs on the tracked STSG).

    gold = gold_program("What colour is the square that leaves the scene?", options)
    gold.writer_json()   # {"program":[{"op":"find","name":"square"},{"op":"events","kind":"exit"},...],"options":[...]}

The program names objects with the world's own words (its shapes, colours and sizes): a reworded
question ("the big ball") has the same program as its original. That is what the writer learns:
to read any wording into the names perception uses (the scene's names are in its prompt).

Like oracle.py, this knows the benchmark's wording; it is never part of the agent.
"""

from __future__ import annotations

import re

from videothought.graph.program import Program, parse_program

from .config import SHAPES, SIZES

ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth")
_SIMPLE = {"changes direction": "turn", "stops": "stop", "starts moving": "start", "leaves the scene": "exit",
           "enters the scene": "enter", "appears": "appear", "vanishes": "disappear"}
_WITH = (("collides with the ", "collide"), ("goes behind the ", "occluded"), ("pushes the ", "push"),
         ("is pushed by the ", "pushed"))
_CAUSAL = {"change direction": "turn", "stop": "stop", "start moving": "start"}
_INFINITIVES = {"stop": "stop", "enter the scene": "enter", "leave the scene": "exit", "start moving": "start",
                "change direction": "turn"}
_VERBS = {"enters the scene": "enter", "stops": "stop", "changes direction": "turn", "leaves the scene": "exit",
          "starts moving": "start"}


class GoldError(ValueError):
    """A question or option outside the world's grammar."""


# ---- descriptions and events ---------------------------------------------------------------------
def label_description(label: str) -> dict:
    """"red circle" -> {"name": "circle", "adj": ["red"]}."""
    words = label.split()
    if len(words) != 2 or words[1] not in SHAPES:
        raise GoldError(f"label {label!r} is not 'colour shape'")
    return {"name": words[1], "adj": [words[0]]}


def referent_description(text: str) -> tuple[dict, dict | None]:
    """"the large red object that stops" -> ({"adj": ["large", "red"]}, {"kind": "stop"})."""
    if not text.startswith("the "):
        raise GoldError(f"referent {text!r} does not start with 'the '")
    noun, _, clause = text[4:].partition(" that ")
    words = noun.split()
    adjectives = []
    if words and words[0] in SIZES:
        adjectives.append(words.pop(0))
    if len(words) == 2 and words[1] == "object":
        description = {"adj": adjectives + [words[0]]}
    elif len(words) == 1 and words[0] in SHAPES:
        description = {"name": words[0], **({"adj": adjectives} if adjectives else {})}
    elif len(words) == 2 and words[1] in SHAPES:
        description = {"name": words[1], "adj": adjectives + [words[0]]}
    else:
        raise GoldError(f"referent {text!r} is not of the world's grammar")
    return description, (event_pattern(clause) if clause else None)


def event_pattern(text: str) -> dict:
    """"collides with the red circle" -> {"kind": "collide", "with": {...}}; "bounces off the top edge"
    -> {"kind": "turn", "side": "top"}; "stops" -> {"kind": "stop"}."""
    text = text.strip()
    if text in _SIMPLE:
        return {"kind": _SIMPLE[text]}
    if m := re.fullmatch(r"bounces off the (left|right|top|bottom) edge", text):
        return {"kind": "turn", "side": m.group(1)}
    for prefix, kind in _WITH:
        if text.startswith(prefix):
            return {"kind": kind, "with": label_description(text[len(prefix):])}
    raise GoldError(f"{text!r} is not an event phrase of the world's grammar")


def _events_step(pattern: dict) -> dict:
    return {"op": "events", **pattern}


def _find(description: dict) -> dict:
    return {"op": "find", **description}


def _referent_steps(text: str) -> list[dict]:
    """Steps that end with the referent's objects."""
    description, clause = referent_description(text)
    if clause is None:
        return [_find(description)]
    return [_find(description), _events_step(clause), {"op": "subject"}]


# ---- option values -------------------------------------------------------------------------------
def option_value(text: str, form: str) -> dict:
    if form == "text":
        return {"text": text}
    if form == "number":
        return {"number": int(text)}
    if form == "object":
        return {"object": label_description(text.removeprefix("the "))}
    if form == "event":
        return {"event": event_pattern(text)}
    if form == "cause":
        if m := re.fullmatch(r"because it hits the (left|right|top|bottom) edge", text):
            return {"cause": {"by": "edge", "side": m.group(1)}}
        if m := re.fullmatch(r"because it collides with the (.+)", text):
            return {"cause": {"by": "collide", "with": label_description(m.group(1))}}
        if m := re.fullmatch(r"because the (.+) pushes it", text):
            return {"cause": {"by": "push", "with": label_description(m.group(1))}}
        if text == "it does so on its own":
            return {"cause": {"by": "self"}}
        raise GoldError(f"cause option {text!r}")
    if form == "timed_event":
        m = re.fullmatch(r"the (\w+ \w+) (.+) at ([\d.]+) seconds", text)
        if not m:
            raise GoldError(f"timed event option {text!r}")
        return {"event": {"who": label_description(m.group(1)), **event_pattern(m.group(2)), "at": float(m.group(3))}}
    if form == "minute":
        m = re.fullmatch(r"in minute (\d+)", text)
        if not m:
            raise GoldError(f"minute option {text!r}")
        return {"time": {"minute": int(m.group(1))}}
    raise GoldError(f"unknown option form {form!r}")


# ---- questions -------------------------------------------------------------------------------------
def question_steps(text: str) -> tuple[list[dict], str]:
    """(the program's steps, the options' form) of a question in the world's grammar."""
    if m := re.fullmatch(r"What colour is the (\w+) that (.+), somewhere in the video\?", text):
        return [_find({"name": m.group(1)}), _events_step(event_pattern(m.group(2))), {"op": "subject"},
                {"op": "attribute", "name": "colour"}], "text"
    if m := re.fullmatch(r"The (\w+ \w+) (.+) once in this video\. In which minute\?", text):
        return [_find(label_description(m.group(1))), _events_step(event_pattern(m.group(2))), {"op": "first"},
                {"op": "time"}], "minute"
    # chained questions (evals/world/chained.py)
    if m := re.fullmatch(r"What (colour|shape) is the (first|last) object to (.+)\?", text):
        kind = _INFINITIVES.get(m.group(3))
        if kind is None:
            raise GoldError(f"no event {m.group(3)!r} in {text!r}")
        return [{"op": "events", "kind": kind}, {"op": m.group(2)}, {"op": "subject"},
                {"op": "attribute", "name": m.group(1)}], "text"
    if m := re.fullmatch(r"What (colour|shape) is the object (the .+?) collides with( first)?\?", text):
        return _referent_steps(m.group(2)) + [{"op": "events", "kind": "collide"}, {"op": "first"}, {"op": "partner"},
                                              {"op": "attribute", "name": m.group(1)}], "text"
    if m := re.fullmatch(r"How many (objects enter the scene|collisions happen) after (the .+?) "
                         r"(stops|starts moving|changes direction)\?", text):
        steps = _referent_steps(m.group(2)) + [{"op": "events", "kind": _VERBS[m.group(3)]}, {"op": "first"}]
        if m.group(1).startswith("objects"):
            return steps + [{"op": "after", "kind": "enter"}, {"op": "subject"}, {"op": "count"}], "number"
        return steps + [{"op": "after", "kind": "collide"}, {"op": "count"}], "number"
    if m := re.fullmatch(r"Which object does the first object to (.+) collide with first\?", text):
        kind = _INFINITIVES.get(m.group(1))
        if kind is None:
            raise GoldError(f"no event {m.group(1)!r} in {text!r}")
        return [{"op": "events", "kind": kind}, {"op": "first"}, {"op": "subject"}, {"op": "events", "kind": "collide"},
                {"op": "first"}, {"op": "partner"}], "object"
    if m := re.fullmatch(r"What (colour|shape) is (the .+)\?", text):
        return _referent_steps(m.group(2)) + [{"op": "attribute", "name": m.group(1)}], "text"
    if text == "How many collisions are there?":
        return [{"op": "events", "kind": "collide"}, {"op": "count"}], "number"
    if text == "How many objects enter the scene?":
        return [{"op": "events", "kind": "enter"}, {"op": "subject"}, {"op": "count"}], "number"
    if m := re.fullmatch(r"How many times does (the .+) change direction\?", text):
        return _referent_steps(m.group(1)) + [{"op": "events", "kind": "turn"}, {"op": "count"}], "number"
    if m := re.fullmatch(r"How many different objects collide with (the .+)\?", text):
        return _referent_steps(m.group(1)) + [{"op": "events", "kind": "collide"}, {"op": "partner"},
                                              {"op": "count"}], "number"
    if m := re.fullmatch(r"How many (\w+) objects are there\?", text):
        return [_find({"adj": [m.group(1)]}), {"op": "count"}], "number"
    if (m := re.fullmatch(r"How many (\w+)s are there\?", text)) and m.group(1) in SHAPES:
        return [_find({"name": m.group(1)}), {"op": "count"}], "number"
    if m := re.fullmatch(r"What does (the .+?) do right (after|before) it (.+)\?", text):
        steps = _referent_steps(m.group(1))
        subject = len(steps) - 1
        anchor = [_events_step(event_pattern(m.group(3))), {"op": "first"}]
        if m.group(2) == "after":
            return steps + anchor + [{"op": "after", "of": subject}, {"op": "first"}], "event"
        return steps + anchor + [{"op": "before", "of": subject}, {"op": "last"}], "event"
    if m := re.fullmatch(r"Which object (.+) first\?", text):
        if m.group(1) in _VERBS:
            return [{"op": "events", "kind": _VERBS[m.group(1)]}, {"op": "first"}, {"op": "subject"}], "object"
        if w := re.fullmatch(r"collides with (the .+)", m.group(1)):  # a follow-up conversation's first turn
            return _referent_steps(w.group(1)) + [{"op": "events", "kind": "collide"}, {"op": "first"},
                                                  {"op": "partner"}], "object"
    if m := re.fullmatch(r"Which object collides with (the .+)\?", text):
        return _referent_steps(m.group(1)) + [{"op": "events", "kind": "collide"}, {"op": "first"},
                                              {"op": "partner"}], "object"
    if m := re.fullmatch(r"Why does (the .+?) (change direction|stop|start moving)(?: for the (\w+) time)?\?", text):
        pick = {"op": "first"}
        if m.group(3):
            if m.group(3) in ORDINAL_WORDS:
                pick = {"op": "nth", "n": ORDINAL_WORDS.index(m.group(3)) + 1}
            elif re.fullmatch(r"\d+th", m.group(3)):
                pick = {"op": "nth", "n": int(m.group(3)[:-2])}
            else:
                raise GoldError(f"ordinal {m.group(3)!r} in {text!r}")
        return _referent_steps(m.group(1)) + [{"op": "events", "kind": _CAUSAL[m.group(2)]}, pick,
                                              {"op": "cause"}], "cause"
    if m := re.fullmatch(r"Watching only the first ([\d.]+) seconds, what will (the .+) do next\?", text):
        return [{"op": "watch", "until": float(m.group(1))}] + _referent_steps(m.group(2)) + [{"op": "predict"}], "event"
    if m := re.fullmatch(r"If the (.+) were removed, which event would not happen\?", text):
        return [_find(label_description(m.group(1))), {"op": "without"}], "timed_event"
    # follow-up turns (evals/world/followups.py)
    if text in ("What does it do right after that?", "And what does it do after that?"):
        return [{"op": "recall", "what": "object"}, {"op": "recall", "what": "moment"}, {"op": "after", "of": 0},
                {"op": "first"}], "event"
    if text == "Which object does it hit?":
        return [{"op": "recall", "what": "object"}, {"op": "events", "kind": "collide"}, {"op": "partner"}], "object"
    if text == "Which object does it hit after that?":
        return [{"op": "recall", "what": "object"}, {"op": "recall", "what": "moment"},
                {"op": "after", "kind": "collide", "of": 0}, {"op": "first"}, {"op": "partner"}], "object"
    raise GoldError(f"no gold program for question {text!r}")


def gold_program(question: str, options: list[str]) -> Program:
    """The checked gold program of a question in the world's own wording, with its options' values."""
    steps, form = question_steps(question)
    if form == "text":
        values = [option_value(o, "text") for o in options]
    else:
        values = [option_value(o, form) for o in options]
    return parse_program({"program": steps, "options": values}, num_options=len(options))
