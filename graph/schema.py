"""The STSG document: the JSON contract between perception, the world's ground truth,
the agent's state and files on disk.

A spatial-temporal scene graph (STSG) is a networkx MultiDiGraph whose nodes are
*observations* (one object seen in one frame) and whose edges are either *spatial*
relations between two observations in the same frame, or *temporal* links from a
track's observation to its next one. Events (enter, collide, ...) with frame spans
sit beside the graph. On disk and in LangGraph state it is one JSON object:

    {
      "schema": "videothought.stsg",
      "version": 1,
      "video": {"path": "...", "fps": 25.0, "num_frames": 250, "width": 640, "height": 272},
      "graph": {... networkx.node_link_data(G, edges="links") ...},
      "tracks": {"3": {"label": "red circle", "attributes": {"colour": "red", ...}}, ...},
      "events": [{"type": "collide", "track_ids": [3, 5], "start_frame": 40, "end_frame": 42}, ...],
      "vocabulary": {"label": ["person", "face", "text", "object"], "text": null}      (optional)
    }

"vocabulary" records what the perception that built the graph *can* name, not what it saw:
the labels its proposer can output and, per attribute, the values its namers can give (a
list of strings, or null for free text such as OCR's read string). A reader grounding a
phrase learns from it whether "person" or "red" is something this graph could contain at
all. Optional within version 1: absent means unknown, and readers ignore keys they do not
know, so documents with and without it load in either code.

Track attributes ("tracks" -> "attributes") are what perception says about a whole track. The
synthetic world's tracks carry colour and shape. On footage whose perception can name people,
perception/people.py adds (each listed in "vocabulary" with the values it can take):

    colour, shade                dominant colour of the box: a basic colour term (black, white,
                                 grey, red, orange, yellow, green, blue, purple, pink, brown) and
                                 the finer survey name ("dark slate blue")
    upper_colour, lower_colour   the same for a person's upper body (shoulders to hips) and lower
    upper_shade, lower_shade     body (hips to ankles); also for upright unnamed tracks
    height_fraction              median box height / frame height (number)
    relative_size                small | medium | large against the clip's other tracks of its label
    walking_direction            left | right | towards | away | still: the main way it moves in
                                 image terms, from box position (left/right) and scale (towards
                                 = growing, away = shrinking); lateral_direction (left | right |
                                 none) and depth_direction (towards | away | none) separately
    crossed                      left_to_right | right_to_left | top_to_bottom | bottom_to_top when
                                 the track spans most of the picture that way (absent otherwise)
    carries, near                labels of tracks moving with a person / resting beside them;
    carried_ids, near_ids        their track ids
    upright                      true when the boxes are at least 1.8x as tall as wide
    identity, same_as            one person seen as several tracks (an ID switch, leaving and
                                 coming back): identity is the smallest track id of the person's
                                 tracks, same_as the others (person and upright tracks). Distinct
                                 people = distinct identities (perception.people.count_people).

Node id "o:{track_id}:{frame_index}". Node attributes (see `Observation`):
    kind="observation", track_id, frame_index, time_seconds, box [x1, y1, x2, y2] in
    pixels of the frame the video reports, label, score, attributes {colour, shape, ...},
    visible (False: the object is there but hidden, e.g. occluded), embedding_ref (a key
    into an embedding store, or None).
Edge attributes: kind="spatial" with relation in SPATIAL_RELATIONS, or kind="temporal"
with gap_frames (>= 1).

This module is the bottom of the package graph: it imports nothing of videothought, so
perception (proposers, tracker) and graph (STSG, metrics) both build on it without a cycle.
It holds the shared records (`Observation`, `Event`) and the box geometry both sides use
(`box_iou`, `box_area`, `box_coverage`), boxes always [x1, y1, x2, y2] in pixels.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA_NAME = "videothought.stsg"
SCHEMA_VERSION = 1

SPATIAL_RELATIONS = (
    "left_of",
    "right_of",
    "above",
    "below",
    "near",
    "overlapping",
    "contains",
    "touching",
)
EVENT_TYPES = (
    "enter",
    "exit",
    "appear",
    "disappear",
    "approach",
    "collide",
    "push",
    "start",
    "stop",
    "turn",
    "occluded",
)

# Each event type in English: the verbs and phrases people use for it, base forms, the
# canonical one first ("*" stands for any one word: "change * direction"). General English,
# the one source for anyone mapping language to events (the agent reading "bumps into" as
# collide, a caption writer, a metric reading free text). Track roles: the first track id is
# the subject; a second one is the other party.
EVENT_PHRASES: dict[str, tuple[str, ...]] = {
    "collide": ("collide", "hit", "bump", "crash", "strike", "smash", "knock", "run into", "bang into", "slam into",
                "make contact", "contact with", "touch", "impact", "collision", "collisions", "impacts", "contacts", "crashes",
                "ram", "clash", "smack", "bash", "graze", "brush against", "come into contact", "run up against", "clip", "meet"),
    "push": ("push", "shove", "nudge", "propel", "drive along", "carry along", "press", "force along",
             "sweep along", "knock along", "give * a shove", "give * a nudge"),
    "enter": ("enter", "arrive", "come in", "come into", "move into view", "come into view", "get into", "walk in",
              "roll in", "slide in", "move in", "come onto", "burst in", "make an entrance", "come on screen",
              "entrance", "entrances", "entry", "entries", "move into", "make * way in", "make * way into"),
    "exit": ("exit", "leave", "depart", "go out", "move out", "go off", "move off screen", "go away", "get out",
             "walk out", "escape", "drift out", "slide out", "roll out", "pass out of", "go off screen",
             "head off", "head out", "departure", "departures"),
    "disappear": ("disappear", "vanish", "fade", "fade away", "is gone", "are gone", "go missing",
                  "drop out of sight", "evaporate", "dematerialise", "dematerialize", "cease to exist"),
    "appear": ("appear", "show up", "emerge", "pop up", "materialise", "materialize"),
    "approach": ("approach", "move toward", "move towards", "head toward", "head towards", "come closer",
                 "get closer", "get near", "draw near", "reach", "get to"),
    "start": ("start moving", "begin moving", "begin to move", "set off", "get moving",
              "start rolling", "start sliding", "begin", "start", "set in motion", "move off",
              "kick off", "take off", "start off", "set out", "commence", "spring into motion", "start its motion",
              "begin its motion", "start up", "go from resting to moving", "go from rest to motion",
              "go from rest", "go from resting", "start from rest", "get into motion", "go into motion",
              "onset", "start of motion", "start of movement"),
    "stop": ("stop", "halt", "stand still", "freeze", "rest", "stay still",
             "cease moving", "stall", "cease", "settle", "become stationary", "become still", "stay put",
             "remain still", "remain stationary", "come to a halt", "come to a standstill", "come to a stop",
             "grind to a halt", "stand still", "become motionless", "stop in place"),
    "turn": ("turn", "change direction", "change * direction", "bounce", "rebound", "reverse", "deflect",
             "ricochet", "veer", "swerve", "turn around", "turn back", "change course",
             "change * course", "alter course", "alter * course", "alter * direction", "reverse course",
             "head back", "go back", "come back", "bounce back", "spring back", "recoil", "change heading", "change * heading",
             "reverse direction", "reverse * direction", "direction change", "course change", "change * path", "alter * path", "change path",
             "change * trajectory", "alter * trajectory", "shift direction", "shift * direction", "deviate",
             "redirect", "change * route", "alter * route", "change * heading", "take a new direction",
             "change directions", "change * directions", "reverse directions", "carom",
             "heading change"),
    "occluded": ("go behind", "pass behind", "move behind", "slip behind", "hide behind", "be hidden", "hidden",
                 "covered", "occluded", "be covered", "be blocked", "get covered", "disappear behind",
                 "vanish behind", "go under", "pass under", "obscured", "be obscured", "concealed", "be concealed",
                 "masked", "pass beneath", "slide behind", "duck behind", "go out of sight behind", "travel behind", "passage behind"),
}


def event_verbs(event_type: str) -> list[str]:
    """The English phrases of an event type (base forms), canonical first: event_verbs("collide")[1] == "hit"."""
    if event_type not in EVENT_PHRASES:
        raise KeyError(f"unknown event type {event_type!r}; known: {EVENT_TYPES}")
    return list(EVENT_PHRASES[event_type])


class STSGFormatError(ValueError):
    """A malformed STSG document. The message names the field and what is wrong with it."""


def check_vocabulary(vocabulary: Any) -> dict[str, list[str] | None]:
    """A validated copy of a "vocabulary" value: {name: [str, ...] or None (free text)}, with a
    "label" list. Raises STSGFormatError naming the bad entry."""
    if not isinstance(vocabulary, dict):
        raise STSGFormatError(f"'vocabulary' must be an object, got {type(vocabulary).__name__}")
    checked: dict[str, list[str] | None] = {}
    for key, values in vocabulary.items():
        if not isinstance(key, str) or not key:
            raise STSGFormatError(f"'vocabulary' keys must be non-empty strings, got {key!r}")
        if values is None:
            checked[key] = None
            continue
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
            raise STSGFormatError(f"vocabulary[{key!r}] must be a list of strings or null (free text), got {values!r}")
        checked[key] = list(dict.fromkeys(values))
    if not isinstance(checked.get("label"), list):
        raise STSGFormatError(f"'vocabulary' needs a 'label' list (the labels perception can output), got {vocabulary!r}")
    return checked


def _copy_json_like(value):
    """A deep copy of dicts/lists/tuples of scalars (what attributes hold); other objects via copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _copy_json_like(v) for k, v in value.items()} if value else {}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_json_like(v) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    import copy

    return copy.deepcopy(value)


def observation_id(track_id: int, frame_index: int) -> str:
    return f"o:{track_id}:{frame_index}"


@dataclass
class Observation:
    track_id: int
    frame_index: int
    time_seconds: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
    label: str = "object"
    score: float = 1.0
    attributes: dict[str, Any] = field(default_factory=dict)
    visible: bool = True
    embedding_ref: str | None = None

    def __post_init__(self):
        self.track_id = int(self.track_id)
        self.frame_index = int(self.frame_index)
        if self.frame_index < 0:
            raise STSGFormatError(f"observation frame_index must be >= 0, got {self.frame_index!r}")
        box = tuple(float(v) for v in self.box)
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise STSGFormatError(f"observation box must be 4 finite numbers, got {self.box!r}")
        if box[2] < box[0] or box[3] < box[1]:
            raise STSGFormatError(f"observation box must have x2 >= x1 and y2 >= y1, got {self.box!r}")
        self.box = box
        if not math.isfinite(float(self.score)):
            raise STSGFormatError(f"observation score must be finite, got {self.score!r}")
        self.score = float(self.score)

    @property
    def node_id(self) -> str:
        return observation_id(self.track_id, self.frame_index)

    def to_dict(self) -> dict:
        # Written out instead of dataclasses.asdict: the same dict, 10x faster (asdict deep-copies
        # field by field, which dominated building a 100,000-observation graph).
        return {
            "track_id": self.track_id,
            "frame_index": self.frame_index,
            "time_seconds": self.time_seconds,
            "box": list(self.box),
            "label": self.label,
            "score": self.score,
            "attributes": _copy_json_like(self.attributes),
            "visible": self.visible,
            "embedding_ref": self.embedding_ref,
            "kind": "observation",
        }

    @classmethod
    def from_dict(cls, record: dict) -> Observation:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


@dataclass
class Event:
    type: str
    track_ids: list[int]
    start_frame: int
    end_frame: int  # inclusive
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.type not in EVENT_TYPES:
            raise STSGFormatError(f"event type must be one of {EVENT_TYPES}, got {self.type!r}")
        self.track_ids = [int(t) for t in self.track_ids]
        self.start_frame, self.end_frame = int(self.start_frame), int(self.end_frame)
        if self.end_frame < self.start_frame:
            raise STSGFormatError(
                f"event {self.type!r} ends (frame {self.end_frame}) before it starts (frame {self.start_frame})"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> Event:
        try:
            return cls(
                type=record["type"],
                track_ids=list(record["track_ids"]),
                start_frame=record["start_frame"],
                end_frame=record["end_frame"],
                attributes=dict(record.get("attributes", {})),
            )
        except KeyError as missing:
            raise STSGFormatError(f"event is missing field {missing}: {record!r}") from None


# ---- box geometry (x1, y1, x2, y2 pixels) ----------------------------------------------


def box_area(boxes) -> np.ndarray:
    """Areas (N,) of boxes (N, 4); inverted boxes count as empty."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    wh = np.clip(bottom_right - top_left, 0, None)
    return wh[..., 0] * wh[..., 1]  # (N, M)


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """IoU matrix (N, M) of boxes (N, 4) and (M, 4); 0 where the union is empty."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    inter = _intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_coverage(boxes_a, boxes_b) -> np.ndarray:
    """(N, M): the share of each box in `boxes_a` that lies inside each box of `boxes_b`
    (1.0 = fully inside). Not symmetric: a small box inside a big one covers 1.0 of itself."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    return _intersection(a, b) / np.maximum(box_area(a), 1e-9)[:, None]
