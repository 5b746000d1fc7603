"""The encoder as the agent uses it: frames, clips, regions, tracks and text in one space.

    encoder = load_default_encoder()                  # the shipped checkpoint (or a folder: load_default_encoder(path))
    encoder.encode_frames(frames)                     # (T, D), frames (T, H, W, 3) uint8 or a list of any sizes
    encoder.clip_embedding(frames)                    # (D,), one clip (frames of one size), for retrieval
    encoder.encode_regions(frames, [(0, [x1, y1, x2, y2])])   # (N, D), boxes as (frame_position, box) pairs
    encoder.encode_regions(frames, [[box, box], [], [box]])   # (N, D), or one list of boxes per frame
    encoder.track_embeddings(frames, frame_indices, {7: observations})  # {7: (D,)}
    encoder.encode_text(["a red circle"])             # (N, D)
    encoder.label_regions(frames, boxes, ["red circle", "blue square"])  # [("red circle", 0.93), ...]

Every embedding is L2-normalised (D = `embedding_size`, 128 for the shipped checkpoint);
similarity is a dot product.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch

from .configuration_aoe import CONFIG_NAME
from .modeling_aoe import WEIGHTS_NAME, AoEVideoEncoder, EncoderInputError, as_frame_list, pack_frames

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "aoe-world-v1"
DEFAULT_RECIPES = ("training/recipes/encoder/aoe_world_v1_stage1.yaml", "training/recipes/encoder/aoe_world_v1.yaml")
TRAIN_COMMAND = " && ".join(f"vot train encoder --config {recipe}" for recipe in DEFAULT_RECIPES)
CHECKPOINT_ENV = "VIDEOTHOUGHT_ENCODER"  # overrides the default checkpoint folder
TRACK_SAMPLES = 4  # observations per track averaged by track_embeddings: enough to smooth pose and occlusion, cheap


class EncoderCheckpointError(FileNotFoundError):
    """The encoder checkpoint is missing or unreadable; the message names the command that trains it."""


def _is_box(value) -> bool:
    """Four real numbers: [x1, y1, x2, y2]."""
    try:
        return len(value) == 4 and all(isinstance(v, Real) for v in value)
    except TypeError:
        return False


def region_pairs(boxes, num_frames: int) -> list[tuple[int, list[float]]]:
    """Boxes in either accepted form -> [(frame_position, [x1, y1, x2, y2]), ...].

    - pairs: [(frame_position, box), ...], any order, any number per frame (kept in order);
    - per frame: exactly one entry per frame, each a list of boxes or an (n, 4) array
      (possibly empty); flattened frame by frame.
    A pair is told apart by its first item being an integer frame position.
    """
    items = list(boxes)
    if not items:
        return []
    if all(isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], Integral) for item in items):
        return [(int(position), [float(v) for v in box]) for position, box in items]
    if len(items) != num_frames:
        raise EncoderInputError(
            f"boxes must be (frame_position, [x1, y1, x2, y2]) pairs or one list of boxes per frame; "
            f"got {len(items)} entries for {num_frames} frames (first entry {items[0]!r})"
        )
    pairs = []
    for position, frame_boxes in enumerate(items):
        for box in list(frame_boxes):
            if not _is_box(box):
                raise EncoderInputError(f"frame {position}'s boxes must be [x1, y1, x2, y2], got {box!r}")
            pairs.append((position, [float(v) for v in box]))
    return pairs


def _observation_parts(observation) -> tuple[int, list[float], bool]:
    """(frame_index, box, visible) of an observation given as a (frame_index, box) pair, an
    object with .frame_index / .box (graph.schema.Observation), or a dict with those keys."""
    if isinstance(observation, Mapping):
        return int(observation["frame_index"]), list(observation["box"]), bool(observation.get("visible", True))
    if hasattr(observation, "frame_index") and hasattr(observation, "box"):
        return int(observation.frame_index), list(observation.box), bool(getattr(observation, "visible", True))
    try:
        frame_index, box = observation
        return int(frame_index), list(box), True
    except (TypeError, ValueError):
        raise EncoderInputError(
            f"an observation must be (frame_index, [x1, y1, x2, y2]), an Observation or a dict, got {observation!r}"
        ) from None


def spread_positions(count: int, k: int) -> list[int]:
    """Up to k positions in range(count), evenly spread, both ends included: (10, 4) -> [0, 3, 6, 9];
    k = 1 takes the middle: (10, 1) -> [4]."""
    if count <= k:
        return list(range(count))
    if k == 1:
        return [(count - 1) // 2]  # the middle of the track's life
    return sorted({int(round(p)) for p in np.linspace(0, count - 1, k)})


class VideoEncoderBundle:
    """A trained AoE encoder plus the frozen text model, with numpy-in / tensor-out helpers.

    All outputs are float32 CPU tensors with L2-normalised rows of size D = `self.dimension`.
    Frames are uint8 RGB: a (T, H, W, 3) array or a list of (H, W, 3) arrays of any sizes.
    """

    def __init__(self, model: AoEVideoEncoder, text_encoder=None, max_side: int | None = None):
        self.model = model.eval()
        self.config = model.config
        self.max_side = int(max_side or model.config.image_max_side)
        self.video_max_side = int(model.config.video_max_side)
        self._text_encoder = text_encoder

    @property
    def dimension(self) -> int:
        """D: the size of every embedding (frames, clips, regions, tracks, text)."""
        return int(self.config.embedding_size)

    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device

    @property
    def text_encoder(self):
        if self._text_encoder is None:
            from .text import shared_text_encoder

            self._text_encoder = shared_text_encoder()
        return self._text_encoder

    def _run(self, frames, clip: bool = False):
        max_side = self.video_max_side if clip else self.max_side
        packed = pack_frames(frames, self.config.patch_size, max_side)
        if clip:
            grids = {tuple(g) for g in packed.grids.tolist()}
            if len(grids) != 1:
                raise EncoderInputError(f"a video's frames must share one size, got patch grids {sorted(grids)}")
            packed.clip_lengths = [packed.num_frames]
        with torch.inference_mode():
            return self.model(packed)

    def encode_frames(self, frames) -> torch.Tensor:
        """(T, D): one embedding per frame (each frame alone, at `max_side`); sizes may differ."""
        return self._run(frames).frame_embeddings.cpu()

    def clip_embedding(self, frames) -> torch.Tensor:
        """(D,): one clip's embedding, for long-video retrieval (compare with `encode_text([question])[0]`).

        The T frames (one size) are resized to `video_max_side`, encoded by the spatial layers per
        frame and the temporal layers across frames, and mean-pooled; T beyond the learned
        `max_frames` positions interpolates them.
        """
        return self._run(frames, clip=True).clip_embeddings[0].cpu()

    encode_video = clip_embedding  # the earlier name

    def encode_regions(self, frames, boxes) -> torch.Tensor:
        """(N, D) region embeddings, one per box, in ONE packed forward over all frames and crops.

        boxes, in pixels of the given frames: (frame_position, [x1, y1, x2, y2]) pairs, or one
        list of boxes per frame (see `region_pairs`); rows follow that order. Only frames that
        hold a box are encoded.
        """
        frame_list = as_frame_list(frames)
        pairs = region_pairs(boxes, len(frame_list))
        if not pairs:
            return torch.zeros(0, self.dimension)
        for n, (position, _) in enumerate(pairs):
            if not 0 <= position < len(frame_list):
                raise EncoderInputError(f"box {n} refers to frame position {position}, but {len(frame_list)} frames were given")
        used = sorted({position for position, _ in pairs})
        local = {position: k for k, position in enumerate(used)}
        packed = pack_frames([frame_list[p] for p in used], self.config.patch_size, self.max_side)
        with torch.inference_mode():
            return self.model.forward_regions(packed, [(local[p], box) for p, box in pairs]).cpu()

    def track_embeddings(
        self,
        frames,
        frame_indices: Sequence[int],
        observations_by_track: Mapping[int, Iterable],
        k: int = TRACK_SAMPLES,
    ) -> dict[int, torch.Tensor]:
        """{track_id: (D,) unit vector}: the mean of the L2-normalised region embeddings of up to
        k of the track's observations, spread over its life, renormalised. All tracks share one
        `encode_regions` call (one forward).

        frames:                (T, H, W, 3) or a list; frames[i] is video frame frame_indices[i]
        frame_indices:         (T,) video frame index of each given frame
        observations_by_track: track_id -> observations, each (frame_index, [x1, y1, x2, y2]),
                               a graph.schema.Observation, or a dict with those keys; frame_index
                               is a video frame index, boxes are in pixels of the given frames.
        Observations on frames not given, invisible ones (visible=False) and empty boxes are
        skipped; a track left with none is absent from the result.
        """
        if not isinstance(k, Integral) or k < 1:
            raise EncoderInputError(f"k must be a positive integer (observations per track), got {k!r}")
        frame_list = as_frame_list(frames)
        frame_indices = [int(i) for i in frame_indices]
        if len(frame_indices) != len(frame_list):
            raise EncoderInputError(f"got {len(frame_indices)} frame_indices for {len(frame_list)} frames")
        position_of = {index: position for position, index in enumerate(frame_indices)}
        pairs, owners = [], []
        for track_id, observations in observations_by_track.items():
            usable: dict[int, list[float]] = {}  # frame_index -> box, one per frame
            for observation in observations:
                frame_index, box, visible = _observation_parts(observation)
                if visible and frame_index in position_of and box[2] > box[0] and box[3] > box[1]:
                    usable.setdefault(frame_index, box)
            if not usable:
                logger.debug("track %s has no visible observation on the given frames", track_id)
                continue
            ordered = sorted(usable)
            for j in spread_positions(len(ordered), k):
                pairs.append((position_of[ordered[j]], usable[ordered[j]]))
                owners.append(track_id)
        if not pairs:
            return {}
        regions = self.encode_regions(frame_list, pairs)  # (N, D)
        ids = list(dict.fromkeys(owners))
        owner_rows = torch.tensor([ids.index(owner) for owner in owners])  # (N,)
        sums = torch.zeros(len(ids), regions.shape[1]).index_add(0, owner_rows, regions)  # (tracks, D)
        means = torch.nn.functional.normalize(sums, dim=-1)
        return {track_id: means[row] for row, track_id in enumerate(ids)}

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, D): frozen all-MiniLM-L6-v2 (cached per sentence), then the learned projection."""
        sentences = self.text_encoder(texts)
        with torch.inference_mode():
            return self.model.text_embeddings(sentences.to(self.device)).cpu()

    def label_regions(self, frames, boxes, vocabulary: Sequence[str]) -> list[tuple[str, float]]:
        """Open-vocabulary labels: for each box the vocabulary entry most similar to its region
        embedding, with its probability under a softmax over the vocabulary (learned temperature)."""
        vocabulary = list(vocabulary)
        if not vocabulary:
            raise EncoderInputError("label_regions needs a non-empty vocabulary")
        if len(boxes) == 0:
            return []
        regions = self.encode_regions(frames, boxes)  # (N, D)
        texts = self.encode_text(vocabulary)  # (V, D)
        probabilities = (self.model.logit_scale.exp().item() * regions @ texts.T).softmax(dim=-1)  # (N, V)
        scores, best = probabilities.max(dim=-1)
        return [(vocabulary[i], float(s)) for i, s in zip(best.tolist(), scores.tolist())]


def load_encoder(path: str | os.PathLike, device: str = "cpu") -> VideoEncoderBundle:
    """A new bundle from a checkpoint folder (config.json + model.safetensors); not cached."""
    path = Path(path)
    if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
        raise EncoderCheckpointError(
            f"no encoder checkpoint in {path} (needs {CONFIG_NAME} and {WEIGHTS_NAME}); "
            f"train one with `{TRAIN_COMMAND}`"
        )
    try:
        model = AoEVideoEncoder.from_pretrained(path, device=device)
    except (ValueError, OSError) as error:
        raise EncoderCheckpointError(f"{error}; retrain it with `{TRAIN_COMMAND}`") from None
    return VideoEncoderBundle(model)


_cache: dict[tuple[str, str], VideoEncoderBundle] = {}
_lock = threading.Lock()


def default_checkpoint() -> Path:
    return Path(os.environ.get(CHECKPOINT_ENV) or DEFAULT_CHECKPOINT)


def _names_a_device(value) -> bool:
    """'cpu', 'cuda', 'cuda:1', 'mps', a torch.device: the old first argument of load_default_encoder."""
    if isinstance(value, torch.device):
        return True
    if not isinstance(value, str) or Path(value).exists():
        return False
    try:
        torch.device(value)
    except (RuntimeError, ValueError):
        return False
    return True


def load_default_encoder(path: str | os.PathLike | None = None, device: str = "cpu") -> VideoEncoderBundle:
    """The encoder in `path`, else $VIDEOTHOUGHT_ENCODER, else the shipped checkpoint
    (perception/checkpoints/aoe-world-v1); loaded once per (folder, device) and shared.

    `load_default_encoder("cuda")` (a device as the only argument, the old signature) still
    means the default checkpoint on that device.
    """
    if path is not None and _names_a_device(path):
        path, device = None, str(path)
    folder = Path(path) if path is not None else default_checkpoint()
    key = (str(folder.resolve()), str(device))
    with _lock:
        if key not in _cache:
            _cache[key] = load_encoder(folder, device=device)
        return _cache[key]
