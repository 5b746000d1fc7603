"""Events detected from tracks: enter, exit, appear, disappear, approach, collide, start,
stop, turn, occluded; each with a frame span and the tracks involved.

Input is per-track sequences of (frame_index, time_seconds, box, visible), so the detector
works the same on a tracker's output and on ground truth. Speeds are in pixels per second,
computed from box centres over time (frames may be sampled sparsely: time, not frame count,
sets the scale), and compared with the object's own size (a walking person covers about one
body size a second, the world's shapes two to six).

Motion is read from a cleaned, smoothed path (graph/motion.py). A motion state must last at
least the track's smoothing window, and the same window sets the turn legs, so every event of a
noisy track is judged over a span its noise cannot fake.

    moving?  speed ──────╮        ╭──────  hysteresis: a track starts moving when its
             high ─ ─ ─ ─│─ ─ ─ ─ │─ ─ ─   smoothed speed rises above the threshold, and
             low  ─ ─ ─ ─╰────────╯─ ─ ─   stops when it falls below half of it, held for
                         stop    start     max(min_state_seconds, window).

Events between two tracks (occluded, collide, push, approach) are graph/pair_events.py's.
One object tracked twice (two overlapping tracks) reports its start/stop/turn once, and a
track that breaks and resumes on the spot (disappear + appear) reports neither.
"""

from __future__ import annotations

import math

import numpy as np

from videothought.graph.motion import EventConfig, Motion, TrackSeries, clean_motion
from videothought.graph.pair_events import occlusion_events, pair_events
from videothought.graph.schema import Event, box_iou

__all__ = ["EVENTS_VERSION", "EventConfig", "TrackSeries", "detect_events"]


# Bumped whenever detection changes what it finds: a cached STSG stamped with another version
# has its events detected again from its tracks (tracking is the slow part; events are cheap).
EVENTS_VERSION = 5


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
    motions = {track.track_id: clean_motion(track, config) for track in series if len(track.frame_indices)}
    for track in series:
        if not len(track.frame_indices):
            continue
        events += _presence_events(track, frame_size, video_frames, config)
        events += _motion_events(track, motions[track.track_id], frame_size, config)
        events += occlusion_events(track, series, frame_size, config)
    events += pair_events(series, motions, config)
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


def _motion_events(track: TrackSeries, motion: Motion, frame_size, config: EventConfig) -> list[Event]:
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


def _turn_events(track: TrackSeries, motion: Motion, moving: np.ndarray, config: EventConfig) -> list[Event]:
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


def _without_duplicates(events: list[Event], series: list[TrackSeries], motions: dict[int, Motion],
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
