"""The encoder as the agent uses it: frames, clips, regions and text in one space.

    encoder = load_default_encoder()                   # lazy, cached per device
    encoder.encode_frames(frames)                      # (T, E), frames (T, H, W, 3) uint8 or a list of any sizes
    encoder.encode_video(frames)                       # (E,)
    encoder.encode_regions(frames, [(0, [x1, y1, x2, y2])])   # (N, E)
    encoder.encode_text(["a red circle"])              # (N, E)
    encoder.label_regions(frames, boxes, ["red circle", "blue square"])  # [("red circle", 0.93), ...]

Every embedding is L2-normalised; similarity is a dot product.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import torch

from .configuration_aoe import CONFIG_NAME
from .modeling_aoe import WEIGHTS_NAME, AoEVideoEncoder, EncoderInputError, pack_frames

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "aoe-world-v1"
DEFAULT_RECIPES = ("training/recipes/encoder/aoe_world_v1_stage1.yaml", "training/recipes/encoder/aoe_world_v1.yaml")
TRAIN_COMMAND = " && ".join(f"vot train encoder --config {recipe}" for recipe in DEFAULT_RECIPES)
CHECKPOINT_ENV = "VIDEOTHOUGHT_ENCODER"  # overrides the default checkpoint folder


class EncoderCheckpointError(FileNotFoundError):
    """The encoder checkpoint is missing or unreadable; the message names the command that trains it."""


class VideoEncoderBundle:
    """A trained AoE encoder plus the frozen text model, with numpy-in / tensor-out helpers."""

    def __init__(self, model: AoEVideoEncoder, text_encoder=None, max_side: int | None = None):
        self.model = model.eval()
        self.config = model.config
        self.max_side = int(max_side or model.config.image_max_side)
        self.video_max_side = int(model.config.video_max_side)
        self._text_encoder = text_encoder

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
        """(T, E): one embedding per frame; frames may have different sizes."""
        return self._run(frames).frame_embeddings.cpu()

    def encode_video(self, frames) -> torch.Tensor:
        """(E,): the clip embedding (spatial layers per frame, temporal layers across frames)."""
        return self._run(frames, clip=True).clip_embeddings[0].cpu()

    def encode_regions(self, frames, boxes: Sequence) -> torch.Tensor:
        """(N, E) for boxes given as (frame_position, [x1, y1, x2, y2]) in pixels of those frames."""
        if len(boxes) == 0:
            return torch.zeros(0, self.config.embedding_size)
        output = self._run(frames)
        with torch.inference_mode():
            return self.model.region_embeddings(output, boxes).cpu()

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, E): frozen all-MiniLM-L6-v2, then the learned projection."""
        sentences = self.text_encoder(texts)
        with torch.inference_mode():
            return self.model.text_embeddings(sentences.to(self.device)).cpu()

    def label_regions(self, frames, boxes: Sequence, vocabulary: Sequence[str]) -> list[tuple[str, float]]:
        """Open-vocabulary labels: for each box the vocabulary entry most similar to its region
        embedding, with its probability under a softmax over the vocabulary (learned temperature)."""
        vocabulary = list(vocabulary)
        if not vocabulary:
            raise EncoderInputError("label_regions needs a non-empty vocabulary")
        if len(boxes) == 0:
            return []
        regions = self.encode_regions(frames, boxes)  # (N, E)
        texts = self.encode_text(vocabulary)  # (V, E)
        probabilities = (self.model.logit_scale.exp().item() * regions @ texts.T).softmax(dim=-1)  # (N, V)
        scores, best = probabilities.max(dim=-1)
        return [(vocabulary[i], float(s)) for i, s in zip(best.tolist(), scores.tolist())]


def load_encoder(path: str | os.PathLike, device: str = "cpu") -> VideoEncoderBundle:
    """A bundle from a checkpoint folder (config.json + model.safetensors)."""
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


def load_default_encoder(device: str = "cpu") -> VideoEncoderBundle:
    """The shipped encoder (perception/checkpoints/aoe-world-v1, or $VIDEOTHOUGHT_ENCODER), loaded once."""
    key = (str(default_checkpoint()), str(device))
    with _lock:
        if key not in _cache:
            _cache[key] = load_encoder(key[0], device=device)
        return _cache[key]
