"""Spatial relations between boxes seen in the same frame, computed for many pairs at once.

Image coordinates: x grows to the right, y grows downwards; boxes are [x1, y1, x2, y2] pixels.

Each unordered pair of observations in a frame gets at most one *directional* relation
and at most one *contact* relation, stored once, in a canonical direction:

    directional   left_of (a -> b: a's centre is left of b's, horizontal offset dominates)
                  above   (a -> b: a's centre is above b's, vertical offset dominates)
    contact       contains    (a -> b: b's box lies inside a's, a bigger)
                  overlapping (boxes share area; stored from the lower to the higher track id)
                  touching    (edges within `touch_px`, no shared area; lower -> higher id)
                  near        (gap below `near_ratio` x the pair's mean size; lower -> higher id)

right_of and below are the inverses of left_of and above: queries derive them on request
instead of storing every fact twice (a 10-object frame has 45 pairs; doubling the edges
doubled the time to build a 10,000-frame graph).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INVERSE_RELATIONS = {
    "left_of": "right_of",
    "right_of": "left_of",
    "above": "below",
    "below": "above",
    "near": "near",
    "overlapping": "overlapping",
    "touching": "touching",
    "contains": "inside",  # not a stored relation: only named in text
}
SYMMETRIC_RELATIONS = ("near", "overlapping", "touching")


@dataclass(frozen=True)
class RelationConfig:
    touch_px: float = 2.0  # gaps up to 2 px count as contact: box edges from detectors jitter by about that
    near_ratio: float = 1.0  # "near": gap below one mean object size (sqrt of box area)
    contain_tolerance_px: float = 1.0  # rounding of box edges must not break "contains"

    def __post_init__(self):
        for name in ("touch_px", "near_ratio", "contain_tolerance_px"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"RelationConfig.{name} must be a finite number >= 0, got {value!r}")


def box_gaps(boxes_a: np.ndarray, boxes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: (gap_x, gap_y) between boxes (0 where they overlap on that axis), and
    (overlap_x, overlap_y) widths (0 where they do not). Inputs (N, 4); outputs (N, 2) each."""
    overlap_x = np.minimum(boxes_a[:, 2], boxes_b[:, 2]) - np.maximum(boxes_a[:, 0], boxes_b[:, 0])  # (N,)
    overlap_y = np.minimum(boxes_a[:, 3], boxes_b[:, 3]) - np.maximum(boxes_a[:, 1], boxes_b[:, 1])  # (N,)
    gaps = np.stack([np.maximum(0.0, -overlap_x), np.maximum(0.0, -overlap_y)], axis=1)  # (N, 2)
    overlaps = np.stack([np.maximum(0.0, overlap_x), np.maximum(0.0, overlap_y)], axis=1)  # (N, 2)
    return gaps, overlaps


def pair_relations(
    boxes_a: np.ndarray,
    boxes_b: np.ndarray,
    track_a: np.ndarray,
    track_b: np.ndarray,
    config: RelationConfig = RelationConfig(),
) -> list[list[tuple[int, str]]]:
    """Relations for N pairs (a[i], b[i]). Returns, per pair, a list of (direction, relation):
    direction +1 means the edge goes a -> b, -1 means b -> a."""
    boxes_a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    boxes_b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    directional, contact = relation_codes(boxes_a, boxes_b, np.asarray(track_a), np.asarray(track_b), config)
    result = []
    for d, c in zip(directional.tolist(), contact.tolist()):
        facts = []
        if d:
            facts.append((1 if d > 0 else -1, _DIRECTIONAL[abs(d)]))
        if c:
            facts.append((1 if c > 0 else -1, _CONTACT[abs(c)]))
        result.append(facts)
    return result


_DIRECTIONAL = {1: "left_of", 2: "above"}
_CONTACT = {1: "contains", 2: "overlapping", 3: "touching", 4: "near"}


def relation_codes(
    boxes_a: np.ndarray,
    boxes_b: np.ndarray,
    track_a: np.ndarray,
    track_b: np.ndarray,
    config: RelationConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised core. Returns two int8 arrays (N,): signed codes, sign = edge direction
    (+: a -> b, -: b -> a), magnitude indexes _DIRECTIONAL / _CONTACT, 0 = no relation."""
    n = len(boxes_a)
    centre_a = (boxes_a[:, :2] + boxes_a[:, 2:]) / 2  # (N, 2)
    centre_b = (boxes_b[:, :2] + boxes_b[:, 2:]) / 2  # (N, 2)
    offset = centre_b - centre_a  # (N, 2): b relative to a
    horizontal = np.abs(offset[:, 0]) >= np.abs(offset[:, 1])
    directional = np.zeros(n, dtype=np.int8)
    directional[horizontal & (offset[:, 0] > 0)] = 1
    directional[horizontal & (offset[:, 0] < 0)] = -1
    directional[~horizontal & (offset[:, 1] > 0)] = 2
    directional[~horizontal & (offset[:, 1] < 0)] = -2

    gaps, overlaps = box_gaps(boxes_a, boxes_b)
    distance = np.hypot(gaps[:, 0], gaps[:, 1])  # (N,) pixels between the closest edges
    area_a = (boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1])
    area_b = (boxes_b[:, 2] - boxes_b[:, 0]) * (boxes_b[:, 3] - boxes_b[:, 1])
    size = (np.sqrt(area_a) + np.sqrt(area_b)) / 2  # (N,) mean object size in pixels
    tol = config.contain_tolerance_px
    a_contains_b = (
        (boxes_a[:, 0] <= boxes_b[:, 0] + tol)
        & (boxes_a[:, 1] <= boxes_b[:, 1] + tol)
        & (boxes_a[:, 2] >= boxes_b[:, 2] - tol)
        & (boxes_a[:, 3] >= boxes_b[:, 3] - tol)
        & (area_a > area_b)
    )
    b_contains_a = (
        (boxes_b[:, 0] <= boxes_a[:, 0] + tol)
        & (boxes_b[:, 1] <= boxes_a[:, 1] + tol)
        & (boxes_b[:, 2] >= boxes_a[:, 2] - tol)
        & (boxes_b[:, 3] >= boxes_a[:, 3] - tol)
        & (area_b > area_a)
    )
    shares_area = (overlaps[:, 0] > config.touch_px) & (overlaps[:, 1] > config.touch_px)
    touching = ~shares_area & (distance <= config.touch_px)
    near = ~shares_area & ~touching & (distance <= config.near_ratio * size)
    low_to_high = np.where(np.asarray(track_a) <= np.asarray(track_b), 1, -1).astype(np.int8)

    contact = np.zeros(n, dtype=np.int8)
    contact[near] = 4 * low_to_high[near]
    contact[touching] = 3 * low_to_high[touching]
    contact[shares_area] = 2 * low_to_high[shares_area]
    contact[b_contains_a] = -1
    contact[a_contains_b] = 1
    return directional, contact


def decode(code: int, table: str) -> str:
    return (_DIRECTIONAL if table == "directional" else _CONTACT)[abs(int(code))]
