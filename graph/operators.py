"""The operators of the program language (graph/program.py), one small function each, registered
by name in `OPERATIONS`, as in CLEVRER's NS-DR and ViperGPT. Each takes the run (graph/execute.py:
the scene its step sees, the earlier step values, the grounder), the previous step's value and the
step's arguments, and returns a typed `Value` (graph/values.py); one that needs what the scene does
not hold raises `Unknown` with the reason. Also the scene readings operators share (an object's
occurrences, repeats merged, broken tracks joined, the edge a turn is at).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from videothought.graph import reasoning
from videothought.graph.program import OPERATORS
from videothought.graph.query import SceneQuery
from videothought.graph.values import Occurrence, Unknown, Value

if TYPE_CHECKING:
    from videothought.graph.execute import Run

RELINK_SECONDS = 1.0  # a track that ends and one of the same name that starts within this, nearby, are one object
RELINK_SIZES = 2.0  # ... no further apart than this many box sizes

Operation = Callable[["Run", "Value | None", dict], Value]
OPERATIONS: dict[str, Operation] = {}


def operation(name: str):
    if name not in OPERATORS:
        raise KeyError(f"operation {name!r} is not an operator of the language (graph/program.py)")

    def register(function: Operation) -> Operation:
        OPERATIONS[name] = function
        return function
    return register


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


missing = sorted(set(OPERATORS) - set(OPERATIONS))
if missing:  # every operator of the language has its function
    raise RuntimeError(f"operators without an implementation: {missing}")
