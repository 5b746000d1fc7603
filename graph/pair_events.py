"""Events between two tracks: occluded (one hidden behind the other), collide and push
(contact with a change of motion), approach (closing in and staying together).

Approach means really closing in: the (smoothed) gap shrinks by at least
`approach_close_sizes` body sizes to within `approach_near_sizes`, and the two stay that close,
moving together (or standing), for `approach_hold_seconds`: people meeting; two walkers passing
each other do not qualify. graph/events.py calls these for every pair of tracks.
"""

from __future__ import annotations

import math

import numpy as np

from videothought.graph.motion import EventConfig, Motion, TrackSeries, true_runs
from videothought.graph.schema import Event


def occlusion_events(track: TrackSeries, series: list[TrackSeries], frame_size, config: EventConfig) -> list[Event]:
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
    for start, end in true_runs(occluder >= 0):
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


def pair_events(series: list[TrackSeries], motions: dict[int, Motion], config: EventConfig) -> list[Event]:
    """collide, push and approach between every pair of tracks seen together."""
    motion = {}
    for track in series:
        if len(track.frame_indices):
            threshold = max(config.min_moving_speed_px_s, config.moving_speed_ratio * float(np.median(track.sizes)))
            motion[track.track_id] = (*_motion_change(track, config.turn_window_seconds), threshold)
    events = []
    for i in range(len(series)):
        for j in range(i + 1, len(series)):
            events += _contact_events(series[i], series[j], motion, config)
            events += _approach_events(series[i], series[j], motions, config)
    return events


def _approach_events(a: TrackSeries, b: TrackSeries, motions: dict[int, Motion], config: EventConfig) -> list[Event]:
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
    for start, end in true_runs(shrinking):
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


def _contact_events(a: TrackSeries, b: TrackSeries, motion: dict, config: EventConfig) -> list[Event]:
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
    for start, end in true_runs(contact):
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
