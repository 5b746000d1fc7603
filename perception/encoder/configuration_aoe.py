"""Configuration of the AoE video encoder (see modeling_aoe.py for the model itself).

One typed dataclass, saved as `config.json` beside `model.safetensors`. Every
non-obvious default says why; `__post_init__` rejects bad values with a message
that quotes them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "config.json"
ATTENTION_KINDS = ("linear", "softmax")
FFN_KINDS = ("aoe", "moe", "dense")


class EncoderConfigError(ValueError):
    """A bad encoder configuration. The message quotes the offending value."""


@dataclass
class AoEConfig:
    # --- patches and embeddings -------------------------------------------------
    patch_size: int = 16  # 16 px patches: a 224 px frame is 196 tokens, cheap on CPU
    num_channels: int = 3
    hidden_size: int = 128
    max_grid_side: int = 32  # learned row/column tables cover 512 px; larger grids interpolate them
    image_max_side: int = 320  # inference resizes a frame's long side to this (the world renders 320x240)
    video_max_side: int = 224  # encode_video's long side: clips are many frames, so a lower resolution
    size_embedding_scale: float = 224.0  # sizes enter as log(side / scale): 0 at the usual 224 px
    # --- transformer ------------------------------------------------------------
    num_layers: int = 6
    num_heads: int = 4
    linear_per_softmax: int = 2  # hybrid ratio: 2 linear-attention layers per softmax layer (L:S = 2:1)
    attention_kinds: tuple[str, ...] | None = None  # explicit per-layer kinds; derived from the ratio when None
    temporal_every: int = 2  # a divided space-time temporal attention after every 2nd spatial layer
    max_frames: int = 64  # learned temporal position table; longer clips interpolate it
    layer_norm_eps: float = 1e-6
    dense_residuals: bool = True  # DenseFormer weighted averages of all earlier outputs
    # --- feed-forward -------------------------------------------------------------
    ffn_kind: str = "aoe"  # "aoe" (router-free), "moe" (top-k router, the baseline), "dense" (GELU MLP)
    num_experts: int = 4
    top_k: int = 2
    expert_intermediate_size: int = 256  # d_ffn of one SwiGLU expert of the MoE that AoE replaces
    aoe_low_rank: int = 64  # d_low: W_g = W_down (d x d_low) . W_up (d_low x d_wide); with d=128, d_ffn=256 the counts match exactly
    aoe_wide_size: int | None = None  # d_wide; None = chosen so AoE has the MoE's parameter count
    dense_intermediate_size: int | None = None  # dense FFN width; None = 4 * hidden_size (ViT's ratio)
    balance_loss_weight: float = 0.01  # Switch-style load balancing on the expert-choice softmax
    # --- outputs ----------------------------------------------------------------
    region_crop_side: int = 96  # a box is also encoded as its own crop (6x6 patches) packed beside the frames; 0 = off
    region_crop_margin: float = 0.15  # context around the box in the crop, as a fraction of its longer side
    embedding_size: int = 128  # the shared video / region / text space
    text_embedding_size: int = 384  # all-MiniLM-L6-v2's sentence embedding
    init_std: float = 0.02

    def __post_init__(self):
        positive = (
            "patch_size", "num_channels", "hidden_size", "max_grid_side", "num_layers", "num_heads",
            "num_experts", "top_k", "expert_intermediate_size", "aoe_low_rank", "embedding_size",
            "text_embedding_size", "max_frames", "image_max_side", "video_max_side",
        )  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise EncoderConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_heads:
            raise EncoderConfigError(
                f"hidden_size ({self.hidden_size!r}) must be divisible by num_heads ({self.num_heads!r})"
            )
        if self.top_k > self.num_experts:
            raise EncoderConfigError(f"top_k ({self.top_k!r}) must be <= num_experts ({self.num_experts!r})")
        if self.ffn_kind not in FFN_KINDS:
            raise EncoderConfigError(f"ffn_kind must be one of {FFN_KINDS}, got {self.ffn_kind!r}")
        if not isinstance(self.linear_per_softmax, int) or self.linear_per_softmax < 0:
            raise EncoderConfigError(f"linear_per_softmax must be an integer >= 0, got {self.linear_per_softmax!r}")
        if not isinstance(self.temporal_every, int) or self.temporal_every < 0:
            raise EncoderConfigError(f"temporal_every must be an integer >= 0 (0 = none), got {self.temporal_every!r}")
        if not isinstance(self.region_crop_side, int) or self.region_crop_side < 0:
            raise EncoderConfigError(f"region_crop_side must be an integer >= 0 (0 = off), got {self.region_crop_side!r}")
        if not 0 <= self.region_crop_margin <= 2:
            raise EncoderConfigError(f"region_crop_margin must be in [0, 2], got {self.region_crop_margin!r}")
        if self.size_embedding_scale <= 0:
            raise EncoderConfigError(f"size_embedding_scale must be > 0, got {self.size_embedding_scale!r}")
        if self.attention_kinds is None:
            # Softmax last in each group: (linear, linear, softmax, linear, linear, softmax, ...).
            period = self.linear_per_softmax + 1
            self.attention_kinds = tuple(
                "softmax" if (index + 1) % period == 0 else "linear" for index in range(self.num_layers)
            )
        self.attention_kinds = tuple(self.attention_kinds)
        if len(self.attention_kinds) != self.num_layers:
            raise EncoderConfigError(
                f"attention_kinds has {len(self.attention_kinds)} entries, num_layers is {self.num_layers!r}"
            )
        for kind in self.attention_kinds:
            if kind not in ATTENTION_KINDS:
                raise EncoderConfigError(f"attention kind must be one of {ATTENTION_KINDS}, got {kind!r}")
        if self.aoe_wide_size is None:
            self.aoe_wide_size = matching_aoe_wide_size(
                self.hidden_size, self.expert_intermediate_size, self.aoe_low_rank
            )
        if self.aoe_wide_size <= 0:
            raise EncoderConfigError(f"aoe_wide_size must be positive, got {self.aoe_wide_size!r}")
        if self.dense_intermediate_size is None:
            self.dense_intermediate_size = 4 * self.hidden_size

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def has_temporal(self, layer_index: int) -> bool:
        return self.temporal_every > 0 and (layer_index + 1) % self.temporal_every == 0

    # --- parameter bookkeeping (the test checks these against the real modules) --
    def moe_expert_parameters(self) -> int:
        """One SwiGLU expert (gate, up, down: 3 d d_ffn) plus its router column (d)."""
        d, f = self.hidden_size, self.expert_intermediate_size
        return 3 * d * f + d

    def aoe_expert_parameters(self) -> int:
        """W_down (d x d_low) + W_up (d_low x d_wide) + W_p (d x d_wide) + W_o (d_wide x d)."""
        d, low, wide = self.hidden_size, self.aoe_low_rank, self.aoe_wide_size
        return d * low + low * wide + 2 * d * wide

    # --- JSON -------------------------------------------------------------------
    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record["attention_kinds"] = list(self.attention_kinds)
        return record

    @classmethod
    def from_dict(cls, record: dict) -> AoEConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise EncoderConfigError(f"unknown encoder config keys {unknown}")
        record = dict(record)
        if record.get("attention_kinds") is not None:
            record["attention_kinds"] = tuple(record["attention_kinds"])
        return cls(**record)

    def save(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> AoEConfig:
        path = Path(directory) / CONFIG_NAME
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise EncoderConfigError(f"{path}: no encoder config here") from None
        except json.JSONDecodeError as error:
            raise EncoderConfigError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(record, dict):
            raise EncoderConfigError(f"{path}: expected a JSON object, got {type(record).__name__}")
        return cls.from_dict(record)


def matching_aoe_wide_size(hidden_size: int, expert_intermediate_size: int, low_rank: int) -> int:
    """d_wide that gives an AoE expert the parameter count of a SwiGLU MoE expert plus its router column.

    d*d_low + d_wide*(d_low + 2d) = 3*d*d_ffn + d, rounded to the nearest integer (exact when it divides).
    """
    d = hidden_size
    wide = (3 * d * expert_intermediate_size + d - d * low_rank) / (low_rank + 2 * d)
    return max(1, round(wide))
