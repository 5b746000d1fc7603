"""Running a question program (graph/program.py) on one STSG, and checking option values against
what it found. Exact and deterministic: no language model, no dataset knowledge.

    executor = Executor.from_document(doc)                    # the STSG document in graph state
    execution = executor.run(parse_program(written))          # value, status, evidence
    checks = executor.score_options(execution, program.options)   # one score per option, in [-1, 1]

One small function per operator, registered by name (`OPERATIONS`), typed values in and out
(`Value`), the program printed as the trace (`Execution.steps`), as in CLEVRER's NS-DR and
ViperGPT. An operator that needs what the scene does not hold raises `Unknown` with the reason
(a name perception cannot see, an attribute it does not give, a change that never happens):
the execution's status is then "unknown" and nothing is claimed.

Scores of an option against the value (see `score_options`): 1 the STSG says so; about 0 it
cannot tell; below 0 it says otherwise; None the option is not of a kind the value can be
compared with (the writer's mistake, or a question the program does not answer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from videothought.graph import reasoning
from videothought.graph.ground import DescriptionGrounder, SceneNames, TextMatcher, normalise
from videothought.graph.program import OPERATORS, Program, describe, input_type
from videothought.graph.query import SceneQuery

AT_SECONDS = 0.6  # an option dated "at 2.5 seconds" matches an event within this much of it
RELINK_SECONDS = 1.0  # a track that ends and one of the same name that starts within this, nearby, are one object
RELINK_SIZES = 2.0  # ... no further apart than this many box sizes


class Unknown(Exception):
    """The scene cannot answer this step; the message says why."""


# ---- values -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Occurrence:
    """One track's view of an event: `kind` (push seen from the pushed side is "pushed"; an
    occlusion is the hidden track's), with `partner`, from `frame` to `end_frame`. `inferred`:
    located from the motion, not reported by the event detector. `cause`: the event's own record
    of what caused it, when the STSG carries one (attributes "cause", "cause_track_id", "wall")."""

    kind: str
    subject: int
    partner: int | None
    frame: int
    end_frame: int
    inferred: bool = False
    cause: tuple | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "subject": self.subject, "partner": self.partner, "frame": self.frame,
                "end_frame": self.end_frame, **({"inferred": True} if self.inferred else {})}


@dataclass
class Value:
    """A typed value. data: objects tuple[int]; events list[Occurrence]; event Occurrence; number int;
    text str; bool; direction str; time float seconds; cause dict; removal tuple[int]; prediction dict."""

    type: str
    data: Any = None
    presupposed: tuple | None = None  # events: (kind, subjects) a question takes for granted
    candidates: list = field(default_factory=list)  # event: the time-ordered events it was picked from

    def tracks(self) -> list[int]:
        if self.type in ("objects", "removal"):
            return list(self.data)
        if self.type == "event":
            return [t for t in (self.data.subject, self.data.partner) if t is not None]
        if self.type == "events":
            return sorted({t for o in self.data for t in (o.subject, o.partner) if t is not None})
        if self.type == "prediction":
            return [self.data["track"]] + ([self.data["with"]] if self.data.get("with") is not None else [])
        return []

    def frames(self) -> list[int]:
        if self.type == "event":
            return [self.data.frame]
        if self.type == "events":
            return [o.frame for o in self.data]
        return []

    def summary(self, scene: SceneQuery) -> str:
        name = lambda t: scene.tracks[t].name if t in scene.tracks else f"track {t}"
        if self.type in ("objects", "removal"):
            return ", ".join(f"{name(t)} (#{t})" for t in self.data) or "nothing"
        if self.type == "event":
            return occurrence_text(self.data, scene)
        if self.type == "events":
            shown = [occurrence_text(o, scene) for o in self.data[:4]]
            return "; ".join(shown) + (f"; ... ({len(self.data)} in all)" if len(self.data) > 4 else "") or "none"
        if self.type == "time":
            return f"{self.data:.1f} s"
        return str(self.data)


def occurrence_text(occurrence: Occurrence, scene: SceneQuery) -> str:
    name = lambda t: scene.tracks[t].name if t in scene.tracks else f"track {t}"
    text = f"{name(occurrence.subject)} {occurrence.kind}"
    if occurrence.partner is not None:
        text += f" with {name(occurrence.partner)}"
    text += f" at {scene.seconds(occurrence.frame):.1f} s (frame {occurrence.frame})"
    return text + (" (from its motion)" if occurrence.inferred else "")


@dataclass
class StepRecord:
    index: int
    step: str
    value: str
    type: str
    tracks: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"index": self.index, "step": self.step, "type": self.type, "value": self.value,
                "tracks": self.tracks, "frames": self.frames}


@dataclass
class Execution:
    """What running a program found: the value, "ok" or "unknown" (with the reason), each step."""

    value: Value | None
    status: str
    reason: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    scene: Any = field(default=None, repr=False, compare=False)  # what the last step saw (after a `watch`)

    @property
    def tracks(self) -> list[int]:
        return sorted({t for s in self.steps for t in s.tracks})

    @property
    def frames(self) -> list[int]:
        return sorted({f for s in self.steps for f in s.frames})

    def to_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, "type": self.value.type if self.value else None,
                "value": self.steps[-1].value if self.steps and self.value else None,
                "steps": [s.to_dict() for s in self.steps], "tracks": self.tracks, "frames": self.frames}

    def text(self) -> str:
        """The executed program as lines, for traces and the LLM."""
        lines = [f"{s.index} {s.step} -> {s.value}" for s in self.steps]
        if self.status != "ok":
            lines.append(f"unknown: {self.reason}")
        return "\n".join(lines)


# ---- the run ------------------------------------------------------------------------------------
Operation = Callable[["Run", "Value | None", dict], Value]
OPERATIONS: dict[str, Operation] = {}


def operation(name: str):
    if name not in OPERATORS:
        raise KeyError(f"operation {name!r} is not an operator of the language (graph/program.py)")

    def register(function: Operation) -> Operation:
        OPERATIONS[name] = function
        return function
    return register


class Run:
    """One program's run: the scene each step sees, the step values so far, the grounder."""

    def __init__(self, executor: Executor):
        self.executor = executor
        self.scene = executor.scene
        self.grounder = executor.grounder
        self.values: list[Value] = []

    def objects(self, description: dict | None, among: list[int] | None = None) -> list[int]:
        found = self.grounder.ground(description, among)
        if found.unknown:
            raise Unknown(found.unknown)
        return list(found.track_ids)

    def step_objects(self, index: int) -> list[int]:
        value = self.values[index]
        if value.type != "objects":
            raise Unknown(f"step {index} gives {value.type}, not objects")
        return list(value.data)


class Executor:
    """Runs programs on one scene. `matcher` reads description words (graph/ground.py); `history`:
    the earlier turns of a conversation, [{"tracks": [...], "frame": int or None}, ...], for `recall`."""

    def __init__(self, scene: SceneQuery, *, matcher: TextMatcher | None = None, history: list[dict] | None = None,
                 names: SceneNames | None = None):
        self.scene = scene
        self.names = names or SceneNames.from_query(scene)
        self.matcher = matcher
        self.grounder = DescriptionGrounder(scene, self.names, matcher=matcher)
        self.history = list(history or [])

    @classmethod
    def from_document(cls, doc: dict | None, **kwargs) -> Executor:
        return cls(SceneQuery.from_document(doc), **kwargs)

    def latest_answer(self) -> dict | None:
        """The latest earlier turn that named tracks (what `recall` brings back), or None."""
        turns = [t for t in self.history if t.get("tracks")]
        return turns[-1] if turns else None

    def with_scene(self, scene: SceneQuery) -> Executor:
        return Executor(scene, matcher=self.matcher, history=self.history, names=self.names)

    def run(self, program: Program) -> Execution:
        run = Run(self)
        records: list[StepRecord] = []
        value: Value | None = None
        for index, step in enumerate(program.steps):
            reads = input_type(program, index)
            given = run.values[-1] if reads != "none" and run.values else None
            try:
                value = OPERATIONS[step.op](run, given, step.args)
            except Unknown as unknown:
                records.append(StepRecord(index, step.to_text(), "unknown", program.types[index]))
                return Execution(None, "unknown", f"step {index} ({step.op}): {unknown}", records, run.scene)
            run.values.append(value)
            records.append(StepRecord(index, step.to_text(), value.summary(run.scene), value.type,
                                      value.tracks(), value.frames()))
        return Execution(value, "ok", "", records, run.scene)

    # ---- options ----------------------------------------------------------------------------
    def score_options(self, execution: Execution, options: list[dict]) -> list[float | None]:
        """Each option value against the executed value: 1 agrees, ~0 cannot tell, < 0 disagrees,
        None not comparable (or nothing was executed)."""
        if execution.status != "ok" or execution.value is None:
            return [None] * len(options)
        value = execution.value
        scene = self._scene_of(execution)
        return [self._score(value, option, options, scene) for option in options]

    def _scene_of(self, execution: Execution) -> SceneQuery:
        return execution.scene or self.scene

    def _score(self, value: Value, option: dict, options: list[dict], scene: SceneQuery) -> float | None:
        (kind, wanted), = option.items()
        try:
            scorer = SCORERS.get((value.type, kind))
            return None if scorer is None else scorer(self.with_scene(scene), value, wanted, options)
        except Unknown:
            return None


# ---- operators ----------------------------------------------------------------------------------
@operation("find")
def _find(run: Run, given, args) -> Value:
    """The tracks a description names. When none meets every word, the tracks that meet the most
    of them stand in (a mislabelled "orange hexagon" the tracker called red), marked approximate:
    `count` and `exists` read the strict answer, none."""
    description = _description(args)
    found = run.objects(description)
    if found or len(description.get("adj") or []) + bool(description.get("name")) < 2:
        return Value("objects", tuple(found))
    closest = run.grounder.closest(description)
    return Value("objects", tuple(closest), presupposed=("approximate",) if closest else None)


@operation("filter")
def _filter(run: Run, given: Value, args) -> Value:
    return Value("objects", tuple(run.objects(_description(args), among=list(given.data))))


def _description(args: dict) -> dict:
    return {k: args[k] for k in ("name", "adj") if args.get(k)}


def occurrences_of(scene: SceneQuery, track: int) -> list[Occurrence]:
    """Everything that happens to one track, as occurrences, in frame order."""
    found = []
    for event in scene.events(track=track):
        ids, attributes = event.track_ids, event.attributes or {}
        others = [t for t in ids if t != track]
        partner = others[0] if others else None
        kind = event.type
        if kind == "push" and ids[0] != track:
            kind = "pushed"
        elif kind == "occluded" and ids[0] != track:
            continue  # the occluder only passes over
        cause = None
        if attributes.get("cause"):
            cause = (attributes["cause"], attributes.get("cause_track_id"), attributes.get("wall"))
        found.append(Occurrence(kind, track, partner, event.start_frame, event.end_frame, False, cause))
    return sorted(found, key=lambda o: o.frame)


def all_occurrences(scene: SceneQuery, subjects: list[int] | None = None) -> list[Occurrence]:
    """Occurrences of these tracks (each event from each side), or, with no subjects, one per event
    (its first track's side; a push from the pusher's)."""
    if subjects is not None:
        found = [o for t in subjects for o in occurrences_of(scene, t)]
    else:
        found = []
        for event in scene.events():
            first = event.track_ids[0]
            found += [o for o in occurrences_of(scene, first) if o.frame == event.start_frame
                      and o.end_frame == event.end_frame and _kind_of_event(o.kind) == event.type]
    # repeats dropped keeping the STSG's own order among ties (two turns in one frame stay in order)
    return sorted(dict.fromkeys(found), key=lambda o: o.frame)


def _kind_of_event(kind: str) -> str:
    return "push" if kind == "pushed" else kind


@operation("events")
def _events(run: Run, given: Value | None, args) -> Value:
    kind = args.get("kind")
    subjects = list(given.data) if given is not None else None
    found = all_occurrences(run.scene, subjects)
    if kind == "pushed" and subjects is None:
        found = [o for t in run.scene.tracks for o in occurrences_of(run.scene, t) if o.kind == "pushed"]
    if kind is not None:
        found = [o for o in found if o.kind == kind]
    partners: set[int] = set()
    if args.get("with"):
        partners = set(run.objects(args["with"]))
        found = [o for o in found if o.partner in partners]
    if args.get("side"):
        found = [o for o in found if edge_of(run.scene, o) == args["side"]]
    partners = tuple(sorted(partners)) if args.get("with") else None
    presupposed = (kind, tuple(subjects), partners) if subjects and kind in PRESUMABLE else None
    return Value("events", sorted(found, key=lambda o: o.frame), presupposed=presupposed)


def edge_of(scene: SceneQuery, occurrence: Occurrence) -> str | None:
    """The frame edge a turn happened at: the STSG's record of a wall, else the edge the box touches."""
    if occurrence.cause and occurrence.cause[0] == "wall":
        return occurrence.cause[2]
    return scene.border_contact(occurrence.subject, occurrence.frame)


def _anchor_frame(run: Run, given: Value) -> int:
    if given.type == "event":
        return given.data.frame
    if given.type == "events":
        if not given.data:
            raise Unknown("there is no such moment to look from")
        return given.data[0].frame
    if given.type == "time":
        return run.scene.frame_at(given.data)
    raise Unknown(f"cannot look from a {given.type}")


def _around(run: Run, given: Value, args, after: bool) -> Value:
    """Events after (before) the input moment, in time order; the moment's own event is not one of them."""
    frame = _anchor_frame(run, given)
    anchor = given.data if given.type == "event" else None
    subjects = run.step_objects(args["of"]) if "of" in args else None
    found = [o for o in all_occurrences(run.scene, subjects)
             if (o.frame > frame if after else o.frame < frame) and o != anchor]
    if args.get("kind"):
        found = [o for o in found if o.kind == args["kind"]]
    return Value("events", found)


@operation("after")
def _after(run: Run, given: Value, args) -> Value:
    return _around(run, given, args, after=True)


@operation("before")
def _before(run: Run, given: Value, args) -> Value:
    return _around(run, given, args, after=False)


def distinct(scene: SceneQuery, found: list[Occurrence]) -> list[Occurrence]:
    """Occurrences with repeats merged: a detector may report one event twice, so the same kind of the
    same tracks within SAME_EVENT_SECONDS is one. Events whose cause the STSG records (annotated, not
    detected: the world's truth) are never repeats: a thing pushed into a wall turns three times."""
    kept: list[Occurrence] = []
    for occurrence in sorted(found, key=lambda o: o.frame):
        if occurrence.cause is None and any(
                k.kind == occurrence.kind and {k.subject, k.partner} == {occurrence.subject, occurrence.partner}
                and k.cause is None and occurrence.frame - k.frame <= scene.duplicate_frames for k in kept):
            continue
        kept.append(occurrence)
    return kept


PRESUMABLE = ("stop", "start", "turn", "enter", "exit", "appear", "disappear", "collide", "push", "pushed",
              "approach")  # events a question may take for granted ("right after it enters, ...")


def _presumed(run: Run, given: Value) -> list[Occurrence]:
    """An event the question takes for granted that the detector missed, found in the tracks: a stop,
    start or turn where the subject's motion changes most that way; an entrance or appearance where
    it is first seen, an exit or disappearance where it is last seen; a contact where it comes
    closest to the partner (when they do touch). Marked inferred."""
    if not given.presupposed or given.presupposed == ("approximate",):
        return []
    kind, subjects, partners = given.presupposed
    scene = run.scene
    for track in (t for t in subjects if t in scene.tracks):
        facts = scene.tracks[track]
        frame, partner = None, None
        if kind in ("stop", "start", "turn"):
            frame = scene.likeliest_change(track, kind)
        elif kind in ("enter", "appear"):
            frame = facts.first_frame
        elif kind in ("exit", "disappear"):
            frame = facts.last_frame if scene.until_frame is None or facts.last_frame < scene.until_frame - 1 else None
        elif partners:
            closest = [(reasoning.closest_approach(scene, track, other), other) for other in partners if other != track]
            closest = [(c, other) for c, other in closest if c is not None and c[0] <= 0]
            if closest:
                (_, frame), partner = min(closest)
        if frame is not None:
            return [Occurrence(kind, track, partner, frame, frame, inferred=True)]
    return []


def _pick(run: Run, given: Value, position: int, which: str) -> Value:
    if given.type == "objects":
        ids = [t for t in given.data if t in run.scene.tracks]
        if not ids:
            raise Unknown("no object to order")
        key = (lambda t: run.scene.tracks[t].first_frame) if position >= 0 else (lambda t: -run.scene.tracks[t].last_frame)
        best = key(min(ids, key=key))
        return Value("objects", tuple(t for t in ids if key(t) == best))
    found = distinct(run.scene, given.data) or _presumed(run, given)
    if not found:
        raise Unknown("no such event happens" + (" (in what is visible)" if run.scene.until_frame else ""))
    if position >= len(found) or -position > len(found):
        raise Unknown(f"there is no {which} one (only {len(found)})")
    chosen = found[position]
    ordered = found[position:] if position >= 0 else list(reversed(found[:len(found) + position + 1]))
    return Value("event", chosen, candidates=ordered)


@operation("first")
def _first(run: Run, given: Value, args) -> Value:
    return _pick(run, given, 0, "first")


@operation("last")
def _last(run: Run, given: Value, args) -> Value:
    return _pick(run, given, -1, "last")


@operation("nth")
def _nth(run: Run, given: Value, args) -> Value:
    return _pick(run, given, int(args["n"]) - 1, f"number {args['n']}")


def _occurrences(given: Value) -> list[Occurrence]:
    return [given.data] if given.type == "event" else list(given.data)


def _roles(given: Value, role: str) -> Value:
    """The subjects (partners) of the events; of one picked event, the other events it was picked
    from stay as ordered alternatives ("which object enters first": the second to enter is next)."""
    of = lambda o: o.subject if role == "subject" else o.partner
    found = tuple(sorted({of(o) for o in _occurrences(given) if of(o) is not None}))
    alternatives = [(of(o),) for o in given.candidates if of(o) is not None] if given.type == "event" else []
    return Value("objects", found, candidates=alternatives)


@operation("subject")
def _subject(run: Run, given: Value, args) -> Value:
    return _roles(given, "subject")


@operation("partner")
def _partner(run: Run, given: Value, args) -> Value:
    return _roles(given, "partner")


def identities(scene: SceneQuery, ids: list[int]) -> list[list[int]]:
    """Tracks grouped into objects: a track the tracker broke in two (one ends, another of the same
    name starts within RELINK_SECONDS, within RELINK_SIZES box sizes) counts once. A track attribute
    "identity" (written by a re-identifying perception) overrides this."""
    groups: dict[Any, list[int]] = {}
    for track in sorted(ids, key=lambda t: scene.tracks[t].first_frame if t in scene.tracks else 0):
        facts = scene.tracks.get(track)
        if facts is None:
            continue
        if "identity" in facts.attributes:
            groups.setdefault(("identity", facts.attributes["identity"]), []).append(track)
            continue
        home = None
        for key, members in groups.items():
            last = members[-1]
            if key[0] == "identity" or scene.tracks[last].name != facts.name:
                continue
            gap_frames = facts.first_frame - scene.tracks[last].last_frame
            if not 0 < gap_frames <= RELINK_SECONDS * scene.fps:
                continue
            end, start = scene.boxes(last)[-1, 1:], scene.boxes(track)[0, 1:]
            size = max(end[2] - end[0], end[3] - end[1], 1.0)
            distance = math.hypot((end[0] + end[2] - start[0] - start[2]) / 2, (end[1] + end[3] - start[1] - start[3]) / 2)
            if distance <= RELINK_SIZES * size:
                home = key
                break
        if home is None:
            home = ("track", track)
            groups[home] = []
        groups[home].append(track)
    return list(groups.values())


def _strict(given: Value) -> list:
    """The value's own data, or nothing for a stand-in (an approximate description)."""
    return [] if given.presupposed == ("approximate",) else list(given.data)


@operation("count")
def _count(run: Run, given: Value, args) -> Value:
    if given.type == "objects":
        return Value("number", len(identities(run.scene, _strict(given))))
    return Value("number", len(distinct(run.scene, given.data)))


@operation("exists")
def _exists(run: Run, given: Value, args) -> Value:
    return Value("bool", bool(_strict(given)) if given.type == "objects" else bool(given.data))


def relative_size(run: Run, track: int) -> str:
    """small / medium / large among the scene's tracks, by median box area (terciles)."""
    areas = sorted(run.grounder.median_area(t) for t in run.scene.tracks)
    mine = run.grounder.median_area(track)
    rank = sum(a < mine for a in areas) / max(1, len(areas) - 1) if len(areas) > 1 else 0.5
    return "small" if rank < 1 / 3 else "large" if rank > 2 / 3 else "medium"


@operation("attribute")
def _attribute(run: Run, given: Value, args) -> Value:
    name = args["name"]
    ids = [t for t in given.data if t in run.scene.tracks]
    if not ids:
        raise Unknown("no object to read it from")
    values = []
    for track in ids:
        facts = run.scene.tracks[track]
        if name == "size":
            values.append((relative_size(run, track), facts.num_observations))
        elif name == "label":
            values.append((facts.label, facts.num_observations))
        elif isinstance(facts.attributes.get(name), str):
            values.append((facts.attributes[name], facts.num_observations))
    if not values:
        raise Unknown(f"perception gives no {name!r} here")
    # several tracks of one object (a split) agree; otherwise the longest-seen one speaks
    return Value("text", max(values, key=lambda v: v[1])[0])


@operation("direction")
def _direction(run: Run, given: Value, args) -> Value:
    ids = [t for t in given.data if t in run.scene.tracks]
    if not ids:
        raise Unknown("no object to follow")
    votes: dict[str, int] = {}
    for track in ids:
        way = reasoning.net_direction(run.scene, track)
        votes[way] = votes.get(way, 0) + run.scene.tracks[track].num_observations
    return Value("direction", max(votes, key=votes.get))


@operation("moving")
def _moving(run: Run, given: Value, args) -> Value:
    wanted = args["direction"]
    return Value("objects", tuple(t for t in given.data if t in run.scene.tracks
                                  and reasoning.net_direction(run.scene, t) == wanted))


@operation("time")
def _time(run: Run, given: Value, args) -> Value:
    return Value("time", run.scene.seconds(given.data.frame))


@operation("cause")
def _cause(run: Run, given: Value, args) -> Value:
    occurrence = given.data
    if occurrence.cause is not None:  # the STSG records it
        cause, other, wall = occurrence.cause
        if cause == "wall":
            return Value("cause", {"by": "edge", "side": wall})
        if cause in ("collide", "push"):
            return Value("cause", {"by": cause, "with": other})
        if cause == "self":
            return Value("cause", {"by": "self"})
    seen = reasoning.cause_at(run.scene, [occurrence.subject], occurrence.frame, occurrence.kind)
    if seen[0] == "contact":
        return Value("cause", {"by": seen[2], "with": seen[1]})
    if seen[0] == "border":
        return Value("cause", {"by": "edge", "side": seen[1]})
    return Value("cause", {"by": "self"})


@operation("without")
def _without(run: Run, given: Value, args) -> Value:
    if not given.data:
        raise Unknown("nothing to remove")
    return Value("removal", tuple(given.data))


@operation("predict")
def _predict(run: Run, given: Value, args) -> Value:
    ids = [t for t in given.data if t in run.scene.tracks]
    if not ids:
        raise Unknown("no object to follow" + (" in what is visible" if run.scene.until_frame else ""))
    track = max(ids, key=lambda t: run.scene.tracks[t].last_frame)
    predicted = run.scene.extrapolate(track)
    return Value("prediction", {"track": track, **{("with" if k == "track" else k): v for k, v in predicted.items()}})


@operation("watch")
def _watch(run: Run, given, args) -> Value:
    seconds = float(args["until"])
    run.scene = run.scene.until(max(1, int(seconds * run.scene.fps + 1e-6)))
    run.executor = run.executor.with_scene(run.scene)
    run.grounder = run.executor.grounder
    return Value("none", seconds)


@operation("recall")
def _recall(run: Run, given, args) -> Value:
    turn = run.executor.latest_answer()
    if turn is None:
        raise Unknown("there is no earlier answer to refer to")
    tracks = tuple(t for t in turn["tracks"] if t in run.scene.tracks)
    if args["what"] == "object":
        if not tracks:
            raise Unknown("the earlier answer's object is not in view")
        return Value("objects", tracks)
    if turn.get("frame") is None:
        raise Unknown("the earlier answer has no moment")
    frame = int(turn["frame"])
    subject = tracks[0] if tracks else -1
    return Value("event", Occurrence("moment", subject, None, frame, frame))


def _measure(run: Run, track: int, by: str) -> float:
    if by == "size":
        return run.grounder.median_area(track)
    if by == "speed":
        return reasoning.mean_speed(run.scene, track)
    return float(len(distinct(run.scene, occurrences_of(run.scene, track))))


def _extreme(run: Run, given: Value, args, sign: float) -> Value:
    ids = [t for t in given.data if t in run.scene.tracks]
    if not ids:
        raise Unknown("no object to compare")
    measures = {t: sign * _measure(run, t, args["by"]) for t in ids}
    best = max(measures.values())
    return Value("objects", tuple(t for t in ids if measures[t] >= best - 1e-9))


@operation("most")
def _most(run: Run, given: Value, args) -> Value:
    return _extreme(run, given, args, 1.0)


@operation("least")
def _least(run: Run, given: Value, args) -> Value:
    return _extreme(run, given, args, -1.0)


@operation("near")
def _near(run: Run, given: Value, args) -> Value:
    mine = set(given.data)
    close = set()
    for track in mine:
        for other in run.scene.tracks:
            if other in mine:
                continue
            gap = reasoning.closest_gap(run.scene, track, other)
            if gap is not None and gap <= 0.5 * math.sqrt(max(run.grounder.median_area(track), 1.0)):
                close.add(other)
    return Value("objects", tuple(sorted(close)))


@operation("together")
def _together(run: Run, given: Value, args) -> Value:
    return Value("bool", reasoning.moves_together(run.scene, [t for t in given.data if t in run.scene.tracks]))


# ---- scoring options ----------------------------------------------------------------------------
Scorer = Callable[[Executor, Value, Any, list], "float | None"]


def _option_words(wanted) -> dict | None:
    return wanted if isinstance(wanted, dict) else ({"name": str(wanted)} if wanted not in (None, "") else None)


def _ground_option(executor: Executor, description: dict | None) -> set[int] | None:
    """The tracks an option's description names; None when perception cannot name it."""
    found = executor.grounder.ground(description or {})
    return None if found.unknown else set(found.track_ids)


def _score_number(executor, value: Value, wanted, options) -> float:
    difference = abs(int(value.data) - int(wanted))
    return 1.0 if difference == 0 else -min(1.0, 0.5 * difference)


def _score_text(executor, value: Value, wanted, options) -> float | None:
    words = [wanted] if isinstance(wanted, str) else [w for w in [wanted.get("name"), *(wanted.get("adj") or [])] if w]
    have = normalise(value.data)
    readings = []
    for word in words:
        if normalise(word) == have:
            return 1.0
        readings += executor.grounder.read_word(word, noun=False)
    if any(normalise(name) == have for _, name in readings):
        return 1.0
    return -1.0 if readings else None


def _score_objects(executor, value: Value, wanted, options) -> float | None:
    """The option names one of the objects found: agrees. When no option names any of them (a track
    the tracker made of nothing, named nothing a user would), the next object in the order they were
    picked from that some option names stands in, at half weight."""
    named = _ground_option(executor, _option_words(wanted))
    if named is None:
        return None
    if not value.data:
        return -1.0 if named else None
    if named & set(value.data):
        return 1.0
    option_tracks = [_ground_option(executor, _option_words(next(iter(o.values())))) or set() for o in options]
    if any(tracks & set(value.data) for tracks in option_tracks):
        return -1.0
    for alternative in value.candidates:
        if any(tracks & set(alternative) for tracks in option_tracks):
            return 0.5 if named & set(alternative) else -1.0
    return -1.0


def kind_matches(wanted: str, seen: str) -> float:
    """How well an occurrence's kind fits an option's: 1 the same; 0.8 a push for a collision (a
    push is a contact too, and the tracker may blur the two); 0 otherwise."""
    if wanted == seen:
        return 1.0
    if {wanted, seen} <= {"collide", "push", "pushed"} and "collide" in (wanted, seen):
        return 0.8
    return 0.0


def occurrence_fits(executor: Executor, occurrence: Occurrence, pattern: dict) -> float:
    """How well one occurrence fits an event option {"kind", "with"?, "side"?, "who"?, "at"?}: 0 when it does not."""
    scene = executor.scene
    fit = kind_matches(pattern["kind"], occurrence.kind)
    if not fit:
        return 0.0
    if pattern.get("with") is not None:
        partners = _ground_option(executor, pattern["with"])
        if not partners or occurrence.partner not in partners:
            return 0.0
    if pattern.get("who") is not None:
        subjects = _ground_option(executor, pattern["who"])
        if not subjects or occurrence.subject not in subjects:
            return 0.0
    if pattern.get("side") is not None and edge_of(scene, occurrence) != pattern["side"]:
        return 0.0
    if pattern.get("at") is not None and abs(scene.seconds(occurrence.frame) - float(pattern["at"])) > AT_SECONDS:
        return 0.0
    return fit


def _score_event(executor, value: Value, pattern: dict, options) -> float:
    """The event a program picked ("the first thing after ..."): the option that fits it, or fits one
    that happens within the same moment, agrees; one that fits a later event only partly. Events no
    option speaks of are passed over (an "approach" the options never mention is not the answer)."""
    scene = executor.scene
    candidates = value.candidates or [value.data]
    kinds = {o["event"]["kind"] for o in options if "event" in o}
    relevant = [c for c in candidates if any(kind_matches(k, c.kind) for k in kinds)] or candidates
    first = relevant[0]
    near = [c for c in relevant if abs(c.frame - first.frame) <= scene.near_frames]
    fit = max((occurrence_fits(executor, c, pattern) for c in near), default=0.0)
    if fit:
        return fit
    if any(occurrence_fits(executor, c, pattern) for c in relevant):
        return 0.3
    if not any(occurrence_fits(executor, c, {"kind": k}) for c in candidates for k in kinds) \
            and pattern["kind"] in ("stop", "start", "turn") and pattern.get("with") is None:
        # no option's kind was detected at all: a change the detector missed, in the subject's motion
        # right after (before) the anchor, stands in at half weight
        subject = value.data.subject
        if subject in scene.tracks and scene.likeliest_change(subject, pattern["kind"], around=value.data.frame,
                                                               within_frames=2 * scene.near_frames) is not None:
            return 0.5
    return -1.0


def _score_events(executor, value: Value, pattern: dict, options) -> float:
    return max((occurrence_fits(executor, o, pattern) for o in value.data), default=0.0) or -1.0


def _score_cause(executor, value: Value, wanted: dict, options) -> float | None:
    seen = value.data
    if wanted["by"] != seen["by"] and {wanted["by"], seen["by"]} != {"collide", "push"}:
        # a contact the tracker did not see reads as "on its own": refute that one less firmly
        return -0.3 if seen["by"] == "self" else -1.0
    if seen["by"] in ("collide", "push"):
        partners = _ground_option(executor, wanted.get("with"))
        if wanted.get("with") is not None and (partners is None or seen.get("with") not in partners):
            return -1.0
        return 1.0 if wanted["by"] == seen["by"] else 0.6
    if seen["by"] == "edge":
        return 1.0 if wanted.get("side") in (None, seen.get("side")) else -1.0
    return 1.0


def _score_direction(executor, value: Value, wanted, options) -> float:
    return 1.0 if value.data == wanted else -1.0


def _score_time(executor, value: Value, wanted: dict, options) -> float:
    seconds = float(value.data)
    if "minute" in wanted:
        return 1.0 if int(seconds // 60) + 1 == int(wanted["minute"]) else -1.0
    return 1.0 if abs(seconds - float(wanted["seconds"])) <= AT_SECONDS else -1.0


def _score_bool(executor, value: Value, wanted, options) -> float:
    return 1.0 if bool(value.data) == bool(wanted) else -1.0


def _score_removal(executor, value: Value, pattern: dict, options) -> float:
    """Would the option's event not happen without the removed objects? It depends on them when one
    of them takes part in it, or caused it (the STSG's record, else a contact at that moment)."""
    scene, removed = executor.scene, set(value.data)
    subjects = sorted(_ground_option(executor, pattern.get("who")) or []) if pattern.get("who") else sorted(scene.tracks)
    subjects = [t for t in subjects if t not in removed]
    what = {key: item for key, item in pattern.items() if key in ("kind", "with", "side")}
    happened = [o for t in subjects for o in occurrences_of(scene, t) if occurrence_fits(executor, o, what) >= 1.0]
    located = False
    if pattern.get("at") is not None:
        off = lambda o: abs(scene.seconds(o.frame) - float(pattern["at"]))
        happened = [o for o in happened if off(o) <= AT_SECONDS]
        happened = [o for o in happened if off(o) <= min(map(off, happened)) + 1e-6]
        if not happened and pattern["kind"] in ("stop", "start", "turn"):
            around = scene.frame_at(float(pattern["at"]))
            for track in subjects:
                moment = scene.likeliest_change(track, pattern["kind"], around=around)
                if moment is not None:
                    happened, located = [Occurrence(pattern["kind"], track, None, moment, moment, True)], True
                    break
    if not happened:
        return -0.3
    dependent, touching = [], []
    for occurrence in happened:
        if occurrence.cause is not None:  # the STSG records what caused it
            if occurrence.cause[1] in removed:
                dependent.append(occurrence)
            continue
        cause = reasoning.cause_at(scene, [occurrence.subject], occurrence.frame, occurrence.kind)
        if occurrence.partner in removed or (cause[0] == "contact" and cause[1] in removed):
            dependent.append(occurrence)
        elif reasoning.touching(scene, [occurrence.subject], removed, occurrence.frame):
            touching.append(occurrence)
    if len(dependent) == len(happened):
        # "bounces off the bottom edge" names its own cause: the removed object was there too, but
        # the rebound would likely still happen without it
        return 0.6 if pattern.get("side") is not None and not any(o.cause for o in happened) else 1.0
    if len(dependent) + len(touching) == len(happened):
        return 0.5
    return -0.5 if located else -1.0


def _score_prediction(executor, value: Value, pattern: dict, options) -> float:
    """The option's event against where the subject's last seen motion leads (graph.query.extrapolate)."""
    scene, predicted = executor.scene, value.data
    kind = pattern["kind"]
    partners = _ground_option(executor, pattern.get("with")) if pattern.get("with") is not None else None
    if predicted["kind"] == "still":
        return 1.0 if kind == "start" else -0.5
    if predicted["kind"] == "contact":
        if kind not in ("collide", "push", "pushed", "occluded", "approach"):
            return -0.5
        # meeting is what extrapolation sees; how: a thing running into a resting one pushes it
        # (the event detector's push), into a moving one it collides
        expected = "push" if predicted.get("resting") else "collide"
        meets = 1.0 if kind == expected else 0.8
        return meets if partners is None or predicted.get("with") in partners else -0.5
    if predicted["kind"] == "border":
        turn_prior, exit_prior = reasoning.edge_behaviour(scene, predicted["track"])
        if kind == "turn":
            side = pattern.get("side")
            return (1.0 if side == predicted["side"] else 0.9 if side is None else -0.5) * turn_prior
        if kind in ("exit", "disappear"):
            return exit_prior if kind == "exit" else 0.8 * exit_prior
        return -0.5
    return 0.3 if kind == "stop" else -0.2


SCORERS: dict[tuple[str, str], Scorer] = {
    ("number", "number"): _score_number,
    ("text", "text"): _score_text,
    ("text", "object"): _score_text,
    ("objects", "object"): _score_objects,
    ("objects", "text"): _score_objects,
    ("event", "event"): _score_event,
    ("events", "event"): _score_events,
    ("cause", "cause"): _score_cause,
    ("direction", "direction"): _score_direction,
    ("time", "time"): _score_time,
    ("bool", "bool"): _score_bool,
    ("removal", "event"): _score_removal,
    ("prediction", "event"): _score_prediction,
}

missing = sorted(set(OPERATORS) - set(OPERATIONS))
if missing:  # every operator of the language has its function
    raise RuntimeError(f"operators without an implementation: {missing}")


def value_text(value: Value, scene: SceneQuery) -> str:
    """An executed value as a user would say it ("the blue star", "3", "it hits the left edge"),
    never by track number: the open answer when a question has no options."""
    def name(track: int) -> str:
        return f"the {scene.tracks[track].name}" if track in scene.tracks else "something"

    if value.type == "objects":
        names = list(dict.fromkeys(name(t) for t in value.data))
        return " and ".join(names) if names else "nothing"
    if value.type == "event":
        o = value.data
        text = f"{name(o.subject)} {o.kind}s" if o.kind not in ("pushed",) else f"{name(o.subject)} is pushed"
        return text + (f" {'by' if o.kind == 'pushed' else 'with'} {name(o.partner)}" if o.partner is not None else "") \
            + f" at {scene.seconds(o.frame):.1f} seconds"
    if value.type == "events":
        return "; ".join(value_text(Value("event", o), scene) for o in value.data[:3]) or "nothing"
    if value.type == "cause":
        by = value.data["by"]
        if by == "edge":
            return f"it hits the {value.data.get('side')} edge"
        if by in ("collide", "push"):
            return f"{'it collides with' if by == 'collide' else 'it is pushed by'} {name(value.data.get('with'))}"
        return "it does so on its own"
    if value.type == "time":
        return f"at {value.data:.1f} seconds"
    if value.type == "bool":
        return "yes" if value.data else "no"
    if value.type == "prediction":
        p = value.data
        if p["kind"] == "contact":
            return f"it will meet {name(p['with'])}"
        if p["kind"] == "border":
            return f"it will reach the {p['side']} edge"
        return "it stays still" if p["kind"] == "still" else "nothing can be told"
    if value.type == "removal":
        return "without " + value_text(Value("objects", value.data), scene)
    return str(value.data)


__all__ = ["Executor", "Execution", "Value", "Occurrence", "Unknown", "OPERATIONS", "SCORERS", "value_text",
           "describe", "occurrences_of", "identities"]
