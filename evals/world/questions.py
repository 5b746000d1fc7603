"""Multiple-choice questions (5 options) from a scene's ground truth, with their evidence.

Types (NExT-QA's `type` column) and subtypes (evidence "subtype"):

    descriptive     colour, shape, count
    temporal        after, before, order
    causal          turn, stop, start        (why did X ...: because Y hit it / a wall / by itself)
    predictive      next                     (watching until t seconds, what happens next to X)
    counterfactual  remove                   (without Y, which event would not happen), checked by
                                             re-simulating the scene without Y
    needle          (long videos, see long.py)

Every answer is determined by the truth and every distractor is false by the
same truth (see phrases.py for "true of an object"). Answer positions are dealt
from shuffled decks of 0..4, so they are balanced within each video. Distractors
mix label-free phrases ("stops", "bounces off the top edge") with object-specific
ones, so the answer's surface form does not give it away to a prior-only baseline.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .config import OBJECT_COLOURS, SHAPES
from .phrases import (
    all_phrase_keys,
    happenings,
    matches,
    ordinal,
    parse_phrase,
    phrase,
)

QUESTION_TYPES = ("descriptive", "temporal", "causal", "predictive", "counterfactual", "needle")
NUM_OPTIONS = 5


@dataclass
class Question:
    qid: str
    video: str
    question: str
    options: list[str]
    answer: int  # index into options
    type: str
    subtype: str
    object_ids: list[int]
    events: list[dict]
    frame_span: list[int]

    def evidence(self) -> dict:
        return {"qid": self.qid, "video": self.video, "type": self.type, "subtype": self.subtype,
                "object_ids": self.object_ids, "events": self.events, "frame_span": self.frame_span}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> Question:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


@dataclass
class Draft:
    """A question before its options are dealt: the answer and a pool of false options."""

    question: str
    answer: str
    distractors: list[str]  # false, in preference order (hardest first)
    type: str
    subtype: str
    object_ids: list[int]
    events: list[dict] = field(default_factory=list)
    frame_span: list[int] = field(default_factory=lambda: [0, 0])
    generic: set = field(default_factory=set)  # texts without object labels


class SceneFacts:
    """The truth a question writer needs, computed once per video (or per episode)."""

    def __init__(self, truth, *, frame_offset: int = 0, object_ids: list[int] | None = None):
        self.truth = truth
        self.spec = truth.spec
        self.fps = truth.spec.fps
        tracks = truth.tracks
        self.object_ids = sorted(object_ids if object_ids is not None else tracks)
        self.labels = {i: tracks[i]["label"] for i in tracks}
        self.attributes = {i: tracks[i]["attributes"] for i in tracks}
        wanted = set(self.object_ids)
        self.events = [e for e in truth.events if set(e["track_ids"]) <= wanted]
        self.happenings = {i: happenings(self.events, i) for i in self.object_ids}
        self.frame_offset = frame_offset
        observed = {}
        for obs in truth.observations:
            if obs.track_id in wanted:
                first, last = observed.get(obs.track_id, (obs.frame_index, obs.frame_index))
                observed[obs.track_id] = (min(first, obs.frame_index), max(last, obs.frame_index))
        self.observed_span = observed
        self.first_frame = min((s for s, _ in observed.values()), default=0)
        self.last_frame = max((e for _, e in observed.values()), default=0)

    def the(self, object_id: int) -> str:
        return f"the {self.labels[object_id]}"

    def events_for(self, object_id: int, key: tuple, frames: set[int] | None = None) -> list[dict]:
        """The events behind one object's happenings with this key (optionally at these frames)."""
        found = []
        for event in self.events:
            if object_id not in event["track_ids"]:
                continue
            for frame, happening_key in happenings([event], object_id):
                if matches(key, happening_key) and (frames is None or frame in frames):
                    found.append(event)
        return found


def _span(events: list[dict]) -> list[int]:
    return [min(e["start_frame"] for e in events), max(e["end_frame"] for e in events)]


# ---- question writers -------------------------------------------------------------------
def descriptive_colour(facts: SceneFacts, rng) -> list[Draft]:
    drafts = []
    for object_id in facts.object_ids:
        referent = _referent_without(facts, object_id, "colour")
        if referent is None:
            continue
        colour = facts.attributes[object_id]["colour"]
        in_video = [facts.attributes[o]["colour"] for o in facts.object_ids]
        pool = _unique([c for c in in_video if c != colour] + list(rng.permutation(list(OBJECT_COLOURS))))
        pool = [c for c in pool if c != colour]
        span = list(facts.observed_span[object_id])
        drafts.append(Draft(f"What colour is {referent}?", colour, pool, "descriptive", "colour",
                            [object_id], _referent_events(facts, object_id, referent), span))
    return drafts


def descriptive_shape(facts: SceneFacts, rng) -> list[Draft]:
    drafts = []
    for object_id in facts.object_ids:
        referent = _referent_without(facts, object_id, "shape")
        if referent is None:
            continue
        shape = facts.attributes[object_id]["shape"]
        in_video = [facts.attributes[o]["shape"] for o in facts.object_ids]
        pool = [s for s in _unique(in_video + list(rng.permutation(list(SHAPES)))) if s != shape]
        span = list(facts.observed_span[object_id])
        drafts.append(Draft(f"What shape is {referent}?", shape, pool, "descriptive", "shape",
                            [object_id], _referent_events(facts, object_id, referent), span))
    return drafts


def _referent_without(facts: SceneFacts, object_id: int, hidden: str) -> str | None:
    """A phrase naming one object uniquely without its `hidden` attribute ("colour" or "shape").

    "the square" / "the large square" / "the square that leaves the scene"; for shapes:
    "the red object" / "the small red object" / "the red object that stops".
    """
    shown = "shape" if hidden == "colour" else "colour"
    value = facts.attributes[object_id][shown]
    noun = value if shown == "shape" else f"{value} object"
    same = [o for o in facts.object_ids if facts.attributes[o][shown] == value]
    if same == [object_id]:
        return f"the {noun}"
    size = facts.attributes[object_id]["size"]
    if [o for o in same if facts.attributes[o]["size"] == size] == [object_id]:
        return f"the {size} {noun}"
    for _, key in facts.happenings[object_id]:
        if key[0] in ("collide", "hidden", "push", "pushed"):
            continue  # naming another object would leak labels; keep referents label-free
        said_of = [o for o in same if any(matches(key, k) for _, k in facts.happenings[o])]
        if said_of == [object_id]:
            return f"the {noun} that {phrase(key, facts.labels)}"
    return None


def _referent_events(facts: SceneFacts, object_id: int, referent: str) -> list[dict]:
    if " that " not in referent:
        return []
    key = parse_phrase(referent.split(" that ", 1)[1], {v: k for k, v in facts.labels.items()})
    return facts.events_for(object_id, key) if key else []


def descriptive_count(facts: SceneFacts, rng) -> list[Draft]:
    """Several counting questions; the answer texts are spread evenly by the caller's choice."""
    candidates = []  # (question, answer, object_ids, events)
    for colour in sorted({facts.attributes[o]["colour"] for o in facts.object_ids} | {str(rng.choice(list(OBJECT_COLOURS)))}):
        ids = [o for o in facts.object_ids if facts.attributes[o]["colour"] == colour]
        candidates.append((f"How many {colour} objects are there?", len(ids), ids, []))
    for shape in sorted({facts.attributes[o]["shape"] for o in facts.object_ids} | {str(rng.choice(SHAPES))}):
        ids = [o for o in facts.object_ids if facts.attributes[o]["shape"] == shape]
        candidates.append((f"How many {shape}s are there?", len(ids), ids, []))
    collisions = [e for e in facts.events if e["type"] == "collide"]
    candidates.append(("How many collisions are there?", len(collisions),
                       sorted({t for e in collisions for t in e["track_ids"]}), collisions))
    entering = [e for e in facts.events if e["type"] == "enter"]
    candidates.append(("How many objects enter the scene?", len({e["track_ids"][0] for e in entering}),
                       sorted({e["track_ids"][0] for e in entering}), entering))
    for object_id in facts.object_ids:
        turns = facts.events_for(object_id, ("turn", None))
        candidates.append((f"How many times does {facts.the(object_id)} change direction?", len(turns),
                           [object_id], turns))
        hits = [e for e in collisions if object_id in e["track_ids"]]
        partners = sorted({t for e in hits for t in e["track_ids"] if t != object_id})
        candidates.append((f"How many different objects collide with {facts.the(object_id)}?", len(partners),
                           [object_id] + partners, hits))
    drafts = []
    for question, answer, ids, events in candidates:
        if answer >= NUM_OPTIONS:
            continue
        # The options are always 0..4: which numbers appear says nothing about the answer, and
        # the caller draws the answer uniformly from 0..4, so no number is a better blind guess.
        pool = [str(n) for n in range(NUM_OPTIONS) if n != answer]
        span = _span(events) if events else [facts.first_frame, facts.last_frame]
        drafts.append(Draft(question, str(answer), pool, "descriptive", "count", ids, events, span,
                            generic=set(pool) | {str(answer)}))
    return drafts


def _event_distractors(facts: SceneFacts, object_id: int, true_keys: list[tuple], rng) -> tuple[list[str], set]:
    """False phrases about `object_id`: keys matching none of `true_keys`. Returns (texts, generic texts)."""
    keys = all_phrase_keys(object_id, facts.object_ids)
    false = [k for k in keys if not any(matches(k, t) for t in true_keys)]
    # Plausible first: things this object or others really do at some time in the video.
    done_somewhere = {k for o in facts.object_ids for _, k in facts.happenings[o]}
    done_somewhere |= {(k[0], None) for k in done_somewhere if k[0] == "turn_wall"} | {("turn", None)}
    order = rng.permutation(len(false))
    false = [false[i] for i in order]
    false.sort(key=lambda k: 0 if k in done_somewhere or (k[0] in ("collide",) and k[1] is not None) else 1)
    texts = [phrase(k, facts.labels) for k in false]
    generic = {phrase(k, facts.labels) for k in false if k[1] is None or k[0] == "turn_wall"}
    return texts, generic


def temporal_after_before(facts: SceneFacts, rng) -> list[Draft]:
    drafts = []
    for object_id in facts.object_ids:
        history = facts.happenings[object_id]
        for index, (frame, key) in enumerate(history):
            # The anchor must be said of this object exactly once.
            if sum(matches(key, k) for _, k in history) != 1:
                continue
            anchor = phrase(key, facts.labels)
            later = [(f, k) for f, k in history if f > frame]
            earlier = [(f, k) for f, k in history if f < frame]
            for direction, pool_side in (("after", later), ("before", earlier)):
                if not pool_side:
                    continue
                answer_frame = pool_side[0][0] if direction == "after" else pool_side[-1][0]
                at_answer = [k for f, k in pool_side if f == answer_frame]
                answer_key = _most_specific(at_answer)
                # What happens in the anchor's own frame (a collision's turn) is not false either.
                simultaneous = [k for f, k in history if f == frame]
                distractors, generic = _event_distractors(
                    facts, object_id, [k for _, k in pool_side] + simultaneous, rng)
                answer = phrase(answer_key, facts.labels)
                if answer_key[1] is None or answer_key[0] == "turn_wall":
                    generic.add(answer)
                events = facts.events_for(object_id, key, {frame}) + facts.events_for(object_id, answer_key, {answer_frame})
                word = "right after" if direction == "after" else "right before"
                drafts.append(Draft(
                    f"What does {facts.the(object_id)} do {word} it {anchor}?", answer, distractors,
                    "temporal", direction, _ids(object_id, key, answer_key), events, _span(events), generic))
    return drafts


def temporal_order(facts: SceneFacts, rng) -> list[Draft]:
    drafts = []
    verbs = {("enter", None): "enters the scene", ("stop", None): "stops", ("turn", None): "changes direction",
             ("exit", None): "leaves the scene", ("start", None): "starts moving"}
    for key, verb in verbs.items():
        firsts = []
        for object_id in facts.object_ids:
            frames = [f for f, k in facts.happenings[object_id] if matches(key, k)]
            if frames:
                firsts.append((frames[0], object_id))
        if len(firsts) < 2:
            continue
        firsts.sort()
        if firsts[0][0] == firsts[1][0]:
            continue  # a tie: no single first
        winner = firsts[0][1]
        others = [facts.labels[o] for o in facts.object_ids if o != winner]
        # Add labels from outside the video that share a colour or shape with it: plausible names.
        extra = [f"{c} {s}" for c in rng.permutation(list(OBJECT_COLOURS)) for s in rng.permutation(list(SHAPES))]
        pool = [f"the {t}" for t in _unique(others + extra) if t != facts.labels[winner]]
        events = facts.events_for(winner, key, {firsts[0][0]}) + facts.events_for(firsts[1][1], key, {firsts[1][0]})
        drafts.append(Draft(f"Which object {verb} first?", facts.the(winner), pool, "temporal", "order",
                            [winner, firsts[1][1]], events, _span(events)))
    return drafts


_CAUSES = {"turn": "change direction", "stop": "stop", "start": "start moving"}


def causal(facts: SceneFacts, rng) -> list[Draft]:
    drafts = []
    for object_id in facts.object_ids:
        for kind, verb in _CAUSES.items():
            events = [e for e in facts.events if e["type"] == kind and e["track_ids"][0] == object_id]
            for number, event in enumerate(events, start=1):
                attributes = event.get("attributes") or {}
                answer_key = _cause_key(attributes)
                if answer_key is None or (answer_key[1] is not None and answer_key[0] != "wall"
                                          and answer_key[1] not in facts.object_ids):
                    continue  # no cause, or one the camera never saw
                others = [o for o in facts.object_ids if o != object_id]
                keys = ([("wall", w) for w in ("left", "right", "top", "bottom")] + [("self", None)]
                        + [("collide", o) for o in others] + [("pushed", o) for o in others])
                pool_keys = [k for k in rng.permutation(len(keys))]
                pool_keys = [keys[i] for i in pool_keys if keys[i] != answer_key]
                if kind == "start":
                    pool_keys = [k for k in pool_keys if k[0] != "wall"]  # walls never start anything
                texts = [_cause_text(k, facts.labels, kind) for k in pool_keys]
                generic = {_cause_text(k, facts.labels, kind) for k in keys if k[0] in ("wall", "self")}
                when = f" for the {ordinal(number)} time" if len(events) > 1 else ""
                evidence = [event]
                cause_id = attributes.get("cause_track_id")
                if cause_id is not None:
                    evidence += [e for e in facts.events if e["type"] in ("collide", "push")
                                 and cause_id in e["track_ids"] and object_id in e["track_ids"]
                                 and e["start_frame"] == event["start_frame"]]
                drafts.append(Draft(
                    f"Why does {facts.the(object_id)} {verb}{when}?", _cause_text(answer_key, facts.labels, kind),
                    texts, "causal", kind, [object_id] + ([cause_id] if cause_id is not None else []),
                    evidence, _span(evidence), generic))
    return drafts


def _cause_key(attributes: dict) -> tuple | None:
    cause = attributes.get("cause")
    if cause == "wall":
        return ("wall", attributes["wall"])
    if cause == "collide":
        return ("collide", attributes["cause_track_id"])
    if cause == "push":
        return ("pushed", attributes["cause_track_id"])
    if cause == "self":
        return ("self", None)
    return None  # friction: a slow stop is not asked about


def _cause_text(key: tuple, labels: dict[int, str], kind: str) -> str:
    cause, argument = key
    if cause == "wall":
        return f"because it hits the {argument} edge"
    if cause == "collide":
        return f"because it collides with the {labels[argument]}"
    if cause == "pushed":
        return f"because the {labels[argument]} pushes it"
    return "it does so on its own"


def predictive(facts: SceneFacts, rng) -> list[Draft]:
    drafts = []
    fps = facts.fps
    for object_id in facts.object_ids:
        history = facts.happenings[object_id]
        first_seen, _ = facts.observed_span[object_id]
        for index, (frame, key) in enumerate(history):
            if key[0] in ("enter", "appear", "start", "pushed"):
                continue
            previous = max([f for f, _ in history if f < frame], default=first_seen)
            lead = int(rng.integers(2, 7))
            cut = frame - lead
            # The cut time is written with one decimal; the frame it names must sit in the gap.
            seconds = round((cut + facts.frame_offset) / fps, 1)
            cut = int(np.floor(seconds * fps + 1e-6)) - facts.frame_offset
            if cut <= previous or cut >= frame or cut < first_seen:
                continue
            later = [(f, k) for f, k in history if f > cut]
            at_answer = [k for f, k in later if f == frame]
            answer_key = _most_specific(at_answer)
            distractors, generic = _event_distractors(facts, object_id, [k for _, k in later], rng)
            distractors = [d for d in distractors if d not in ("enters the scene", "appears")]
            answer = phrase(answer_key, facts.labels)
            if answer_key[1] is None or answer_key[0] == "turn_wall":
                generic.add(answer)
            events = facts.events_for(object_id, answer_key, {frame})
            drafts.append(Draft(
                f"Watching only the first {seconds:.1f} seconds, what will {facts.the(object_id)} do next?",
                answer, distractors, "predictive", "next", _ids(object_id, answer_key), events,
                [cut + facts.frame_offset, frame + facts.frame_offset], generic))
    return drafts


CF_TOLERANCE_FRAMES = 2  # "still happens without Y": a matching event within this many frames


def counterfactual(facts: SceneFacts, rng, *, max_removals: int = 3) -> list[Draft]:
    """Without Y, which event would not happen? Checked by re-rendering the scene without Y.

    Options name an object, what it does and when: "the red circle stops at 2.5 seconds".
    Answer: an event of another object that Y directly caused (cause_track_id = Y: Y hit or
    pushed it) and that has no counterpart within CF_TOLERANCE_FRAMES in the scene re-rendered
    without Y. Distractors: events of objects other than Y, not caused by Y, that still happen
    without Y. So both the re-simulation and the truth on disk single out the answer.
    """
    from .render import render_truth

    spec = facts.spec
    fps = facts.fps
    drafts = []
    causers = sorted({(e.get("attributes") or {}).get("cause_track_id") for e in facts.events} - {None})
    causers = [c for c in causers if c in facts.object_ids]
    for removed in list(rng.permutation(causers))[:max_removals]:
        removed = int(removed)
        world = dataclasses.replace(spec, objects=[o for o in spec.objects if o.object_id != removed])
        alternative = render_truth(world).events
        candidates, distractors, said = [], [], Counter()
        options = []  # (text, object_id, event, caused, happens_without)
        for object_id in facts.object_ids:
            if object_id == removed:
                continue
            alt = happenings(alternative, object_id)
            for frame, key in facts.happenings[object_id]:
                if key[1] == removed or key[0] in ("hidden", "pushed", "enter", "appear"):
                    continue
                seconds = round((frame + facts.frame_offset) / fps, 1)
                text = f"the {facts.labels[object_id]} {phrase(key, facts.labels)} at {seconds:.1f} seconds"
                # Read back as the oracle reads it: every happening of this object at that time
                # that the words would describe (a wall bounce is also "changes direction").
                said[text] = sum(1 for f, k in facts.happenings[object_id]
                                 if matches(key, k) and round((f + facts.frame_offset) / fps, 1) == seconds)
                event = facts.events_for(object_id, key, {frame})[0]
                caused = (event.get("attributes") or {}).get("cause_track_id") == removed
                without = any(matches(key, k) and abs(f - frame) <= CF_TOLERANCE_FRAMES for f, k in alt)
                options.append((text, object_id, event, caused, without))
        for text, object_id, event, caused, without in options:
            if said[text] != 1:
                continue  # two events read the same: ambiguous
            if caused and not without and event["type"] in ("turn", "stop", "start"):
                candidates.append((text, object_id, event))
            elif without and not caused:
                distractors.append(text)
        if not candidates or len(distractors) < NUM_OPTIONS - 1:
            continue
        text, object_id, event = candidates[int(rng.integers(len(candidates)))]
        evidence = [event] + [e for e in facts.events if e["type"] in ("collide", "push")
                              and removed in e["track_ids"] and object_id in e["track_ids"]
                              and e["start_frame"] == event["start_frame"]]
        pool = [distractors[i] for i in rng.permutation(len(distractors))]
        drafts.append(Draft(f"If the {facts.labels[removed]} were removed, which event would not happen?", text,
                            pool, "counterfactual", "remove", [removed, object_id], evidence, _span(evidence)))
    return drafts


WRITERS = {
    ("descriptive", "colour"): descriptive_colour,
    ("descriptive", "shape"): descriptive_shape,
    ("descriptive", "count"): descriptive_count,
    ("temporal", "after_before"): temporal_after_before,
    ("temporal", "order"): temporal_order,
    ("causal", "why"): causal,
    ("predictive", "next"): predictive,
    ("counterfactual", "remove"): counterfactual,
}


def _most_specific(keys: list[tuple]) -> tuple:
    """Of happenings in one frame, the one a person would name: an interaction before a turn."""
    rank = {"collide": 0, "push": 1, "pushed": 1, "hidden": 2, "turn_wall": 3, "exit": 4, "disappear": 4,
            "stop": 5, "start": 5, "turn": 6, "enter": 7, "appear": 7}
    return sorted(keys, key=lambda k: (rank[k[0]], str(k[1])))[0]


def _ids(object_id: int, *keys) -> list[int]:
    ids = [object_id]
    for key in keys:
        if key[0] in ("collide", "hidden", "push", "pushed") and key[1] not in ids:
            ids.append(key[1])
    return ids


def _unique(items) -> list:
    seen, out = set(), []
    for item in items:
        item = str(item)
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


# ---- dealing options --------------------------------------------------------------------
class PositionDeck:
    """Answer positions from shuffled decks of 0..4: balanced to within one per deck."""

    def __init__(self, rng):
        self.rng = rng
        self.cards: list[int] = []

    def draw(self) -> int:
        if not self.cards:
            self.cards = [int(p) for p in self.rng.permutation(NUM_OPTIONS)]
        return self.cards.pop()


def deal(draft: Draft, rng, deck: PositionDeck) -> tuple[list[str], int] | None:
    """Four distractors and the answer's position; None when the pool is too small.

    Label-free answers ("stops") get mostly label-free distractors and object-specific
    answers a mix, so how an option is written says little about whether it is right.
    """
    pool = [d for d in _unique(draft.distractors) if d != draft.answer]
    if len(pool) < NUM_OPTIONS - 1:
        return None
    if draft.generic:
        generic = [d for d in pool if d in draft.generic]
        specific = [d for d in pool if d not in draft.generic]
        wanted_generic = 3 if draft.answer in draft.generic else 2
        chosen = generic[:wanted_generic]
        chosen += specific[: NUM_OPTIONS - 1 - len(chosen)]
        chosen += [d for d in pool if d not in chosen][: NUM_OPTIONS - 1 - len(chosen)]
    else:
        # Hardest first, with some variety: two from the head of the list, two from the rest.
        head, rest = pool[:3], pool[3:]
        chosen = list(rng.permutation(head))[:2] if head else []
        rest = [d for d in pool if d not in chosen]
        chosen += [rest[i] for i in sorted(rng.permutation(len(rest))[: NUM_OPTIONS - 1 - len(chosen)])]
    chosen = [str(c) for c in chosen]
    order = [chosen[i] for i in rng.permutation(len(chosen))]
    position = deck.draw()
    options = order[:position] + [draft.answer] + order[position:]
    assert len(set(options)) == NUM_OPTIONS, options
    return options, position


def write_questions(facts: SceneFacts, rng, *, video_id: str, max_questions: int, first_index: int = 0,
                    deck: PositionDeck | None = None, writers: dict | None = None) -> list[Question]:
    """Up to `max_questions` questions spread over the types, each type's kinds balanced."""
    deck = deck or PositionDeck(rng)
    writers = writers or WRITERS
    by_type: dict[str, list[Draft]] = {}
    for (qtype, _), writer in writers.items():
        drafts = writer(facts, rng)
        by_type.setdefault(qtype, []).extend(drafts)
    # Round-robin over types in a random order; inside a type, rotate over answer kinds so
    # that no kind of answer (e.g. "bounces off ...") dominates.
    type_order = [t for t in rng.permutation(sorted(by_type)) if by_type[t]]
    picked: list[Draft] = []
    used_questions = set()
    while len(picked) < max_questions and any(by_type[t] for t in type_order):
        for qtype in type_order:
            drafts = [d for d in by_type[qtype] if d.question not in used_questions]
            by_type[qtype] = drafts
            if not drafts or len(picked) >= max_questions:
                continue
            draft = _pick_balanced(drafts, rng, picked)
            if draft is None:  # only count questions left and none answers the drawn number
                by_type[qtype] = []
                continue
            by_type[qtype].remove(draft)
            used_questions.add(draft.question)
            picked.append(draft)
    return deal_questions(picked, rng, deck, video_id=video_id, first_index=first_index)


def deal_questions(
    drafts: list[Draft], rng, deck: PositionDeck, *, video_id: str, first_index: int = 0, type: str | None = None
) -> list[Question]:
    """Drafts with their options dealt (answer position from `deck`) as numbered questions.

    A draft whose options cannot be dealt is skipped. `type` overrides each draft's own type.
    """
    questions = []
    for draft in drafts:
        dealt = deal(draft, rng, deck)
        if dealt is None:
            continue
        options, answer = dealt
        questions.append(Question(
            qid=f"{video_id}_q{first_index + len(questions):03d}", video=video_id, question=draft.question,
            options=options, answer=answer, type=type or draft.type, subtype=draft.subtype,
            object_ids=[int(i) for i in draft.object_ids], events=draft.events,
            frame_span=[int(draft.frame_span[0]), int(draft.frame_span[1])],
        ))
    return questions


def _pick_balanced(drafts: list[Draft], rng, picked: list[Draft]) -> Draft | None:
    """A draft whose subtype, then answer text, is least used so far (random among ties)."""
    subtype_use = Counter(d.subtype for d in picked)
    answer_use = Counter(d.answer for d in picked)
    # sorted() draws the tie-breaking numbers in iteration order: iterate the subtypes in a fixed
    # order, not a set's (string hashing differs per process, which made worlds differ).
    tie_breaks = {s: rng.random() for s in sorted({d.subtype for d in drafts})}
    subtypes = sorted(tie_breaks, key=lambda s: (subtype_use[s], tie_breaks[s]))
    for subtype in subtypes:
        pool = [d for d in drafts if d.subtype == subtype]
        if subtype != "count":
            break
        # Count answers uniform over 0..4: draw the number first, ask only a question it answers.
        target = str(int(rng.integers(0, NUM_OPTIONS)))
        exact = [d for d in pool if d.answer == target]
        if exact:
            return exact[int(rng.integers(len(exact)))]
    else:
        return None
    # Prefer answer kinds (the verb, not the object) used least.
    kinds = Counter(_answer_kind(d.answer) for d in picked)
    pool.sort(key=lambda d: (kinds[_answer_kind(d.answer)], answer_use[d.answer]))
    best = [d for d in pool if kinds[_answer_kind(d.answer)] == kinds[_answer_kind(pool[0].answer)]]
    return best[int(rng.integers(len(best)))]


def _answer_kind(answer: str) -> str:
    return " ".join(answer.split()[:2])
