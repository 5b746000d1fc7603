"""Events detected from tracks: enter, exit, appear, disappear, approach, collide, start,
stop, turn, occluded; each with a frame span and the tracks involved.

Input is per-track sequences of (frame_index, time_seconds, box, visible), so the detector
works the same on a tracker's output and on ground truth. Speeds are in pixels per second,
computed from box centres over time (frames may be sampled sparsely: time, not frame count,
sets the scale), and compared with the object's own size (a walking person covers about one
body size a second, the world's shapes two to six).

Real detectors jitter: a standing person's blob breathes with every arm and leg, merges with
a neighbour for a frame, loses its feet behind a post. Motion is therefore read from a
cleaned, smoothed path:

    raw centres ──► boxes of odd size (merged, cut, hidden) replaced by interpolation
                ──► 3-sample median (one-frame spikes) ──► mean over the track's window

    window = clip(jitter_smoothing x jitter / moving threshold, smooth_seconds, max_smooth_seconds)

where jitter is the track's measured position noise (robust spread of its centre's second
differences, in px). Crisp tracks (the synthetic world: jitter ~0.3 px) keep the short
window; a real pedestrian (~2-3 px on a 24 px body) gets about a second. A motion state must
last at least a window, and the same window sets the turn legs, so every event of a noisy
track is judged over a span its noise cannot fake.

    moving?  speed ──────╮        ╭──────  hysteresis: a track starts moving when its
             high ─ ─ ─ ─│─ ─ ─ ─ │─ ─ ─   smoothed speed rises above the threshold, and
             low  ─ ─ ─ ─╰────────╯─ ─ ─   stops when it falls below half of it, held for
                         stop    start     max(min_state_seconds, window).

Approach means really closing in: the (smoothed) gap shrinks by at least
`approach_close_sizes` body sizes to within `approach_near_sizes`, and the two stay that close,
moving together (or standing), for `approach_hold_seconds`: people meeting; two walkers passing
each other do not qualify.
One object tracked twice (two overlapping tracks) reports its start/stop/turn once, and a
track that breaks and resumes on the spot (disappear + appear) reports neither.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from videothought.graph.schema import Event, box_iou


# Bumped whenever detection changes what it finds: a cached STSG stamped with another version
# has its events detected again from its tracks (tracking is the slow part; events are cheap).
EVENTS_VERSION = 5


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


@dataclass
class _Motion:
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


def _motion(track: TrackSeries, config: EventConfig) -> _Motion:
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
        return _Motion(centres, centres, zeros, np.zeros(n), threshold, window, noise_window, jitter, size)
    smoothed = _smooth(centres, times, window)  # (N, 2)
    velocity = np.gradient(smoothed, times, axis=0)  # (N, 2)
    return _Motion(centres, smoothed, velocity, np.hypot(velocity[:, 0], velocity[:, 1]), threshold, window,
                   noise_window, jitter, size)


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
    motions = {track.track_id: _motion(track, config) for track in series if len(track.frame_indices)}
    for track in series:
        if not len(track.frame_indices):
            continue
        events += _presence_events(track, frame_size, video_frames, config)
        events += _motion_events(track, motions[track.track_id], frame_size, config)
        events += _occlusion_events(track, series, frame_size, config)
    events += _pair_events(series, motions, config)
    events = _without_rebirths(events, series, config)
    events = _without_duplicates(events, series, motions, config)
    events.sort(key=lambda e: (e.start_frame, e.end_frame, e.type, e.track_ids))
    return events


def _at_border(box: np.ndarray, frame_size: tuple[int, int], border_px: float) -> bool:
    width, height = frame_size
    return bool(box[0] <= border_px or box[1] <= border_px or box[2] >= width - border_px or box[3] >= height - border_px)


def _presence_events(track, frame_size, video_frames, config) -> list[Event]:
    """enter [first frame, first frame clear of the edge] / exit [first frame at the edge again,
    last frame]; a track that starts or ends away from the edge appears or disappears."""
    events = []
    first, last = int(track.frame_indices[0]), int(track.frame_indices[-1])
    at_edge = np.zeros(len(track.frame_indices), dtype=bool)
    if frame_size is not None:
        at_edge = np.array([_at_border(box, frame_size, config.border_px) for box in track.boxes])
    if video_frames is not None and first > video_frames[0]:
        if at_edge[0]:
            inside = np.flatnonzero(~at_edge)
            end = int(track.frame_indices[inside[0]]) if len(inside) else last
            events.append(Event("enter", [track.track_id], first, end))
        else:
            events.append(Event("appear", [track.track_id], first, first))
    if video_frames is not None and last < video_frames[1]:
        if at_edge[-1]:
            inside = np.flatnonzero(~at_edge)
            start = int(track.frame_indices[min(inside[-1] + 1, len(at_edge) - 1)]) if len(inside) else first
            events.append(Event("exit", [track.track_id], start, last))
        else:
            events.append(Event("disappear", [track.track_id], last, last))
    return events


def _motion_events(track: TrackSeries, motion: _Motion, frame_size, config: EventConfig) -> list[Event]:
    n = len(track.frame_indices)
    if n < 3:
        return []
    times = track.times_seconds
    speed, threshold = motion.speed, motion.threshold
    # Hysteresis: enter "moving" above threshold, leave it below half of it.
    moving = np.zeros(n, dtype=bool)
    state = bool(speed[0] > threshold)
    for i in range(n):
        if state and speed[i] < threshold / 2:
            state = False
        elif not state and speed[i] > threshold:
            state = True
        moving[i] = state
    # Debounce: drop states shorter than the track's window (at least min_state_seconds) by
    # merging them into their neighbours. A run's length is measured to the next run's start,
    # so one frame at a low frame rate can count; shorter runs are noise, including at the
    # track's ends, where the smoothing window is cut short.
    least = max(config.min_state_seconds, config.state_windows * motion.window)
    runs = _state_runs(moving)
    ends = [times[min(r[2] + 1, n - 1)] for r in runs]
    stable = [r for r, end in zip(runs, ends) if end - times[r[1]] >= least - 1e-9]
    stable = _merge_runs(stable)
    events, turned = [], set()
    usual_speed = float(np.median(speed[moving])) if moving.any() else 0.0
    pause_limit = config.turn_pause_seconds
    if usual_speed > 0:
        pause_limit = min(pause_limit, config.turn_pause_sizes * motion.size / usual_speed)
    # Turning back: moving, a short pause, moving off the other way. People slow to a halt to
    # turn round; what they did is turn, not stop and start.
    for k in range(1, len(stable) - 1):
        before, pause, after = stable[k - 1], stable[k], stable[k + 1]
        if pause[0] or not before[0] or not after[0]:
            continue
        if times[min(pause[2] + 1, n - 1)] - times[pause[1]] > pause_limit:
            continue
        # Headings over the moving runs on either side (not across the pause, where jitter rules).
        leg = max(config.turn_window_seconds, least)
        heading_in = motion.smoothed[before[2]] - motion.smoothed[_index_before(times, before[2], leg, before[1])]
        heading_out = motion.smoothed[_index_after(times, after[1], leg, after[2])] - motion.smoothed[after[1]]
        angle = _angle(heading_in, heading_out)
        if angle is None or angle <= config.turn_degrees:
            continue
        middle = (pause[1] + pause[2]) // 2
        frame = int(track.frame_indices[middle])
        events.append(Event("turn", [track.track_id], frame, frame, attributes={"degrees": round(angle, 1)}))
        turned.update((k, k + 1))  # the stop at the pause and the start after it
    # A pause too short to be a state of its own (the walker barely halts) turns them round too:
    # headings from the moving samples on either side of it.
    raw = _state_runs(moving)
    for k in range(1, len(raw) - 1):
        still, first, last = not raw[k][0], raw[k][1], raw[k][2]
        if not still or times[min(last + 1, n - 1)] - times[first] > pause_limit:
            continue
        if any(run[0] is False and run[1] <= first and last <= run[2] for run in stable):
            continue  # a stable pause: handled above
        leg = max(config.turn_window_seconds, least)
        before = [i for i in range(first - 1, -1, -1) if times[first] - times[i] <= leg and moving[i]]
        after = [i for i in range(last + 1, n) if times[i] - times[last] <= leg and moving[i]]
        if len(before) < 2 or len(after) < 2:
            continue
        angle = _angle(motion.smoothed[before[0]] - motion.smoothed[before[-1]],
                       motion.smoothed[after[-1]] - motion.smoothed[after[0]])
        if angle is None or angle <= max(config.turn_degrees, config.turn_back_degrees):
            continue  # only turning back: a veer through a brief halt is the heading test's
        frame = int(track.frame_indices[(first + last) // 2])
        events.append(Event("turn", [track.track_id], frame, frame, attributes={"degrees": round(angle, 1)}))
    for k, (previous, current) in enumerate(zip(stable, stable[1:]), start=1):
        if previous[0] == current[0] or k in turned:
            continue
        # Hysteresis confirms a change late: date it back to where the speed crossed `threshold`.
        i = current[1]
        if current[0]:
            while i > previous[1] and speed[i - 1] > threshold:
                i -= 1
        else:
            while i > previous[1] and speed[i - 1] < threshold:
                i -= 1
        frame = int(track.frame_indices[i])
        events.append(Event("start" if current[0] else "stop", [track.track_id], frame, frame))
    turns = _turn_events(track, motion, moving, config)
    # A turn-around already reported at a pause is not reported again by the heading test.
    pauses = [e.start_frame for e in events if e.type == "turn"]
    turns = [t for t in turns if all(abs(_time_at(track, t.start_frame) - _time_at(track, p))
                                     > max(config.turn_pause_seconds, motion.window) for p in pauses)]
    return events + turns


def _merge_runs(runs: list[tuple[bool, int, int]]) -> list[tuple[bool, int, int]]:
    """Neighbouring runs of the same state (once the short runs between them are gone) as one."""
    merged: list[tuple[bool, int, int]] = []
    for state, start, end in runs:
        if merged and merged[-1][0] == state:
            merged[-1] = (state, merged[-1][1], end)
        else:
            merged.append((state, start, end))
    return merged


def _index_before(times: np.ndarray, i: int, seconds: float, floor: int) -> int:
    return max(floor, int(np.searchsorted(times, times[i] - seconds - 1e-9, side="left")))


def _index_after(times: np.ndarray, i: int, seconds: float, ceiling: int) -> int:
    return min(ceiling, int(np.searchsorted(times, times[i] + seconds + 1e-9, side="right")) - 1)


def _angle(a: np.ndarray, b: np.ndarray) -> float | None:
    """Degrees between two displacements; None when either is about zero."""
    na, nb = float(np.hypot(*a)), float(np.hypot(*b))
    if na < 1e-6 or nb < 1e-6:
        return None
    return math.degrees(math.acos(max(-1.0, min(1.0, float(np.dot(a, b)) / (na * nb)))))


def _state_runs(moving: np.ndarray) -> list[tuple[bool, int, int]]:
    runs, start = [], 0
    for i in range(1, len(moving) + 1):
        if i == len(moving) or moving[i] != moving[start]:
            runs.append((bool(moving[start]), start, i - 1))
            start = i
    return runs


def _turn_events(track: TrackSeries, motion: _Motion, moving: np.ndarray, config: EventConfig) -> list[Event]:
    """Peaks of heading change: the direction over the window before a frame vs the one after
    it. Peaks closer than a window apart are one turn (the sharper one)."""
    times = track.times_seconds
    n = len(times)
    centres = motion.centres  # (N, 2) cleaned, not averaged: a bounce stays sharp
    threshold = motion.threshold
    # Each leg must be long enough for the object to travel `turn_leg_ratio` of its size at its
    # usual speed, or box jitter decides the heading: ~0.2 s for the world's fast shapes, most
    # of a second for a walking person whose box breathes with every step; and no shorter than
    # the track's smoothing window, which its jitter sets.
    usual_speed = float(np.median(motion.speed[moving])) if moving.any() else 0.0
    # A noisy track's legs span what one of its motion states must last (a walker turning round
    # pauses inside that span); a crisp track's jitter asks for almost nothing.
    window = max(config.turn_window_seconds, motion.window)
    if usual_speed > 0:
        leg = config.turn_leg_ratio * motion.size / usual_speed
        window = max(window, min(config.max_turn_window_seconds, leg))
    window = min(window, max(config.max_turn_window_seconds, motion.window))
    before = np.searchsorted(times, times - window - 1e-9, side="left")  # (N,)
    after = np.searchsorted(times, times + window + 1e-9, side="right") - 1  # (N,)
    heading_in = centres - centres[before]  # (N, 2) displacement over the window before
    heading_out = centres[after] - centres  # (N, 2) and after
    dist_in = np.hypot(heading_in[:, 0], heading_in[:, 1])
    dist_out = np.hypot(heading_out[:, 0], heading_out[:, 1])
    span_in, span_out = times - times[before], times[after] - times
    # Both legs must be real motion: at least half the moving speed over what time they cover.
    valid = (dist_in > 0.5 * threshold * span_in) & (dist_out > 0.5 * threshold * span_out)
    valid &= (span_in > 0) & (span_out > 0) & track.visible
    # A leg cut short by the track's first or last frame is mostly box jitter as the object
    # comes into view: half a window at least on each side.
    valid &= (span_in >= 0.5 * window - 1e-9) & (span_out >= 0.5 * window - 1e-9)
    # px: below this, box jitter sets the heading (2 px, or four times the track's own noise).
    least = max(2.0, 4.0 * motion.jitter)
    valid &= (dist_in > least) & (dist_out > least)
    # Boxes whose size is off cannot give a heading: cut by the frame edge or partly hidden (the
    # centre slides as the box shrinks), or merged with a touching object of the same colour.
    # (Not "at the edge": walls are where objects bounce, and bounces are turns.)
    wh = track.boxes[:, 2:] - track.boxes[:, :2]
    area = wh[:, 0] * wh[:, 1]
    usual = float(np.median(area))
    odd = (area > config.merged_area_ratio * usual) | (area < config.turn_min_area_ratio * usual)
    odd_before = np.array([odd[before[i] : i + 1].any() for i in range(n)])
    odd_after = np.array([odd[i : after[i] + 1].any() for i in range(n)])
    valid &= ~odd_before & ~odd_after
    # Only something that moves turns: a still object's jitter can fake two short legs.
    valid &= np.array([moving[before[i] : after[i] + 1].any() for i in range(n)])
    cosine = np.einsum("nd,nd->n", heading_in, heading_out) / np.maximum(dist_in * dist_out, 1e-9)
    angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    angle[~valid] = 0.0
    # A path that wobbles (a walker's sway, a box that breathes) needs a sharper change to count:
    # `turn_wobble_ratio` times its usual heading change between legs. The world's shapes run
    # straight (usual change ~0) and keep `turn_degrees`.
    least_degrees = config.turn_degrees
    if valid.sum() >= 5:
        least_degrees = max(least_degrees, config.turn_wobble_ratio * float(np.percentile(angle[valid], 25)))
    candidates = [i for i in range(n) if angle[i] > least_degrees
                  and angle[i] >= angle[max(0, i - 1)] and angle[i] >= angle[min(n - 1, i + 1)]]
    candidates.sort(key=lambda i: -angle[i])
    kept: list[int] = []
    for i in candidates:
        if all(abs(times[i] - times[k]) > window for k in kept):
            kept.append(i)
    return [Event("turn", [track.track_id], int(track.frame_indices[i]), int(track.frame_indices[i]),
                  attributes={"degrees": round(float(angle[i]), 1)}) for i in sorted(kept)]


def _occlusion_events(track: TrackSeries, series: list[TrackSeries], frame_size, config: EventConfig) -> list[Event]:
    """Runs of frames where the track is hidden (kept by the tracker without a detection) or
    seen at under half its usual size, while another track's box covers its usual box:
    occluded, track_ids [hidden, occluder] (the occluder covering it in most of those frames)."""
    n = len(track.frame_indices)
    if n < 2:
        return []
    wh = track.boxes[:, 2:] - track.boxes[:, :2]  # (N, 2)
    usual = np.median(wh[track.visible], axis=0) if track.visible.any() else np.median(wh, axis=0)
    area = wh[:, 0] * wh[:, 1]
    shrunk = area < config.occluded_area_ratio * usual[0] * usual[1]
    if frame_size is not None:
        width, height = frame_size
        at_edge = ((track.boxes[:, 0] <= config.border_px) | (track.boxes[:, 1] <= config.border_px)
                   | (track.boxes[:, 2] >= width - config.border_px) | (track.boxes[:, 3] >= height - config.border_px))
        shrunk &= ~at_edge  # cut by the frame edge, not hidden
    candidate = ~track.visible | shrunk
    if not candidate.any():
        return []
    centres = track.centres
    full = np.concatenate([centres - usual / 2, centres + usual / 2], axis=1)  # (N, 4) the usual box here
    occluder = np.full(n, -1)
    lookup, usual_area = {}, {}
    for other in series:
        if other.track_id == track.track_id:
            continue
        lookup[other.track_id] = dict(zip(other.frame_indices.tolist(), range(len(other.frame_indices))))
        other_wh = other.boxes[:, 2:] - other.boxes[:, :2]
        usual_area[other.track_id] = float(np.median(other_wh[:, 0] * other_wh[:, 1]))
    for i in np.flatnonzero(candidate):
        frame = int(track.frame_indices[i])
        best, best_cover = -1, config.occluder_cover
        for other in series:
            if other.track_id == track.track_id:
                continue
            k = lookup[other.track_id].get(frame)
            if k is None or not other.visible[k]:
                continue
            # A box much bigger than usual is two objects seen as one (same colour, touching):
            # the other is beside it, not behind it.
            w, h = other.boxes[k, 2:] - other.boxes[k, :2]
            if w * h > config.merged_area_ratio * usual_area[other.track_id]:
                continue
            cover = _cover(full[i], other.boxes[k])
            if cover >= best_cover:
                best, best_cover = other.track_id, cover
        occluder[i] = best
    events = []
    for start, end in _runs(occluder >= 0):
        ids, counts = np.unique(occluder[start : end + 1], return_counts=True)
        main = int(ids[np.argmax(counts)])
        events.append(Event("occluded", [track.track_id, main], int(track.frame_indices[start]),
                            int(track.frame_indices[end])))
    return events


def _cover(box: np.ndarray, other: np.ndarray) -> float:
    """Share of `box`'s area inside `other`."""
    w = min(box[2], other[2]) - max(box[0], other[0])
    h = min(box[3], other[3]) - max(box[1], other[1])
    if w <= 0 or h <= 0:
        return 0.0
    return float(w * h / max((box[2] - box[0]) * (box[3] - box[1]), 1e-9))


def _motion_change(track: TrackSeries, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Per observation: velocity (px/s) over `window` seconds before and after it, (N, 2) each."""
    times, centres = track.times_seconds, track.centres
    before = np.searchsorted(times, times - window - 1e-9, side="left")
    after = np.searchsorted(times, times + window + 1e-9, side="right") - 1
    v_in = (centres - centres[before]) / np.maximum(times - times[before], 1e-9)[:, None]
    v_out = (centres[after] - centres) / np.maximum(times[after] - times, 1e-9)[:, None]
    v_in[before == np.arange(len(times))] = np.nan
    v_out[after == np.arange(len(times))] = np.nan
    return v_in, v_out


def _changes_motion(v_in: np.ndarray, v_out: np.ndarray, threshold: float, degrees: float) -> bool:
    if not (np.all(np.isfinite(v_in)) and np.all(np.isfinite(v_out))):
        return False
    s_in, s_out = float(np.hypot(*v_in)), float(np.hypot(*v_out))
    if max(s_in, s_out) < threshold:
        return False  # still before and after
    if min(s_in, s_out) < threshold / 2:
        return True  # started or stopped
    if abs(s_out - s_in) > 0.35 * max(s_in, s_out):
        return True
    cosine = float(np.dot(v_in, v_out)) / (s_in * s_out)
    return cosine < math.cos(math.radians(degrees))


def _pair_events(series: list[TrackSeries], motions: dict[int, _Motion], config: EventConfig) -> list[Event]:
    """collide, push and approach between every pair of tracks seen together."""
    motion = {}
    for track in series:
        if len(track.frame_indices):
            threshold = max(config.min_moving_speed_px_s, config.moving_speed_ratio * float(np.median(track.sizes)))
            motion[track.track_id] = (*_motion_change(track, config.turn_window_seconds), threshold)
    events = []
    for i in range(len(series)):
        for j in range(i + 1, len(series)):
            events += _pair_events_one(series[i], series[j], motion, config)
            events += _approach_events(series[i], series[j], motions, config)
    return events


def _approach_events(a: TrackSeries, b: TrackSeries, motions: dict[int, _Motion], config: EventConfig) -> list[Event]:
    """Runs where the smoothed gap between two tracks shrinks for `approach_seconds`, to at most
    `approach_ratio` of where it started, by at least `approach_close_sizes` mean sizes, ending
    within `approach_near_sizes` of contact and staying there `approach_hold_seconds`."""
    common, index_a, index_b = np.intersect1d(a.frame_indices, b.frame_indices, return_indices=True)
    if len(common) < 3 or a.track_id not in motions or b.track_id not in motions:
        return []
    motion_a, motion_b = motions[a.track_id], motions[b.track_id]
    # Boxes rebuilt from the smoothed centres and each track's usual width and height: a
    # breathing box does not make the gap breathe.
    half_a = np.median(a.boxes[:, 2:] - a.boxes[:, :2], axis=0) / 2  # (2,)
    half_b = np.median(b.boxes[:, 2:] - b.boxes[:, :2], axis=0) / 2
    offset = np.abs(motion_a.smoothed[index_a] - motion_b.smoothed[index_b])  # (K, 2)
    apart = np.maximum(offset - (half_a + half_b)[None], 0.0)  # (K, 2)
    gap = np.hypot(apart[:, 0], apart[:, 1])  # (K,) px between the rebuilt boxes
    size = (motion_a.size + motion_b.size) / 2
    near = config.approach_near_sizes * size
    times = a.times_seconds[index_a]
    both_visible = a.visible[index_a] & b.visible[index_b]
    shrinking = np.zeros(len(common), dtype=bool)
    shrinking[1:] = (np.diff(gap) < 0) & both_visible[1:] & both_visible[:-1]
    pair = sorted([a.track_id, b.track_id])
    events = []
    for start, end in _runs(shrinking):
        start = max(0, start - 1)
        # The run ends where the gap stops shrinking; contact (gap 0) may come earlier.
        reached = np.flatnonzero(gap[start : end + 1] <= near)
        if not len(reached):
            continue
        end = start + int(reached[0])
        if times[end] - times[start] < config.approach_seconds:
            continue
        if gap[end] > config.approach_ratio * gap[start] or gap[start] - gap[end] < config.approach_close_sizes * size:
            continue
        # Someone must move to close in: two still boxes drifting together are jitter or a
        # group splitting and merging in the detector.
        moving = (motion_a.speed[index_a[start : end + 1]] > motion_a.threshold) | \
            (motion_b.speed[index_b[start : end + 1]] > motion_b.threshold)
        if moving.mean() < 0.5:
            continue
        # Held: still within reach `approach_hold_seconds` later (or until one of them is gone).
        later = np.flatnonzero(times >= times[end] + config.approach_hold_seconds)
        hold_until = int(later[0]) if len(later) else len(common) - 1
        if hold_until > end and np.max(gap[end : hold_until + 1]) > near:
            continue
        # ... and together: standing, or walking on side by side. A passer-by stays within
        # reach for a moment too, but keeps moving relative to the other.
        relative = motion_a.velocity[index_a[end : hold_until + 1]] - motion_b.velocity[index_b[end : hold_until + 1]]
        if float(np.median(np.hypot(relative[:, 0], relative[:, 1]))) > max(motion_a.threshold, motion_b.threshold):
            continue
        if not len(later) and times[-1] - times[end] < 0.5 * config.approach_hold_seconds:
            continue  # the pair is seen together too briefly after closing in to tell
        events.append(Event("approach", pair, int(common[start]), int(common[end])))
    return events


def _without_rebirths(events: list[Event], series: list[TrackSeries], config: EventConfig) -> list[Event]:
    """Drop disappear/appear pairs where a track vanishes and another starts on the same spot
    moments later: the tracker lost and found one object, nothing happened in the scene."""
    by_id = {track.track_id: track for track in series if len(track.frame_indices)}
    vanished = [e for e in events if e.type == "disappear"]
    born = [e for e in events if e.type == "appear"]
    dropped: set[int] = set()
    for gone in vanished:
        old = by_id[gone.track_ids[0]]
        for new in born:
            if id(new) in dropped:
                continue
            fresh = by_id[new.track_ids[0]]
            delay = float(fresh.times_seconds[0] - old.times_seconds[-1])
            if not 0 <= delay <= config.rebirth_seconds:
                continue
            size = max(float(np.median(old.sizes)), 1.0)
            if np.hypot(*(fresh.centres[0] - old.centres[-1])) <= config.rebirth_sizes * size:
                dropped.update((id(gone), id(new)))
                break
    return [e for e in events if id(e) not in dropped]


_ONE_TRACK_MOTION = ("start", "stop", "turn")


def _without_duplicates(events: list[Event], series: list[TrackSeries], motions: dict[int, _Motion],
                        config: EventConfig) -> list[Event]:
    """One object tracked twice (two tracks whose boxes overlap by `duplicate_iou` at the event)
    reports a start, stop or turn once: the longer track keeps it. Events of one type closer
    in time than the tracks' smoothing window count as the same event."""
    by_id = {track.track_id: track for track in series if len(track.frame_indices)}
    kept: list[Event] = []
    for event in sorted(events, key=lambda e: -len(by_id[e.track_ids[0]].frame_indices) if e.track_ids[0] in by_id else 0):
        if event.type not in _ONE_TRACK_MOTION:
            kept.append(event)
            continue
        track = by_id[event.track_ids[0]]
        duplicate = False
        for other in kept:
            if other.type != event.type or other.track_ids[0] == event.track_ids[0]:
                continue
            twin = by_id[other.track_ids[0]]
            window = max(motions[track.track_id].window, motions[twin.track_id].window)
            seconds = abs(_time_at(track, event.start_frame) - _time_at(twin, other.start_frame))
            if seconds > window:
                continue
            box, twin_box = _box_at(track, event.start_frame), _box_at(twin, event.start_frame)
            if twin_box is not None and box_iou(box[None], twin_box[None])[0, 0] >= config.duplicate_iou:
                duplicate = True
                break
        if not duplicate:
            kept.append(event)
    return kept


def _time_at(track: TrackSeries, frame: int) -> float:
    """Seconds of the track's observation nearest `frame`."""
    return float(track.times_seconds[int(np.argmin(np.abs(track.frame_indices - frame)))])


def _box_at(track: TrackSeries, frame: int) -> np.ndarray | None:
    """The track's box at `frame`, if it has an observation there."""
    where = np.flatnonzero(track.frame_indices == frame)
    return track.boxes[int(where[0])] if len(where) else None


def _is_push(a, b, index_a, index_b, start, end, times, motion, config) -> bool:
    """A push: in contact for at least `push_min_seconds`, one of the two resting before the
    contact, and both moving together (same velocity within half its size) while in contact."""
    if times[end] - times[start] < config.push_min_seconds:
        return False
    speeds_before, thresholds = [], []
    for track, index in ((a, index_a), (b, index_b)):
        v_in, _, threshold = motion[track.track_id]
        v = v_in[index[start]]
        speeds_before.append(float(np.hypot(*v)) if np.all(np.isfinite(v)) else np.inf)
        thresholds.append(threshold)
    if not any(s < t / 2 for s, t in zip(speeds_before, thresholds)):
        return False  # both were moving: a collision, however long they stay close
    centres_a = a.centres[index_a[start : end + 1]]
    centres_b = b.centres[index_b[start : end + 1]]
    if end - start < 2:
        return False
    moves_a = centres_a[-1] - centres_a[0]
    moves_b = centres_b[-1] - centres_b[0]
    together = np.hypot(*(moves_a - moves_b)) < 0.5 * np.hypot(*moves_a)
    moving = np.hypot(*moves_a) > thresholds[0] * (times[end] - times[start]) * 0.5
    return bool(together and moving)


def _pair_events_one(a: TrackSeries, b: TrackSeries, motion: dict, config: EventConfig) -> list[Event]:
    """collide and push (contact with a change of motion) between two tracks."""
    common, index_a, index_b = np.intersect1d(a.frame_indices, b.frame_indices, return_indices=True)
    if len(common) < 2:
        return []
    boxes_a, boxes_b = a.boxes[index_a], b.boxes[index_b]
    overlap_x = np.minimum(boxes_a[:, 2], boxes_b[:, 2]) - np.maximum(boxes_a[:, 0], boxes_b[:, 0])
    overlap_y = np.minimum(boxes_a[:, 3], boxes_b[:, 3]) - np.maximum(boxes_a[:, 1], boxes_b[:, 1])
    gap = np.hypot(np.maximum(0.0, -overlap_x), np.maximum(0.0, -overlap_y))  # (K,) px between closest edges
    # Shapes meet before their boxes touch when they are not boxes (a diamond fills half its box),
    # and a meeting can fall between two sampled frames: contact allows a gap of a share of the
    # objects' size.
    size = (a.sizes[index_a] + b.sizes[index_b]) / 2  # (K,)
    contact = gap <= np.maximum(config.contact_px, config.contact_ratio * size)
    times = a.times_seconds[index_a]
    pair = sorted([a.track_id, b.track_id])
    events = []
    # Contact runs, bridging flickers of up to `contact_bridge` frames.
    runs = []
    for start, end in _runs(contact):
        if runs and start - runs[-1][1] - 1 <= config.contact_bridge_frames:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    for start, end in runs:
        if start == 0:
            continue  # already in contact when we started looking: the meeting was not seen
        onset = int(common[start + int(np.argmin(gap[start : end + 1]))]) if end - start < 3 else int(common[start])
        # Did either object change its motion around the onset (within one window)?
        changed = {}
        for track, index in ((a, index_a), (b, index_b)):
            v_in, v_out, threshold = motion[track.track_id]
            lo, hi = max(0, start - 1), min(len(common) - 1, start + 1)
            changed[track.track_id] = any(_changes_motion(v_in[index[k]], v_out[index[k]], threshold, 20.0)
                                          for k in range(lo, hi + 1))
        if not any(changed.values()):
            continue  # passing over or under without touching: no collision
        if _is_push(a, b, index_a, index_b, start, end, times, motion, config):
            speed_before = {}
            for track, index in ((a, index_a), (b, index_b)):
                v_in, _, _ = motion[track.track_id]
                v = v_in[index[start]]
                speed_before[track.track_id] = float(np.hypot(*v)) if np.all(np.isfinite(v)) else 0.0
            pusher = max(speed_before, key=speed_before.get)
            target = a.track_id if pusher == b.track_id else b.track_id
            events.append(Event("push", [pusher, target], int(common[start]), int(common[end])))
        elif times[end] - times[start] <= config.collide_max_seconds:
            events.append(Event("collide", pair, onset, onset))
        # else: long overlap that is not a push (one drawn over the other): no collision
    return events
