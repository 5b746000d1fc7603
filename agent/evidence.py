"""Evidence in code: reading the STSG document, grounding phrases to tracks, verbalising the
partial STSG for a small LLM, and checking an answer's claims against the STSG.

The STSG document is JSON in the graph state; these functions read it directly (no networkx
round trip per candidate). Two layers of claim checking:

    world_evidence(...)   questions in the synthetic world's grammar (evals/world/questions.py):
                          what colour / how many / right after / which first / why / what next /
                          if X were removed; each option is scored by recomputing the answer from
                          the tracked STSG, graded so tracker noise degrades rather than flips it
    check_claims(...)     any other text: the objects it names exist, the events it names happened
                          with those objects, in the order a before/after question asks
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

logger = logging.getLogger(__name__)

COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white", "grey", "black", "brown")
SHAPES = ("circle", "square", "triangle", "star", "hexagon", "diamond")
_COLOUR_ALIASES = {"gray": "grey", "violet": "purple"}
_SHAPE_ALIASES = {"circles": "circle", "squares": "square", "triangles": "triangle", "stars": "star",
                  "hexagons": "hexagon", "diamonds": "diamond", "ball": "circle", "balls": "circle",
                  "disc": "circle", "disk": "circle", "box": "square", "boxes": "square"}

# Words that name an STSG event type (graph/schema.py EVENT_TYPES). Order matters: first match wins
# per word, and "disappear" must be tried before "appear".
EVENT_WORDS: dict[str, tuple[str, ...]] = {
    "collide": ("collide", "collides", "collided", "colliding", "collision", "hit", "hits", "bump", "bumps",
                "bumped", "crash", "crashes", "crashed"),
    "push": ("push", "pushes", "pushed", "pushing", "shove", "shoves", "shoved"),
    "enter": ("enter", "enters", "entered", "entering", "arrive", "arrives", "arrived"),
    "exit": ("exit", "exits", "exited", "exiting", "leave", "leaves", "leaving"),
    "disappear": ("disappear", "disappears", "disappeared", "vanish", "vanishes", "vanished"),
    "appear": ("appear", "appears", "appeared", "emerge", "emerges", "emerged"),
    "approach": ("approach", "approaches", "approached", "approaching"),
    "start": ("start", "starts", "started", "begins", "began"),
    "stop": ("stop", "stops", "stopped", "stopping", "halt", "halts", "halted", "rest"),
    "turn": ("turn", "turns", "turned", "turning", "bounce", "bounces", "bounced", "reverses", "reversed"),
    "occluded": ("occluded", "hidden", "hides", "hid", "behind", "covered"),
}
_WORD_TO_EVENT = {word: event for event, words in EVENT_WORDS.items() for word in words}
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


def object_phrases(text: str) -> list[str]:
    """World-vocabulary object mentions in `text`: "red circle", "circle", "red object", in order."""
    tokens = [_canonical(w) for w in words(text)]
    found: list[str] = []
    skip = False
    for i, token in enumerate(tokens):
        if skip:
            skip = False
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in COLOURS and nxt in SHAPES:
            found.append(f"{token} {nxt}")
            skip = True
        elif token in COLOURS and nxt in ("one", "object", "shape", "thing", "ones", "objects", "shapes"):
            found.append(token)
            skip = True
        elif token in SHAPES:
            found.append(token)
    return list(dict.fromkeys(found))


def event_types(text: str) -> list[str]:
    """STSG event types named in `text`, in order of mention."""
    lowered = text.lower()
    found = [_WORD_TO_EVENT[w] for w in words(lowered) if w in _WORD_TO_EVENT]
    if re.search(r"\bmov(es|ed|ing)? (towards?|closer)\b|\bcomes? closer\b", lowered):
        found.append("approach")
    if re.search(r"\bchang(es|ed|ing) direction\b", lowered):
        found.append("turn")
    if re.search(r"\b(left|leaves) the (scene|frame|screen|video)\b|\bgoes out\b", lowered):
        found.append("exit")
    return list(dict.fromkeys(found))


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


def ground_phrase(phrase: str, tracks: dict[int, dict], encoder=None) -> tuple[list[int], float]:
    """Track ids a phrase names (best-matching ones) and the match score."""
    scores = {tid: phrase_match(phrase, track) for tid, track in tracks.items()}
    best = max(scores.values(), default=0.0)
    if best <= 0.0 and encoder is not None and tracks:
        best, scores = _encoder_match(phrase, tracks, encoder)
    if best <= 0.0:
        return [], 0.0
    return sorted(tid for tid, s in scores.items() if s >= best - 1e-9), float(best)


def _encoder_match(phrase: str, tracks: dict[int, dict], encoder) -> tuple[float, dict[int, float]]:
    """Text-text similarity of the phrase to each track's label in the encoder's joint space."""
    try:
        import numpy as np

        ids = list(tracks)
        embeddings = np.asarray(encoder.encode_text([phrase] + [track_name(tracks[t]) for t in ids]), dtype=float)
        embeddings /= np.linalg.norm(embeddings, axis=-1, keepdims=True) + 1e-8  # (1 + N, D)
        similarity = embeddings[1:] @ embeddings[0]  # (N,)
    except Exception as error:  # the encoder is optional: a failure only loses the soft match
        logger.warning("encoder text matching failed: %s", error)
        return 0.0, {}
    scores = {tid: float(s) for tid, s in zip(ids, similarity) if s > 0.5}  # 0.5: unrelated labels sit below
    return max(scores.values(), default=0.0), scores


def verbalize(doc: dict | None, track_ids: Iterable[int] | None = None, max_tokens: int = 220) -> str:
    """The partial STSG as short sentences that name objects: the targets, then their events in
    time order, cut to about `max_tokens` tokens (1.3 per word).

    Not videothought.graph.stsg.STSG.verbalize: that one refers to objects by track number
    ("event collide: tracks 3 and 5"), which a 135M model cannot map back to "the red circle";
    candidate answers are scored as continuations, so the facts must use the answers' words.
    """
    if not doc:
        return "Nothing was detected."
    return compact_verbalize(doc, sorted(set(track_ids or [])), max_tokens)


def compact_verbalize(doc: dict, track_ids: list[int] | None = None, max_tokens: int = 220) -> str:
    tracks, fps = doc_tracks(doc), doc_fps(doc)
    focus = [t for t in (track_ids or []) if t in tracks] or sorted(tracks)
    lines = []
    for tid in focus:
        track = tracks[tid]
        if "first_frame" in track:
            lines.append(f"The {track_name(track)} is seen from {track['first_frame'] / fps:.1f}s to "
                         f"{track['last_frame'] / fps:.1f}s{motion_phrase(track)}.")
        else:
            lines.append(f"The {track_name(track)} is in the video.")
    focus_set = set(focus)
    for event in doc_events(doc):
        if track_ids and not focus_set & set(event["track_ids"]):
            continue
        lines.append(describe_event(event, tracks, fps))
    if not lines:
        return "Nothing was detected."
    out, used = [], 0
    for line in lines:
        cost = int(len(line.split()) * 1.3) + 1
        if used + cost > max_tokens:
            break
        out.append(line)
        used += cost
    return "\n".join(out)


def motion_phrase(track: dict) -> str:
    """", moving right" from the track's first and last box centres; ", staying still" if it barely moved."""
    if "first_centre" not in track:
        return ""
    direction = _track_direction(track)
    return f", moving {direction}" if direction else ", staying still"


_EVENT_PHRASES = {"enter": "enters", "exit": "leaves", "appear": "appears", "disappear": "disappears",
                  "approach": "approaches", "collide": "collides with", "push": "pushes", "start": "starts moving",
                  "stop": "stops", "turn": "turns", "occluded": "is hidden"}


def describe_event(event: dict, tracks: dict[int, dict], fps: float) -> str:
    names = [track_name(tracks.get(t, {})) for t in event["track_ids"]]
    verb = _EVENT_PHRASES.get(event["type"], event["type"])
    subject = f"the {names[0]}" if names else "something"
    other = f" the {names[1]}" if len(names) > 1 and verb.endswith(("with", "approaches", "pushes")) else ""
    if len(names) > 1 and not other:
        other = f" by the {names[1]}" if event["type"] == "occluded" else f" and the {names[1]}"
    return f"At {event['start_frame'] / fps:.1f}s {subject} {verb}{other}."


# ---- evidence: how well a candidate answer agrees with the STSG --------------------------
def _reference_event(question: str, tracks: dict[int, dict], events: list[dict]) -> dict | None:
    """The event a before/after question is anchored on: its type and objects named in the question."""
    kinds = event_types(question)
    if not kinds:
        return None
    mentioned = set()
    for phrase in object_phrases(question):
        mentioned |= set(ground_phrase(phrase, tracks)[0])
    for event in events:
        if event["type"] in kinds and (not mentioned or mentioned & set(event["track_ids"])):
            return event
    return None


def check_claims(answer: str, question: str, doc: dict | None, target_ids: Iterable[int] = ()) -> dict:
    """The answer's checkable claims against the STSG.

    Returns {"supported": [...], "contradicted": [...], "score": float in [-1.5, 1]}: claims are short strings.
    Claims: the objects it names exist; each event it names happened with those objects (or the
    question's targets); a count matches; before/after/first/last questions keep the order.
    """
    if not doc:  # no perception (the track node ablated or replaced): nothing to check against
        return {"supported": [], "contradicted": [], "score": 0.0}
    world = world_claims(answer, question, doc)
    if world is not None:
        return world
    tracks, events = doc_tracks(doc), doc_events(doc)
    supported, contradicted = [], []
    question_lower = question.lower()

    answer_ids: set[int] = set()
    for phrase in object_phrases(answer):
        ids, _ = ground_phrase(phrase, tracks)
        if ids:
            supported.append(f"exists: {phrase}")
            answer_ids |= set(ids)
        else:
            contradicted.append(f"missing: {phrase}")

    if re.search(r"\bhow many\b", question_lower):
        count = number_in(answer)
        expected = expected_count(question, tracks, events)
        if count is None:
            contradicted.append("not a count")
        elif expected is not None:
            (supported if expected == count else contradicted).append(f"count {count} (STSG: {expected})")

    question_ids: set[int] = set(target_ids)
    for phrase in object_phrases(question):
        question_ids |= set(ground_phrase(phrase, tracks)[0])
    anchor = _reference_event(question, tracks, events)
    for kind in event_types(answer):
        involved = answer_ids or question_ids
        matches = [e for e in events if e["type"] == kind and (not involved or involved & set(e["track_ids"]))]
        if anchor is not None and re.search(r"\bafter\b|\bthen\b|\bnext\b", question_lower):
            matches = [e for e in matches if e["start_frame"] >= anchor["start_frame"] and e is not anchor]
        elif anchor is not None and re.search(r"\bbefore\b", question_lower):
            matches = [e for e in matches if e["end_frame"] <= anchor["end_frame"] and e is not anchor]
        if matches:
            supported.append(f"event: {kind}")
        else:
            contradicted.append(f"no event: {kind}")
    direction = _direction_in(answer)
    if direction and re.search(r"\b(which way|what direction|which direction|where)\b", question_lower):
        moving = [t for t in (answer_ids or question_ids or set(tracks)) if _track_direction(tracks.get(t, {}))]
        if moving:
            share = sum(_track_direction(tracks[t]) == direction for t in moving) / len(moving)
            claim = f"moves {direction} ({share:.0%} of the moving tracks)"
            (supported if share >= 0.5 else contradicted).append(claim)
    if re.search(r"\bfirst\b|\blast\b", question_lower) and answer_ids:
        order = _ordered_tracks(question, tracks, events)
        if order:
            wanted = order[0] if re.search(r"\bfirst\b", question_lower) else order[-1]
            (supported if wanted in answer_ids else contradicted).append(f"order: {'first' if wanted in answer_ids else 'not first/last'}")
    # The mean over claims, a contradiction costing more than a match earns: an answer is not
    # better for stating more true but irrelevant facts.
    score = (len(supported) - 1.5 * len(contradicted)) / max(1, len(supported) + len(contradicted))
    return {"supported": supported, "contradicted": contradicted, "score": float(score)}


_DIRECTION_WORDS = {"right": "right", "rightwards": "right", "left": "left", "leftwards": "left", "up": "up",
                    "upwards": "up", "down": "down", "downwards": "down"}


def _direction_in(text: str) -> str | None:
    found = [_DIRECTION_WORDS[w] for w in words(text) if w in _DIRECTION_WORDS]
    return found[0] if len(set(found)) == 1 else None


def _track_direction(track: dict, still_pixels: float = 8.0) -> str | None:
    """The main direction a track moved between its first and last box (image y grows downwards)."""
    if "first_centre" not in track:
        return None
    dx = track["last_centre"][0] - track["first_centre"][0]
    dy = track["last_centre"][1] - track["first_centre"][1]
    if max(abs(dx), abs(dy)) < still_pixels:
        return None
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def expected_count(question: str, tracks: dict[int, dict], events: list[dict]) -> int | None:
    """"How many X..." from the STSG: events of a named type, else tracks matching the phrase."""
    kinds = event_types(question)
    phrases = object_phrases(question)
    if kinds:
        ids = set()
        for phrase in phrases:
            ids |= set(ground_phrase(phrase, tracks)[0])
        return sum(1 for e in events if e["type"] == kinds[0] and (not ids or ids & set(e["track_ids"])))
    if phrases:
        return len(ground_phrase(phrases[0], tracks)[0])
    if re.search(r"\bhow many (objects|shapes|things)\b", question.lower()):
        return len(tracks)
    return None


def _ordered_tracks(question: str, tracks: dict[int, dict], events: list[dict]) -> list[int]:
    kinds = event_types(question)
    if kinds:
        firsts: dict[int, int] = {}
        for event in events:
            if event["type"] == kinds[0]:
                for tid in event["track_ids"][:1]:
                    firsts.setdefault(tid, event["start_frame"])
        return sorted(firsts, key=firsts.get)
    return sorted((t for t in tracks if "first_frame" in tracks[t]), key=lambda t: tracks[t]["first_frame"])


# ---- the synthetic world's question grammar (evals/world/questions.py, phrases.py) --------
# Sizes of world objects: bounding-circle radius in pixels at a 240-pixel-high frame.
_SIZE_RADII = {"small": 10.0, "medium": 14.0, "large": 19.0}
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
        caused = [f for f in occurrences if (c := _interaction_with(s, subject, removed, f)) is not None]
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
