"""Drawing a simulated scene and measuring what the camera sees.

Per frame: a background (plain or textured, optionally scrolling), objects drawn
ground layer first then floating layer, each layer by id; camera shake shifts the
whole picture; Gaussian noise last. Beside the RGB frame an id buffer (which object
owns each pixel, no anti-aliasing) gives per-object visibility:

    in_frame_pixels   pixels of the object's full silhouette inside the frame
    visible_pixels    of those, pixels no other object covers
    visible           visible_pixels >= 50% of in_frame_pixels, >= MIN_VISIBLE_PIXELS, a box at
                      least MIN_VISIBLE_SIDE on each side, and OWN_SHARE_MARGIN times more of
                      its box belongs to it than to any other object (so its colour dominates
                      inside its box, also after h264)

Boxes are the silhouette's extent clipped to the frame, in continuous pixel
coordinates (pixel column i covers [i, i + 1); the frame is [0, width] x [0, height]),
as drawn (camera shake included). Observations exist only while some pixel is in frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from .config import OBJECT_COLOURS
from .simulate import SceneSpec, Trajectories, simulate

MIN_VISIBLE_PIXELS = 30  # below this a sliver at the border or behind something is not "visible"
MIN_VISIBLE_SIDE = 4.0  # a box thinner than this (pixels) is a sliver: h264's 2x2 chroma smears its colour
OWN_SHARE_MARGIN = 1.25  # visible only if its pixels outnumber any other object's in its box by this factor
SUBPIXEL_BITS = 4  # cv2 drawing precision: 1/16 pixel


@dataclass
class FrameTruth:
    """What is seen of each object in one frame: object id -> record."""

    frame_index: int
    objects: dict[int, dict]  # id -> {box, visible, visible_fraction, in_frame_fraction, occluder}


def shape_polygon(shape: str, centre: tuple[float, float], radius: float) -> np.ndarray | None:
    """Vertices (K, 2) of a shape inscribed in its bounding circle; None for a circle."""
    cx, cy = centre
    if shape == "circle":
        return None
    if shape == "square":
        h = radius * 0.78
        points = [(-h, -h), (h, -h), (h, h), (-h, h)]
    elif shape == "triangle":
        points = [(radius * math.cos(a), radius * math.sin(a))
                  for a in (-math.pi / 2, -math.pi / 2 + 2 * math.pi / 3, -math.pi / 2 + 4 * math.pi / 3)]
        points = [(x, y + radius * 0.15) for x, y in points]  # centre the triangle's bulk
    elif shape == "star":
        points = []
        for k in range(10):
            r = radius if k % 2 == 0 else radius * 0.48
            a = -math.pi / 2 + k * math.pi / 5
            points.append((r * math.cos(a), r * math.sin(a)))
    elif shape == "hexagon":
        points = [(radius * math.cos(a), radius * math.sin(a)) for a in np.arange(6) * math.pi / 3]
    elif shape == "diamond":
        points = [(0, -radius), (radius * 0.72, 0), (0, radius), (-radius * 0.72, 0)]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.array([(cx + x, cy + y) for x, y in points], dtype=np.float64)


def shape_extent(shape: str, centre: tuple[float, float], radius: float) -> tuple[float, float, float, float]:
    """(x1, y1, x2, y2) of the drawn silhouette, unclipped."""
    polygon = shape_polygon(shape, centre, radius)
    if polygon is None:
        cx, cy = centre
        return cx - radius, cy - radius, cx + radius, cy + radius
    return (float(polygon[:, 0].min()), float(polygon[:, 1].min()),
            float(polygon[:, 0].max()), float(polygon[:, 1].max()))


def _draw(canvas: np.ndarray, shape: str, centre, radius: float, colour, antialias: bool) -> None:
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    scale = 1 << SUBPIXEL_BITS
    polygon = shape_polygon(shape, centre, radius)
    if polygon is None:
        cv2.circle(canvas, (int(round(centre[0] * scale)), int(round(centre[1] * scale))),
                   int(round(radius * scale)), colour, thickness=-1, lineType=line, shift=SUBPIXEL_BITS)
    else:
        points = np.round(polygon * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(canvas, [points], colour, lineType=line, shift=SUBPIXEL_BITS)


def background_texture(spec: SceneSpec) -> np.ndarray:
    """A texture larger than the frame (room for scrolling and shake), (H', W', 3) uint8."""
    background = spec.background
    pad = 64
    height, width = spec.height + 2 * pad, spec.width + 2 * pad
    base = np.array(background.colour, dtype=np.uint8)
    second = np.array(background.second_colour, dtype=np.uint8)
    texture = np.empty((height, width, 3), dtype=np.uint8)
    texture[:] = base
    yy, xx = np.mgrid[0:height, 0:width]
    s = max(2, background.scale)
    if background.kind == "stripes":
        texture[((xx + yy) // s) % 2 == 1] = second
    elif background.kind == "checker":
        texture[((xx // s) + (yy // s)) % 2 == 1] = second
    elif background.kind == "blobs":
        rng = np.random.default_rng(spec.seed)
        coarse = rng.random((height // s + 2, width // s + 2)).astype(np.float32)
        smooth = cv2.resize(coarse, (width + 2 * s, height + 2 * s), interpolation=cv2.INTER_CUBIC)[:height, :width]
        weight = np.clip(smooth, 0, 1)[..., None]  # (H', W', 1)
        texture = (base * (1 - weight) + second * weight).astype(np.uint8)
    elif background.kind != "plain":
        raise ValueError(f"unknown background kind {background.kind!r}")
    return texture


def camera_offsets(spec: SceneSpec) -> np.ndarray:
    """Per-frame camera shake (T, 2) integer pixels, a smooth random walk bounded by jitter_pixels."""
    if spec.jitter_pixels <= 0:
        return np.zeros((spec.num_frames, 2), dtype=np.int64)
    rng = np.random.default_rng([spec.seed, 1])
    steps = rng.normal(0, 0.8, size=(spec.num_frames, 2))
    walk = np.clip(np.cumsum(steps, axis=0), -spec.jitter_pixels, spec.jitter_pixels)
    return np.round(walk).astype(np.int64)


class SceneRenderer:
    """Renders one frame at a time (bounded memory for long videos) with its visibility truth."""

    def __init__(self, spec: SceneSpec, trajectories: Trajectories | None = None, *, draw_pixels: bool = True):
        """draw_pixels=False computes only the truth (visibility, boxes): frames come back as None."""
        self.spec = spec
        self.draw_pixels = draw_pixels
        self.trajectories = trajectories if trajectories is not None else simulate(spec)
        self.texture = background_texture(spec) if draw_pixels else None
        self.offsets = camera_offsets(spec)
        self.colours = [tuple(int(c) for c in OBJECT_COLOURS[o.colour]) for o in spec.objects]
        # Draw ground before floating, each layer by id: later objects cover earlier ones.
        self.order = sorted(range(len(spec.objects)), key=lambda i: (spec.objects[i].layer, spec.objects[i].object_id))
        self.scratch = np.zeros((spec.height, spec.width), dtype=np.uint8)  # one silhouette at a time
        self.noise_rng = np.random.default_rng([spec.seed, 2])
        self.noise_bank = None
        if spec.noise_sigma > 0 and draw_pixels:
            # Drawing fresh Gaussian noise costs more than the rest of a frame: crop shifted windows
            # from a few pre-drawn noise fields instead (still different in every frame).
            field_shape = (4, spec.height + 32, spec.width + 32, 3)
            noise = self.noise_rng.normal(0.0, spec.noise_sigma, size=field_shape)
            self.noise_bank = np.clip(np.round(noise), -127, 127).astype(np.int16)  # (4, H+32, W+32, 3)

    def render(self, frame_index: int) -> tuple[np.ndarray, FrameTruth]:
        spec, traj = self.spec, self.trajectories
        height, width = spec.height, spec.width
        pad = 64
        shake = self.offsets[frame_index]
        # Scrolling wraps after a whole number of texture periods, so stripes and checkers stay seamless.
        period = 2 * max(2, spec.background.scale)
        wrap = (pad // period) * period
        bx, by = spec.background.velocity
        ox = int(round(pad + shake[0] + bx * frame_index)) % wrap if bx else pad + int(shake[0])
        oy = int(round(pad + shake[1] + by * frame_index)) % wrap if by else pad + int(shake[1])
        frame = self.texture[oy:oy + height, ox:ox + width].copy() if self.draw_pixels else None  # (H, W, 3)
        owner = np.full((height, width), -1, dtype=np.int16)  # (H, W) object index per pixel
        drawn = []
        for i in self.order:
            if not traj.alive[frame_index, i]:
                continue
            obj = spec.objects[i]
            centre = (traj.positions[frame_index, i, 0] + shake[0], traj.positions[frame_index, i, 1] + shake[1])
            x1, y1, x2, y2 = shape_extent(obj.shape, centre, obj.radius)
            if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
                continue
            if frame is not None:
                _draw(frame, obj.shape, centre, obj.radius, self.colours[i], antialias=True)
            _draw(owner, obj.shape, centre, obj.radius, int(i), antialias=False)
            # The silhouette in frame coordinates, rasterised exactly as in the id buffer.
            top, left = max(0, int(math.floor(y1)) - 1), max(0, int(math.floor(x1)) - 1)
            bottom, right = min(height, int(math.ceil(y2)) + 2), min(width, int(math.ceil(x2)) + 2)
            _draw(self.scratch, obj.shape, centre, obj.radius, 1, antialias=False)
            mask = self.scratch[top:bottom, left:right].copy()  # (h, w) 0/1
            self.scratch[top:bottom, left:right] = 0
            drawn.append((i, centre, (x1, y1, x2, y2), (top, left, bottom, right), mask))
        objects = {}
        for i, centre, (x1, y1, x2, y2), (top, left, bottom, right), mask in drawn:
            obj = spec.objects[i]
            in_frame_pixels = int(mask.sum())
            if in_frame_pixels == 0:
                continue
            fully_inside = x1 >= 0 and y1 >= 0 and x2 <= width and y2 <= height
            if fully_inside:
                in_frame_fraction = 1.0
            else:
                full_pixels = _silhouette_pixels(obj.shape, centre, obj.radius)
                in_frame_fraction = min(0.999, in_frame_pixels / max(1, full_pixels))
                # Cut by the border: the box is the extent of the part in view (a triangle's tip, not its base).
                rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
                x1, x2 = max(x1, float(left + cols[0])), min(x2, float(left + cols[-1] + 1))
                y1, y2 = max(y1, float(top + rows[0])), min(y2, float(top + rows[-1] + 1))
            # Continuous pixel coordinates: pixel column i covers [i, i + 1), the frame [0, width].
            bx1, by1 = max(0.0, x1), max(0.0, y1)
            bx2, by2 = min(float(width), x2), min(float(height), y2)
            visible_pixels = int(np.count_nonzero(owner[top:bottom, left:right] == i))
            box_region = owner[int(math.floor(by1)):int(math.ceil(by2)), int(math.floor(bx1)):int(math.ceil(bx2))]
            others = np.bincount(box_region.ravel() + 1, minlength=len(spec.objects) + 1)[1:]  # per object index
            others[i] = 0
            covering = (owner[top:bottom, left:right][mask.astype(bool)])  # who owns the silhouette's pixels
            covering = np.bincount(covering[covering >= 0], minlength=len(spec.objects))
            covering[i] = 0
            occluder = int(np.argmax(covering)) if covering.max() > 0 else None
            covered = in_frame_pixels - visible_pixels
            visible = (visible_pixels >= 0.5 * in_frame_pixels and visible_pixels >= MIN_VISIBLE_PIXELS
                       and min(bx2 - bx1, by2 - by1) >= MIN_VISIBLE_SIDE
                       and visible_pixels > OWN_SHARE_MARGIN * others.max())
            objects[obj.object_id] = {
                "box": [round(bx1, 2), round(by1, 2), round(bx2, 2), round(by2, 2)],
                "centre": [round(float(centre[0]), 2), round(float(centre[1]), 2)],
                "visible": bool(visible),
                "visible_fraction": round(visible_pixels / in_frame_pixels, 3),
                "in_frame_fraction": round(in_frame_fraction, 3),
                # Hidden by another object (not just cut by the border): who covers most of it.
                "occluder": (spec.objects[occluder].object_id
                             if occluder is not None and covered > 0.5 * in_frame_pixels else None),
            }
        if self.noise_bank is not None:
            k, dy, dx = (int(v) for v in self.noise_rng.integers(0, (4, 32, 32)))
            noise = self.noise_bank[k, dy:dy + height, dx:dx + width]  # (H, W, 3)
            frame = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        return frame, FrameTruth(frame_index=frame_index, objects=objects)

    def __iter__(self) -> Iterator[tuple[np.ndarray, FrameTruth]]:
        for frame_index in range(self.spec.num_frames):
            yield self.render(frame_index)


_SILHOUETTE_CACHE: dict[tuple, int] = {}


def _silhouette_pixels(shape: str, centre, radius: float) -> int:
    """Pixels of the whole silhouette (also the part outside the frame), at the same 1/16-pixel offset."""
    size = int(math.ceil(radius * 1.15)) + 2  # square corners reach 1.1 radius
    fx = int(round(centre[0] * 16)) % 16
    fy = int(round(centre[1] * 16)) % 16
    key = (shape, round(radius, 3), fx, fy)
    full = _SILHOUETTE_CACHE.get(key)
    if full is None:
        mask = np.zeros((2 * size + 1, 2 * size + 1), dtype=np.uint8)  # (2S+1, 2S+1)
        _draw(mask, shape, (size + fx / 16, size + fy / 16), radius, 1, antialias=False)
        full = int(mask.sum())
        if len(_SILHOUETTE_CACHE) < 50000:
            _SILHOUETTE_CACHE[key] = full
    return full


def render_truth(spec: SceneSpec) -> "GroundTruth":
    """The ground truth of a scene without drawing its pixels (about twice as fast): for re-simulation."""
    from .truth import GroundTruth

    renderer = SceneRenderer(spec, draw_pixels=False)
    return GroundTruth.build(spec, renderer.trajectories, [truth for _, truth in renderer])


def render_video(spec: SceneSpec) -> tuple[np.ndarray, "GroundTruth"]:
    """Render a whole (short) video in memory: frames (T, H, W, 3) uint8 RGB and its ground truth."""
    from .truth import GroundTruth

    renderer = SceneRenderer(spec)
    frames = np.empty((spec.num_frames, spec.height, spec.width, 3), dtype=np.uint8)  # (T, H, W, 3)
    per_frame = []
    for frame_index, (frame, truth) in enumerate(renderer):
        frames[frame_index] = frame
        per_frame.append(truth)
    return frames, GroundTruth.build(spec, renderer.trajectories, per_frame)
