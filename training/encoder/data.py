"""Training and evaluation examples from a generated synthetic world (issue 3's files).

A world folder holds videos/<name>.mp4, stsg/<name>.json (graph/schema.py documents
whose observation nodes carry box, label "red circle" and visible) and captions.jsonl
({"video", "segment", "caption"}). We read those files, not the generator's Python
objects, so any world written by `vot world generate` trains the encoder.

Each video is decoded once at `frames_per_video` uniform frames and kept in memory
(320x240x3 bytes a frame: 200 videos x 12 frames is ~550 MB).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white", "grey", "black", "brown")
SHAPES = ("circle", "square", "triangle", "star", "hexagon", "diamond")
VOCABULARY = tuple(f"{colour} {shape}" for colour in COLOURS for shape in SHAPES)  # 72 open-vocabulary labels
MIN_REGION_SIDE = 4.0  # pixels: boxes thinner than this (objects leaving the frame) are not used
MIN_VISIBLE_FRACTION = 0.25  # objects mostly hidden or out of frame carry too little of their shape


class WorldDataError(ValueError):
    """A world folder that cannot be used; the message names the file and the problem."""


@dataclass
class Region:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the frame
    label: str  # "red circle"
    visible_fraction: float = 1.0  # min of the world's visible and in-frame fractions (1.0 when not given)


@dataclass
class Segment:
    frame_positions: list[int]  # positions into VideoExample.frames
    caption: str


@dataclass
class VideoExample:
    name: str
    frames: np.ndarray  # (K, H, W, 3) uint8
    frame_indices: list[int]  # index of each kept frame in the video
    regions: list[list[Region]]  # per kept frame: the visible objects
    segments: list[Segment] = field(default_factory=list)
    video_caption: str | None = None  # the world's whole-video caption (segment null), if any

    @property
    def caption(self) -> str:
        """The whole clip's caption: the world's own, else its segment captions in order."""
        return self.video_caption or " ".join(segment.caption for segment in self.segments)


def frame_text(regions: Sequence[Region]) -> str:
    """A frame's text from what is visible: "a blue square, a red circle and a white star"."""
    labels = sorted(region.label for region in regions)
    if not labels:
        return "an empty scene"
    items = [f"a {label}" for label in labels]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _inside(root: Path, relative: str) -> Path:
    """A path named inside a dataset file, refused if it escapes the dataset root."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise WorldDataError(f"{relative!r} points outside the world folder {root}")
    return path


def _observations(document: dict, source: Path) -> dict[int, list[Region]]:
    """frame_index -> visible regions, from an STSG document's observation nodes."""
    try:
        nodes = document["graph"]["nodes"]
    except (KeyError, TypeError):
        raise WorldDataError(f"{source}: not an STSG document (no graph.nodes)") from None
    by_frame: dict[int, list[Region]] = {}
    for node in nodes:
        if node.get("kind") != "observation" or not node.get("visible", True):
            continue
        x1, y1, x2, y2 = (float(v) for v in node["box"])
        if x2 - x1 < MIN_REGION_SIDE or y2 - y1 < MIN_REGION_SIDE:
            continue
        label = str(node.get("label", ""))
        if label not in VOCABULARY:
            attributes = node.get("attributes") or {}
            label = f"{attributes.get('colour')} {attributes.get('shape')}"
        if label not in VOCABULARY:
            continue
        attributes = node.get("attributes") or {}
        fraction = min(float(attributes.get("visible_fraction", 1.0)), float(attributes.get("in_frame_fraction", 1.0)))
        if fraction < MIN_VISIBLE_FRACTION:
            continue
        by_frame.setdefault(int(node["frame_index"]), []).append(Region((x1, y1, x2, y2), label, fraction))
    return by_frame


def _read_captions(root: Path) -> dict[str, list[dict]]:
    path = root / "captions.jsonl"
    captions: dict[str, list[dict]] = {}
    if not path.is_file():
        raise WorldDataError(f"{path}: missing; generate the world with `vot world generate --out {root}`")
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            captions.setdefault(str(record["video"]), []).append(record)
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise WorldDataError(f"{path}:{number}: not a caption record ({error})") from None
    return captions


def _segment_frames(record: dict, fps: float, num_frames: int) -> tuple[int, int]:
    """Inclusive frame span of a caption record's segment, in any of the forms the world may use."""
    segment = record.get("segment")
    for start_key, end_key, scale in (("start_frame", "end_frame", 1.0), ("start_seconds", "end_seconds", fps)):
        source = segment if isinstance(segment, dict) else record
        if start_key in source and end_key in source:
            return int(math.floor(source[start_key] * scale)), int(math.ceil(source[end_key] * scale))
    if isinstance(segment, (list, tuple)) and len(segment) == 2:
        return int(segment[0]), int(segment[1])
    raise WorldDataError(f"caption record {record!r}: cannot tell which frames its segment covers")


def load_world_examples(
    world_dir: str | os.PathLike,
    frames_per_video: int = 12,
    max_videos: int | None = None,
    progress: bool = False,
) -> list[VideoExample]:
    """Decode every video of a world folder at `frames_per_video` uniform frames, with regions and captions."""
    from videothought.perception.video import VideoReader

    root = Path(world_dir)
    video_dir = root / "videos"
    if not video_dir.is_dir():
        raise WorldDataError(f"{root}: no videos/ folder; generate it with `vot world generate --out {root}`")
    captions = _read_captions(root)
    paths = sorted(video_dir.glob("*.mp4"))[:max_videos]
    if not paths:
        raise WorldDataError(f"{video_dir}: no .mp4 videos")
    if progress:
        from tqdm import tqdm

        paths = tqdm(paths, desc=f"reading {root.name}", unit="video")
    examples = []
    for path in paths:
        name = path.stem
        stsg_path = _inside(root, f"stsg/{name}.json")
        try:
            document = json.loads(stsg_path.read_text())
        except FileNotFoundError:
            raise WorldDataError(f"{stsg_path}: missing ground truth for {path.name}") from None
        except json.JSONDecodeError as error:
            raise WorldDataError(f"{stsg_path}: not JSON ({error})") from None
        by_frame = _observations(document, stsg_path)
        with VideoReader(path) as reader:
            batch = reader.sample_uniform(frames_per_video)
            fps, num_frames = reader.metadata.fps, reader.metadata.num_frames
        indices = [int(i) for i in batch.frame_indices]
        segments, video_caption = [], None
        records = captions.get(name, [])
        for record in records:
            if record.get("segment") is None:
                video_caption = str(record["caption"])
        records = [r for r in records if r.get("segment") is not None]
        for record in sorted(records, key=lambda r: _segment_frames(r, fps, num_frames)):
            start, end = _segment_frames(record, fps, num_frames)
            positions = [p for p, index in enumerate(indices) if start <= index <= end]
            if positions:
                segments.append(Segment(positions, str(record["caption"])))
        examples.append(
            VideoExample(
                name=name,
                frames=np.ascontiguousarray(batch.frames),
                frame_indices=indices,
                regions=[by_frame.get(index, []) for index in indices],
                segments=segments,
                video_caption=video_caption,
            )
        )
    return examples


@dataclass
class ImageBatch:
    frames: list[np.ndarray]
    max_sides: list[int]
    boxes: list[tuple[int, tuple[float, float, float, float]]]  # (frame position, box)
    region_labels: list[str]
    frame_texts: list[str]


@dataclass
class ClipBatch:
    frames: list[np.ndarray]  # all clips' frames, consecutive
    clip_lengths: list[int]
    max_sides: list[int]  # per frame (one value repeated within a clip)
    captions: list[str]
    boxes: list[tuple[int, tuple[float, float, float, float]]]
    region_labels: list[str]


def render_fresh_frames(rng: np.random.Generator, count: int, frames_per_scene: int = 2) -> list[tuple[np.ndarray, list[Region]]]:
    """Frames of brand-new scenes from the world's in-memory renderer (not h264-compressed), with
    their visible regions: an endless supply of new colour/shape/size/background combinations,
    where a fixed world folder repeats its few hundred objects."""
    from videothought.evals.world.config import WorldParams
    from videothought.evals.world.render import SceneRenderer
    from videothought.evals.world.simulate import sample_spec

    out: list[tuple[np.ndarray, list[Region]]] = []
    while len(out) < count:
        spec = sample_spec(rng, WorldParams(seconds=2.0), video_id=f"w9999_{int(rng.integers(10**6)):06d}")
        renderer = SceneRenderer(spec)
        for frame_index in rng.choice(spec.num_frames, size=frames_per_scene, replace=False):
            frame, truth = renderer.render(int(frame_index))
            regions = []
            for object_id, record in truth.objects.items():
                x1, y1, x2, y2 = (float(v) for v in record["box"])
                fraction = min(record["visible_fraction"], record["in_frame_fraction"])
                if not record["visible"] or fraction < MIN_VISIBLE_FRACTION:
                    continue
                if x2 - x1 < MIN_REGION_SIDE or y2 - y1 < MIN_REGION_SIDE:
                    continue
                obj = spec.object_by_id(object_id)
                regions.append(Region((x1, y1, x2, y2), f"{obj.colour} {obj.shape}", fraction))
            out.append((frame, regions))
    return out[:count]


def sample_image_batch(
    examples: Sequence[VideoExample],
    rng: np.random.Generator,
    batch_size: int,
    side_range: tuple[int, int],
    fresh_fraction: float = 0.0,
) -> ImageBatch:
    """Random frames at a random resolution each (random scaling), with their regions and texts;
    `fresh_fraction` of them rendered now from new scenes (`render_fresh_frames`)."""
    num_fresh = int(round(batch_size * fresh_fraction))
    chosen: list[tuple[np.ndarray, list[Region]]] = []
    for _ in range(batch_size - num_fresh):
        example = examples[rng.integers(len(examples))]
        k = int(rng.integers(len(example.frames)))
        chosen.append((example.frames[k], example.regions[k]))
    if num_fresh:
        chosen += render_fresh_frames(rng, num_fresh)
    frames, sides, boxes, labels, texts = [], [], [], [], []
    for position, (frame, regions) in enumerate(chosen):
        frames.append(frame)
        sides.append(int(rng.integers(side_range[0], side_range[1] + 1)))
        for region in regions:
            boxes.append((position, region.box))
            labels.append(region.label)
        texts.append(frame_text(regions))
    return ImageBatch(frames, sides, boxes, labels, texts)


def sample_clip_batch(
    examples: Sequence[VideoExample],
    rng: np.random.Generator,
    batch_size: int,
    side_range: tuple[int, int],
    whole_video_probability: float = 0.5,
    regions_per_clip: int = 2,
) -> ClipBatch:
    """Random clips (a captioned segment, or the whole kept video with the joined caption)."""
    frames, lengths, sides, captions, boxes, labels = [], [], [], [], [], []
    chosen = rng.choice(len(examples), size=min(batch_size, len(examples)), replace=False)
    for index in chosen:
        example = examples[int(index)]
        if not example.segments or rng.random() < whole_video_probability:
            positions, caption = list(range(len(example.frames))), example.caption or frame_text(example.regions[0])
        else:
            segment = example.segments[int(rng.integers(len(example.segments)))]
            positions, caption = segment.frame_positions, segment.caption
        side = int(rng.integers(side_range[0], side_range[1] + 1))
        first = len(frames)
        for k in positions:
            frames.append(example.frames[k])
        for k in rng.choice(positions, size=min(regions_per_clip, len(positions)), replace=False):
            offset = first + positions.index(int(k))
            for region in example.regions[int(k)]:
                boxes.append((offset, region.box))
                labels.append(region.label)
        lengths.append(len(positions))
        sides += [side] * len(positions)
        captions.append(caption)
    return ClipBatch(frames, lengths, sides, captions, boxes, labels)
