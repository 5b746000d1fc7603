"""Scoring an executed value (graph/execute.py) against a question's multiple-choice options: one
scorer per (value type, option kind), registered in `SCORERS`. A score is 1 when the STSG says
so; about 0 when it cannot tell; below 0 when it says otherwise; None when the option is not of a
kind the value can be compared with (the writer's mistake, or a question the program does not
answer) or when perception cannot name what the option speaks of.

    checks = score_options(executor, execution, program.options)   # one score per option, in [-1, 1]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from videothought.graph import reasoning
from videothought.graph.ground import normalise
from videothought.graph.operators import edge_of, occurrences_of
from videothought.graph.query import SceneQuery
from videothought.graph.values import Execution, Occurrence, Unknown, Value

if TYPE_CHECKING:
    from videothought.graph.execute import Executor

AT_SECONDS = 0.6  # an option dated "at 2.5 seconds" matches an event within this much of it

Scorer = Callable[["Executor", Value, Any, list], "float | None"]


def score_options(executor: Executor, execution: Execution, options: list[dict]) -> list[float | None]:
    """Each option value against the executed value: 1 agrees, ~0 cannot tell, < 0 disagrees,
    None not comparable (or nothing was executed). Read on the scene the execution last saw
    (after a `watch`), else the executor's."""
    if execution.status != "ok" or execution.value is None:
        return [None] * len(options)
    value = execution.value
    scene = execution.scene or executor.scene
    return [_score(executor, value, option, options, scene) for option in options]


def _score(executor: Executor, value: Value, option: dict, options: list[dict], scene: SceneQuery) -> float | None:
    (kind, wanted), = option.items()
    try:
        scorer = SCORERS.get((value.type, kind))
        return None if scorer is None else scorer(executor.with_scene(scene), value, wanted, options)
    except Unknown:
        return None


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
