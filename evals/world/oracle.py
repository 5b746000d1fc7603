"""Two reference answerers for the world's questions.

`oracle_answer(question, options, stsg)` reads only the question text, the five
option texts and the ground-truth STSG document (tracks and events), parses the
question with the question grammar and computes the answer from the graph. It
scoring 100% shows every answer is determined by the truth on disk, and that no
option besides the answer is also true (the oracle returns None when it finds
zero or several true options).

`prior_baseline(train, test)` never reads the question: it picks the option
text that was most often the correct answer in the training split. The world's
options are built so that it scores near chance (20%).
"""

from __future__ import annotations

import math
import re
from collections import Counter

from .phrases import ORDINALS, happenings, matches, parse_phrase

_SIZES = ("small", "medium", "large")


class OracleError(ValueError):
    """A question the oracle's grammar does not cover."""


class _Graph:
    def __init__(self, stsg: dict):
        self.tracks = {int(k): v for k, v in stsg["tracks"].items()}
        self.labels = {k: v["label"] for k, v in self.tracks.items()}
        # Labels repeat across the episodes of a long video: only unambiguous ones name a track.
        counts = Counter(self.labels.values())
        self.by_label = {v: k for k, v in self.labels.items() if counts[v] == 1}
        self.events = stsg["events"]
        self.fps = float(stsg["video"]["fps"])
        self.history = {t: happenings(self.events, t) for t in self.tracks}

    def attribute(self, track_id: int, name: str) -> str:
        return self.tracks[track_id]["attributes"][name]

    def resolve(self, referent: str) -> int:
        """'the red circle' / 'the square' / 'the large red object' / 'the star that stops' -> track id."""
        text = referent.strip()
        if text.startswith("the "):
            text = text[4:]
        if text in self.by_label:
            return self.by_label[text]
        clause = None
        if " that " in text:
            text, clause = text.split(" that ", 1)
        words = text.split()
        size = words.pop(0) if words and words[0] in _SIZES else None
        if words[-1] == "object":
            attribute, value = "colour", " ".join(words[:-1])
        else:
            attribute, value = "shape", " ".join(words)
        found = [t for t in self.tracks if self.attribute(t, attribute) == value
                 and (size is None or self.attribute(t, "size") == size)]
        if clause is not None:
            key = parse_phrase(clause, self.by_label)
            found = [t for t in found if any(matches(key, k) for _, k in self.history[t])]
        if len(found) != 1:
            raise OracleError(f"{referent!r} names {len(found)} objects")
        return found[0]


def _pick(options: list[str], true_options: list[int]) -> int | None:
    return true_options[0] if len(true_options) == 1 else None


def oracle_answer(question: str, options: list[str], stsg: dict) -> int | None:
    """The option index the ground truth makes true; None when not exactly one is."""
    graph = _Graph(stsg)
    for pattern, handler in _HANDLERS:
        found = re.fullmatch(pattern, question)
        if found:
            return handler(graph, found, options)
    raise OracleError(f"no grammar rule for question {question!r}")


def _colour(graph, found, options):
    value = graph.attribute(graph.resolve(found.group(1)), "colour")
    return _pick(options, [i for i, o in enumerate(options) if o == value])


def _shape(graph, found, options):
    value = graph.attribute(graph.resolve(found.group(1)), "shape")
    return _pick(options, [i for i, o in enumerate(options) if o == value])


def _count_value(graph, question: str) -> int:
    if question == "How many collisions are there?":
        return sum(e["type"] == "collide" for e in graph.events)
    if m := re.fullmatch(r"How many (\w+) objects are there\?", question):
        return sum(graph.attribute(t, "colour") == m.group(1) for t in graph.tracks)
    if m := re.fullmatch(r"How many (\w+)s are there\?", question):
        return sum(graph.attribute(t, "shape") == m.group(1) for t in graph.tracks)
    if question == "How many objects enter the scene?":
        return len({e["track_ids"][0] for e in graph.events if e["type"] == "enter"})
    if m := re.fullmatch(r"How many times does (the .+) change direction\?", question):
        track = graph.resolve(m.group(1))
        return sum(e["type"] == "turn" and e["track_ids"][0] == track for e in graph.events)
    if m := re.fullmatch(r"How many different objects collide with (the .+)\?", question):
        track = graph.resolve(m.group(1))
        return len({t for e in graph.events if e["type"] == "collide" and track in e["track_ids"]
                    for t in e["track_ids"] if t != track})
    raise OracleError(f"no counting rule for {question!r}")


def _count(graph, found, options):
    value = str(_count_value(graph, found.group(0)))
    return _pick(options, [i for i, o in enumerate(options) if o == value])


def _nearest_true(graph, candidates: list[tuple[int, tuple]], options, *, earliest: bool,
                  also_true: list[tuple] = ()):
    """The option true of the nearest happening among `candidates`; every other option must be
    false for all candidates and for `also_true` (what happens in the anchor's own frame)."""
    if not candidates:
        return None
    keys = [parse_phrase(o, graph.by_label) for o in options]
    frame = candidates[0][0] if earliest else candidates[-1][0]
    nearest = [k for f, k in candidates if f == frame]
    true_near = [i for i, key in enumerate(keys) if key and any(matches(key, k) for k in nearest)]
    everything = [k for _, k in candidates] + list(also_true)
    true_any = [i for i, key in enumerate(keys) if key and any(matches(key, k) for k in everything)]
    if len(true_near) != 1 or true_any != true_near:
        return None
    return true_near[0]


def _after_before(graph, found, options):
    track = graph.resolve(found.group(1))
    anchor_key = parse_phrase(found.group(3), graph.by_label)
    anchors = [f for f, k in graph.history[track] if matches(anchor_key, k)]
    if len(anchors) != 1:
        return None
    simultaneous = [k for f, k in graph.history[track] if f == anchors[0] and not matches(anchor_key, k)]
    if found.group(2) == "after":
        later = [(f, k) for f, k in graph.history[track] if f > anchors[0]]
        return _nearest_true(graph, later, options, earliest=True, also_true=simultaneous)
    earlier = [(f, k) for f, k in graph.history[track] if f < anchors[0]]
    return _nearest_true(graph, earlier, options, earliest=False, also_true=simultaneous)


def _order(graph, found, options):
    key = parse_phrase(found.group(1), graph.by_label)
    firsts = sorted((f, t) for t in graph.tracks for f, k in graph.history[t][:] if matches(key, k))
    first_frames = {}
    for frame, track in firsts:
        first_frames.setdefault(track, frame)
    ranked = sorted((f, t) for t, f in first_frames.items())
    if len(ranked) < 1 or (len(ranked) > 1 and ranked[0][0] == ranked[1][0]):
        return None
    winner = f"the {graph.labels[ranked[0][1]]}"
    return _pick(options, [i for i, o in enumerate(options) if o == winner])


_CAUSAL_VERBS = {"change direction": "turn", "stop": "stop", "start moving": "start"}


def _cause_of(graph, found, options):
    track = graph.resolve(found.group(1))
    kind = _CAUSAL_VERBS[found.group(2)]
    number = ORDINALS[found.group(3)] if found.group(3) else 1
    events = [e for e in graph.events if e["type"] == kind and e["track_ids"][0] == track]
    if found.group(3) is None and len(events) != 1:
        return None
    if number > len(events):
        return None
    attributes = events[number - 1].get("attributes") or {}
    cause = attributes.get("cause")
    if cause == "wall":
        text = f"because it hits the {attributes['wall']} edge"
    elif cause == "collide":
        text = f"because it collides with the {graph.labels[attributes['cause_track_id']]}"
    elif cause == "push":
        text = f"because the {graph.labels[attributes['cause_track_id']]} pushes it"
    elif cause == "self":
        text = "it does so on its own"
    else:
        return None
    return _pick(options, [i for i, o in enumerate(options) if o == text])


def _next(graph, found, options):
    seconds = float(found.group(1))
    track = graph.resolve(found.group(2))
    cut = int(math.floor(seconds * graph.fps + 1e-6))
    later = [(f, k) for f, k in graph.history[track] if f > cut]
    return _nearest_true(graph, later, options, earliest=True)


def _without(graph, found, options):
    """True option: the named event exists and was directly caused by the removed object."""
    removed = graph.resolve(found.group(1))
    true_options = []
    for index, option in enumerate(options):
        timed = re.fullmatch(r"(.+) at ([\d.]+) seconds", option)
        if not timed:
            continue
        subject, key = _subject_phrase(graph, timed.group(1))
        if subject is None:
            continue
        seconds = float(timed.group(2))
        named = [e for e in graph.events if subject in e["track_ids"]
                 and round(e["start_frame"] / graph.fps, 1) == seconds
                 and any(matches(key, k) for _, k in happenings([e], subject))]
        if len(named) == 1 and (named[0].get("attributes") or {}).get("cause_track_id") == removed:
            true_options.append(index)
    return _pick(options, true_options)


def _subject_phrase(graph, text: str) -> tuple[int | None, tuple | None]:
    """'the red circle stops' -> (track of the red circle, ("stop", None))."""
    if not text.startswith("the "):
        return None, None
    rest = text[4:]
    for label, track in sorted(graph.by_label.items(), key=lambda item: -len(item[0])):
        if rest.startswith(label + " "):
            key = parse_phrase(rest[len(label) + 1:], graph.by_label)
            if key is not None:
                return track, key
    return None, None


def _needle_colour(graph, found, options):
    shape, clause = found.group(1), found.group(2)
    key = parse_phrase(clause, graph.by_label)
    found_tracks = [t for t in graph.tracks if graph.attribute(t, "shape") == shape
                    and any(matches(key, k) for _, k in graph.history[t])]
    colours = {graph.attribute(t, "colour") for t in found_tracks}
    if len(colours) != 1:
        return None
    colour = colours.pop()
    return _pick(options, [i for i, o in enumerate(options) if o == colour])


def _needle_when(graph, found, options):
    track, key = _subject_phrase(graph, "the " + found.group(1))
    if track is None:
        return None
    frames = [f for f, k in graph.history[track] if matches(key, k)]
    if len(frames) != 1:
        return None
    minute = int(frames[0] / graph.fps // 60)
    text = f"in minute {minute + 1}"
    return _pick(options, [i for i, o in enumerate(options) if o == text])


_HANDLERS = [
    # Needle questions first: their text would also match the short-video rules.
    (r"What colour is the (\w+) that (.+), somewhere in the video\?", _needle_colour),
    (r"The (.+) once in this video\. In which minute\?", _needle_when),
    (r"What colour is (the .+)\?", _colour),
    (r"What shape is (the .+)\?", _shape),
    (r"How many .+\?", _count),
    (r"What does (the .+?) do right (after|before) it (.+)\?", _after_before),
    (r"Which object (.+) first\?", _order),
    (r"Why does (the .+?) (change direction|stop|start moving)(?: for the (\w+) time)?\?", _cause_of),
    (r"Watching only the first ([\d.]+) seconds, what will (the .+) do next\?", _next),
    (r"If (the .+) were removed, which event would not happen\?", _without),
]


def prior_baseline(train_questions, test_questions) -> float:
    """Accuracy on `test_questions` of picking the option text most often correct in `train_questions`.

    Ties (and texts never seen) fall to the first option among the tied: deterministic.
    """
    correct_counts = Counter(q.options[q.answer] for q in train_questions)
    if not test_questions:
        return 0.0
    hits = 0
    for question in test_questions:
        scores = [correct_counts.get(option, 0) for option in question.options]
        hits += int(scores.index(max(scores)) == question.answer)
    return hits / len(test_questions)
