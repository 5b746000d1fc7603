"""A ByteTrack-style multi-object tracker: Kalman constant-velocity motion, IoU (+ optional
appearance) association in two rounds (confident detections first, then weak ones), and lost
tracks kept through occlusion so an object keeps its id when it comes back.

One step per frame given (the frames a pipeline sampled; motion is per step):

    predict every track's box ──► round 1: confident detections  vs all tracks  (Hungarian)
                                  round 2: weak detections       vs tracks left (IoU only)
                                  round 3: tentative tracks      vs confident detections left
      unmatched confident detections start tentative tracks; a tentative track is confirmed
      after `min_hits` matches in a row, dropped at its first miss; a confirmed track missed
      becomes "lost", is predicted on, and ends after `max_lost_seconds` without a match.

When a lost track is found again, the frames it was missing are filled with boxes
interpolated between where it was last seen and where it reappears, marked visible=False:
the STSG then knows the object was there but hidden (an "occluded" span).

`ByteTracker.update()` is online (one frame's detections in, current tracks out);
`ByteTracker.run()` tracks a whole clip and returns `Observation`s of confirmed tracks.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.optimize import linear_sum_assignment

from videothought.graph.optional import require
from videothought.graph.schema import Observation, box_iou
from videothought.perception.proposals import Detection, sanitize_detections


@runtime_checkable
class Tracker(Protocol):
    def run(self, detections: list[list[Detection]], frame_indices, times_seconds, *,
            frame_size: tuple[int, int] | None = None) -> list[Observation]:
        """Per-frame detections of a clip -> observations with track ids."""
        ...


@dataclass(frozen=True)
class TrackerConfig:
    high_score: float = 0.5  # detections at or above this are "confident" (round 1, may start tracks)
    low_score: float = 0.1  # below this a detection is ignored; between the two: round 2 only
    match_similarity: float = 0.2  # minimum combined similarity for a round-1 match
    low_match_iou: float = 0.4  # round 2 (weak detections) matches on IoU alone, stricter
    appearance_weight: float = 0.3  # share of appearance (cosine) in the similarity; 0 = IoU only
    min_appearance_similarity: float = 0.5  # below this cosine a pair never matches (e.g. another colour)
    min_hits: int = 2  # matches in a row that confirm a new track (one-frame blips never become tracks)
    min_track_frames: int = 3  # tracks matched in fewer frames are dropped from run()'s output as noise
    max_lost_seconds: float = 2.5  # how long a lost track waits for its object (occlusions last ~1-2 s)
    lost_gate: float = 2.0  # a track may match a detection whose centre is within this many
    #                         object sizes of its prediction, growing with the time lost
    position_noise: float = 1 / 20  # Kalman noise, fractions of the box height (ByteTrack's values)
    velocity_noise: float = 1 / 160
    initial_velocity_std: float = 0.5  # of the box height per step, for a new track
    # Labels that name different kinds of thing: a track of one never takes a detection of
    # another (a face inside a person box is not that person). Other labels (colour names,
    # "object", detector queries) may alternate along one track.
    exclusive_labels: tuple[str, ...] = ("person", "face", "text")
    # A track's label: the most frequent label other than "object" when it names at least
    # this share of the track's detections ("object" = not recognised in that frame; HOG
    # recognises a walking person in only some frames), else the most frequent label.
    min_label_share: float = 0.25

    def __post_init__(self):
        if not 0 <= self.low_score <= self.high_score <= 1:
            raise ValueError(f"need 0 <= low_score <= high_score <= 1, got {self.low_score!r}, {self.high_score!r}")
        if not 0 <= self.appearance_weight <= 1:
            raise ValueError(f"appearance_weight must be in [0, 1], got {self.appearance_weight!r}")
        if not 0 < self.min_label_share <= 1:
            raise ValueError(f"min_label_share must be in (0, 1], got {self.min_label_share!r}")
        if self.min_hits < 1 or self.max_lost_seconds < 0:
            raise ValueError(f"need min_hits >= 1 and max_lost_seconds >= 0, got {self.min_hits!r}, "
                             f"{self.max_lost_seconds!r}")


# Constant-velocity model over [cx, cy, w, h, vcx, vcy, vw, vh], one step per frame.
_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


def _xyxy_to_cxcywh(box) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dtype=np.float64)


def _cxcywh_to_xyxy(state: np.ndarray) -> np.ndarray:
    cx, cy, w, h = state[:4]
    w, h = max(w, 1e-3), max(h, 1e-3)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass
class _Track:
    track_id: int  # 0 while tentative
    mean: np.ndarray  # (8,)
    covariance: np.ndarray  # (8, 8)
    appearance: np.ndarray | None
    hits: int = 1
    misses: int = 0
    # (step, frame_index, time_seconds, box, detection) of every match, in order
    history: list = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)  # exclusive labels (TrackerConfig) matched so far

    def record(self, step: int, frame_index: int, time_seconds: float, detection: Detection) -> None:
        self.history.append((step, int(frame_index), float(time_seconds), np.asarray(detection.box, float), detection))
        self.kinds[detection.label] += 1

    @property
    def box(self) -> np.ndarray:
        return _cxcywh_to_xyxy(self.mean)

    @property
    def size(self) -> float:
        return math.sqrt(max(self.mean[2], 1.0) * max(self.mean[3], 1.0))


class ByteTracker:
    """See the module docstring. One instance tracks one clip; call reset() to reuse it."""

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.active: list[_Track] = []  # confirmed and tentative tracks, matched recently or lost
        self.finished: list[_Track] = []
        self.step = 0
        self._next_id = 1
        self._max_lost_steps = None

    # ---- Kalman ------------------------------------------------------------------------
    def _initiate(self, detection: Detection) -> _Track:
        measurement = _xyxy_to_cxcywh(detection.box)
        mean = np.concatenate([measurement, np.zeros(4)])
        h = max(measurement[3], 1.0)
        # Velocity is unknown at birth: up to one object size per step (fast objects at low fps).
        p, v = 2 * self.config.position_noise * h, self.config.initial_velocity_std * h
        covariance = np.diag(np.square([p, p, p, p, v, v, v, v]))
        return _Track(track_id=0, mean=mean, covariance=covariance, appearance=detection.appearance)

    def _predict_all(self) -> None:
        if not self.active:
            return
        means = np.stack([t.mean for t in self.active])  # (N, 8)
        covariances = np.stack([t.covariance for t in self.active])  # (N, 8, 8)
        heights = np.maximum(means[:, 3], 1.0)
        p = self.config.position_noise * heights
        v = self.config.velocity_noise * heights
        q = np.zeros((len(heights), 8, 8))
        idx = np.arange(4)
        q[:, idx, idx] = (p * p)[:, None]
        q[:, idx + 4, idx + 4] = (v * v)[:, None]
        means = means @ _F.T  # (N, 8)
        covariances = _F @ covariances @ _F.T + q  # (N, 8, 8)
        for track, mean, cov in zip(self.active, means, covariances):
            # A box cannot shrink below a pixel: stop the size velocity instead.
            if mean[2] < 1.0 or mean[3] < 1.0:
                mean[6:8] = 0.0
                mean[2:4] = np.maximum(mean[2:4], 1.0)
            track.mean, track.covariance = mean, cov

    def _correct_all(self, pairs: list[tuple[_Track, Detection]]) -> None:
        """Kalman update of every matched track at once (measurement = the detection's box)."""
        if not pairs:
            return
        means = np.stack([t.mean for t, _ in pairs])  # (K, 8)
        covariances = np.stack([t.covariance for t, _ in pairs])  # (K, 8, 8)
        boxes = np.array([d.box for _, d in pairs], dtype=np.float64)  # (K, 4) x1 y1 x2 y2
        measurements = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                                 boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)  # (K, 4)
        noise = (self.config.position_noise * np.maximum(means[:, 3], 1.0)) ** 2  # (K,)
        s = covariances[:, :4, :4] + noise[:, None, None] * np.eye(4)  # (K, 4, 4) = H P H^T + R
        gain = np.linalg.solve(s, covariances[:, :4, :]).transpose(0, 2, 1)  # (K, 8, 4) = P H^T S^-1
        innovation = measurements - means[:, :4]  # (K, 4)
        means = means + np.einsum("kij,kj->ki", gain, innovation)  # (K, 8)
        covariances = covariances - gain @ s @ gain.transpose(0, 2, 1)  # (K, 8, 8)
        for (track, detection), mean, covariance in zip(pairs, means, covariances):
            track.mean, track.covariance = mean, covariance
            self._update_appearance(track, detection)

    def _update_appearance(self, track: _Track, detection: Detection) -> None:
        if detection.appearance is not None:
            if track.appearance is None:
                track.appearance = detection.appearance
            else:  # slow exponential average: one odd frame does not rewrite what the object looks like
                blended = 0.9 * track.appearance + 0.1 * detection.appearance
                track.appearance = blended / max(1e-9, float(np.linalg.norm(blended)))

    # ---- association -------------------------------------------------------------------
    def _similarity(self, tracks: list[_Track], detections: list[Detection], use_appearance: bool) -> np.ndarray:
        """(N, M) similarity in [0, 1]; 0 where a pair is not allowed to match."""
        if not tracks or not detections:
            return np.zeros((len(tracks), len(detections)))
        track_boxes = np.stack([t.box for t in tracks])  # (N, 4)
        det_boxes = np.array([d.box for d in detections], dtype=np.float64)  # (M, 4)
        iou = box_iou(track_boxes, det_boxes)  # (N, M)
        # Lost (or fast) tracks: allow a match by centre distance inside a gate that grows with
        # the time since the last match, worth at most half of a perfect overlap.
        track_centres = (track_boxes[:, :2] + track_boxes[:, 2:]) / 2
        det_centres = (det_boxes[:, :2] + det_boxes[:, 2:]) / 2
        distance = np.linalg.norm(track_centres[:, None] - det_centres[None], axis=-1)  # (N, M)
        # After a bounce or collision the prediction runs the wrong way while the object is
        # still near where it was last seen: measure from there too and keep the nearer.
        last_boxes = np.stack([t.history[-1][3] if t.history else t.box for t in tracks])  # (N, 4)
        last_centres = (last_boxes[:, :2] + last_boxes[:, 2:]) / 2
        distance = np.minimum(distance, np.linalg.norm(last_centres[:, None] - det_centres[None], axis=-1))
        sizes = np.array([t.size for t in tracks])
        misses = np.array([t.misses for t in tracks])
        steps = np.array([np.hypot(t.mean[4], t.mean[5]) for t in tracks])  # (N,) px per step
        # The gate: a few object sizes, or three steps at the track's speed (an object struck
        # in a collision can leave at several times its speed), widening while it stays lost.
        gate = np.maximum(self.config.lost_gate * sizes, 3.0 * steps) * (1.0 + 0.5 * np.minimum(misses, 3))  # (N,)
        # Worth at most half a perfect overlap, less the longer a track has been lost, so a
        # track seen a moment ago wins a detection over one lost long ago.
        near = np.clip(1.0 - distance / gate[:, None], 0.0, 1.0) * (0.5 / (1.0 + 0.25 * misses))[:, None]
        motion = np.maximum(iou, near)
        exclusive = self.config.exclusive_labels
        det_kinds = [d.label if d.label in exclusive else None for d in detections]
        if any(det_kinds):  # (the synthetic world never gets here)
            track_kinds = [_kind(t, exclusive) for t in tracks]
            clash = np.array([[a is not None and b is not None and a != b for b in det_kinds]
                              for a in track_kinds])  # (N, M) a person track vs a face detection
            motion = np.where(clash, 0.0, motion)
        if not use_appearance or self.config.appearance_weight == 0:
            return motion
        weight = self.config.appearance_weight
        track_vectors = [t.appearance for t in tracks]
        det_vectors = [d.appearance for d in detections]
        known = [v for v in track_vectors + det_vectors if v is not None]
        if not known or any(v.shape != known[0].shape for v in known):
            return motion  # no appearance, or vectors of different kinds: motion alone
        dim = known[0].shape[0]
        a = np.stack([v if v is not None else np.zeros(dim) for v in track_vectors])  # (N, D)
        b = np.stack([v if v is not None else np.zeros(dim) for v in det_vectors])  # (M, D)
        cosine = a @ b.T  # (N, M) unit vectors
        have = np.array([v is not None for v in track_vectors])[:, None] & np.array(
            [v is not None for v in det_vectors])[None, :]  # (N, M) both sides have appearance
        similarity = np.where(have, (1 - weight) * motion + weight * cosine, motion)
        # Looks like something else (e.g. another colour): never the same object.
        similarity[have & (cosine < self.config.min_appearance_similarity)] = 0.0
        return np.where(motion > 0, similarity, 0.0)

    @staticmethod
    def _assign(similarity: np.ndarray, threshold: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        if similarity.size == 0:
            return [], list(range(similarity.shape[0])), list(range(similarity.shape[1]))
        rows, cols = linear_sum_assignment(-similarity)
        matches = [(r, c) for r, c in zip(rows.tolist(), cols.tolist()) if similarity[r, c] >= threshold]
        matched_rows = {r for r, _ in matches}
        matched_cols = {c for _, c in matches}
        return (matches, [r for r in range(similarity.shape[0]) if r not in matched_rows],
                [c for c in range(similarity.shape[1]) if c not in matched_cols])

    # ---- one frame ---------------------------------------------------------------------
    def update(self, detections: list[Detection], frame_index: int, time_seconds: float,
               frame_size: tuple[int, int] | None = None) -> list[tuple[int, np.ndarray, Detection]]:
        """Feed one frame's detections; returns (track_id, box, detection) of the confirmed tracks
        matched in this frame."""
        config = self.config
        if frame_size is not None:
            detections = sanitize_detections(list(detections), *frame_size)
        else:
            detections = [d for d in detections if np.all(np.isfinite(d.box)) and math.isfinite(d.score)]
        if self._max_lost_steps is None:
            self._max_lost_steps = 30  # until run() sets it from the clip's frame rate
        self._predict_all()
        confident = [d for d in detections if d.score >= config.high_score]
        weak = [d for d in detections if config.low_score <= d.score < config.high_score]

        confirmed = [t for t in self.active if t.track_id]
        tentative = [t for t in self.active if not t.track_id]
        matched: list[tuple[_Track, Detection]] = []
        # Round 1: confirmed tracks (found or lost) vs confident detections.
        sim = self._similarity(confirmed, confident, use_appearance=True)
        pairs, left_tracks, left_dets = self._assign(sim, config.match_similarity)
        matched += [(confirmed[i], confident[j]) for i, j in pairs]
        remaining_tracks = [confirmed[i] for i in left_tracks]
        remaining_confident = [confident[j] for j in left_dets]
        # Round 2: tracks still unmatched vs weak detections, on IoU alone.
        recent = [t for t in remaining_tracks if t.misses == 0]
        if recent and weak:
            iou = box_iou(np.stack([t.box for t in recent]), np.array([d.box for d in weak]))
            pairs, _, _ = self._assign(iou, config.low_match_iou)
            matched += [(recent[i], weak[j]) for i, j in pairs]
        # Round 3: tentative tracks vs confident detections left over.
        sim = self._similarity(tentative, remaining_confident, use_appearance=True)
        pairs, left_tentative, left_dets = self._assign(sim, config.match_similarity)
        matched += [(tentative[i], remaining_confident[j]) for i, j in pairs]
        unmatched_confident = [remaining_confident[j] for j in left_dets]

        matched_ids = set()
        self._correct_all(matched)
        for track, detection in matched:
            track.hits += 1
            track.misses = 0
            track.record(self.step, frame_index, time_seconds, detection)
            if not track.track_id and track.hits >= config.min_hits:
                track.track_id = self._next_id
                self._next_id += 1
            matched_ids.add(id(track))
        survivors = []
        for track in self.active:
            if id(track) in matched_ids:
                survivors.append(track)
                continue
            track.misses += 1
            if not track.track_id:
                continue  # a tentative track missed once is dropped
            if track.misses > self._max_lost_steps:
                self.finished.append(track)
                continue
            survivors.append(track)
        for detection in unmatched_confident:
            track = self._initiate(detection)
            track.record(self.step, frame_index, time_seconds, detection)
            if config.min_hits <= 1:
                track.track_id = self._next_id
                self._next_id += 1
                matched.append((track, detection))
            survivors.append(track)
        self.active = survivors
        self.step += 1
        return [(t.track_id, t.box, d) for t, d in matched if t.track_id]

    # ---- a whole clip ------------------------------------------------------------------
    def run(self, detections: list[list[Detection]], frame_indices, times_seconds, *,
            frame_size: tuple[int, int] | None = None) -> list[Observation]:
        frame_indices = [int(f) for f in frame_indices]
        times_seconds = [float(t) for t in times_seconds]
        if not (len(detections) == len(frame_indices) == len(times_seconds)):
            raise ValueError(f"need one detection list, frame index and time per frame; got {len(detections)}, "
                             f"{len(frame_indices)}, {len(times_seconds)}")
        if any(b <= a for a, b in zip(frame_indices, frame_indices[1:])):
            raise ValueError("frame_indices must be strictly increasing")
        self.reset()
        if len(times_seconds) > 1:
            step_seconds = float(np.median(np.diff(times_seconds)))
            self._max_lost_steps = max(1, int(round(self.config.max_lost_seconds / max(step_seconds, 1e-9))))
        for frame_detections, frame_index, time_seconds in zip(detections, frame_indices, times_seconds):
            self.update(frame_detections, frame_index, time_seconds, frame_size=frame_size)
        tracks = [t for t in self.finished + self.active
                  if t.track_id and len(t.history) >= self.config.min_track_frames]
        return tracks_to_observations(tracks, frame_indices, times_seconds,
                                      min_label_share=self.config.min_label_share)


def _kind(track: _Track, exclusive: tuple[str, ...]) -> str | None:
    """The exclusive label a track has been matched with most, or None."""
    kinds = [(n, label) for label, n in track.kinds.most_common() if label in exclusive]
    return kinds[0][1] if kinds else None


def track_label(labels: list[str], min_share: float = 0.25) -> str:
    """One label for a track from its detections' labels (see TrackerConfig.min_label_share)."""
    counts = Counter(label or "object" for label in labels)
    named = [(n, label) for label, n in counts.most_common() if label != "object"]
    if named and named[0][0] >= min_share * len(labels):
        return named[0][1]
    return counts.most_common(1)[0][0] if counts else "object"


def tracks_to_observations(tracks: list[_Track], frame_indices: list[int], times_seconds: list[float], *,
                           min_label_share: float = 0.25) -> list[Observation]:
    """Matched frames become visible observations; frames missed between two matches become
    hidden ones with interpolated boxes. Track ids are renumbered 1.. by first appearance.
    Every observation of a track carries the track's label (`track_label`): one thing, one name."""
    tracks = sorted(tracks, key=lambda t: (t.history[0][0], t.track_id))
    observations = []
    for new_id, track in enumerate(tracks, start=1):
        label = track_label([h[4].label for h in track.history], min_label_share)
        for (step_a, _, _, box_a, det), nxt in zip(track.history, track.history[1:] + [None]):
            observations.append(Observation(
                track_id=new_id, frame_index=frame_indices[step_a], time_seconds=times_seconds[step_a],
                box=tuple(float(v) for v in box_a), label=label,
                score=float(det.score), attributes=dict(det.attributes), visible=True,
            ))
            if nxt is None:
                continue
            step_b, box_b = nxt[0], nxt[3]
            for step in range(step_a + 1, step_b):
                fraction = (step - step_a) / (step_b - step_a)
                box = box_a + (box_b - box_a) * fraction
                observations.append(Observation(
                    track_id=new_id, frame_index=frame_indices[step], time_seconds=times_seconds[step],
                    box=tuple(float(v) for v in box), label=label, score=0.0,
                    attributes={}, visible=False,
                ))
    return observations


def default_tracker() -> ByteTracker:
    return ByteTracker()


class RoboflowTracker:
    """Roboflow's `trackers` package (Apache-2.0) behind our `Tracker` protocol, for comparison.

    kind: "bytetrack", "ocsort" or "sort". Frames missed between two sightings of an id are
    filled with hidden, interpolated boxes exactly as for ByteTracker, so the STSG and the
    event detector see both trackers' output the same way. `frame_rate` is set from the clip.

    Not installed by default: `trackers` pulls opencv-python 5, which would replace the
    opencv-python-headless 4 this project pins (5.x dropped the HOG people detector). Install
    it where that does not matter (`pip install --no-deps trackers supervision defusedxml
    pyDeprecate`) to compare."""

    def __init__(self, kind: str = "bytetrack", **options):
        if kind not in ("bytetrack", "ocsort", "sort"):
            raise ValueError(f"kind must be 'bytetrack', 'ocsort' or 'sort', got {kind!r}")
        self.kind = kind
        self.options = options

    def run(self, detections: list[list[Detection]], frame_indices, times_seconds, *,
            frame_size: tuple[int, int] | None = None) -> list[Observation]:
        trackers = require("trackers", feature="RoboflowTracker")
        sv = require("supervision", feature="RoboflowTracker")
        frame_indices = [int(f) for f in frame_indices]
        times_seconds = [float(t) for t in times_seconds]
        step_seconds = float(np.median(np.diff(times_seconds))) if len(times_seconds) > 1 else 1.0
        frame_rate = 1.0 / max(step_seconds, 1e-9)
        cls = {"bytetrack": trackers.ByteTrackTracker, "ocsort": trackers.OCSORTTracker,
               "sort": trackers.SORTTracker}[self.kind]
        options = {"frame_rate": frame_rate, "lost_track_buffer": int(round(2.5 * frame_rate)), **self.options}
        tracker = cls(**options)
        histories: dict[int, list] = {}
        for step, frame_detections in enumerate(detections):
            if frame_size is not None:
                frame_detections = sanitize_detections(list(frame_detections), *frame_size)
            if frame_detections:
                boxes = np.array([d.box for d in frame_detections], dtype=np.float32)  # (N, 4)
                scores = np.array([d.score for d in frame_detections], dtype=np.float32)
                batch = sv.Detections(xyxy=boxes, confidence=scores, class_id=np.zeros(len(boxes), dtype=int),
                                      data={"index": np.arange(len(boxes))})
            else:
                batch = sv.Detections.empty()
                batch.data["index"] = np.zeros(0, dtype=int)
            tracked = tracker.update(batch)
            if tracked.tracker_id is None:
                continue
            for box, track_id, index in zip(tracked.xyxy, tracked.tracker_id, tracked.data.get("index", [])):
                if track_id is None or int(track_id) < 0:
                    continue
                histories.setdefault(int(track_id), []).append(
                    (step, frame_indices[step], times_seconds[step], np.asarray(box, float),
                     frame_detections[int(index)]))
        tracks = [_Track(track_id=tid, mean=np.zeros(8), covariance=np.eye(8), appearance=None, history=history)
                  for tid, history in histories.items() if len(history) >= 3]
        return tracks_to_observations(tracks, frame_indices, times_seconds)
