"""Small scenes drawn with OpenCV for tests: coloured shapes moving in straight lines, with
the exact boxes drawn (the truth) beside the frames."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from videothought.graph.schema import Observation

RGB = {
    "red": (220, 30, 30), "orange": (245, 140, 20), "yellow": (240, 225, 40), "green": (40, 180, 60),
    "cyan": (40, 210, 220), "blue": (40, 70, 225), "purple": (140, 60, 200), "pink": (245, 130, 190),
    "white": (245, 245, 245),
}


def shape_points(shape: str, cx: float, cy: float, r: float) -> np.ndarray | None:
    if shape == "circle":
        return None
    if shape == "square":
        h = r * 0.78
        pts = [(-h, -h), (h, -h), (h, h), (-h, h)]
    elif shape == "triangle":
        pts = [(r * math.cos(a), r * math.sin(a) + 0.15 * r) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    elif shape == "star":
        pts = [((r if k % 2 == 0 else 0.48 * r) * math.cos(-math.pi / 2 + k * math.pi / 5),
                (r if k % 2 == 0 else 0.48 * r) * math.sin(-math.pi / 2 + k * math.pi / 5)) for k in range(10)]
    elif shape == "hexagon":
        pts = [(r * math.cos(a), r * math.sin(a)) for a in np.arange(6) * math.pi / 3]
    elif shape == "diamond":
        pts = [(0, -r), (0.72 * r, 0), (0, r), (-0.72 * r, 0)]
    else:
        raise ValueError(shape)
    return np.array([(cx + x, cy + y) for x, y in pts])


def draw_shape(canvas: np.ndarray, shape: str, cx: float, cy: float, r: float, colour) -> None:
    points = shape_points(shape, cx, cy, r)
    if points is None:
        cv2.circle(canvas, (int(round(cx * 16)), int(round(cy * 16))), int(round(r * 16)), colour, -1,
                   cv2.LINE_AA, shift=4)
    else:
        cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32).reshape(-1, 1, 2)], colour, cv2.LINE_AA, shift=4)


@dataclass
class Mover:
    colour: str
    shape: str
    start: tuple[float, float]
    velocity: tuple[float, float]  # pixels per frame
    radius: float = 12.0
    first_frame: int = 0
    last_frame: int | None = None
    layer: int = 0  # higher layers are drawn on top

    def centre(self, t: int) -> tuple[float, float]:
        return self.start[0] + self.velocity[0] * t, self.start[1] + self.velocity[1] * t


def render(movers: list[Mover], num_frames: int, height: int = 120, width: int = 160, background: int = 70,
           fps: float = 10.0):
    """frames (T, H, W, 3) uint8 and the truth: Observations (track id = mover index + 1) with the
    drawn silhouette's pixel box and visible=False where less than half of it shows."""
    frames = np.full((num_frames, height, width, 3), background, dtype=np.uint8)
    truth = []
    order = sorted(range(len(movers)), key=lambda i: movers[i].layer)
    for t in range(num_frames):
        owner = np.full((height, width), -1, dtype=np.int32)
        areas = {}
        for i in order:
            m = movers[i]
            if t < m.first_frame or (m.last_frame is not None and t > m.last_frame):
                continue
            cx, cy = m.centre(t)
            draw_shape(frames[t], m.shape, cx, cy, m.radius, RGB[m.colour])
            alone = np.zeros((height, width), dtype=np.uint8)
            draw_shape(alone, m.shape, cx, cy, m.radius, 1)
            owner[alone > 0] = i
            areas[i] = alone > 0
        for i, mask in areas.items():
            if not mask.any():
                continue
            ys, xs = np.nonzero(mask)
            visible = (owner[mask] == i).mean() >= 0.5
            truth.append(Observation(track_id=i + 1, frame_index=t, time_seconds=t / fps,
                                     box=(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)),
                                     label=f"{movers[i].colour} {movers[i].shape}",
                                     attributes={"colour": movers[i].colour, "shape": movers[i].shape},
                                     visible=bool(visible)))
    return frames, truth
