"""What can be said about an object, in words and back: the shared grammar of
questions, options, captions and the oracle.

A *happening* is one object's view of an event: (frame, key) where key is
(kind, argument), e.g. (12, ("collide", 3)), (15, ("turn_wall", "top")). A
*phrase key* names something that may be said about an object; it *matches* a
happening when saying it would be true of that happening:

    ("turn", None)          "changes direction"        any turn (walls included)
    ("turn_wall", "top")    "bounces off the top edge" a turn off that wall
    ("collide", 3)          "collides with the red circle"
    ("stop"|"start"|"exit"|"enter"|"appear"|"disappear", None)
    ("hidden", 5)           "goes behind the white star"
    ("push", 5) / ("pushed", 5)

Distractors are phrase keys matching none of the object's relevant happenings,
so exactly one option is true.
"""

from __future__ import annotations

import re

WALLS = ("left", "right", "top", "bottom")
# Kinds that take an object argument.
OBJECT_KINDS = ("collide", "hidden", "push", "pushed")
SIMPLE_KINDS = ("turn", "stop", "start", "exit", "enter", "appear", "disappear")

_VERBS = {
    "turn": "changes direction",
    "stop": "stops",
    "start": "starts moving",
    "exit": "leaves the scene",
    "enter": "enters the scene",
    "appear": "appears",
    "disappear": "vanishes",
}
_OBJECT_VERBS = {
    "collide": "collides with the {}",
    "hidden": "goes behind the {}",
    "push": "pushes the {}",
    "pushed": "is pushed by the {}",
}
def happenings(events: list[dict], object_id: int) -> list[tuple[int, tuple]]:
    """Everything that happens to one object, from event dicts (schema Event.to_dict()), in frame order."""
    found = []
    for event in events:
        ids = event["track_ids"]
        if object_id not in ids:
            continue
        kind, frame = event["type"], event["start_frame"]
        others = [t for t in ids if t != object_id]
        if kind == "collide":
            found.append((frame, ("collide", others[0])))
        elif kind == "push":
            found.append((frame, ("push", ids[1]) if ids[0] == object_id else ("pushed", ids[0])))
        elif kind == "occluded":
            if ids[0] == object_id:  # the hidden one; the occluder just passes over
                found.append((frame, ("hidden", ids[1])))
        elif kind == "turn":
            attributes = event.get("attributes") or {}
            if attributes.get("cause") == "wall":
                found.append((frame, ("turn_wall", attributes["wall"])))
            else:
                found.append((frame, ("turn", None)))
        elif kind in _VERBS:
            found.append((frame, (kind, None)))
    found.sort(key=lambda h: (h[0], h[1][0], str(h[1][1])))
    return found


def matches(phrase_key: tuple, happening_key: tuple) -> bool:
    """True when saying `phrase_key` of the object is true of this happening."""
    if phrase_key == happening_key:
        return True
    return phrase_key == ("turn", None) and happening_key[0] == "turn_wall"


def phrase(key: tuple, labels: dict[int, str]) -> str:
    """Present-tense verb phrase: "collides with the red circle"."""
    kind, argument = key
    if kind == "turn_wall":
        return f"bounces off the {argument} edge"
    if kind in _OBJECT_VERBS:
        return _OBJECT_VERBS[kind].format(labels[argument])
    return _VERBS[kind]


def parse_phrase(text: str, label_to_id: dict[str, int]) -> tuple | None:
    """Inverse of `phrase`; None when the text is not a phrase of this grammar."""
    text = text.strip()
    for kind, verb in _VERBS.items():
        if text == verb:
            return (kind, None)
    wall = re.fullmatch(r"bounces off the (left|right|top|bottom) edge", text)
    if wall:
        return ("turn_wall", wall.group(1))
    for kind, template in _OBJECT_VERBS.items():
        prefix = template.split("{}")[0]
        if text.startswith(prefix):
            label = text[len(prefix):]
            if label in label_to_id:
                return (kind, label_to_id[label])
    return None


def all_phrase_keys(object_id: int, object_ids: list[int]) -> list[tuple]:
    """Every phrase key that can be said of `object_id` in a video with these objects."""
    keys = [(kind, None) for kind in SIMPLE_KINDS] + [("turn_wall", w) for w in WALLS]
    for other in object_ids:
        if other != object_id:
            keys += [(kind, other) for kind in OBJECT_KINDS]
    return keys


def ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(n, f"{n}th")


ORDINALS = {ordinal(n): n for n in range(1, 10)}
