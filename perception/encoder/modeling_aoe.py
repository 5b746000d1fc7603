"""The AoE video encoder: image packing, hybrid attention, Autonomy-of-Experts, dense residuals.

After Video-VoT-R1 (arXiv 2503.15807) and Autonomy-of-Experts (Lv et al. 2025,
arXiv 2501.13074). Read top to bottom: packing -> embeddings -> attention ->
feed-forward -> block -> model -> save/load.

Image packing. Frames of any size are resized (aspect kept, sides rounded to the
patch size), cut into patches, and every frame's patches are concatenated into one
sequence of L tokens. `cu_seqlens` marks where each frame starts, and attention is
kept inside each frame: the mask is block diagonal.

        frame 0 (2x2 grid) | frame 1 (1x3) | frame 2 (2x2)
    tokens:  a a a a          b b b           c c c c
    cu_seqlens = [0, 4, 7, 11]

                 a a a a b b b c c c c
             a   x x x x . . . . . . .
             a   x x x x . . . . . . .
             a   x x x x . . . . . . .       x: may attend
             a   x x x x . . . . . . .       .: masked
             b   . . . . x x x . . . .
             b   . . . . x x x . . . .
             b   . . . . x x x . . . .
             c   . . . . . . . x x x x
             ...

We never build that L x L mask. Segments of equal length are gathered into one
(B, H, len, head_dim) batch and attended densely (`segment_batches`), which is
cu_seqlens-style per-segment attention; the bench measures it against a dense masked
SDPA and a flex-attention block mask on CPU (it wins there: no mask, no compile).

Video. A clip's frames share one size; after spatial layers chosen by
`temporal_every`, a divided space-time temporal attention attends across the clip's
frames at each patch position. Its output projection starts at zero, so a video
encoder built from an image encoder starts out computing exactly the image encoder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .configuration_aoe import AoEConfig

WEIGHTS_NAME = "model.safetensors"
PIXEL_MEAN = 0.5  # pixels enter as (x / 255 - mean) / std
PIXEL_STD = 0.25


class EncoderInputError(ValueError):
    """Frames, boxes or clips the encoder cannot take. The message names the problem."""


# ---------------------------------------------------------------------------------
# Packing
# ---------------------------------------------------------------------------------


@dataclass
class PackedFrames:
    """Patches of many frames in one sequence.

    patches:      (L, 3 * P * P) float, normalised pixels, row-major patches of each frame
    grids:        (F, 2) long, (rows, columns) of patches per frame
    sizes:        (F, 2) float, the original (height, width) in pixels, before resizing
    cu_seqlens:   (F + 1,) long, frame f owns tokens cu_seqlens[f]:cu_seqlens[f+1]
    clip_lengths: frames per clip, summing to F (consecutive frames form a clip); None = images
    frames:       the original uint8 (H, W, 3) frames, kept for region crops
    """

    patches: torch.Tensor
    grids: torch.Tensor
    sizes: torch.Tensor
    cu_seqlens: torch.Tensor
    clip_lengths: list[int] | None = None
    frames: list[torch.Tensor] | None = field(default=None, repr=False)

    @property
    def num_frames(self) -> int:
        return int(self.grids.shape[0])

    @property
    def num_tokens(self) -> int:
        return int(self.patches.shape[0])

    def seqlens(self) -> list[int]:
        return (self.cu_seqlens[1:] - self.cu_seqlens[:-1]).tolist()

    def to(self, device) -> PackedFrames:
        return PackedFrames(
            self.patches.to(device), self.grids.to(device), self.sizes.to(device),
            self.cu_seqlens.to(device), self.clip_lengths, self.frames,
        )  # fmt: skip


def as_frame_list(frames) -> list[torch.Tensor]:
    """uint8 (T, H, W, 3) array/tensor, or a list of (H, W, 3) frames of any sizes -> list of uint8 tensors."""
    if isinstance(frames, (np.ndarray, torch.Tensor)):
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4:
            raise EncoderInputError(f"frames must be (T, H, W, 3) or a list of (H, W, 3), got shape {tuple(frames.shape)}")
        frames = list(frames)
    if not isinstance(frames, Sequence) or len(frames) == 0:
        raise EncoderInputError("no frames given: expected a non-empty list or a (T, H, W, 3) array")
    out = []
    for position, frame in enumerate(frames):
        tensor = torch.as_tensor(np.asarray(frame)) if not isinstance(frame, torch.Tensor) else frame
        if tensor.ndim != 3 or tensor.shape[-1] != 3:
            raise EncoderInputError(f"frame {position} must be (H, W, 3) RGB, got shape {tuple(tensor.shape)}")
        if tensor.dtype != torch.uint8:
            raise EncoderInputError(f"frame {position} must be uint8 pixels, got dtype {tensor.dtype}")
        if tensor.shape[0] < 1 or tensor.shape[1] < 1:
            raise EncoderInputError(f"frame {position} is empty: shape {tuple(tensor.shape)}")
        out.append(tensor)
    return out


def target_grid(height: int, width: int, patch_size: int, max_side: int, upscale: bool = False) -> tuple[int, int]:
    """Patch grid (rows, columns) of a frame resized so its long side is at most max_side.

    Aspect is kept up to rounding each side to whole patches; frames are not upscaled
    (unless `upscale`, used for region crops), and every side has at least one patch.
    """
    scale = max_side / max(height, width) if upscale else min(1.0, max_side / max(height, width))
    rows = max(1, round(height * scale / patch_size))
    columns = max(1, round(width * scale / patch_size))
    return rows, columns


def patchify(frame: torch.Tensor, rows: int, columns: int, patch_size: int) -> torch.Tensor:
    """uint8 (H, W, 3) -> normalised patches (rows * columns, 3 * P * P), resized to the grid."""
    image = frame.permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    height, width = rows * patch_size, columns * patch_size
    if image.shape[-2:] != (height, width):
        image = F.interpolate(image, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    image = (image / 255.0 - PIXEL_MEAN) / PIXEL_STD
    patches = image.reshape(3, rows, patch_size, columns, patch_size)  # (3, R, P, C, P)
    patches = patches.permute(1, 3, 0, 2, 4)  # (R, C, 3, P, P)
    return patches.reshape(rows * columns, 3 * patch_size * patch_size)


def pack_frames(
    frames,
    patch_size: int,
    max_side: int | Sequence[int] = 224,
    clip_lengths: Sequence[int] | None = None,
    upscale: bool = False,
) -> PackedFrames:
    """Resize and patchify frames of any sizes into one packed sequence.

    max_side may be one number or one per frame (random-scaling augmentation gives each
    sample its own resolution). clip_lengths groups consecutive frames into clips for
    temporal attention; a clip's frames must share one size.
    """
    frame_list = as_frame_list(frames)
    sides = [max_side] * len(frame_list) if isinstance(max_side, (int, float)) else list(max_side)
    if len(sides) != len(frame_list):
        raise EncoderInputError(f"got {len(sides)} max_side values for {len(frame_list)} frames")
    patches, grids, sizes = [], [], []
    for frame, side in zip(frame_list, sides):
        height, width = int(frame.shape[0]), int(frame.shape[1])
        rows, columns = target_grid(height, width, patch_size, int(side), upscale)
        patches.append(patchify(frame, rows, columns, patch_size))
        grids.append((rows, columns))
        sizes.append((height, width))
    grid_tensor = torch.tensor(grids, dtype=torch.long)  # (F, 2)
    lengths = grid_tensor.prod(dim=1)
    cu_seqlens = torch.zeros(len(frame_list) + 1, dtype=torch.long)
    cu_seqlens[1:] = lengths.cumsum(0)
    if clip_lengths is not None:
        clip_lengths = [int(n) for n in clip_lengths]
        if sum(clip_lengths) != len(frame_list) or min(clip_lengths, default=0) < 1:
            raise EncoderInputError(f"clip_lengths {clip_lengths} must be positive and sum to {len(frame_list)} frames")
        start = 0
        for number, length in enumerate(clip_lengths):
            clip_grids = {tuple(g) for g in grids[start : start + length]}
            if len(clip_grids) != 1:
                raise EncoderInputError(f"clip {number} mixes frame sizes {sorted(clip_grids)}: a clip's frames must share one size")
            start += length
    return PackedFrames(
        patches=torch.cat(patches),
        grids=grid_tensor,
        sizes=torch.tensor(sizes, dtype=torch.float32),
        cu_seqlens=cu_seqlens,
        clip_lengths=clip_lengths,
        frames=frame_list,
    )


def concat_packed(parts: Sequence[PackedFrames]) -> PackedFrames:
    """Several packed image batches as one sequence (frames of `parts[0]` first, then `parts[1]`'s...).

    Attention stays inside each frame, so every frame's outputs are those it gets alone; this
    only saves forward calls (e.g. region crops ride along with their frames). Images only.
    """
    if any(part.clip_lengths is not None for part in parts):
        raise EncoderInputError("concat_packed joins image batches only; clips keep their own forward")
    offsets = [0]
    for part in parts:
        offsets.append(offsets[-1] + part.num_tokens)
    cu_seqlens = torch.cat(
        [parts[0].cu_seqlens[:1]] + [part.cu_seqlens[1:] + offset for part, offset in zip(parts, offsets)]
    )  # (F_total + 1,)
    frames = None
    if all(part.frames is not None for part in parts):
        frames = [frame for part in parts for frame in part.frames]
    return PackedFrames(
        patches=torch.cat([part.patches for part in parts]),
        grids=torch.cat([part.grids for part in parts]),
        sizes=torch.cat([part.sizes for part in parts]),
        cu_seqlens=cu_seqlens,
        clip_lengths=None,
        frames=frames,
    )


def segment_batches(cu_seqlens: torch.Tensor) -> list[torch.Tensor]:
    """Token indices of equal-length segments, batched: a list of (num_segments, length) long tensors.

    Segments [0, 4), [4, 7), [7, 11) give [[0, 1, 2, 3], [7, 8, 9, 10]] and [[4, 5, 6]].
    """
    starts = cu_seqlens[:-1]
    lengths = cu_seqlens[1:] - starts
    batches = []
    for length in torch.unique(lengths).tolist():
        chosen = starts[lengths == length]  # (B,)
        batches.append(chosen[:, None] + torch.arange(length, device=cu_seqlens.device)[None, :])  # (B, len)
    return batches


def temporal_batches(packed: PackedFrames) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For temporal attention: token indices (S, T) of each patch position across a clip's T frames,
    batched over clips of equal T, with the frame position (T,) of each column."""
    if packed.clip_lengths is None:
        return []
    by_length: dict[int, list[torch.Tensor]] = {}
    first = 0
    for length in packed.clip_lengths:
        starts = packed.cu_seqlens[first : first + length]  # (T,)
        tokens = int(packed.cu_seqlens[first + 1] - packed.cu_seqlens[first])
        index = starts[None, :] + torch.arange(tokens, device=starts.device)[:, None]  # (N, T)
        by_length.setdefault(length, []).append(index)
        first += length
    return [
        (torch.cat(indices), torch.arange(length, device=packed.cu_seqlens.device))
        for length, indices in by_length.items()
    ]


def segment_ids(cu_seqlens: torch.Tensor) -> torch.Tensor:
    """(L,) long: the frame each token belongs to."""
    lengths = cu_seqlens[1:] - cu_seqlens[:-1]
    return torch.repeat_interleave(torch.arange(len(lengths), device=cu_seqlens.device), lengths)


# ---------------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------------


def _table_rows(table: torch.Tensor, count: int) -> torch.Tensor:
    """First `count` rows of a learned (N, D) table; linearly stretched when count > N."""
    if count <= table.shape[0]:
        return table[:count]
    stretched = F.interpolate(table.t()[None], size=count, mode="linear", align_corners=True)  # (1, D, count)
    return stretched[0].t()  # (count, D)


class PatchEmbedding(nn.Module):
    """Patches -> tokens, plus factorised 2D positions (row + column tables) and a size-aware embedding.

    The size embedding sees the frame's original height, width and aspect (as logs relative
    to `size_embedding_scale`), so a resized 1080p frame and a native 224 px frame differ.
    """

    def __init__(self, config: AoEConfig):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.projection = nn.Linear(config.num_channels * config.patch_size**2, d)
        self.row_embedding = nn.Parameter(torch.randn(config.max_grid_side, d) * config.init_std)
        self.column_embedding = nn.Parameter(torch.randn(config.max_grid_side, d) * config.init_std)
        self.size_embedding = nn.Sequential(nn.Linear(3, d), nn.GELU(), nn.Linear(d, d))

    def positions(self, grids: torch.Tensor) -> torch.Tensor:
        """(F, 2) grids -> (L, D) position embeddings, frames concatenated."""
        pieces, by_grid = [], {}
        for r, c in grids.tolist():
            if (r, c) not in by_grid:  # each frame's positions depend on its own grid only
                rows = _table_rows(self.row_embedding, r)  # (r, D)
                columns = _table_rows(self.column_embedding, c)  # (c, D)
                by_grid[r, c] = (rows[:, None, :] + columns[None, :, :]).reshape(r * c, -1)  # (r * c, D)
            pieces.append(by_grid[r, c])
        return torch.cat(pieces)

    def forward(self, packed: PackedFrames) -> torch.Tensor:
        tokens = self.projection(packed.patches)  # (L, D)
        heights, widths = packed.sizes[:, 0], packed.sizes[:, 1]
        scale = self.config.size_embedding_scale
        size_features = torch.stack(
            [torch.log(heights / scale), torch.log(widths / scale), torch.log(heights / widths)], dim=-1
        )  # (F, 3)
        per_frame = self.size_embedding(size_features.to(tokens.dtype))  # (F, D)
        lengths = packed.cu_seqlens[1:] - packed.cu_seqlens[:-1]
        return tokens + self.positions(packed.grids).to(tokens.dtype) + per_frame.repeat_interleave(lengths, dim=0)


# ---------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, H, len, hd) each -> (B, H, len, hd); O(len^2) per segment."""
    return F.scaled_dot_product_attention(q, k, v)


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Kernelised attention with phi = elu + 1 (Katharopoulos et al. 2020): O(hd^2 len) per segment.

    out_i = phi(q_i) . sum_j phi(k_j)^T v_j / (phi(q_i) . sum_j phi(k_j))
    """
    q, k = F.elu(q) + 1.0, F.elu(k) + 1.0
    kv = torch.einsum("bhld,bhle->bhde", k, v)  # (B, H, hd, hd)
    normaliser = torch.einsum("bhld,bhd->bhl", q, k.sum(dim=2)).clamp_min(1e-6)  # (B, H, len)
    return torch.einsum("bhld,bhde->bhle", q, kv) / normaliser[..., None]  # (B, H, len, hd)


ATTENTION_FUNCTIONS: dict[str, Callable] = {"softmax": softmax_attention, "linear": linear_attention}


class SegmentAttention(nn.Module):
    """Multi-head attention over packed tokens where each index row of `batches` is one sequence.

    `batches` holds (B, len) token index tensors; tokens never see tokens outside their row.
    Used for spatial attention (rows = frames) and temporal attention (rows = one patch
    position across a clip's frames).
    """

    def __init__(self, config: AoEConfig, kind: str, zero_init_output: bool = False):
        super().__init__()
        self.kind = kind
        self.num_heads = config.num_heads
        self.head_dim = config.head_dim
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.output.zero_init = zero_init_output  # read by AoEVideoEncoder._init_weights

    def forward(self, x: torch.Tensor, batches: list[torch.Tensor]) -> torch.Tensor:
        attend = ATTENTION_FUNCTIONS[self.kind]
        qkv = self.qkv(x)  # (L, 3D)
        out = torch.zeros_like(x)  # (L, D); rows outside `batches` stay zero
        for index in batches:
            b, length = index.shape
            chunk = qkv[index.reshape(-1)].reshape(b, length, 3, self.num_heads, self.head_dim)  # (B, len, 3, H, hd)
            q, k, v = chunk.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, len, hd)
            attended = attend(q, k, v).transpose(1, 2).reshape(b * length, -1)  # (B * len, D)
            out[index.reshape(-1)] = attended
        return self.output(out)


# ---------------------------------------------------------------------------------
# Feed-forward: dense, top-k router MoE, Autonomy-of-Experts
# ---------------------------------------------------------------------------------


@dataclass
class Routing:
    """Token-expert pairs ("slots") sorted by expert, so each expert's tokens are one contiguous slice.

    token_of_slot, expert_of_slot, weight_of_slot: (S,) with S = L * k; counts: slots per expert.
    """

    token_of_slot: torch.Tensor
    expert_of_slot: torch.Tensor
    weight_of_slot: torch.Tensor
    counts: list[int]

    @classmethod
    def from_choice(cls, chosen: torch.Tensor, weights: torch.Tensor, num_experts: int) -> Routing:
        """chosen, weights: (L, k)."""
        flat = chosen.reshape(-1)  # (L * k,)
        order = torch.argsort(flat, stable=True)
        return cls(
            token_of_slot=order // chosen.shape[1],
            expert_of_slot=flat[order],
            weight_of_slot=weights.reshape(-1)[order],
            counts=torch.bincount(flat, minlength=num_experts).tolist(),
        )

    def run_experts(self, inputs: Sequence[torch.Tensor], expert: Callable[..., torch.Tensor]) -> torch.Tensor:
        """inputs: tensors (S, ...) gathered in slot order; expert(e, *slices) -> (n, D) for expert e's slots.
        Returns (S, D) outputs, each already multiplied by its slot weight."""
        outputs, start = [], 0
        for e, count in enumerate(self.counts):
            if count:
                outputs.append(expert(e, *(tensor[start : start + count] for tensor in inputs)))
            start += count
        return torch.cat(outputs) * self.weight_of_slot[:, None].to(outputs[0].dtype)  # (S, D)

    def combine(self, x: torch.Tensor, slot_outputs: torch.Tensor) -> torch.Tensor:
        """Sum each token's weighted expert outputs: (S, D) -> (L, D)."""
        return torch.zeros_like(x).index_add(0, self.token_of_slot, slot_outputs)


def balance_loss(probabilities: torch.Tensor, chosen: torch.Tensor, num_experts: int) -> torch.Tensor:
    """Switch-Transformer load balancing: E * sum_e (fraction of picks to e) * (mean probability of e).

    probabilities: (L, E) softmax over all experts; chosen: (L, k). Equals 1 when balanced.
    """
    picks = torch.bincount(chosen.reshape(-1), minlength=num_experts).to(probabilities.dtype)
    fraction = picks / chosen.numel()  # (E,)
    return num_experts * (fraction * probabilities.mean(dim=0)).sum()


class DenseFeedForward(nn.Module):
    """ViT's MLP: Linear -> GELU -> Linear."""

    def __init__(self, config: AoEConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.dense_intermediate_size)
        self.fc2 = nn.Linear(config.dense_intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        return self.fc2(F.gelu(self.fc1(x))), None, None


class TopKRouterMoE(nn.Module):
    """The baseline AoE replaces: a linear router picks top-k SwiGLU experts per token.

    Parameters: router (D x E) + E * (gate, up: D x d_ffn; down: d_ffn x D).
    """

    def __init__(self, config: AoEConfig):
        super().__init__()
        d, f, e = config.hidden_size, config.expert_intermediate_size, config.num_experts
        self.num_experts, self.top_k = e, config.top_k
        self.router = nn.Linear(d, e, bias=False)
        self.gate = nn.Parameter(torch.randn(e, d, f) * config.init_std)
        self.up = nn.Parameter(torch.randn(e, d, f) * config.init_std)
        self.down = nn.Parameter(torch.randn(e, f, d) * config.init_std)

    def forward(self, x: torch.Tensor):
        probabilities = self.router(x).softmax(dim=-1)  # (L, E)
        top_probabilities, chosen = probabilities.topk(self.top_k, dim=-1)  # (L, k)
        weights = top_probabilities / top_probabilities.sum(dim=-1, keepdim=True)

        routing = Routing.from_choice(chosen, weights, self.num_experts)

        def expert(e: int, h: torch.Tensor) -> torch.Tensor:  # h: (n, D), the tokens that chose e
            return (F.silu(h @ self.gate[e]) * (h @ self.up[e])) @ self.down[e]  # (n, D)

        out = routing.combine(x, routing.run_experts([x[routing.token_of_slot]], expert))
        return out, balance_loss(probabilities, chosen, self.num_experts), chosen


class AutonomyOfExperts(nn.Module):
    """Router-free mixture of experts: each expert decides from the norm of its own activation.

    Expert e's gate weight is factorised W_g^e = W_down^e (D x d_low) . W_up^e (d_low x d_wide).
    One matmul computes every expert's low-rank activation, x . [W_down^1 ... W_down^E]; the
    experts with the k largest L2 norms are chosen; a softmax over the chosen norms weighs
    them; only chosen experts finish their computation, reusing the cached slice:

        h_e   = x W_down^e                          (L, d_low) for all e, one matmul
        pick  = top-k_e ||h_e||                      (L, k)
        y     = sum_{e in pick} softmax(||h||)_e * (silu(h_e W_up^e) * (x W_p^e)) W_o^e

    d_wide is chosen so the parameter count equals that of the top-k router MoE it replaces.
    """

    def __init__(self, config: AoEConfig):
        super().__init__()
        d, low, wide, e = config.hidden_size, config.aoe_low_rank, config.aoe_wide_size, config.num_experts
        self.num_experts, self.top_k, self.low_rank = e, config.top_k, low
        self.down = nn.Parameter(torch.randn(d, e * low) * config.init_std)  # [W_down^1 ... W_down^E]
        self.up = nn.Parameter(torch.randn(e, low, wide) * config.init_std * math.sqrt(d / low))
        self.project = nn.Parameter(torch.randn(e, d, wide) * config.init_std)  # W_p
        self.output = nn.Parameter(torch.randn(e, wide, d) * config.init_std)  # W_o

    def forward(self, x: torch.Tensor):
        activations = (x @ self.down).reshape(x.shape[0], self.num_experts, self.low_rank)  # (L, E, d_low)
        norms = activations.norm(dim=-1)  # (L, E)
        top_norms, chosen = norms.topk(self.top_k, dim=-1)  # (L, k)
        weights = top_norms.softmax(dim=-1)  # (L, k)

        routing = Routing.from_choice(chosen, weights, self.num_experts)
        cached = activations.reshape(-1, self.low_rank)[routing.token_of_slot * self.num_experts + routing.expert_of_slot]  # (S, d_low)

        def expert(e: int, h: torch.Tensor, low: torch.Tensor) -> torch.Tensor:  # (n, D), (n, d_low)
            gate = F.silu(low @ self.up[e])  # (n, d_wide), reusing the cached slice
            return (gate * (h @ self.project[e])) @ self.output[e]  # (n, D)

        out = routing.combine(x, routing.run_experts([x[routing.token_of_slot], cached], expert))
        return out, balance_loss(norms.softmax(dim=-1), chosen, self.num_experts), chosen


FEED_FORWARDS = {"dense": DenseFeedForward, "moe": TopKRouterMoE, "aoe": AutonomyOfExperts}


# ---------------------------------------------------------------------------------
# Block and model
# ---------------------------------------------------------------------------------


class EncoderBlock(nn.Module):
    """Pre-norm block: spatial attention (linear or softmax), optional temporal attention, feed-forward."""

    def __init__(self, config: AoEConfig, layer_index: int):
        super().__init__()
        d = config.hidden_size
        self.attention_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.attention = SegmentAttention(config, config.attention_kinds[layer_index])
        self.temporal = None
        if config.has_temporal(layer_index):
            self.temporal_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
            self.temporal = SegmentAttention(config, "softmax", zero_init_output=True)
        self.ffn_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.ffn = FEED_FORWARDS[config.ffn_kind](config)

    def forward(self, x, spatial_batches, temporal, time_embedding):
        x = x + self.attention(self.attention_norm(x), spatial_batches)
        if self.temporal is not None and temporal:
            # One row per (clip, patch position): attend across the clip's frames, with time positions.
            h = self.temporal_norm(x)
            for index, frame_positions in temporal:
                times = _table_rows(time_embedding, len(frame_positions))  # (T, D), from this clip's length only
                h = h.index_add(0, index.reshape(-1), times.repeat(index.shape[0], 1))  # (S * T, D) rows
            x = x + self.temporal(h, [index for index, _ in temporal])
        ffn_out, aux_loss, chosen = self.ffn(self.ffn_norm(x))
        return x + ffn_out, aux_loss, chosen


@dataclass
class EncoderOutput:
    """patch_tokens (L, D); frame_embeddings (F, E) and clip_embeddings (C, E), L2-normalised;
    balance_loss: mean over AoE/MoE layers (0 for dense); expert_load (layers, E): fraction of picks."""

    patch_tokens: torch.Tensor
    frame_pooled: torch.Tensor  # (F, D) mean of each frame's tokens, before the projection
    frame_embeddings: torch.Tensor
    clip_embeddings: torch.Tensor | None
    balance_loss: torch.Tensor
    expert_load: torch.Tensor | None
    packed: PackedFrames = field(repr=False)


class AoEVideoEncoder(nn.Module):
    """Frames of any size (packed), clips, regions and text in one embedding space."""

    def __init__(self, config: AoEConfig):
        super().__init__()
        self.config = config
        self.embeddings = PatchEmbedding(config)
        self.layers = nn.ModuleList(EncoderBlock(config, i) for i in range(config.num_layers))
        # DenseFormer: the input of block i+1 is sum_j alpha[i][j] * output_j over the embedding
        # and every earlier block output; initialised to (0, ..., 0, 1) = the plain residual stream.
        self.dense_weights = nn.ParameterList(
            nn.Parameter(F.one_hot(torch.tensor(i + 1), i + 2).float()) for i in range(config.num_layers)
        )
        self.time_embedding = nn.Parameter(torch.randn(config.max_frames, config.hidden_size) * config.init_std)
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.frame_projection = nn.Linear(config.hidden_size, config.embedding_size, bias=False)
        self.region_projection = nn.Linear(config.hidden_size, config.embedding_size, bias=False)
        self.text_projection = nn.Linear(config.text_embedding_size, config.embedding_size, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature
        self._init_weights()

    def _init_weights(self):
        for module in self.modules():
            if isinstance(module, nn.Linear):
                if getattr(module, "zero_init", False):  # temporal outputs: the video encoder starts as the image encoder
                    nn.init.zeros_(module.weight)
                else:
                    nn.init.trunc_normal_(module.weight, std=self.config.init_std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    # --- the trunk ------------------------------------------------------------------
    def forward(self, packed: PackedFrames) -> EncoderOutput:
        device = self.time_embedding.device
        packed = packed.to(device)
        x = self.embeddings(packed)  # (L, D)
        spatial = segment_batches(packed.cu_seqlens)
        temporal = temporal_batches(packed)
        outputs = [x]
        aux_losses, loads = [], []
        for layer, alpha in zip(self.layers, self.dense_weights):
            y, aux_loss, chosen = layer(x, spatial, temporal, self.time_embedding)
            outputs.append(y)
            x = sum(a * o for a, o in zip(alpha, outputs)) if self.config.dense_residuals else y
            if aux_loss is not None:
                aux_losses.append(aux_loss)
                loads.append(torch.bincount(chosen.reshape(-1), minlength=self.config.num_experts).float())
        tokens = self.final_norm(x)  # (L, D)
        ids = segment_ids(packed.cu_seqlens)
        lengths = (packed.cu_seqlens[1:] - packed.cu_seqlens[:-1]).to(tokens.dtype)
        frame_pooled = torch.zeros(packed.num_frames, tokens.shape[1], dtype=tokens.dtype, device=device)
        frame_pooled = frame_pooled.index_add(0, ids, tokens) / lengths[:, None]  # (F, D)
        clips = None
        if packed.clip_lengths is not None:
            clip_ids = torch.repeat_interleave(
                torch.arange(len(packed.clip_lengths), device=device),
                torch.tensor(packed.clip_lengths, device=device),
            )  # (F,)
            clip_pooled = torch.zeros(len(packed.clip_lengths), tokens.shape[1], dtype=tokens.dtype, device=device)
            clip_pooled = clip_pooled.index_add(0, clip_ids, frame_pooled)
            clip_pooled = clip_pooled / torch.tensor(packed.clip_lengths, device=device, dtype=tokens.dtype)[:, None]
            clips = F.normalize(self.frame_projection(clip_pooled), dim=-1)  # (C, E)
        return EncoderOutput(
            patch_tokens=tokens,
            frame_pooled=frame_pooled,
            frame_embeddings=F.normalize(self.frame_projection(frame_pooled), dim=-1),
            clip_embeddings=clips,
            balance_loss=torch.stack(aux_losses).mean() if aux_losses else tokens.new_zeros(()),
            expert_load=torch.stack([l / l.sum() for l in loads]) if loads else None,
            packed=packed,
        )

    # --- heads ----------------------------------------------------------------------
    def region_embeddings(self, output: EncoderOutput, boxes: Sequence) -> torch.Tensor:
        """(N, E) L2-normalised region embeddings for boxes (frame_position, [x1, y1, x2, y2]) in
        pixels of the original frames.

        Two poolings are summed before the projection: the frame's patch tokens weighted by the
        area of each patch the box covers (context), and, when `region_crop_side` > 0, the mean
        of the tokens of the box's own crop (with a margin, upscaled to region_crop_side and
        encoded as extra segments: small objects span many patches there, which shape needs).
        This runs a second forward for the crops; `forward_regions` does it all in one.
        """
        weights = region_pooling_weights(output.packed, boxes, self.config.patch_size)  # (N, L); validates boxes
        crop_pooled = None
        if self.config.region_crop_side:
            crop_pooled = self(self._pack_crops(output.packed, boxes)).frame_pooled  # (N, D)
        return self._project_regions(weights, output.patch_tokens, crop_pooled)

    def forward_regions(self, packed: PackedFrames, boxes: Sequence) -> torch.Tensor:
        """(N, E) region embeddings of images in ONE forward: the box crops are packed as extra
        segments behind the frames (attention stays per segment, so this equals
        `region_embeddings(self(packed), boxes)` up to float rounding).

            tokens: | frame 0 | frame 1 | ... | crop of box 0 | crop of box 1 | ...
        """
        weights = region_pooling_weights(packed, boxes, self.config.patch_size)  # (N, L); validates boxes
        if not self.config.region_crop_side:
            return self._project_regions(weights, self(packed).patch_tokens, None)
        output = self(concat_packed([packed, self._pack_crops(packed, boxes)]))
        frame_tokens = output.patch_tokens[: packed.num_tokens]  # (L, D): the frames' own tokens
        crop_pooled = output.frame_pooled[packed.num_frames :]  # (N, D): one segment per box
        return self._project_regions(weights, frame_tokens, crop_pooled)

    def _pack_crops(self, packed: PackedFrames, boxes: Sequence) -> PackedFrames:
        if packed.frames is None:
            raise EncoderInputError("region crops need the packed frames' pixels (PackedFrames.frames)")
        crops = crop_regions(packed.frames, boxes, self.config.region_crop_margin)
        return pack_frames(crops, self.config.patch_size, self.config.region_crop_side, upscale=True)

    def _project_regions(self, weights: torch.Tensor, tokens: torch.Tensor, crop_pooled: torch.Tensor | None) -> torch.Tensor:
        """weights (N, L) over tokens (L, D), plus the crops' mean tokens (N, D) -> (N, E), unit rows."""
        pooled = weights.to(tokens) @ tokens  # (N, D)
        if crop_pooled is not None:
            pooled = pooled + crop_pooled
        return F.normalize(self.region_projection(pooled), dim=-1)

    def text_embeddings(self, sentence_embeddings: torch.Tensor) -> torch.Tensor:
        """Frozen all-MiniLM-L6-v2 sentence embeddings (N, 384) -> (N, E), L2-normalised."""
        return F.normalize(self.text_projection(sentence_embeddings.to(self.text_projection.weight)), dim=-1)

    # --- bookkeeping ------------------------------------------------------------------
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
        """config.json + model.safetensors (optionally cast, e.g. float16 to ship small)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory)
        state = {k: (v.to(dtype) if dtype is not None else v).detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt", "model": "videothought.aoe"})
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> AoEVideoEncoder:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        config = AoEConfig.load(directory)
        model = cls(config)
        path = directory / WEIGHTS_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no encoder weights here")
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(f"{path}: not a readable safetensors file ({error})") from None
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            raise ValueError(f"{path}: weights do not match config.json (missing {missing[:5]}, unexpected {unexpected[:5]})")
        for name, tensor in state.items():
            if tensor.shape != expected[name].shape:
                raise ValueError(f"{path}: {name} has shape {tuple(tensor.shape)}, config wants {tuple(expected[name].shape)}")
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return model.to(device).eval()


def crop_regions(frames: Sequence[torch.Tensor], boxes: Sequence, margin: float) -> list[torch.Tensor]:
    """For each (frame_position, box): a square window around the box, `margin` of its longer
    side added on every side, clipped to the frame: uint8 (h, w, 3)."""
    crops = []
    for position, box in boxes:
        frame = frames[int(position)]
        height, width = frame.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in box)
        half = max(x2 - x1, y2 - y1, 4.0) * (0.5 + margin)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, right = max(0, int(math.floor(cx - half))), min(width, int(math.ceil(cx + half)))
        top, bottom = max(0, int(math.floor(cy - half))), min(height, int(math.ceil(cy + half)))
        crops.append(frame[top:max(bottom, top + 1), left:max(right, left + 1)])
    return crops


def region_pooling_weights(packed: PackedFrames, boxes: Sequence, patch_size: int) -> torch.Tensor:
    """(N, L) weights: for each box, the fraction of each patch of its frame that the box covers,
    normalised to sum to 1. Boxes are in original-frame pixels; they are clipped to the frame."""
    weights = torch.zeros(len(boxes), packed.num_tokens)
    grids = packed.grids.tolist()
    sizes = packed.sizes.tolist()
    starts = packed.cu_seqlens.tolist()
    for n, item in enumerate(boxes):
        try:
            position, box = item
            x1, y1, x2, y2 = (float(v) for v in box)
            position = int(position)
        except (TypeError, ValueError):
            raise EncoderInputError(f"box {n} must be (frame_position, [x1, y1, x2, y2]), got {item!r}") from None
        if not 0 <= position < packed.num_frames:
            raise EncoderInputError(f"box {n} refers to frame position {position}, but {packed.num_frames} frames were given")
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
            raise EncoderInputError(f"box {n} must have finite x2 > x1 and y2 > y1, got {list(box)!r}")
        rows, columns = grids[position]
        height, width = sizes[position]
        # Box in patch units of the resized frame.
        px1, px2 = (max(0.0, min(width, v)) * columns / width for v in (x1, x2))
        py1, py2 = (max(0.0, min(height, v)) * rows / height for v in (y1, y2))
        if px2 <= px1 or py2 <= py1:
            raise EncoderInputError(f"box {n} {list(box)!r} lies outside its {int(width)}x{int(height)} frame")
        cells_x = torch.arange(columns, dtype=torch.float32)
        cells_y = torch.arange(rows, dtype=torch.float32)
        cover_x = (torch.minimum(cells_x + 1, torch.tensor(px2)) - torch.maximum(cells_x, torch.tensor(px1))).clamp_min(0)
        cover_y = (torch.minimum(cells_y + 1, torch.tensor(py2)) - torch.maximum(cells_y, torch.tensor(py1))).clamp_min(0)
        cover = (cover_y[:, None] * cover_x[None, :]).reshape(-1)  # (rows * columns,)
        weights[n, starts[position] : starts[position + 1]] = cover / cover.sum()
    return weights
