"""Distillation teachers given by path: any transformers vision model folder (config.json with
a model_type + safetensors weights), or a larger checkpoint of our own encoder.

Weights load from safetensors only (`use_safetensors=True`), never with trust_remote_code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


class TeacherError(ValueError):
    pass


class Teacher:
    """frames (list of uint8 (H, W, 3)) -> (F, dim) float features, no gradients."""

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        config_path = path / "config.json"
        if not config_path.is_file():
            raise TeacherError(f"teacher {path}: no config.json (expected a transformers model folder or an AoE checkpoint)")
        config = json.loads(config_path.read_text())
        self.path = path
        if "model_type" in config:
            from transformers import AutoModel

            try:
                self.model = AutoModel.from_pretrained(str(path), use_safetensors=True).eval()
            except (OSError, ValueError) as error:
                raise TeacherError(f"teacher {path}: cannot load as a transformers model with safetensors weights ({error})") from None
            self.kind = "transformers"
            self.image_size = int(getattr(self.model.config, "image_size", 224))
            self.dim = int(self.model.config.hidden_size)
        else:
            from videothought.perception.encoder.modeling_aoe import AoEVideoEncoder

            self.model = AoEVideoEncoder.from_pretrained(path)
            self.kind = "aoe"
            self.dim = self.model.config.embedding_size
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def __call__(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        if self.kind == "aoe":
            from videothought.perception.encoder.modeling_aoe import pack_frames

            packed = pack_frames(list(frames), self.model.config.patch_size, self.model.config.image_max_side)
            return self.model(packed).frame_embeddings
        images = torch.stack([torch.as_tensor(np.asarray(f)).permute(2, 0, 1).float() for f in _same_size(frames)])
        images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
        images = (images / 255.0 - 0.5) / 0.5  # (F, 3, S, S), ViT's default normalisation
        output = self.model(pixel_values=images)
        pooled = getattr(output, "pooler_output", None)
        return pooled if pooled is not None else output.last_hidden_state[:, 0]


def _same_size(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Frames of different sizes are resized one by one to the first frame's size first."""
    height, width = frames[0].shape[:2]
    out = []
    for frame in frames:
        if frame.shape[:2] != (height, width):
            tensor = torch.as_tensor(np.asarray(frame)).permute(2, 0, 1)[None].float()
            frame = F.interpolate(tensor, size=(height, width), mode="bilinear")[0].permute(1, 2, 0).round().byte().numpy()
        out.append(frame)
    return out
