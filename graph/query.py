"""A small query layer over any STSG: the questions a reasoning step asks of a scene graph.

    scene = SceneQuery.from_document(doc)          # doc: the STSG node-link document (graph state)
    scene.tracks                                   # {track_id: TrackFacts(label, attributes, span, ...)}
    scene.events("collide", track=3)               # events of a kind, with a track, in time order
    scene.happenings(3)                            # one track's view of its events: (frame, kind, partner)
    scene.first_frame_of(3, "stop")                # when a track first did something
    scene.count_together([1, 2, 5])                # most of these tracks seen in one frame
    scene.interactions_near(3, frame=40)           # contacts with other tracks around a frame
    scene.border_contact(3, frame=40)              # which frame edge the track touches then
    scene.until(frame=30)                          # the scene as seen before frame 30 (nothing later)
    scene.extrapolate(3)                           # where the track's last motion leads it next
    scene.relations_at(40)                         # spatial facts in one frame

Nothing here knows a dataset: it reads tracks, boxes and events through the STSG API
(videothought.graph.stsg.STSG) and answers with track ids, frame numbers and event types of
the STSG schema. Which of these to ask is the reasoning node's decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from videothought.graph.ground import DESCRIBING, GENERIC_LABEL
from videothought.graph.schema import Event
from videothought.graph.stsg import STSG

# Events within this many seconds of a moment count as "at" that moment (causes, anchors).
NEAR_SECONDS = 0.3
# Two reports of one event by a noisy tracker sit within this many seconds of each other.
SAME_EVENT_SECONDS = 0.15
# Contact kinds: events in which another track acts on this one (or this one on it).
CONTACT_KINDS = ("collide", "push", "occluded", "approach")


@dataclass(frozen=True)
class TrackFacts:
    """One track in a few fields: what it is called and when it is seen."""

    track_id: int
    label: str
    attributes: dict = field(default_factory=dict)
    first_frame: int = 0
    last_frame: int = 0
    num_observations: int = 0

    @property
    def name(self) -> str:
        """A readable name from the label and the attributes that describe a thing (graph/ground.py
        DESCRIBING): "red circle", "person in blue and black" (upper and lower body), "object 3".
        Facts about the track's motion or size (walking_direction, crossed, relative_size) and the
        finer shade names are not part of its name: they are said where they matter."""
        words = set(self.label.lower().split())
        said = lambda key: value.strip() if isinstance(value := self.attributes.get(key), str) else ""
        clothes = list(dict.fromkeys(v for v in (said("upper_colour"), said("lower_colour")) if v))
        before = [v for key in DESCRIBING if key not in ("upper_colour", "lower_colour", "size")
                  and (v := said(key)) and v.lower() not in words and not (clothes and key == "colour")]
        label = self.label if self.label and self.label != GENERIC_LABEL else ("" if before or clothes else
                                                                               f"object {self.track_id}")
        name = " ".join(before + ([label] if label else [])).strip() or "object"
        return f"{name} in {' and '.join(clothes)}" if clothes else name

    def words(self) -> set[str]:
        """Every word of the label and the attribute values, lowercased."""
        text = " ".join([self.label] + [str(v) for v in self.attributes.values() if isinstance(v, (str, int))])
        return set(text.lower().split())


@dataclass(frozen=True)
class Happening:
    """One track's view of an event: at `frame`, `kind` happened, with `partner` (another
    track) in `role` ("actor": this track did it to the partner, "target": it was done to it)."""

    frame: int
    kind: str
    partner: int | None = None
    role: str = "actor"
    event: Event | None = field(default=None, compare=False, repr=False)


class SceneQuery:
    """Read-only questions over one STSG (optionally cut at a frame: nothing later exists)."""

    def __init__(self, stsg: STSG, *, until_frame: int | None = None):
        self.stsg = stsg
        self.until_frame = until_frame
        video = stsg.video or {}
        self.fps = float(video.get("fps") or 25.0)
        self.width = float(video.get("width") or 0.0)
        self.height = float(video.get("height") or 0.0)
        self._series: dict[int, np.ndarray] = {}
        for track_id in stsg.track_ids:
            rows = [(o.frame_index, *o.box) for o in stsg.observations(track_id)
                    if until_frame is None or o.frame_index < until_frame]
            if rows:
                self._series[track_id] = np.asarray(sorted(rows), dtype=np.float64)  # (N, 5): frame, x1, y1, x2, y2
        if not self.width and self._series:
            self.width = float(max(s[:, 3].max() for s in self._series.values()))
            self.height = float(max(s[:, 4].max() for s in self._series.values()))
        self.tracks: dict[int, TrackFacts] = {}
        for track_id, series in self._series.items():
            info = stsg.track_info.get(track_id, {})
            self.tracks[track_id] = TrackFacts(
                track_id=track_id, label=str(info.get("label") or "object"),
                attributes=dict(info.get("attributes") or {}), first_frame=int(series[0, 0]),
                last_frame=int(series[-1, 0]), num_observations=len(series))
        self._events = sorted(
            (e for e in stsg.events if until_frame is None or e.end_frame < until_frame - 1),
            key=lambda e: (e.start_frame, e.end_frame, e.type))

    @classmethod
    def from_document(cls, doc: dict | None, *, until_frame: int | None = None) -> SceneQuery:
        """From the JSON document kept in graph state (an empty scene for None)."""
        stsg = STSG.from_dict(doc) if doc else STSG(nx.MultiDiGraph())
        return cls(stsg, until_frame=until_frame)

    # ---- time ----------------------------------------------------------------------------
    def seconds(self, frame: int | float) -> float:
        return float(frame) / self.fps

    def frame_at(self, seconds: float) -> int:
        return int(round(seconds * self.fps))

    @property
    def near_frames(self) -> int:
        return max(1, int(round(NEAR_SECONDS * self.fps)))

    @property
    def duplicate_frames(self) -> int:
        return max(1, int(round(SAME_EVENT_SECONDS * self.fps)))

    def until(self, frame: int) -> SceneQuery:
        """What had happened by `frame` (exclusive): later observations and events are gone."""
        return SceneQuery(self.stsg, until_frame=frame if self.until_frame is None else min(frame, self.until_frame))

    # ---- events --------------------------------------------------------------------------
    def events(self, kind: str | None = None, *, track: int | None = None, partner: int | None = None,
               start_frame: int | None = None, end_frame: int | None = None) -> list[Event]:
        """Events in time order, filtered by kind, a participating track, a second participant
        and a window of start frames (inclusive)."""
        found = []
        for event in self._events:
            if kind is not None and event.type != kind:
                continue
            if track is not None and track not in event.track_ids:
                continue
            if partner is not None and partner not in event.track_ids:
                continue
            if start_frame is not None and event.start_frame < start_frame:
                continue
            if end_frame is not None and event.start_frame > end_frame:
                continue
            found.append(event)
        return found

    def distinct_events(self, kind: str, *, track: int | None = None) -> list[Event]:
        """Events of a kind with repeats merged: the same tracks within SAME_EVENT_SECONDS count once."""
        kept: list[Event] = []
        for event in self.events(kind, track=track):
            if any(set(k.track_ids) == set(event.track_ids) and event.start_frame - k.start_frame <= self.duplicate_frames
                   for k in kept):
                continue
            kept.append(event)
        return kept

    def happenings(self, track_id: int) -> list[Happening]:
        """Everything that happens to one track, in frame order, with who else took part."""
        found = []
        for event in self.events(track=track_id):
            others = [t for t in event.track_ids if t != track_id]
            partner = others[0] if others else None
            role = "actor" if event.track_ids[0] == track_id else "target"
            found.append(Happening(event.start_frame, event.type, partner, role, event))
        return found

    def first_frame_of(self, track_id: int, kind: str, *, partner: int | None = None) -> int | None:
        frames = [h.frame for h in self.happenings(track_id) if h.kind == kind and (partner is None or h.partner == partner)]
        return min(frames) if frames else None

    def interactions_near(self, track_id: int, frame: int, window_frames: int | None = None) -> list[Happening]:
        """Contacts (collide, push, occluded, approach) of a track within `window_frames` of `frame`,
        nearest first."""
        window = self.near_frames if window_frames is None else window_frames
        near = [h for h in self.happenings(track_id)
                if h.kind in CONTACT_KINDS and h.partner is not None
                and h.event.start_frame - window <= frame <= h.event.end_frame + window]
        return sorted(near, key=lambda h: (abs(h.frame - frame), CONTACT_KINDS.index(h.kind)))

    # ---- tracks --------------------------------------------------------------------------
    def boxes(self, track_id: int) -> np.ndarray:
        """(N, 5) rows of frame, x1, y1, x2, y2 in frame order (empty when unseen)."""
        return self._series.get(track_id, np.zeros((0, 5)))

    def box_at(self, track_id: int, frame: int) -> np.ndarray | None:
        """The track's box at the observation nearest `frame`, (4,)."""
        series = self.boxes(track_id)
        if not len(series):
            return None
        return series[int(np.argmin(np.abs(series[:, 0] - frame))), 1:]

    def count_together(self, track_ids, *, min_observations: int = 3) -> int:
        """Most of these tracks seen in one frame: a track broken in two by the tracker does not
        count twice; tracks seen fewer than `min_observations` times are noise."""
        per_frame: dict[int, int] = {}
        for track_id in track_ids:
            series = self.boxes(track_id)
            if len(series) < min_observations:
                continue
            for frame in series[:, 0].astype(int):
                per_frame[frame] = per_frame.get(frame, 0) + 1
        return max(per_frame.values(), default=0)

    def border_contacts(self, track_id: int, frame: int, *, margin_fraction: float = 0.04,
                        window_frames: int | None = None) -> list[str]:
        """The frame edges ("left", "right", "top", "bottom") the track's box touches within
        `window_frames` of `frame`, nearest first. An edge is touched within `margin_fraction`
        of the frame's size."""
        if not (self.width and self.height):
            return []
        window = self.near_frames if window_frames is None else window_frames
        series = self.boxes(track_id)
        rows = series[np.abs(series[:, 0] - frame) <= window]
        if not len(rows):
            return []
        margin_x, margin_y = margin_fraction * self.width, margin_fraction * self.height
        gaps = {"left": rows[:, 1].min() / margin_x, "top": rows[:, 2].min() / margin_y,
                "right": (self.width - rows[:, 3].max()) / margin_x, "bottom": (self.height - rows[:, 4].max()) / margin_y}
        return [side for side, gap in sorted(gaps.items(), key=lambda item: item[1]) if gap <= 1.0]

    def border_contact(self, track_id: int, frame: int, **kwargs) -> str | None:
        """The edge the track touches around `frame` (None if none). In a corner, the edge whose
        axis the motion reversed on: a bounce off a vertical edge flips the horizontal velocity."""
        sides = self.border_contacts(track_id, frame, **kwargs)
        if len(sides) > 1:
            flipped = self.reversed_axes(track_id, frame)
            preferred = [s for s in sides if (s in ("left", "right") and "x" in flipped)
                         or (s in ("top", "bottom") and "y" in flipped)]
            sides = preferred or sides
        return sides[0] if sides else None

    def reversed_axes(self, track_id: int, frame: int, *, span_frames: int | None = None) -> set[str]:
        """Axes ("x", "y") on which the track's velocity changes sign around `frame`."""
        span = span_frames or max(2, 2 * self.near_frames)
        series = self.boxes(track_id)
        before = series[(series[:, 0] < frame) & (series[:, 0] >= frame - span)]
        after = series[(series[:, 0] > frame) & (series[:, 0] <= frame + span)]
        if len(before) < 2 or len(after) < 2:
            return set()
        centre = lambda rows: (rows[:, 1:3] + rows[:, 3:5]) / 2  # (K, 2)
        v_before = (centre(before)[-1] - centre(before)[0]) / max(1.0, before[-1, 0] - before[0, 0])
        v_after = (centre(after)[-1] - centre(after)[0]) / max(1.0, after[-1, 0] - after[0, 0])
        return {axis for axis, a, b in zip("xy", v_before, v_after) if a * b < 0 and max(abs(a), abs(b)) > 0.2}

    def likeliest_change(self, track_id: int, kind: str, *, span_frames: int | None = None,
                         around: int | None = None, within_frames: int | None = None) -> int | None:
        """The frame where the track's motion looks most like a `kind` ("stop", "start", "turn"),
        for a question that takes one for granted when the event detector found none: the
        largest drop in speed, rise in speed, or swing in heading between the `span_frames`
        before and after a frame; only frames within `within_frames` of `around` when that is
        given (a change said to happen at a time). None when the track is too short or nothing
        changes."""
        if kind not in ("stop", "start", "turn"):
            raise ValueError(f"likeliest_change: kind must be stop, start or turn, got {kind!r}")
        series = self.boxes(track_id)
        span = span_frames or max(3, 2 * self.near_frames)
        frames, centres = series[:, 0], (series[:, 1:3] + series[:, 3:5]) / 2  # (N,), (N, 2)
        best, best_frame = 0.0, None
        window = self.near_frames if within_frames is None else within_frames
        for i in range(1, len(series) - 1):
            if around is not None and abs(frames[i] - around) > window:
                continue
            before = (frames <= frames[i]) & (frames >= frames[i] - span)
            after = (frames >= frames[i]) & (frames <= frames[i] + span)
            if before.sum() < 3 or after.sum() < 3:
                continue
            v_in = (centres[before][-1] - centres[before][0]) / (frames[before][-1] - frames[before][0])  # px/frame
            v_out = (centres[after][-1] - centres[after][0]) / (frames[after][-1] - frames[after][0])
            s_in, s_out = float(np.hypot(*v_in)), float(np.hypot(*v_out))
            if kind == "stop":
                score = s_in - s_out
            elif kind == "start":
                score = s_out - s_in
            else:  # a swing in heading, weighed by the slower leg's speed (jitter has no heading)
                score = (1.0 - float(v_in @ v_out) / max(s_in * s_out, 1e-9)) * min(s_in, s_out)
            if score > best:
                best, best_frame = score, int(frames[i])
        return best_frame

    def velocity(self, track_id: int, *, last_observations: int = 4) -> tuple[float, float] | None:
        """Pixels per frame of the box centre over the last few observations (None if seen once)."""
        series = self.boxes(track_id)[-last_observations:]
        if len(series) < 2 or series[-1, 0] == series[0, 0]:
            return None
        centres = (series[:, 1:3] + series[:, 3:5]) / 2  # (K, 2)
        span = series[-1, 0] - series[0, 0]
        return float((centres[-1, 0] - centres[0, 0]) / span), float((centres[-1, 1] - centres[0, 1]) / span)

    def extrapolate(self, track_id: int, *, horizon_seconds: float = 4.0, still_pixels_per_frame: float = 0.3) -> dict:
        """Where the track's last seen motion leads it, by constant-velocity extrapolation of it
        and of every other track seen at the end:

            {"kind": "still"}                                   it was not moving
            {"kind": "contact", "track": id, "frame": f,        it meets another track first
             "resting": bool}                                   (one that was not moving: a push)
            {"kind": "border", "side": "left", "frame": f}      it reaches a frame edge first
            {"kind": "none"}                                    nothing within the horizon / unknown
        """
        series = self.boxes(track_id)
        velocity = self.velocity(track_id)
        if velocity is None:
            return {"kind": "none"}
        vx, vy = velocity
        if math.hypot(vx, vy) < still_pixels_per_frame:
            return {"kind": "still"}
        last_frame, x1, y1, x2, y2 = series[-1]
        cx, cy, radius = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) / 2
        others = {}
        for other, other_series in self._series.items():
            if other == track_id or other_series[-1, 0] < last_frame - 3:
                continue
            other_velocity = self.velocity(other) or (0.0, 0.0)
            f, a1, b1, a2, b2 = other_series[-1]
            others[other] = ((a1 + a2) / 2, (b1 + b2) / 2, *other_velocity, max(a2 - a1, b2 - b1) / 2, f)
        for step in range(1, int(horizon_seconds * self.fps) + 1):
            px, py = cx + vx * step, cy + vy * step
            for other, (ox, oy, ovx, ovy, oradius, oframe) in others.items():
                dt = last_frame + step - oframe
                if math.hypot(px - ox - ovx * dt, py - oy - ovy * dt) <= radius + oradius:
                    return {"kind": "contact", "track": int(other), "frame": int(last_frame + step),
                            "resting": math.hypot(ovx, ovy) < still_pixels_per_frame}
            if self.width and self.height:
                for side, crossed in (("left", px - radius <= 0), ("right", px + radius >= self.width),
                                      ("top", py - radius <= 0), ("bottom", py + radius >= self.height)):
                    if crossed:
                        return {"kind": "border", "side": side, "frame": int(last_frame + step)}
        return {"kind": "none"}

    def relations_at(self, frame: int) -> list[dict]:
        """Spatial facts in one frame: [{subject, relation, object}] as track ids."""
        return self.stsg.relations_at(frame, inverse=True)
