"""Region proposals: the `Proposer` protocol, the `Detection` record and class-agnostic proposers.

A proposer sees a clip (T, H, W, 3) uint8 RGB at once, because the class-agnostic ones need
time (a background model, frame differences), and returns one list of `Detection`s per frame.

    ColourSegmentationProposer   regions of vivid named colours (red ... white) over a dull
                                 scene; objects that rest are found as well as moving ones
    BackgroundSubtractionProposer  pixels far from the clip's median background (static camera)
    MotionProposer               pixels that change between consecutive frames
    HOGPeopleProposer            OpenCV's HOG + linear SVM pedestrian detector
    AutoProposer (the default)   colour segmentation on "palette scenes" (dull background,
                                 vivid objects: the synthetic world), background subtraction
                                 otherwise (real footage from a static camera)

Every proposer returns clean detections: finite boxes clipped to the frame with positive
size and finite scores in [0, 1] (`sanitize_detections` is the one place that enforces it).
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from videothought.graph.schema import box_iou  # noqa: F401  (re-exported: proposers' users import it here)
from videothought.perception.attributes import COLOUR_PROTOTYPES, SHAPE_NAMES, VIVID_COLOURS, shape_name

logger = logging.getLogger(__name__)


@dataclass
class Detection:
    """One object proposal in one frame."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 pixels
    score: float = 1.0  # confidence in [0, 1]
    label: str = "object"
    attributes: dict[str, Any] = field(default_factory=dict)  # e.g. {"colour": "red", "shape": "circle"}
    appearance: np.ndarray | None = None  # (D,) unit vector for appearance association, or None

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


@runtime_checkable
class Proposer(Protocol):
    def propose(self, frames: np.ndarray) -> list[list[Detection]]:
        """frames (T, H, W, 3) uint8 RGB -> T lists of detections."""
        ...


def proposer_vocabulary(proposer) -> dict | None:
    """What a proposer can name: its `vocabulary()` ({"label": [...], attribute: [...] or None
    for free text}; graph/schema.py's "vocabulary"), or None when it does not say."""
    method = getattr(proposer, "vocabulary", None)
    return method() if callable(method) else None


def check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3 and frames.shape[-1] == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.shape[0] == 0 or frames.shape[1] < 2 or frames.shape[2] < 2:
        raise ValueError(f"frames must hold at least one frame of 2x2 pixels, got shape {frames.shape}")
    return frames


def sanitize_detections(detections, width: int, height: int) -> list[Detection]:
    """Drop what cannot be tracked and repair what can: non-finite boxes or scores are dropped,
    boxes are clipped to the frame, reordered if x2 < x1, and dropped if empty after clipping;
    scores are clipped to [0, 1]."""
    clean = []
    dropped = 0
    for detection in detections:
        box = np.asarray(detection.box, dtype=np.float64).reshape(-1)
        score = float(detection.score) if detection.score is not None else float("nan")
        if box.size != 4 or not np.all(np.isfinite(box)) or not math.isfinite(score):
            dropped += 1
            continue
        x1, x2 = sorted((box[0], box[2]))
        y1, y2 = sorted((box[1], box[3]))
        x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
        y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            dropped += 1
            continue
        detection.box = (float(x1), float(y1), float(x2), float(y2))
        detection.score = min(1.0, max(0.0, score))
        clean.append(detection)
    if dropped:
        logger.debug("dropped %d detections with non-finite or empty boxes/scores", dropped)
    return clean


def _components(mask: np.ndarray, min_area: int):
    """Connected components of a bool mask: yields (box, component mask crop, (x, y) offset, area)."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    for k in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[k])
        if area < min_area:
            continue
        crop = labels[y : y + h, x : x + w] == k  # (h, w)
        yield (float(x), float(y), float(x + w), float(y + h)), crop, (x, y), area


def _palette_lab(names) -> tuple[list[str], np.ndarray]:
    import cv2

    rgbs, owners = [], []
    for name in names:
        for rgb in COLOUR_PROTOTYPES[name]:
            rgbs.append(rgb)
            owners.append(name)
    swatch = np.array(rgbs, dtype=np.uint8).reshape(1, -1, 3)
    return owners, cv2.cvtColor(swatch, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)  # (P, 3) OpenCV Lab


def _palette_distance(frame: np.ndarray, palette_lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest palette entry (H, W) and its Lab distance (H, W) for every pixel."""
    import cv2

    lab = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float32)  # (H, W, 3), OpenCV's 8-bit Lab scale
    diff = lab[:, :, None, :] - palette_lab[None, None]  # (H, W, P, 3)
    distance = np.sqrt((diff * diff).sum(-1))  # (H, W, P)
    nearest = distance.argmin(-1)  # (H, W)
    return nearest, np.take_along_axis(distance, nearest[..., None], -1)[..., 0]


@functools.lru_cache(maxsize=8)
def _colour_lookup(colours: tuple[str, ...], max_distance: float) -> tuple[list[str], np.ndarray]:
    """(colour names, lookup table) over RGB quantised to 6 bits a channel (64^3 entries): the
    index of every pixel's colour name, -1 for none. 4 levels of quantisation move a colour by
    under 3 delta-E. Built once per process and setting (~0.5 s)."""
    owners, palette = _palette_lab(colours)
    names = list(dict.fromkeys(owners))
    owner_index = np.array([names.index(o) for o in owners])
    levels = np.arange(2, 256, 4, dtype=np.uint8)  # bin centres
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(64, -1, 3)  # (64, 64^2, 3)
    lut = np.empty(64**3, dtype=np.int8)
    for row in range(64):  # a row at a time keeps the (pixels, palette, 3) difference small
        nearest, distance = _palette_distance(np.ascontiguousarray(grid[row : row + 1]), palette)
        chosen = owner_index[nearest.reshape(-1)]
        chosen[distance.reshape(-1) > max_distance] = -1
        lut[row * 64 * 64 : (row + 1) * 64 * 64] = chosen
    lut.setflags(write=False)
    return names, lut


@dataclass
class ColourSegmentationProposer:
    """Regions of vivid named colours: pixels within `max_distance` (OpenCV 8-bit Lab units,
    about 1 unit = 1 delta-E) of a colour in `colours`, split per colour into connected parts.

    Objects touching each other stay apart when their colours differ; objects that never move
    are found too (a background model would absorb them)."""

    colours: tuple[str, ...] = VIVID_COLOURS
    max_distance: float = 38.0  # ~38 delta-E: h264 and anti-aliasing shift object colours by up to ~25
    min_area: int = 20  # pixels; slivers and noise below this are not objects
    open_pixels: int = 1  # morphological opening radius: removes anti-aliased rims between colours
    with_shape: bool = True

    def __post_init__(self):
        unknown = [c for c in self.colours if c not in COLOUR_PROTOTYPES]
        if unknown:
            raise ValueError(f"unknown colour names {unknown}; known: {tuple(COLOUR_PROTOTYPES)}")
        if self.max_distance <= 0 or self.min_area < 1 or self.open_pixels < 0:
            raise ValueError(
                f"need max_distance > 0, min_area >= 1, open_pixels >= 0; got {self.max_distance!r}, "
                f"{self.min_area!r}, {self.open_pixels!r}")
        self._names, self._lut = _colour_lookup(tuple(self.colours), float(self.max_distance))

    def propose(self, frames: np.ndarray) -> list[list[Detection]]:
        frames = check_frames(frames)
        return [self.propose_frame(frame) for frame in frames]

    def vocabulary(self) -> dict:
        """Labels are "<colour> <shape>", or "<colour> object" when the shape is too small to tell."""
        nouns = (*SHAPE_NAMES, "object") if self.with_shape else ("object",)
        vocabulary = {"label": [f"{c} {noun}" for c in self.colours for noun in nouns], "colour": list(self.colours)}
        if self.with_shape:
            vocabulary["shape"] = list(SHAPE_NAMES)
        return vocabulary

    def propose_frame(self, frame: np.ndarray) -> list[Detection]:
        import cv2

        height, width = frame.shape[:2]
        q = (frame >> 2).astype(np.int32)  # (H, W, 3) 6-bit channels
        colour_index = self._lut[(q[..., 0] << 12) | (q[..., 1] << 6) | q[..., 2]]  # (H, W) index into self._names
        kernel = None
        if self.open_pixels:
            size = 2 * self.open_pixels + 1
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        detections = []
        for k, name in enumerate(self._names):
            mask = (colour_index == k).astype(np.uint8)
            if not mask.any():
                continue
            if kernel is not None:
                mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
            for box, crop, (x, y), area in _components(mask, self.min_area):
                attributes = {"colour": name}
                if self.with_shape:
                    shape = shape_name(np.pad(crop, 1))
                    if shape is not None:
                        attributes["shape"] = shape
                # Appearance: colour one-hot, then shape one-hot at 0.7 weight, unit length. Same
                # colour and shape: cosine 1; same colour, other shape: 0.67; other colour: <= 0.33.
                appearance = np.zeros(len(self._names) + len(SHAPE_NAMES), dtype=np.float32)
                appearance[k] = 1.0
                if "shape" in attributes:
                    appearance[len(self._names) + SHAPE_NAMES.index(attributes["shape"])] = 0.7
                appearance /= np.linalg.norm(appearance)
                label = f"{name} {attributes['shape']}" if "shape" in attributes else f"{name} object"
                # Score: how much of the box the region fills, relative to the thinnest shape we expect.
                fill = area / max(1.0, (box[2] - box[0]) * (box[3] - box[1]))
                detections.append(Detection(box=box, score=min(1.0, 0.5 + fill), label=label,
                                            attributes=attributes, appearance=appearance))
        return sanitize_detections(detections, width, height)


def _hsv_histogram(frame: np.ndarray, box) -> np.ndarray:
    """A unit-length appearance vector of the box, for appearance association: its central columns
    cut into an upper and a lower band (a person's top and trousers), each a histogram of 8 hues x
    3 saturations over coloured pixels and 4 brightnesses over grey ones (black, grey and white
    clothes differ in brightness, not hue)."""
    import cv2

    x1, y1, x2, y2 = (int(round(v)) for v in box)
    patch = frame[max(0, y1) : max(y1 + 1, y2), max(0, x1) : max(x1 + 1, x2)]
    height, width = patch.shape[:2]
    core = patch[:, width // 5 : max(width // 5 + 1, width - width // 5)]
    hsv = cv2.cvtColor(np.ascontiguousarray(core), cv2.COLOR_RGB2HSV).reshape(height, -1, 3).astype(np.int32)
    parts = []
    for top, bottom in ((0.1, 0.5), (0.5, 0.9)):
        band = hsv[int(top * height) : max(int(top * height) + 1, int(bottom * height))].reshape(-1, 3)
        coloured = band[:, 1] >= 64
        hues = np.bincount((band[coloured, 0] * 8 // 180) * 3 + (band[coloured, 1] - 64) * 3 // 192, minlength=24)
        greys = np.bincount(band[~coloured, 2] * 4 // 256, minlength=4)
        parts.append(np.concatenate([hues[:24], greys[:4]]).astype(np.float64) / max(1, len(band)))
    vector = np.concatenate(parts)
    return (vector / max(1e-9, float(np.linalg.norm(vector)))).astype(np.float32)


def split_columns(crop: np.ndarray, max_aspect: float, *, valley_ratio: float = 0.65,
                  min_part_ratio: float = 0.2, min_body_ratio: float = 0.5) -> list[tuple[int, int]]:
    """Column ranges [x0, x1) of a blob mask (h, w) cut into upright parts.

    A blob wider than `max_aspect` x its height (people walking side by side merge into one
    such blob) is cut at its emptiest column, where the column count of the mask falls to
    `valley_ratio` of the lower side's peak (two overlapping bodies leave a valley of ~0.5),
    keeping parts at least `min_part_ratio` x the height wide and tall enough to be a body
    (a peak of `min_body_ratio` x the height on both sides: an arm or a shadow is no body);
    each part is cut again while it is still too wide.

        count  ▁▃▇█▇▅▂▁▂▆█▇▃▁          two bodies, one blob
                      ^ cut here (the valley between them)
    """
    height, width = crop.shape
    if height == 0 or width <= max_aspect * height:
        return [(0, width)]
    counts = crop.sum(axis=0).astype(np.float64)  # (w,)
    if width >= 5:
        counts = np.convolve(counts, np.ones(3) / 3, mode="same")
    least = max(1, int(round(min_part_ratio * height)))
    best, best_score = None, 1.0
    for x in range(least, width - least):
        left, right = counts[:x].max(), counts[x:].max()
        if min(left, right) < min_body_ratio * height:
            continue
        score = counts[x] / max(min(left, right), 1e-9)  # 0: an empty column between two parts
        if score <= valley_ratio and score < best_score:
            best, best_score = x, score
    if best is None:
        return [(0, width)]
    parts = []
    for x0, x1 in ((0, best), (best, width)):
        rows = np.flatnonzero(crop[:, x0:x1].any(axis=1))
        part_height = int(rows[-1] - rows[0] + 1) if len(rows) else 0
        sub = crop[rows[0] : rows[-1] + 1, x0:x1] if len(rows) else crop[:, x0:x1]
        parts += [(x0 + a, x0 + b) for a, b in split_columns(
            sub, max_aspect, valley_ratio=valley_ratio, min_part_ratio=min_part_ratio,
            min_body_ratio=min_body_ratio)] if part_height else []
    return parts


def _foreground_detections(frame, mask, min_area, close_pixels, label="object",
                           split_aspect: float | None = None) -> list[Detection]:
    import cv2

    height, width = frame.shape[:2]
    mask = mask.astype(np.uint8)
    if close_pixels:
        size = 2 * close_pixels + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    detections = []
    for box, crop, (x, y), area in _components(mask, min_area):
        pieces = [(0, crop.shape[1])] if split_aspect is None else split_columns(crop, split_aspect)
        for x0, x1 in pieces:
            part = crop[:, x0:x1]
            rows = np.flatnonzero(part.any(axis=1))
            columns = np.flatnonzero(part.any(axis=0))
            if not len(rows) or part.sum() < min_area / 2:
                continue
            piece = (float(x + x0 + columns[0]), float(y + rows[0]), float(x + x0 + columns[-1] + 1), float(y + rows[-1] + 1))
            fill = float(part.sum()) / max(1.0, (piece[2] - piece[0]) * (piece[3] - piece[1]))
            detections.append(Detection(box=piece, score=min(1.0, 0.3 + fill), label=label,
                                        appearance=_hsv_histogram(frame, piece)))
    return sanitize_detections(detections, width, height)


@dataclass
class BackgroundSubtractionProposer:
    """Foreground = pixels whose colour differs from the clip's per-pixel median by more than
    `threshold` (max over RGB channels). Needs a static camera; objects that rest for more than
    half the clip melt into the background."""

    threshold: int = 30  # 8-bit levels: above sensor noise and h264 ringing, below clothing contrast
    min_area_fraction: float = 0.0005  # of the frame: 200 px on 768x576
    close_pixels: int = 3  # closing radius: rejoins a person cut by thin background-coloured parts
    max_background_frames: int = 50  # the median is taken over at most this many frames (spread evenly)
    # None: one detection per blob. A number: blobs wider than this x their height are cut at
    # their emptiest columns (split_columns): people side by side merge into one wide blob,
    # one upright person is about 0.3-0.5 as wide as tall.
    split_aspect: float | None = None

    def __post_init__(self):
        if not 0 < self.threshold < 255 or not 0 <= self.min_area_fraction < 1:
            raise ValueError(f"need 0 < threshold < 255 and 0 <= min_area_fraction < 1, got "
                             f"{self.threshold!r}, {self.min_area_fraction!r}")
        if self.split_aspect is not None and not self.split_aspect > 0:
            raise ValueError(f"split_aspect must be None or > 0, got {self.split_aspect!r}")

    def background(self, frames: np.ndarray) -> np.ndarray:
        frames = check_frames(frames)
        step = max(1, len(frames) // self.max_background_frames)
        return np.median(frames[::step], axis=0).astype(np.uint8)  # (H, W, 3)

    def propose(self, frames: np.ndarray, background: np.ndarray | None = None) -> list[list[Detection]]:
        frames = check_frames(frames)
        background = self.background(frames) if background is None else background
        height, width = frames.shape[1:3]
        min_area = max(4, int(self.min_area_fraction * height * width))
        out = []
        for frame in frames:
            difference = np.abs(frame.astype(np.int16) - background.astype(np.int16)).max(-1)  # (H, W)
            out.append(_foreground_detections(frame, difference > self.threshold, min_area, self.close_pixels,
                                              split_aspect=self.split_aspect))
        return out

    def vocabulary(self) -> dict:
        return {"label": ["object"]}


@dataclass
class MotionProposer:
    """Moving objects by double differencing: pixels that differ both from the frame
    `gap_frames` earlier and from the one `gap_frames` later (one side at the clip's ends).
    A plain difference of neighbours marks where an object was *and* where it is, and misses
    its inside when its colour is flat; the double difference keeps only where it is now, once
    it moves more than its own size in `gap_frames`."""

    threshold: int = 25
    gap_frames: int = 3
    min_area_fraction: float = 0.0005
    close_pixels: int = 3

    def __post_init__(self):
        if self.gap_frames < 1 or not 0 < self.threshold < 255:
            raise ValueError(f"need gap_frames >= 1 and 0 < threshold < 255, got {self.gap_frames!r}, {self.threshold!r}")

    def propose(self, frames: np.ndarray) -> list[list[Detection]]:
        frames = check_frames(frames)
        count = len(frames)
        height, width = frames.shape[1:3]
        min_area = max(4, int(self.min_area_fraction * height * width))
        if count < 2:
            return [[] for _ in range(count)]
        out = []
        for t, frame in enumerate(frames):
            current = frame.astype(np.int16)
            masks = []
            for other in (t - self.gap_frames, t + self.gap_frames):
                if 0 <= other < count:
                    masks.append(np.abs(current - frames[other].astype(np.int16)).max(-1) > self.threshold)
            if not masks:  # a clip shorter than the gap: compare with the farthest frame
                other = count - 1 if t < count / 2 else 0
                masks.append(np.abs(current - frames[other].astype(np.int16)).max(-1) > self.threshold)
            moving = np.logical_and.reduce(masks)  # (H, W)
            out.append(_foreground_detections(frame, moving, min_area, self.close_pixels))
        return out

    def vocabulary(self) -> dict:
        return {"label": ["object"]}


@dataclass
class HOGPeopleProposer:
    """OpenCV's HOG pedestrian detector (Dalal-Triggs, 64x128 window). Small frames are
    upscaled so a person is at least `min_person_height` pixels tall at the detector's scale."""

    min_person_height: int = 64  # people shorter than this in the input are upscaled to the 128-pixel window
    hit_threshold: float = 0.0
    nms_iou: float = 0.4
    scale_step: float = 1.05  # image pyramid step; 1.1 halves the time and misses few people

    def propose(self, frames: np.ndarray) -> list[list[Detection]]:
        import cv2

        frames = check_frames(frames)
        hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        scale = max(1.0, 128.0 / max(1, self.min_person_height))
        height, width = frames.shape[1:3]
        out = []
        for frame in frames:
            image = frame if scale == 1.0 else cv2.resize(frame, None, fx=scale, fy=scale)
            rects, weights = hog.detectMultiScale(image, hitThreshold=self.hit_threshold, winStride=(8, 8),
                                                  padding=(8, 8), scale=self.scale_step)
            detections = []
            for (x, y, w, h), weight in zip(rects, np.asarray(weights).reshape(-1)):
                box = (x / scale, y / scale, (x + w) / scale, (y + h) / scale)
                score = 1.0 / (1.0 + math.exp(-float(weight)))  # SVM margin -> (0, 1)
                detections.append(Detection(box=box, score=score, label="person"))
            detections = non_max_suppression(detections, self.nms_iou)
            for d in detections:
                d.appearance = _hsv_histogram(frame, d.box)
            out.append(sanitize_detections(detections, width, height))
        return out

    def vocabulary(self) -> dict:
        return {"label": ["person"]}


def non_max_suppression(detections: list[Detection], iou_threshold: float) -> list[Detection]:
    order = sorted(detections, key=lambda d: -d.score)
    kept: list[Detection] = []
    for d in order:
        if not kept or box_iou(np.array([d.box]), np.array([k.box for k in kept])).max() <= iou_threshold:
            kept.append(d)
    return kept


def palette_scene_fraction(frames: np.ndarray, *, max_frames: int = 8, max_distance: float = 38.0) -> float:
    """Share of pixels that are either dull (low chroma, dark: a synthetic background) or close
    to a vivid named colour. About 1.0 for the synthetic world, well below for real footage."""
    import cv2

    frames = check_frames(frames)
    _, palette = _palette_lab(VIVID_COLOURS)
    picks = np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).astype(int)
    fractions = []
    for frame in frames[picks]:
        small = frame if frame.shape[1] <= 160 else cv2.resize(frame, (160, max(2, 160 * frame.shape[0] // frame.shape[1])),
                                                                  interpolation=cv2.INTER_NEAREST)
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
        chroma = np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)
        dull = (chroma < 18) & (lab[..., 0] < 150)  # 150/255 ~ L* 59: the world's backgrounds are dark greys
        _, distance = _palette_distance(small, palette)
        fractions.append(float(np.mean(dull | (distance < max_distance))))
    return float(np.mean(fractions))


def _real_scene_proposer():
    from videothought.perception.scene import RealSceneProposer  # scene builds on this module

    return RealSceneProposer()


@dataclass
class AutoProposer:
    """Picks per clip: colour segmentation when the clip is a palette scene (the synthetic
    world: coloured shapes named by colour and shape), else perception.scene's
    RealSceneProposer (real footage: people, faces, text, moving objects)."""

    palette_threshold: float = 0.97  # the world's frames measure ~1.0, real footage far lower
    colour: ColourSegmentationProposer = field(default_factory=ColourSegmentationProposer)
    real: Any = field(default_factory=_real_scene_proposer)  # any Proposer for non-palette clips
    last_choice: str | None = None  # "colour" or "real", after propose()

    def propose(self, frames: np.ndarray) -> list[list[Detection]]:
        frames = check_frames(frames)
        fraction = palette_scene_fraction(frames)
        if fraction >= self.palette_threshold:
            self.last_choice = "colour"
            return self.colour.propose(frames)
        self.last_choice = "real"
        logger.info("palette fraction %.3f < %.2f: real footage", fraction, self.palette_threshold)
        return self.real.propose(frames)

    def vocabulary(self) -> dict | None:
        """The branch that ran on the last clip; before any clip, both branches together."""
        branches = {"colour": [self.colour], "real": [self.real]}.get(self.last_choice, [self.colour, self.real])
        merged: dict = {}
        for branch in branches:
            for key, values in (proposer_vocabulary(branch) or {"label": []}).items():
                if values is None or merged.get(key, []) is None:
                    merged[key] = None
                else:
                    merged[key] = list(dict.fromkeys([*merged.get(key, []), *values]))
        return merged


def default_proposer() -> Proposer:
    return AutoProposer()
