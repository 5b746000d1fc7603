"""Events detected from tracks: enter, exit, appear, disappear, approach, collide, start,
stop, turn, occluded; each with a frame span and the tracks involved.

Input is per-track sequences of (frame_index, time_seconds, box, visible), so the detector
works the same on a tracker's output and on ground truth. Speeds are in pixels per second,
computed from box centres over time (frames may be sampled sparsely: time, not frame count,
sets the scale).

    moving?  speed ──────╮        ╭──────  hysteresis: a track starts moving when its
             high ─ ─ ─ ─│─ ─ ─ ─ │─ ─ ─   smoothed speed rises above `moving_speed`, and
             low  ─ ─ ─ ─╰────────╯─ ─ ─   stops when it falls below half of it, held for
                         stop    start     `min_state_seconds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from videothought.graph.schema import Event


@dataclass(frozen=True)
class EventConfig:
    border_px: float = 4.0  # a box within 4 px of the frame edge is "at the edge" (enter/exit vs appear/disappear)
    moving_speed_ratio: float = 0.5  # moving: faster than half the object's own size per second
    min_moving_speed_px_s: float = 3.0  # and at least 3 px/s, so detector jitter on still objects is not motion
    min_state_seconds: float = 0.3  # a moving/still state must last this long to count (debounces start/stop)
    smooth_seconds: float = 0.2  # centre positions are averaged over this window before differencing
    turn_degrees: float = 45.0  # heading change that counts as a turn
    turn_window_seconds: float = 0.3  # headings compared over this much time before and after
    approach_seconds: float = 0.5  # closing in for at least this long
    approach_ratio: float = 0.6  # and the gap shrinks to at most 60% of where it started
    contact_px: float = 2.0  # boxes within 2 px touch (same as the spatial relation "touching")
    min_gap_seconds: float = 0.0  # occlusion gaps shorter than this are not reported

    def __post_init__(self):
        for name, value in self.__dict__.items():
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"EventConfig.{name} must be a finite number >= 0, got {value!r}")


@dataclass
class TrackSeries:
    """One track's observations in frame order (arrays share the first axis)."""

    track_id: int
    frame_indices: np.ndarray  # (N,) int
    times_seconds: np.ndarray  # (N,) float
    boxes: np.ndarray  # (N, 4) float
    visible: np.ndarray  # (N,) bool

    @property
    def centres(self) -> np.ndarray:
        return (self.boxes[:, :2] + self.boxes[:, 2:]) / 2  # (N, 2)

    @property
    def sizes(self) -> np.ndarray:
        wh = np.maximum(self.boxes[:, 2:] - self.boxes[:, :2], 0.0)  # (N, 2)
        return np.sqrt(wh[:, 0] * wh[:, 1])  # (N,)

    def velocities(self, smooth_seconds: float) -> np.ndarray:
        """(N, 2) px/s from smoothed centres; 0 for a single observation."""
        n = len(self.frame_indices)
        if n < 2:
            return np.zeros((n, 2))
        centres = _smooth(self.centres, self.times_seconds, smooth_seconds)  # (N, 2)
        return np.gradient(centres, self.times_seconds, axis=0)  # (N, 2)


def _smooth(values: np.ndarray, times: np.ndarray, window_seconds: float) -> np.ndarray:
    """Mean of `values` (N, D) over +-window/2 seconds around each time."""
    if window_seconds <= 0 or len(times) < 3:
        return values
    cumulative = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])  # (N+1, D)
    lo = np.searchsorted(times, times - window_seconds / 2, side="left")
    hi = np.searchsorted(times, times + window_seconds / 2, side="right")
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end] index pairs (inclusive) of the True runs in a boolean array."""
    if not len(mask):
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e) - 1) for s, e in zip(edges[::2], edges[1::2])]


def detect_events(
    series: list[TrackSeries],
    *,
    frame_size: tuple[int, int] | None = None,
    video_frames: tuple[int, int] | None = None,
    config: EventConfig = EventConfig(),
) -> list[Event]:
    """All events of all tracks, sorted by start frame.

    frame_size: (width, height) of the frames the boxes live in; without it, entering and
        leaving cannot be told from appearing and vanishing, and both are reported as
        appear/disappear.
    video_frames: (first, last) frame index of the footage looked at; a track seen on the
        first frame did not "enter", one seen on the last did not "exit".
    """
    if video_frames is None and series:
        video_frames = (
            min(int(s.frame_indices[0]) for s in series if len(s.frame_indices)),
            max(int(s.frame_indices[-1]) for s in series if len(s.frame_indices)),
        )
    events: list[Event] = []
    for track in series:
        if not len(track.frame_indices):
            continue
        events += _presence_events(track, frame_size, video_frames, config)
        events += _motion_events(track, config)
        events += _occlusion_events(track, config)
    events += _pair_events(series, config)
    events.sort(key=lambda e: (e.start_frame, e.end_frame, e.type, e.track_ids))
    return events


def _at_border(box: np.ndarray, frame_size: tuple[int, int], border_px: float) -> bool:
    width, height = frame_size
    return bool(box[0] <= border_px or box[1] <= border_px or box[2] >= width - border_px or box[3] >= height - border_px)


def _presence_events(track, frame_size, video_frames, config) -> list[Event]:
    events = []
    first, last = int(track.frame_indices[0]), int(track.frame_indices[-1])
    if video_frames is not None and first > video_frames[0]:
        at_edge = frame_size is not None and _at_border(track.boxes[0], frame_size, config.border_px)
        events.append(Event("enter" if at_edge else "appear", [track.track_id], first, first))
    if video_frames is not None and last < video_frames[1]:
        at_edge = frame_size is not None and _at_border(track.boxes[-1], frame_size, config.border_px)
        events.append(Event("exit" if at_edge else "disappear", [track.track_id], last, last))
    return events


def _motion_events(track: TrackSeries, config: EventConfig) -> list[Event]:
    n = len(track.frame_indices)
    if n < 3:
        return []
    times = track.times_seconds
    velocity = track.velocities(config.smooth_seconds)  # (N, 2)
    speed = np.hypot(velocity[:, 0], velocity[:, 1])  # (N,)
    threshold = max(config.min_moving_speed_px_s, config.moving_speed_ratio * float(np.median(track.sizes)))
    # Hysteresis: enter "moving" above threshold, leave it below half of it.
    moving = np.zeros(n, dtype=bool)
    state = bool(speed[0] > threshold)
    for i in range(n):
        if state and speed[i] < threshold / 2:
            state = False
        elif not state and speed[i] > threshold:
            state = True
        moving[i] = state
    # Debounce: drop states shorter than min_state_seconds by merging them into their neighbours.
    # A run must last min_state_seconds (measured to the next run's start, so one frame at a
    # low frame rate can count); shorter runs are noise, including at the track's ends, where
    # the smoothing window is cut short.
    runs = _state_runs(moving)
    ends = [times[min(r[2] + 1, n - 1)] for r in runs]
    stable = [r for r, end in zip(runs, ends) if end - times[r[1]] >= config.min_state_seconds]
    events = []
    for previous, current in zip(stable, stable[1:]):
        if previous[0] == current[0]:
            continue
        frame = int(track.frame_indices[current[1]])
        events.append(Event("start" if current[0] else "stop", [track.track_id], frame, frame))
    events += _turn_events(track, velocity, moving, threshold, config)
    return events


def _state_runs(moving: np.ndarray) -> list[tuple[bool, int, int]]:
    runs, start = [], 0
    for i in range(1, len(moving) + 1):
        if i == len(moving) or moving[i] != moving[start]:
            runs.append((bool(moving[start]), start, i - 1))
            start = i
    return runs


def _turn_events(track, velocity, moving, threshold, config) -> list[Event]:
    times = track.times_seconds
    centres = _smooth(track.centres, times, config.smooth_seconds)  # (N, 2)
    window = config.turn_window_seconds
    before = np.searchsorted(times, times - window, side="left")  # (N,)
    after = np.searchsorted(times, times + window, side="right") - 1  # (N,)
    heading_in = centres - centres[before]  # (N, 2) displacement over the window before
    heading_out = centres[after] - centres  # (N, 2) and after
    dist_in = np.hypot(heading_in[:, 0], heading_in[:, 1])
    dist_out = np.hypot(heading_out[:, 0], heading_out[:, 1])
    min_dist = threshold * window * 0.5  # both legs must actually move
    valid = (dist_in > min_dist) & (dist_out > min_dist) & moving
    cosine = np.einsum("nd,nd->n", heading_in, heading_out) / np.maximum(dist_in * dist_out, 1e-9)
    turning = valid & (cosine < math.cos(math.radians(config.turn_degrees)))
    events = []
    for start, end in _runs(turning):
        # The turn happens where the heading change peaks inside the run.
        peak = start + int(np.argmin(cosine[start : end + 1]))
        frame = int(track.frame_indices[peak])
        events.append(Event("turn", [track.track_id], frame, frame,
                            attributes={"degrees": round(math.degrees(math.acos(max(-1.0, min(1.0, cosine[peak])))), 1)}))
    return events


def _occlusion_events(track: TrackSeries, config: EventConfig) -> list[Event]:
    """Spans where the track is kept but not visible, or missing between two observations."""
    events = []
    frames = track.frame_indices
    for start, end in _runs(~track.visible):
        if 0 < start and end < len(frames) - 1:
            if track.times_seconds[end] - track.times_seconds[start] >= config.min_gap_seconds:
                events.append(Event("occluded", [track.track_id], int(frames[start]), int(frames[end])))
    if len(frames) > 2:
        steps = np.diff(frames)
        usual = int(np.median(steps))
        for i in np.flatnonzero(steps > 2 * usual):
            events.append(Event("occluded", [track.track_id], int(frames[i] + usual), int(frames[i + 1] - usual)))
    return events


def _pair_events(series: list[TrackSeries], config: EventConfig) -> list[Event]:
    """approach and collide between every pair of tracks seen together."""
    events = []
    for i in range(len(series)):
        for j in range(i + 1, len(series)):
            events += _pair_events_one(series[i], series[j], config)
    return events


def _pair_events_one(a: TrackSeries, b: TrackSeries, config: EventConfig) -> list[Event]:
    common, index_a, index_b = np.intersect1d(a.frame_indices, b.frame_indices, return_indices=True)
    if len(common) < 2:
        return []
    both_visible = a.visible[index_a] & b.visible[index_b]
    boxes_a, boxes_b = a.boxes[index_a], b.boxes[index_b]
    overlap_x = np.minimum(boxes_a[:, 2], boxes_b[:, 2]) - np.maximum(boxes_a[:, 0], boxes_b[:, 0])
    overlap_y = np.minimum(boxes_a[:, 3], boxes_b[:, 3]) - np.maximum(boxes_a[:, 1], boxes_b[:, 1])
    gap = np.hypot(np.maximum(0.0, -overlap_x), np.maximum(0.0, -overlap_y))  # (K,) px between closest edges
    contact = both_visible & (gap <= config.contact_px)
    times = a.times_seconds[index_a]
    pair = sorted([a.track_id, b.track_id])
    events = []
    contact_runs = _runs(contact)
    for start, end in contact_runs:
        if start == 0:
            continue  # already touching when we started looking: no collision seen
        events.append(Event("collide", pair, int(common[start]), int(common[end])))
    # approach: a run of shrinking gap, long enough, ending much closer than it began.
    shrinking = np.zeros(len(common), dtype=bool)
    shrinking[1:] = (np.diff(gap) < 0) & both_visible[1:] & both_visible[:-1]
    for start, end in _runs(shrinking):
        start = max(0, start - 1)
        if times[end] - times[start] < config.approach_seconds:
            continue
        if gap[end] > config.approach_ratio * gap[start]:
            continue
        events.append(Event("approach", pair, int(common[start]), int(common[end])))
    return events
