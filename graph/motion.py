"""A track's observations as arrays, and its cleaned motion: what every event detector reads.

Real detectors jitter: a standing person's blob breathes with every arm and leg, merges with
a neighbour for a frame, loses its feet behind a post. Motion is therefore read from a
cleaned, smoothed path:

    raw centres ──► boxes of odd size (merged, cut, hidden) replaced by interpolation
                ──► 3-sample median (one-frame spikes) ──► mean over the track's window

    window = clip(jitter_smoothing x jitter / moving threshold, smooth_seconds, max_smooth_seconds)

where jitter is the track's measured position noise (robust spread of its centre's second
differences, in px). Crisp tracks (the synthetic world: jitter ~0.3 px) keep the short
window; a real pedestrian (~2-3 px on a 24 px body) gets about a second. Speeds are in pixels
per second, from box centres over time (frames may be sampled sparsely: time, not frame
count, sets the scale), and compared with the object's own size. `EventConfig` holds every
threshold of event detection (graph/events.py, graph/pair_events.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EventConfig:
    border_px: float = 4.0  # a box within 4 px of the frame edge is "at the edge" (enter/exit vs appear/disappear)
    moving_speed_ratio: float = 0.5  # moving: faster than half the object's own size per second
    min_moving_speed_px_s: float = 3.0  # and at least 3 px/s, so detector jitter on still objects is not motion
    min_state_seconds: float = 0.2  # a moving/still state must last this long to count (debounces start/stop)
    smooth_seconds: float = 0.2  # centre positions are averaged over this window before differencing
    turn_degrees: float = 25.0  # heading change that counts as a turn (bounces, collisions, steering); 30 missed glancing hits
    turn_window_seconds: float = 0.2  # headings compared over this much time before and after (at least)
    turn_leg_ratio: float = 0.3  # ... and over long enough to travel 0.3 object sizes
    max_turn_window_seconds: float = 1.0
    turn_min_area_ratio: float = 0.6  # a box under 60% of its usual area (cut by the edge, hidden) gives no heading
    approach_seconds: float = 0.5  # closing in for at least this long
    approach_ratio: float = 0.6  # and the gap shrinks to at most 60% of where it started
    contact_px: float = 2.0  # boxes within 2 px touch (same as the spatial relation "touching")
    contact_ratio: float = 0.3  # ... or within 0.3 of their mean size: shapes meet before their boxes do (0.4 saw near misses)
    contact_bridge_frames: int = 2  # contact lost for up to 2 frames (box jitter) is one contact
    push_min_seconds: float = 0.4  # contact that lasts this long with motion is a push, not a collision
    collide_max_seconds: float = 0.5  # bounces part within a few frames; longer overlaps are no collision
    occluded_area_ratio: float = 0.5  # seen at under half its usual area: partly hidden
    merged_area_ratio: float = 1.4  # an occluder's box above 1.4x its usual area is a merge, not a cover
    occluder_cover: float = 0.5  # another box must cover half the object's usual box to be its occluder (as the world defines it)
    # Jitter-aware smoothing (see the module docstring): the window grows until a still object's
    # speed noise (jitter / window) is a fifth of the moving threshold.
    jitter_smoothing: float = 5.0
    state_windows: float = 2.0  # a moving or still state lasts at least two smoothing windows to count
    # Moving, a pause, moving off the other way: a turn, not stop + start, when the pause is
    # shorter than 1.5 s and than the time the object takes to cover 1.5 of its sizes at its
    # usual speed (a walker turning round vs a shape halted by a hit and later struck again).
    turn_pause_seconds: float = 1.5
    turn_back_degrees: float = 90.0  # through a halt too brief to be a state, only turning back counts
    turn_wobble_ratio: float = 8.0  # a turn changes heading 8x more than the track's usual (lower-quartile) wobble
    turn_pause_sizes: float = 1.5
    max_smooth_seconds: float = 1.5  # a pause shorter than this in a noisy track is not resolved
    odd_area_high: float = 1.4  # boxes above 1.4x a track's usual area (merged with a neighbour) ...
    odd_area_low: float = 0.6  # ... or under 0.6x (cut, half hidden) do not place its centre
    approach_close_sizes: float = 1.0  # approach: the gap shrinks by at least one mean body size ...
    approach_near_sizes: float = 0.5  # ... to within half of it (people meeting stand closer than passers-by) ...
    approach_hold_seconds: float = 1.0  # ... and stays that close this long (meeting, not passing)
    duplicate_iou: float = 0.3  # two tracks whose boxes overlap this much at an event are one object
    rebirth_sizes: float = 1.5  # a track appearing within 1.5 sizes of where another vanished ...
    rebirth_seconds: float = 1.0  # ... within a second is the same object: neither event is reported

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
        centres = smooth(self.centres, self.times_seconds, smooth_seconds)  # (N, 2)
        return np.gradient(centres, self.times_seconds, axis=0)  # (N, 2)


def smooth(values: np.ndarray, times: np.ndarray, window_seconds: float) -> np.ndarray:
    """Mean of `values` (N, D) over +-window/2 seconds around each time."""
    if window_seconds <= 0 or len(times) < 3:
        return values
    cumulative = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])  # (N+1, D)
    lo = np.searchsorted(times, times - window_seconds / 2, side="left")
    hi = np.searchsorted(times, times + window_seconds / 2, side="right")
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end] index pairs (inclusive) of the True runs in a boolean array."""
    if not len(mask):
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e) - 1) for s, e in zip(edges[::2], edges[1::2])]


@dataclass
class Motion:
    """One track's cleaned motion (module docstring): everything its motion events read."""

    centres: np.ndarray  # (N, 2) px, odd boxes interpolated over, spikes removed (not averaged)
    smoothed: np.ndarray  # (N, 2) px, and averaged over `window`
    velocity: np.ndarray  # (N, 2) px/s from `smoothed`
    speed: np.ndarray  # (N,) px/s
    threshold: float  # px/s: moving above it, still below half of it
    window: float  # seconds of smoothing; also the least a motion state lasts
    noise_window: float  # seconds the jitter alone asks for (below smooth_seconds for crisp tracks)
    jitter: float  # px, the track's position noise
    size: float  # px, the track's median size


def _usable(track: TrackSeries, config: EventConfig) -> np.ndarray:
    """(N,) bool: observations whose box places the object (visible, of about its usual area)."""
    wh = np.maximum(track.boxes[:, 2:] - track.boxes[:, :2], 0.0)
    area = wh[:, 0] * wh[:, 1]
    usable = track.visible.copy()
    if usable.sum() >= 3:
        usual = float(np.median(area[usable]))
        usable &= (area <= config.odd_area_high * usual) & (area >= config.odd_area_low * usual)
    return usable if usable.sum() >= 2 else np.ones(len(area), dtype=bool)


def _jitter_px(centres: np.ndarray) -> float:
    """Position noise (px): robust spread of the centres' second differences (constant-velocity
    motion has none; white noise of sigma gives sigma * sqrt(6))."""
    if len(centres) < 5:
        return 0.0
    second = centres[2:] - 2 * centres[1:-1] + centres[:-2]  # (N-2, 2)
    return float(1.4826 * np.median(np.abs(second)) / math.sqrt(6))


def _median3(values: np.ndarray) -> np.ndarray:
    """Running median of 3 samples along the first axis (ends kept): removes one-sample spikes."""
    if len(values) < 3:
        return values
    out = values.copy()
    out[1:-1] = np.median(np.stack([values[:-2], values[1:-1], values[2:]]), axis=0)
    return out


def clean_motion(track: TrackSeries, config: EventConfig) -> Motion:
    times = track.times_seconds
    n = len(times)
    size = float(np.median(track.sizes)) if n else 0.0
    threshold = max(config.min_moving_speed_px_s, config.moving_speed_ratio * size)
    usable = _usable(track, config)
    raw = track.centres
    centres = raw.copy()
    if (~usable).any():
        # Only between usable boxes: an object coming in at the frame edge is cut for its first
        # frames, and holding it at its first whole box would make it look parked, then start.
        inside = (times >= times[usable][0]) & (times <= times[usable][-1])
        for axis in range(2):
            centres[inside, axis] = np.interp(times[inside], times[usable], raw[usable, axis])
    jitter = _jitter_px(centres[usable]) if usable.sum() >= 5 else _jitter_px(centres)
    centres = _median3(centres)
    # The window the jitter asks for (uncapped below), and the one used (at least smooth_seconds).
    noise_window = min(config.max_smooth_seconds, config.jitter_smoothing * jitter / threshold) if threshold > 0 else 0.0
    window = max(config.smooth_seconds, noise_window)
    if n < 2:
        zeros = np.zeros((n, 2))
        return Motion(centres, centres, zeros, np.zeros(n), threshold, window, noise_window, jitter, size)
    smoothed = smooth(centres, times, window)  # (N, 2)
    velocity = np.gradient(smoothed, times, axis=0)  # (N, 2)
    return Motion(centres, smoothed, velocity, np.hypot(velocity[:, 0], velocity[:, 1]), threshold, window,
                   noise_window, jitter, size)
