"""Reasoning over one scene that a program's operators share: causes, dependence on an object,
where motion leads, which way things go. Exact functions of a graph.query.SceneQuery; nothing
here reads language or knows a dataset.

    cause_at(scene, [3], frame=40, kind="turn")   # ("contact", 5, "collide") / ("border", "left") / ("self", None)
    touching(scene, [3], [5], frame=40)           # boxes within touching distance around the frame
    edge_behaviour(scene, 3)                       # (turn prior, exit prior) at a frame edge, learned from the video
    net_direction(scene, 3)                        # "left" / "right" / "up" / "down" / "towards" / "away" / "still"
"""

from __future__ import annotations

import numpy as np

CAUSE_CONTACTS = ("collide", "push")  # contacts that can start, stop or turn a thing
STILL_FRACTION = 0.5  # a net displacement under half the object's own size is "still"
DEPTH_RATIO = 1.25  # a box that grows (shrinks) by this factor comes towards (goes away from) the camera


def cause_at(scene, subject: list[int], frame: int, kind: str | None = None) -> tuple[str, object, str | None]:
    """What acted on the subject at `frame`: ("contact", partner, "collide"|"push"), ("border", side, None)
    or ("self", None, None).

    A contact acts where it *begins*: a push that has run for a while, or ends here, is no cause of
    a change at this frame. A frame edge can turn or halt a thing that runs into it; it cannot set a
    resting one moving, so for a start (`kind="start"`) only contacts count. Touching a frame edge
    at the change's own frame outweighs a contact a few frames off."""
    contacts = [h for t in subject for h in scene.interactions_near(t, frame) if h.kind in CAUSE_CONTACTS
                and abs(h.event.start_frame - frame) <= scene.near_frames]
    edge = None if kind == "start" else \
        next((side for t in subject if (side := scene.border_contact(t, frame, window_frames=0))), None)
    if contacts and not (edge and all(h.frame != frame for h in contacts)):
        nearest = min(contacts, key=lambda h: abs(h.frame - frame))
        return ("contact", nearest.partner, nearest.kind)
    if kind == "start":
        return ("self", None, None)
    if edge:
        return ("border", edge, None)
    for track in subject:
        side = scene.border_contact(track, frame)
        if side:
            return ("border", side, None)
    return ("self", None, None)


def seen_together(scene, track: int, other: int, around: int | None = None):
    """Centres and radii of two tracks in the frames both are seen (within a second of `around`):
    (centres_a (K, 2), centres_b (K, 2), radii_a (K,), radii_b (K,)), or None."""
    a, b = scene.boxes(track), scene.boxes(other)
    if not len(a) or not len(b):
        return None
    frames = np.intersect1d(a[:, 0], b[:, 0])
    if around is not None:
        frames = frames[np.abs(frames - around) <= scene.fps]
    if not len(frames):
        return None
    rows_a = a[np.isin(a[:, 0], frames)]
    rows_b = b[np.isin(b[:, 0], frames)]
    centre = lambda rows: (rows[:, 1:3] + rows[:, 3:5]) / 2  # (K, 2)
    radius = lambda rows: np.maximum(rows[:, 3] - rows[:, 1], rows[:, 4] - rows[:, 2]) / 2  # (K,)
    return centre(rows_a), centre(rows_b), radius(rows_a), radius(rows_b)


def touching(scene, subject: list[int], others, frame: int) -> bool:
    """Were the boxes of `subject` and of any of `others` within touching distance (a gap under a
    third of their radii) around `frame`? A contact the event detector may have missed."""
    for track in subject:
        for other in others:
            if other == track or other not in scene.tracks:
                continue
            pair = seen_together(scene, track, other, around=frame)
            if pair is None:
                continue
            centre_a, centre_b, radius_a, radius_b = pair
            gap = np.linalg.norm(centre_a - centre_b, axis=1) - radius_a - radius_b
            if float((gap - (radius_a + radius_b) / 3).min()) <= 0:
                return True
    return False


def closest_gap(scene, track: int, other: int) -> float | None:
    """The smallest gap between two tracks' boxes (pixels, negative when overlapping), None if never seen together."""
    pair = seen_together(scene, track, other)
    if pair is None:
        return None
    centre_a, centre_b, radius_a, radius_b = pair
    return float((np.linalg.norm(centre_a - centre_b, axis=1) - radius_a - radius_b).min())


def closest_approach(scene, track: int, other: int) -> tuple[float, int] | None:
    """(the smallest gap between two tracks' boxes in pixels, negative when overlapping; the frame
    of it), None when they are never seen together."""
    a, b = scene.boxes(track), scene.boxes(other)
    if not len(a) or not len(b):
        return None
    frames = np.intersect1d(a[:, 0], b[:, 0])
    if not len(frames):
        return None
    rows_a, rows_b = a[np.isin(a[:, 0], frames)], b[np.isin(b[:, 0], frames)]  # (K, 5) each, same frames
    centre = lambda rows: (rows[:, 1:3] + rows[:, 3:5]) / 2  # (K, 2)
    radius = lambda rows: np.maximum(rows[:, 3] - rows[:, 1], rows[:, 4] - rows[:, 2]) / 2  # (K,)
    gaps = np.linalg.norm(centre(rows_a) - centre(rows_b), axis=1) - radius(rows_a) - radius(rows_b)  # (K,)
    best = int(np.argmin(gaps))
    return float(gaps[best]), int(frames[best])


def edge_behaviour(scene, track: int) -> tuple[float, float]:
    """What this track and the others did at the frame edge so far, as (turn, exit) weights in [0, 1]
    (the likelier one is 1). Learned from the video itself: a frame edge is the camera's, not a wall,
    so without evidence a thing reaching it leaves the picture (a prior of one exit against half a
    rebound); rebounds seen at the edges outweigh it, this thing's own twice as much as others'."""
    rebounds = {t: sum(1 for h in scene.happenings(t) if h.kind == "turn" and scene.border_contact(t, h.frame))
                for t in scene.tracks}
    own = rebounds.get(track, 0)
    others = sum(rebounds.values()) - own
    exits = sum(1 for _ in scene.events("exit"))
    turns = 2.0 * own + 0.5 * others
    turning = (turns + 0.5) / (turns + 0.5 * exits + 1.5)
    best = max(turning, 1.0 - turning)
    return turning / best, (1.0 - turning) / best


def net_direction(scene, track: int) -> str:
    """Which way a track goes over its life, in image terms. Sideways and vertical motion is its box
    centre's net displacement, against its own size (a jittering box goes nowhere); towards/away is
    its box growing or shrinking by DEPTH_RATIO with little sideways motion."""
    said = (scene.tracks[track].attributes.get("walking_direction") if track in scene.tracks else None)
    if said in ("left", "right", "up", "down", "towards", "away", "still") and scene.until_frame is None:
        return said  # perception's own reading (smoothed, perception/people.py) when it wrote one
    boxes = scene.boxes(track)
    if len(boxes) < 2:
        return "still"
    k = max(1, len(boxes) // 5)  # the first and last fifth, averaged: robust to a jittery end
    start, end = boxes[:k, 1:].mean(0), boxes[-k:, 1:].mean(0)  # (4,) x1, y1, x2, y2
    size = float(np.median(np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 4] - boxes[:, 2])))
    dx = (end[0] + end[2] - start[0] - start[2]) / 2
    dy = (end[1] + end[3] - start[1] - start[3]) / 2
    area = lambda b: max(1.0, (b[2] - b[0]) * (b[3] - b[1]))
    growth = float(np.sqrt(area(end) / area(start)))
    if max(abs(dx), abs(dy)) < STILL_FRACTION * size:
        if growth >= DEPTH_RATIO:
            return "towards"
        if growth <= 1 / DEPTH_RATIO:
            return "away"
        return "still"
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    if growth >= DEPTH_RATIO:
        return "towards"
    if growth <= 1 / DEPTH_RATIO:
        return "away"
    return "down" if dy > 0 else "up"


def mean_speed(scene, track: int) -> float:
    """Mean speed of the box centre in pixels per frame (0 for a track seen once)."""
    boxes = scene.boxes(track)
    if len(boxes) < 2:
        return 0.0
    centres = (boxes[:, 1:3] + boxes[:, 3:5]) / 2  # (N, 2)
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)  # (N - 1,)
    return float(steps.sum() / max(1.0, boxes[-1, 0] - boxes[0, 0]))


def moves_together(scene, tracks: list[int], *, max_gap_sizes: float = 1.5, min_shared_fraction: float = 0.5) -> bool:
    """Do these tracks move together: seen in the same frames for most of their lives, going the same
    way, never further apart than `max_gap_sizes` box sizes?"""
    if len(tracks) < 2:
        return False
    first = tracks[0]
    for other in tracks[1:]:
        pair = seen_together(scene, first, other)
        if pair is None:
            return False
        centre_a, centre_b, radius_a, radius_b = pair
        shared = len(centre_a) / max(1, min(len(scene.boxes(first)), len(scene.boxes(other))))
        gaps = np.linalg.norm(centre_a - centre_b, axis=1) / np.maximum(radius_a + radius_b, 1.0)
        if shared < min_shared_fraction or float(np.median(gaps)) > max_gap_sizes:
            return False
        if net_direction(scene, first) != net_direction(scene, other):
            return False
    return True
