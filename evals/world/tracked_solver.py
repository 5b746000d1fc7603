"""A world-grammar solver on a TRACKED STSG: a benchmark-specific reference condition.

This answers the synthetic world's questions (evals/world/questions.py) by parsing them with
the world's own grammar (question templates, option phrases, object sizes, bounce physics)
and recomputing each option from the STSG the tracker built from the pixels. It knows the
benchmark, so it is a *reference*, never part of the agent's default graph:

    oracle.py           the ground-truth STSG + the grammar: the ceiling (100% by construction)
    tracked_solver.py   the tracked STSG + the grammar: what a benchmark-specific parser gets
                        through the tracker's noise ("world-grammar solver (knows the
                        benchmark; reference only)" in `vot bench agent`)
    the VoT graph       the tracked STSG + a general agent that knows no benchmark

It was the agent's agent/evidence.py `world_claims` until the agent became general (issue 10);
it moved here unchanged in behaviour. Reworded questions (reword.py) fall outside its grammar:
it then returns no answer, which a benchmark counts as wrong.

    scores = option_scores(question, options, tracked_doc)   # [float | None] per option
    index = solve(question, options, tracked_doc)            # best option, None outside the grammar
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

from .config import COLOUR_NAMES, SHAPES, SIZES

logger = logging.getLogger(__name__)

COLOURS = COLOUR_NAMES
_COLOUR_ALIASES = {"gray": "grey", "violet": "purple"}
_SHAPE_ALIASES = {"circles": "circle", "squares": "square", "triangles": "triangle", "stars": "star",
                  "hexagons": "hexagon", "diamonds": "diamond", "ball": "circle", "balls": "circle",
                  "disc": "circle", "disk": "circle", "box": "square", "boxes": "square"}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_STOP_WORDS = frozenset(
    "the a an of to in on at is are was were it its this that what which who whom how why when where does did do "
    "object objects thing things video and or with by for from after before then first last".split()
)


# ---- small text helpers ----------------------------------------------------------------
def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _canonical(word: str) -> str:
    return _COLOUR_ALIASES.get(word, _SHAPE_ALIASES.get(word, word))


def number_in(text: str) -> int | None:
    for token in words(text):
        if token.isdigit():
            return int(token)
        if token in NUMBER_WORDS:
            return NUMBER_WORDS.index(token)
    return None


# ---- the STSG document, read directly (it is JSON in state) ------------------------------
def doc_tracks(doc: dict | None) -> dict[int, dict]:
    """track_id -> {"label", "attributes", "first_frame", "last_frame", "num_observations"}."""
    if not doc:
        return {}
    tracks = {int(k): {"label": v.get("label", "object"), "attributes": dict(v.get("attributes", {}))}
              for k, v in doc.get("tracks", {}).items()}
    for node in doc.get("graph", {}).get("nodes", []):
        if node.get("kind", "observation") != "observation" or "track_id" not in node:
            continue
        track = tracks.setdefault(int(node["track_id"]), {"label": node.get("label", "object"), "attributes": {}})
        frame = int(node.get("frame_index", 0))
        box = node.get("box") or [0, 0, 0, 0]
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        if frame < track.get("first_frame", frame + 1):
            track["first_frame"], track["first_centre"] = frame, centre
        if frame > track.get("last_frame", frame - 1):
            track["last_frame"], track["last_centre"] = frame, centre
        track["num_observations"] = track.get("num_observations", 0) + 1
    return tracks


def doc_events(doc: dict | None) -> list[dict]:
    return sorted((doc or {}).get("events", []), key=lambda e: (e["start_frame"], e["end_frame"]))


def doc_fps(doc: dict | None) -> float:
    return float(((doc or {}).get("video") or {}).get("fps") or 25.0)


def track_name(track: dict) -> str:
    attributes = track.get("attributes", {})
    colour, shape = attributes.get("colour") or attributes.get("color"), attributes.get("shape")
    if colour and shape:
        return f"{colour} {shape}"
    return str(track.get("label") or "object")


def phrase_match(phrase: str, track: dict) -> float:
    """How well a target phrase names a track: 1.0 all words match, 0 a contradiction or nothing."""
    phrase_words = [_canonical(w) for w in words(phrase) if w not in _STOP_WORDS]
    if not phrase_words:
        return 0.0
    attributes = {k: str(v).lower() for k, v in track.get("attributes", {}).items()}
    label_words = {_canonical(w) for w in words(str(track.get("label", "")))}
    name_words = label_words | {_canonical(w) for v in attributes.values() for w in words(v)}
    colour = attributes.get("colour") or attributes.get("color")
    shape = attributes.get("shape")
    hits = 0
    for word in phrase_words:
        if word in COLOURS and colour and word != colour:
            return 0.0  # a red phrase never names a blue track
        if word in SHAPES and shape and word != shape:
            return 0.0
        if word in name_words:
            hits += 1
    return hits / len(phrase_words)


def ground_phrase(phrase: str, tracks: dict[int, dict]) -> tuple[list[int], float]:
    """Track ids a phrase names (best-matching ones) and the match score."""
    scores = {tid: phrase_match(phrase, track) for tid, track in tracks.items()}
    best = max(scores.values(), default=0.0)
    if best <= 0.0:
        return [], 0.0
    return sorted(tid for tid, s in scores.items() if s >= best - 1e-9), float(best)



# ---- the synthetic world's question grammar (questions.py, phrases.py) ------------------
_SIZE_RADII = SIZES  # bounding-circle radius in pixels at a 240-pixel-high frame (config.py)
_SIMPLE_PHRASES = {"changes direction": "turn", "stops": "stop", "starts moving": "start", "leaves the scene": "exit",
                   "enters the scene": "enter", "appears": "appear", "vanishes": "disappear"}
_OBJECT_PHRASES = (("collides with the ", "collide"), ("goes behind the ", "hidden"), ("pushes the ", "push"),
                   ("is pushed by the ", "pushed"))
_VERB_KINDS = {"change direction": "turn", "changes direction": "turn", "stop": "stop", "stops": "stop",
               "start moving": "start", "starts moving": "start", "enters the scene": "enter", "leaves the scene": "exit"}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_NEAR_FRAMES = 2  # events this close in time are the same moment (tracker events jitter by a frame or two)


def parse_world_phrase(text: str) -> tuple[str, str | None] | None:
    """("turn", None), ("turn_wall", "top"), ("collide", "red circle"), ... or None (not the grammar)."""
    text = text.strip().rstrip(".").lower()
    if text in _SIMPLE_PHRASES:
        return _SIMPLE_PHRASES[text], None
    wall = re.fullmatch(r"bounces off the (left|right|top|bottom) edge", text)
    if wall:
        return "turn_wall", wall.group(1)
    for prefix, kind in _OBJECT_PHRASES:
        if text.startswith(prefix):
            return kind, text[len(prefix):]
    return None


def _observations(doc: dict) -> dict[int, list[tuple[int, float, float, float, float]]]:
    """track_id -> [(frame, centre x, centre y, width, height)] in frame order (visible ones)."""
    out: dict[int, list] = {}
    for node in doc.get("graph", {}).get("nodes", []):
        if node.get("kind", "observation") != "observation" or "track_id" not in node or node.get("visible") is False:
            continue
        x1, y1, x2, y2 = node["box"]
        out.setdefault(int(node["track_id"]), []).append(
            (int(node["frame_index"]), (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))
    for series in out.values():
        series.sort()
    return out


class WorldScene:
    """The tracked STSG read the way the world's questions talk about it."""

    def __init__(self, doc: dict, until_frame: int | None = None):
        self.doc = doc
        self.tracks = doc_tracks(doc)
        self.observations = _observations(doc)
        video = doc.get("video") or {}
        self.width = float(video.get("width") or 320)
        self.height = float(video.get("height") or 240)
        self.fps = doc_fps(doc)
        self.events = [e for e in doc_events(doc) if until_frame is None or e["start_frame"] < until_frame]
        self._happenings: dict[int, list] = {}

    # -- objects
    def size_of(self, track_id: int) -> str:
        series = self.observations.get(track_id) or []
        if not series:
            return "medium"
        extents = sorted(max(w, h) for _, _, _, w, h in series)
        radius = extents[len(extents) // 2] / 2 * 240.0 / self.height  # median box, at a 240-pixel frame
        return min(_SIZE_RADII, key=lambda name: abs(_SIZE_RADII[name] - radius))

    def label_ids(self, label: str) -> list[int]:
        """Tracks whose colour and shape match a label like "red circle" (fragments included)."""
        return ground_phrase(label, self.tracks)[0]

    def referent_ids(self, referent: str) -> list[int]:
        """"the square", "the large square", "the red object that stops", "the red circle"."""
        text = referent.strip().lower()
        text = text[4:] if text.startswith("the ") else text
        noun, _, clause = text.partition(" that ")
        tokens = noun.split()
        size = tokens[0] if tokens and tokens[0] in _SIZE_RADII else None
        ids = ground_phrase(" ".join(t for t in tokens if t not in _SIZE_RADII and t != "object"), self.tracks)[0]
        if size and len(ids) > 1:
            ids = [t for t in ids if self.size_of(t) == size] or ids
        key = parse_world_phrase(clause) if clause else None
        if key and len(ids) > 1:
            ids = [t for t in ids if any(self.key_matches(key, h) for _, h in self.happenings(t))] or ids
        return ids

    # -- what happens to an object
    def wall_at(self, track_id: int, frame: int, margin: float = 6.0) -> str | None:
        """The frame edge the track's box touches around `frame`, if any."""
        series = [o for o in self.observations.get(track_id, []) if abs(o[0] - frame) <= _NEAR_FRAMES]
        best, best_gap = None, margin
        for _, cx, cy, w, h in series:
            gaps = {"left": cx - w / 2, "right": self.width - (cx + w / 2), "top": cy - h / 2,
                    "bottom": self.height - (cy + h / 2)}
            edge = min(gaps, key=gaps.get)
            if gaps[edge] <= best_gap:
                best, best_gap = edge, gaps[edge]
        return best

    def happenings(self, track_id: int) -> list[tuple[int, tuple]]:
        """(frame, (kind, argument)) for one track, like the world's phrases.happenings; argument is
        a track id (interactions), a wall name (turn_wall) or None."""
        if track_id in self._happenings:
            return self._happenings[track_id]
        found = []
        for event in self.events:
            ids = event["track_ids"]
            if track_id not in ids:
                continue
            kind, frame = event["type"], event["start_frame"]
            others = [t for t in ids if t != track_id]
            attributes = event.get("attributes") or {}
            if kind == "collide" and others:
                found.append((frame, ("collide", others[0])))
            elif kind == "push" and len(ids) > 1:
                found.append((frame, ("push", ids[1]) if ids[0] == track_id else ("pushed", ids[0])))
            elif kind == "occluded" and ids[0] == track_id:
                found.append((frame, ("hidden", ids[1] if len(ids) > 1 else None)))
            elif kind == "turn":
                wall = attributes.get("wall") or (None if self.interaction_near(track_id, frame) else self.wall_at(track_id, frame))
                found.append((frame, ("turn_wall", wall) if wall else ("turn", None)))
            elif kind in ("stop", "start", "exit", "enter", "appear", "disappear"):
                found.append((frame, (kind, None)))
        found.sort(key=lambda h: (h[0], h[1][0]))
        self._happenings[track_id] = found
        return found

    def interaction_near(self, track_id: int, frame: int) -> tuple[str, int] | None:
        """("collide"|"pushed", other track) when the track is hit or pushed within a couple of frames."""
        for event in self.events:
            ids = event["track_ids"]
            if track_id in ids and len(ids) > 1 and event["type"] in ("collide", "push") and \
                    event["start_frame"] - _NEAR_FRAMES <= frame <= event["end_frame"] + _NEAR_FRAMES:
                other = ids[1] if ids[0] == track_id else ids[0]
                if event["type"] == "push" and ids[0] == track_id:
                    continue  # the pusher is not moved by its push
                return ("pushed" if event["type"] == "push" else "collide"), other
        return None

    def key_matches(self, key: tuple, happening: tuple) -> bool:
        """A phrase key (argument a label or wall) is true of a happening (argument a track id or wall)."""
        kind, argument = key
        if kind == "turn" and happening[0] in ("turn", "turn_wall"):
            return True
        if kind != happening[0]:
            return False
        if kind == "turn_wall":
            return argument == happening[1]
        if kind in ("collide", "push", "pushed", "hidden"):
            if happening[1] is None:
                return kind == "hidden"  # an occlusion the tracker saw without its occluder
            return happening[1] in self.label_ids(argument)
        return True

    def first_frames(self, ids: Iterable[int], key: tuple) -> list[int]:
        return sorted(f for t in ids for f, h in self.happenings(t) if self.key_matches(key, h))


def _graded(value: float, supported: list[str], contradicted: list[str]) -> dict:
    return {"supported": supported, "contradicted": contradicted, "score": float(value)}


def world_claims(answer: str, question: str, doc: dict | None) -> dict | None:
    """Score one option of a world-grammar question against the tracked STSG; None when the
    question is not in the grammar. Scores: 1 = what the STSG says, ~0 = unknown, <0 = refuted."""
    if not doc:
        return None
    q = question.strip()
    a = answer.strip().lower()
    scene = None

    def get_scene(until_frame=None):
        nonlocal scene
        scene = scene or WorldScene(doc, until_frame)
        return scene

    if match := re.fullmatch(r"What (colour|shape) is (the .+)\?", q):
        s = get_scene()
        attribute, ids = match.group(1), s.referent_ids(match.group(2))
        if not ids:
            return _graded(0.0, [], [])
        weights = {t: s.tracks[t].get("num_observations", 1) for t in ids}
        agree = sum(w for t, w in weights.items() if str(s.tracks[t]["attributes"].get(attribute, "")).lower() == a)
        share = agree / max(1, sum(weights.values()))
        claim = f"{attribute} {a} ({share:.0%} of the referent's observations)"
        return _graded(2 * share - 1, [claim] if share >= 0.5 else [], [claim] if share < 0.5 else [])

    if q.startswith("How many ") and q.endswith("?"):
        expected = world_count(q, get_scene())
        given = number_in(a)
        if expected is None or given is None:
            return None if expected is None else _graded(-1.5, [], ["not a count"])
        claim = f"count {given} (STSG: {expected})"
        return _graded(max(-1.5, 1.0 - abs(given - expected)), [claim] if given == expected else [],
                       [] if given == expected else [claim])

    if match := re.fullmatch(r"What does (the .+?) do right (after|before) it (.+)\?", q):
        s = get_scene()
        ids, direction, anchor = s.referent_ids(match.group(1)), match.group(2), parse_world_phrase(match.group(3))
        key = parse_world_phrase(a)
        if not ids or key is None or anchor is None:
            return _graded(0.0, [], []) if ids else None
        history = sorted(h for t in ids for h in s.happenings(t))
        anchors = [f for f, h in history if s.key_matches(anchor, h)]
        if not anchors:
            happens = any(s.key_matches(key, h) for _, h in history)
            return _graded(0.3 if happens else -0.5, [f"{a} happens"] if happens else [], [] if happens else [f"never: {a}"])
        frame = anchors[0]
        side = [(f, h) for f, h in history if (f > frame + 0 if direction == "after" else f < frame)
                and not s.key_matches(anchor, h)]
        if not side:
            return _graded(-0.5, [], [f"nothing {direction} the anchor"])
        nearest = side[0][0] if direction == "after" else side[-1][0]
        at_nearest = [h for f, h in side if abs(f - nearest) <= _NEAR_FRAMES]
        if any(s.key_matches(key, h) for h in at_nearest):
            return _graded(1.0, [f"{a} right {direction} (frame {nearest})"], [])
        if any(s.key_matches(key, h) for _, h in side):
            return _graded(0.2, [f"{a} {direction}, not right {direction}"], [])
        return _graded(-1.0, [], [f"no {a} {direction} frame {frame}"])

    if match := re.fullmatch(r"Which object (.+) first\?", q):
        s = get_scene()
        kind = _VERB_KINDS.get(match.group(1))
        if kind is None:
            return None
        ids = s.label_ids(a[4:] if a.startswith("the ") else a)
        mine = s.first_frames(ids, (kind, None))
        if not mine:
            return _graded(-1.0, [], [f"{a} never {match.group(1)}"])
        everyone = {t: s.first_frames([t], (kind, None)) for t in s.tracks}
        earliest = min((f[0] for f in everyone.values() if f), default=mine[0])
        if mine[0] <= earliest + _NEAR_FRAMES:
            return _graded(1.0, [f"{a} {match.group(1)} first (frame {mine[0]})"], [])
        return _graded(-0.5, [], [f"{a} {match.group(1)} at frame {mine[0]}, not first (frame {earliest})"])

    if match := re.fullmatch(r"Why does (the .+?) (change direction|stop|start moving)(?: for the (\w+) time)?\?", q):
        s = get_scene()
        ids, kind = s.referent_ids(match.group(1)), _VERB_KINDS[match.group(2)]
        cause = _parse_cause(a)
        if cause is None:
            return None
        frames = sorted({f for t in ids for f, h in s.happenings(t) if h[0] == kind or (kind == "turn" and h[0] == "turn_wall")})
        if not frames:
            return _graded(0.0, [], [])
        number = _ORDINALS.get(match.group(3) or "first", 1)
        causes = [_infer_cause(s, ids, kind, f) for f in frames]
        wanted = min(number, len(frames)) - 1

        def agreement(inferred) -> float:
            if cause[0] == "self" or inferred[0] == "self":
                return 1.0 if cause[0] == inferred[0] else 0.0
            if cause[0] == "wall" or inferred[0] == "wall":
                return 1.0 if cause == inferred else 0.0
            if inferred[1] not in s.label_ids(cause[1] or ""):
                return 0.0
            return 1.0 if cause[0] == inferred[0] else 0.5  # collide vs push: the tracker blurs them

        here = agreement(causes[wanted])
        elsewhere = max((agreement(c) for i, c in enumerate(causes) if i != wanted), default=0.0)
        claim = f"cause at frame {frames[wanted]}: {causes[wanted][0]} {causes[wanted][1] if causes[wanted][1] is not None else ''}".strip()
        if here > 0:
            return _graded(here, [claim], [])
        if elsewhere > 0:
            return _graded(0.3 * elsewhere, [f"a cause of another {kind}"], [claim])
        # a missed interaction reads as "on its own": an unseen cause is refuted less firmly
        return _graded(-0.3 if causes[wanted][0] == "self" else -1.0, [], [claim])

    if match := re.fullmatch(r"Watching only the first ([\d.]+) seconds, what will (the .+?) do next\?", q):
        key = parse_world_phrase(a)
        if key is None:
            return None
        until_frame = int(float(match.group(1)) * doc_fps(doc) + 1e-6)
        s = get_scene(until_frame)
        ids = s.referent_ids(match.group(2))
        predicted = predict_next(s, ids, until_frame)
        if predicted is None:
            return _graded(0.0, [], [])
        if s.key_matches(key, predicted):
            return _graded(1.0, [f"predicted: {predicted}"], [])
        # What the extrapolation cannot tell apart: an object heading for an edge may leave through
        # it instead of bouncing; one reaching another may push it instead of bouncing off.
        if predicted[0] == "turn_wall" and key[0] == "exit":
            return _graded(0.5, [f"predicted: reaches the {predicted[1]} edge"], [])
        if predicted[0] == "collide" and key[0] == "push" and s.key_matches(("collide", key[1]), predicted):
            return _graded(0.5, [f"predicted: reaches {key[1]}"], [])
        return _graded(-0.5, [], [f"predicted {predicted}, not {a}"])

    if match := re.fullmatch(r"If the (.+) were removed, which event would not happen\?", q):
        s = get_scene()
        removed = s.label_ids(match.group(1))
        split = _split_labelled_phrase(a)
        if split is None:
            return None
        label, key = split
        subject = s.label_ids(label)
        if key[0] not in ("turn", "turn_wall", "stop", "start") or not subject:
            return _graded(-1.0, [], [f"{a} is not caused by anything removable"])
        occurrences = [f for t in subject for f, h in s.happenings(t) if s.key_matches(key, h)]
        if not occurrences:
            return _graded(-0.3, [], [f"never: {a}"])
        caused = [f for f in occurrences if _interaction_with(s, subject, removed, f) is not None]
        if len(caused) == len(occurrences):
            return _graded(1.0, [f"{a}: every time caused by the {match.group(1)}"], [])
        return _graded(-1.0, [], [f"{a} also happens without the {match.group(1)}"])
    return None


def visible_until_seconds(question: str) -> float | None:
    """"Watching only the first 2.5 seconds, ..." -> 2.5: the graph must not look further."""
    match = re.match(r"\s*Watching only the first ([\d.]+) seconds", question)
    return float(match.group(1)) if match else None


def world_count(question: str, s: WorldScene) -> int | None:
    q = question.lower()
    if match := re.fullmatch(r"how many (\w+) objects are there\?", q):
        return _simultaneous(s, [t for t in s.tracks if s.tracks[t]["attributes"].get("colour") == match.group(1)])
    if match := re.fullmatch(r"how many (\w+?)s are there\?", q):
        return _simultaneous(s, [t for t in s.tracks if s.tracks[t]["attributes"].get("shape") == match.group(1)])
    if q == "how many collisions are there?":
        return len(_distinct_events(s.events, "collide"))
    if q == "how many objects enter the scene?":
        return len({track_name(s.tracks.get(e["track_ids"][0], {})) for e in s.events if e["type"] == "enter"})
    if match := re.fullmatch(r"how many times does (the .+) change direction\?", q):
        ids = set(s.referent_ids(match.group(1)))
        frames = sorted(f for t in ids for f, h in s.happenings(t) if h[0] in ("turn", "turn_wall"))
        return len([f for i, f in enumerate(frames) if i == 0 or f - frames[i - 1] > _NEAR_FRAMES])
    if match := re.fullmatch(r"how many different objects collide with (the .+)\?", q):
        ids = set(s.referent_ids(match.group(1)))
        partners = {track_name(s.tracks.get(h[1], {})) for t in ids for _, h in s.happenings(t) if h[0] == "collide"}
        return len(partners - {track_name(s.tracks[t]) for t in ids})
    return None


def _simultaneous(s: WorldScene, ids: list[int], min_observations: int = 3) -> int:
    """Most of these tracks visible in one frame: a fragmented track does not count twice."""
    per_frame: dict[int, int] = {}
    for t in ids:
        series = s.observations.get(t, [])
        if len(series) < min_observations:
            continue
        for frame, *_ in series:
            per_frame[frame] = per_frame.get(frame, 0) + 1
    return max(per_frame.values(), default=0)


def _distinct_events(events: list[dict], kind: str) -> list[dict]:
    kept: list[dict] = []
    for event in events:
        if event["type"] != kind:
            continue
        if any(set(k["track_ids"]) == set(event["track_ids"]) and abs(k["start_frame"] - event["start_frame"]) <= 3 for k in kept):
            continue
        kept.append(event)
    return kept


def _parse_cause(text: str) -> tuple[str, str | None] | None:
    if match := re.fullmatch(r"because it hits the (left|right|top|bottom) edge", text):
        return "wall", match.group(1)
    if match := re.fullmatch(r"because it collides with the (.+)", text):
        return "collide", match.group(1)
    if match := re.fullmatch(r"because the (.+) pushes it", text):
        return "pushed", match.group(1)
    if text == "it does so on its own":
        return "self", None
    return None


def _infer_cause(s: WorldScene, ids: list[int], kind: str, frame: int) -> tuple[str, object]:
    """Why a track turned/stopped/started at `frame`: an interaction then, a wall it touches, or itself."""
    for t in ids:
        interaction = s.interaction_near(t, frame)
        if interaction:
            return interaction
    if kind == "turn":
        for t in ids:
            for f, h in s.happenings(t):
                if abs(f - frame) <= _NEAR_FRAMES and h[0] == "turn_wall":
                    return "wall", h[1]
    return "self", None


def _interaction_with(s: WorldScene, subject: list[int], other: list[int], frame: int):
    for t in subject:
        interaction = s.interaction_near(t, frame)
        if interaction and interaction[1] in other:
            return interaction
    return None


def _split_labelled_phrase(text: str) -> tuple[str, tuple] | None:
    """"the red square changes direction" -> ("red square", ("turn", None))."""
    tokens = text.split()
    if len(tokens) < 3 or tokens[0] != "the":
        return None
    key = parse_world_phrase(" ".join(tokens[3:]))
    return (f"{tokens[1]} {tokens[2]}", key) if key else None


def predict_next(s: WorldScene, ids: list[int], until_frame: int, horizon_seconds: float = 4.0) -> tuple | None:
    """What the object does next, from what was seen before `until_frame` only: its last velocity
    extrapolated against the frame edges and the other objects' extrapolated paths.
    Returns a happening key: ("turn_wall", edge) / ("collide", track) / ("stop", None) / ("start", None)."""
    series = sorted(o for t in ids for o in s.observations.get(t, []) if o[0] < until_frame)
    if len(series) < 2:
        return None
    recent = series[-4:]
    frames = recent[-1][0] - recent[0][0] or 1
    vx, vy = (recent[-1][1] - recent[0][1]) / frames, (recent[-1][2] - recent[0][2]) / frames  # pixels per frame
    _, x, y, w, h = recent[-1]
    radius = max(w, h) / 2
    if abs(vx) + abs(vy) < 0.3:
        return ("start", None)
    last_frame = recent[-1][0]
    others = {}
    for t, obs in s.observations.items():
        if t in ids:
            continue
        seen = [o for o in obs if o[0] < until_frame]
        if len(seen) >= 2 and seen[-1][0] >= last_frame - 3:
            a, b = seen[max(0, len(seen) - 4)], seen[-1]
            span = (b[0] - a[0]) or 1
            others[t] = (b[1], b[2], (b[1] - a[1]) / span, (b[2] - a[2]) / span, max(b[3], b[4]) / 2, b[0])
    for step in range(1, int(horizon_seconds * s.fps)):
        px, py = x + vx * step, y + vy * step
        for t, (ox, oy, ovx, ovy, oradius, oframe) in others.items():
            dt = last_frame + step - oframe
            if ((px - ox - ovx * dt) ** 2 + (py - oy - ovy * dt) ** 2) ** 0.5 <= radius + oradius:
                return ("collide", t)
        if px - radius <= 0:
            return ("turn_wall", "left")
        if px + radius >= s.width:
            return ("turn_wall", "right")
        if py - radius <= 0:
            return ("turn_wall", "top")
        if py + radius >= s.height:
            return ("turn_wall", "bottom")
    return ("stop", None)


# ---- answering: the whole question, an option at a time --------------------------------
def option_scores(question: str, options: list[str], doc: dict | None) -> list[float | None]:
    """`world_claims`' score of every option (1 = what the STSG says, <0 = refuted), None for an
    option (or a question) outside the world's grammar."""
    scores = []
    for option in options:
        claims = world_claims(option, question, doc)
        scores.append(None if claims is None else float(claims["score"]))
    return scores


def solve(question: str, options: list[str], doc: dict | None) -> int | None:
    """The best-scoring option's index; None when the question is outside the grammar (no option
    scored) or no STSG was tracked. Ties go to the first option (deterministic)."""
    scores = option_scores(question, options, doc)
    scored = [(score, -index) for index, score in enumerate(scores) if score is not None]
    if not scored:
        return None
    return -max(scored)[1]


def track_video(video_path: str, *, num_frames: int = 64, max_frames_per_second: float = 12.0, max_side: int = 320,
                proposer=None, tracker=None) -> dict:
    """The tracked STSG document of a video, sampled the way the VoT graph's default settings
    sample it (up to `num_frames` uniform frames, at most `max_frames_per_second`), built by the
    same perception (videothought.perception.pipeline.track_frames)."""
    from videothought.perception.pipeline import track_frames
    from videothought.perception.video import VideoReader

    with VideoReader(video_path, max_side=max_side) as video:
        meta = video.metadata
        count = int(min(num_frames, max(2, meta.duration_seconds * max_frames_per_second)))
        indices = [int(i) for i in video.uniform_indices(count)]
        frames = video.get_frames(indices).frames  # (T, H, W, 3)
    height, width = frames.shape[1:3]
    stsg = track_frames(frames, indices, meta.fps, proposer=proposer, tracker=tracker,
                        video={"path": str(video_path), "fps": meta.fps, "num_frames": meta.num_frames,
                               "width": int(width), "height": int(height)})
    doc = stsg.to_dict()
    doc.setdefault("video", {}).setdefault("fps", meta.fps)
    doc["video"].setdefault("width", int(width))
    doc["video"].setdefault("height", int(height))
    return doc


WORLD_SOLVER_LABEL = "world-grammar solver (knows the benchmark; reference only)"


def world_rank_answers(state: dict, runtime=None) -> dict:
    """A drop-in `rank_answers` node for a *reference* graph condition: picks the option the
    world-grammar solver scores best on the graph's tracked STSG (state["stsg"]); no LLM call.

        build_vot_graph(nodes={"rank_answers": world_rank_answers})   # knows the benchmark

    Outside the grammar it answers -1 (unparsable: counted wrong), never a guess.
    """
    start = time.perf_counter()
    options = list(state.get("choices") or state.get("candidates") or [])
    scores = option_scores(state["question"], options, state.get("stsg"))
    index = solve(state["question"], options, state.get("stsg"))
    answer = options[index] if index is not None else ""
    rows = [{"index": i, "text": text, "loglik": None, "evidence": score, "rating": None, "rationale": "",
             "score": score if score is not None else float("-inf")} for i, (text, score) in enumerate(zip(options, scores))]
    record = {"node": "rank_answers", "inputs": {"candidates": options, "solver": WORLD_SOLVER_LABEL},
              "outputs": {"answer": answer, "answer_index": -1 if index is None else index, "scores": scores},
              "prompts": [], "latency_seconds": time.perf_counter() - start, "llm_calls": 0, "prompt_tokens": 0,
              "completion_tokens": 0, "attempt": int(state.get("attempt", 0) or 0),
              "errors": [] if index is not None else ["the question is outside the world's grammar"]}
    for row in rows:
        if row["score"] == float("-inf"):
            row["score"] = None  # JSON-safe state
    return {"candidate_scores": rows, "answer": answer, "answer_index": -1 if index is None else index,
            "trace": [record]}
