"""4-bit weights for decoding on a CPU: the `runtime="int4"` of LocalLanguageModel.

A decode step multiplies ONE row of activations by every weight matrix: its cost is reading the
weights (float32 SmolLM2-135M: ~0.5 GB per token, ~60 ms on one core of the 2-core machines here).
Four-bit weights are an eighth of those bytes. torch ships a CPU kernel for exactly this
(`torch._weight_int4pack_mm_for_cpu`, the one torchao's int4 weight-only path calls):

    w[n, k] = (code[n, k] - 8) * scale[n, g] + zero[n, g]      g = k // 32, code in 0..15

Why the codes are exact for the embedded model: its weights are the GGUF's Q4_1 blocks dequantised
(w = d * q + m, q in 0..15, one d and m per 32 inputs of a row), so each group's minimum is m and
(max - min) / 15 is d; the codes come back exactly (`Int4Linear.max_error` is 0: codes, scales and
zeros in float32 restore every weight) and scale = d, zero = m + 8 d. Any other model gets ordinary
4-bit rounding (max_error says how much).

What is not exact: the kernel takes its activations, scales and zeros in bfloat16 (8 bits of
mantissa). So the 4-bit path serves only decoding (`int4_decoding(model)`) and only inputs of at
most MAX_INT4_ROWS rows; everything else (prompts, scoring) multiplies by the float32 weights kept
beside, and scores equal the float32 model's exactly.

Measured here, one thread, niced beside a training run (load average 3.4-4.4): decode 30.9 tok/s
vs 17.3 float32 (26.5 vs 14.2 in `vot bench llm`); a decoded token's log-probability moved by at
most 0.022 nats over 32 greedy tokens, which stayed the same; `score` moved by 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

GROUP_SIZE = 32  # the GGUF Q4_1 block: the embedded model's weights come back exactly
MAX_INT4_ROWS = 16  # above this many rows the float32 GEMM is faster (one thread, 1536x576: 16 rows 337 vs
# 362 us, 32 rows 674 vs 513 us); decode steps are 1 row (or one per batched question), jumped text a few


def int4_available() -> bool:
    return hasattr(torch, "_weight_int4pack_mm_for_cpu") and hasattr(torch, "_convert_weight_to_int4pack_for_cpu")


class Int4Linear(nn.Module):
    """A Linear layer with a 4-bit copy of its weight for decode steps (see the module docstring).

    Keeps the original `weight` and `bias` (the same Parameters: nothing is copied), so code that
    reads `.weight` still works and large inputs stay exact.
    """

    def __init__(self, linear: nn.Linear, group_size: int = GROUP_SIZE, max_rows: int = MAX_INT4_ROWS):
        super().__init__()
        out_features, in_features = linear.weight.shape
        if in_features % group_size:
            raise ValueError(f"in_features {in_features} is not a multiple of the group size {group_size}")
        self.in_features, self.out_features = in_features, out_features
        self.group_size, self.max_rows = group_size, max_rows
        self.weight = linear.weight  # (N, K)
        self.bias = linear.bias  # (N,) or None
        self.decoding = False  # set by int4_decoding(): only then small inputs take the 4-bit path
        with torch.no_grad():
            weight = linear.weight.detach().float()  # (N, K)
            groups = weight.reshape(out_features, in_features // group_size, group_size)  # (N, G, 32)
            low, high = groups.amin(-1), groups.amax(-1)  # (N, G)
            scale = ((high - low) / 15).clamp(min=torch.finfo(torch.float32).tiny)  # (N, G)
            codes = torch.round((groups - low[..., None]) / scale[..., None]).clamp(0, 15)  # (N, G, 32)
            restored = (codes * scale[..., None] + low[..., None]).reshape(out_features, in_features)  # (N, K)
            self.max_error = float((restored - weight).abs().max())
            codes = codes.to(torch.int32).reshape(out_features, in_features)  # (N, K)
            packed = torch._convert_weight_to_int4pack_for_cpu(codes, 1)  # (N, K / 2) uint8: two codes a byte
            # the kernel reads w = (code - 8) * scale + zero; ours is code * scale + low: zero = low + 8 scale
            scales_and_zeros = torch.stack([scale, low + 8 * scale], dim=-1).transpose(0, 1)  # (G, N, 2)
        self.register_buffer("packed", packed, persistent=False)
        self.register_buffer("scales_and_zeros", scales_and_zeros.contiguous().to(torch.bfloat16), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        if not self.decoding or rows > self.max_rows or x.device.type != "cpu":
            return F.linear(x, self.weight, self.bias)
        flat = x.reshape(rows, self.in_features).to(torch.bfloat16)  # (R, K)
        out = torch._weight_int4pack_mm_for_cpu(flat, self.packed, self.group_size, self.scales_and_zeros)  # (R, N)
        out = out.to(x.dtype).reshape(*x.shape[:-1], self.out_features)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}, "
                f"max_rows={self.max_rows}, max_error={self.max_error:.3g}")


def quantize_int4(model: nn.Module, *, skip: tuple[str, ...] = ("lm_head", "lora_")) -> list[Int4Linear]:
    """Replace the model's Linear layers by Int4Linear in place (not those whose qualified name holds
    a `skip` part: the output head, whose tied weight is the GGUF's Q8_0 embedding and would not come
    back exactly in 4 bits, and peft's LoRA matrices, which stay as trained); returns the new layers.
    peft's LoRA wrappers call their base layer as before, so adapters still switch."""
    if not int4_available():
        raise RuntimeError(f"torch {torch.__version__} has no int4 CPU kernel (_weight_int4pack_mm_for_cpu)")
    replaced = []
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            name = f"{parent_name}.{child_name}" if parent_name else child_name
            if type(child) is nn.Linear and not any(part in name for part in skip):
                layer = Int4Linear(child)
                setattr(parent, child_name, layer)
                replaced.append(layer)
    return replaced


def dequantize_int4(model: nn.Module) -> int:
    """Put back plain Linear layers where quantize_int4 put Int4Linear (the same weight and bias
    Parameters: nothing is copied, nothing changes); returns how many. peft can then wrap them."""
    restored = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Int4Linear):
                linear = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None, device="meta")
                linear.weight = child.weight
                linear.bias = child.bias
                setattr(parent, child_name, linear)
                restored += 1
    return restored


@contextlib.contextmanager
def int4_decoding(model: nn.Module) -> Iterator[int]:
    """Within the block, the model's Int4Linear layers take their 4-bit path for small inputs;
    yields how many layers that is (0: a model without them, nothing changes)."""
    layers = [module for module in model.modules() if isinstance(module, Int4Linear)]
    for layer in layers:
        layer.decoding = True
    try:
        yield len(layers)
    finally:
        for layer in layers:
            layer.decoding = False
