"""`vot bench encoder`: what packing, the hybrid attention and AoE buy, each against a fair baseline.

Every ratio compares things timed in this one process on the same frames. Repeats are
interleaved (repeat r times every variant once, in turn) and medians are reported, so load
that comes and goes on a shared machine hits every variant alike. The load average before
and after is part of the result.

Frames: `--num-sizes` sizes from 64 to 384 px on the long side, alternating 4:3 and 3:4,
`--frames-per-size` random frames of each (patch 16). Ratios are "baseline time / our
time" (> 1: ours is faster).

1. Packing, with the shipped model (AoE FFN, hybrid attention):
   packed (one sequence, attention inside each frame)
   vs padded to the worst case (every frame padded to the largest height and width)
   vs size-bucketed padding (frames grouped by aspect, then by size, into `--buckets`
   groups; each group padded to its own largest frame and run as one batch).
2. Ours vs transformers' ViTModel, like for like: our encoder with ViT's dense GELU MLP and
   ALL-SOFTMAX attention, same width, depth, heads and patch size, no temporal layers (it
   keeps its size embedding and DenseFormer residuals: a little extra work for ours). Compared
   on identical inputs: the same padded batch (same tokens, so only the implementation
   differs) and the same buckets; then ours packed vs ViT's best way to take mixed sizes
   (one call per frame, the padded batch, or the buckets).
3. What the linear attention buys: hybrid (the shipped linear/softmax pattern) vs all-softmax,
   both with the dense MLP, both packed.
4. AoE vs a top-k router MoE of equal parameters (whole model and one FFN alone).
5. Achieved GFLOP/s vs a measured float32 matmul, and the attention kernel for packing.

Models have the shipped configuration (random weights unless a checkpoint exists: speed does
not depend on training, except AoE's routing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timed runs per variant (median reported)")
    parser.add_argument("--num-sizes", type=int, default=10, help="frame sizes between 64 and 384 px")
    parser.add_argument("--frames-per-size", type=int, default=2)
    parser.add_argument("--buckets", type=int, default=4, help="size buckets of the bucketed-padding baseline (2 aspects x 2 sizes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: on an oversubscribed machine 2 threads stall each other)")
    parser.add_argument("--checkpoint", default=None, help="encoder folder to take config and weights from")


def interleaved_medians(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in turn: repeat r runs every function once.

    One untimed warm-up call each first (allocator, kernels, caches)."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def mixed_frames(num_sizes: int, per_size: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    frames = []
    for index, side in enumerate(np.linspace(64, 384, num_sizes)):
        long_side = int(round(side / 16) * 16)
        short_side = max(16, int(round(long_side * 0.75 / 16) * 16))
        height, width = (short_side, long_side) if index % 2 == 0 else (long_side, short_side)
        frames += [rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8) for _ in range(per_size)]
    return frames


def pad_to_max(frames):
    """Every frame zero-padded (bottom/right) to the largest height and width: (F, H, W, 3) uint8."""
    import numpy as np

    height = max(f.shape[0] for f in frames)
    width = max(f.shape[1] for f in frames)
    out = np.zeros((len(frames), height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i, : frame.shape[0], : frame.shape[1]] = frame
    return out


def size_buckets(frames, num_buckets: int) -> list[list[int]]:
    """Frame positions grouped for bucketed padding: first by aspect (landscape / portrait),
    then, within each aspect, by pixel count into equal-count groups; `num_buckets` in all
    (split between the aspects in proportion to their frames, at least one each).

    A real baseline: aspect-ratio bucketing is what image-batching pipelines do, and it pads
    far less than padding everything to one square worst case.
    """
    import numpy as np

    if num_buckets < 1:
        raise ValueError(f"num_buckets must be >= 1, got {num_buckets!r}")
    aspects = {
        "landscape": [i for i, f in enumerate(frames) if f.shape[1] >= f.shape[0]],
        "portrait": [i for i, f in enumerate(frames) if f.shape[1] < f.shape[0]],
    }
    aspects = {k: v for k, v in aspects.items() if v}
    if num_buckets < len(aspects):
        aspects = {"all": sorted(i for v in aspects.values() for i in v)}
    buckets = []
    remaining_buckets, remaining_frames = num_buckets, len(frames)
    for number, positions in enumerate(aspects.values()):
        last = number == len(aspects) - 1
        share = remaining_buckets if last else max(1, round(remaining_buckets * len(positions) / remaining_frames))
        share = min(share, len(positions), remaining_buckets - (len(aspects) - 1 - number))
        remaining_buckets -= share
        remaining_frames -= len(positions)
        by_area = sorted(positions, key=lambda i: frames[i].shape[0] * frames[i].shape[1])
        buckets += [chunk.tolist() for chunk in np.array_split(np.array(by_area), share) if len(chunk)]
    return buckets


def run(args: argparse.Namespace) -> dict:
    import dataclasses

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from .configuration_aoe import AoEConfig
    from .modeling_aoe import AoEVideoEncoder, SegmentAttention, pack_frames, segment_batches

    load_before = os.getloadavg()
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.checkpoint:
        model = AoEVideoEncoder.from_pretrained(args.checkpoint)
    else:
        from .loading import default_checkpoint

        path = default_checkpoint()
        model = AoEVideoEncoder.from_pretrained(path) if (path / "model.safetensors").is_file() else AoEVideoEncoder(AoEConfig())
    model.eval()
    config = model.config
    frames = mixed_frames(args.num_sizes, args.frames_per_size)
    max_side = 384  # no frame is resized: every variant sees the same pixels
    packed = pack_frames(frames, config.patch_size, max_side)
    padded_frames = pad_to_max(frames)
    padded = pack_frames(padded_frames, config.patch_size, max_side)
    buckets = size_buckets(frames, args.buckets)
    bucket_frames = [pad_to_max([frames[i] for i in bucket]) for bucket in buckets]
    bucketed = [pack_frames(batch, config.patch_size, max_side) for batch in bucket_frames]
    result: dict = {
        "threads": args.threads,
        "repeats": args.repeats,
        "frames": len(frames),
        "sizes": sorted({f"{f.shape[1]}x{f.shape[0]}" for f in frames}, key=lambda s: int(s.split("x")[0])),
        "config": {k: getattr(config, k) for k in ("hidden_size", "num_layers", "num_heads", "patch_size", "ffn_kind", "num_experts", "top_k")},
        "attention_kinds": list(config.attention_kinds),
        "packed_tokens": packed.num_tokens,
        "padded_tokens": padded.num_tokens,
        "bucketed_tokens": sum(p.num_tokens for p in bucketed),
        "buckets": [len(b) for b in buckets],
    }

    def forward(m, p):
        def call():
            with torch.inference_mode():
                return m(p)

        return call

    def forward_each(m, batches):
        def call():
            with torch.inference_mode():
                for p in batches:
                    m(p)

        return call

    # 1. Packing: the shipped model on the same frames three ways.
    seconds = interleaved_medians(
        {"packed": forward(model, packed), "padded": forward(model, padded), "bucketed": forward_each(model, bucketed)},
        args.repeats,
    )
    result["packed_frames_per_s"] = round(len(frames) / seconds["packed"], 2)
    result["padded_frames_per_s"] = round(len(frames) / seconds["padded"], 2)
    result["bucketed_frames_per_s"] = round(len(frames) / seconds["bucketed"], 2)
    result["packed_vs_padded"] = round(seconds["padded"] / seconds["packed"], 3)
    result["packed_vs_bucketed"] = round(seconds["bucketed"] / seconds["packed"], 3)

    # 2 and 3. Like for like against ViTModel, and hybrid vs all-softmax.
    from transformers import ViTConfig, ViTModel

    dense_kwargs = dict(ffn_kind="dense", temporal_every=0, dense_intermediate_size=4 * config.hidden_size)
    torch.manual_seed(0)
    ours_hybrid = AoEVideoEncoder(dataclasses.replace(config, **dense_kwargs)).eval()
    ours_softmax = AoEVideoEncoder(
        dataclasses.replace(config, attention_kinds=("softmax",) * config.num_layers, **dense_kwargs)
    ).eval()
    vit = ViTModel(
        ViTConfig(
            hidden_size=config.hidden_size, num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
            intermediate_size=4 * config.hidden_size, patch_size=config.patch_size, image_size=224,
            attn_implementation="sdpa",
        ),  # fmt: skip
        add_pooling_layer=False,
    ).eval()
    result["vit_attention_implementation"] = vit.config._attn_implementation

    def to_pixels(batch):  # uint8 (B, H, W, 3) -> ViT's (B, 3, H, W) float
        return (torch.as_tensor(batch).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5

    vit_single = [to_pixels(f[None]) for f in frames]
    vit_padded = to_pixels(padded_frames)
    vit_buckets = [to_pixels(batch) for batch in bucket_frames]

    def vit_call(batches):
        def call():
            with torch.inference_mode():
                for pixels in batches:
                    vit(pixel_values=pixels, interpolate_pos_encoding=True)

        return call

    seconds = interleaved_medians(
        {
            "vit_per_frame": vit_call(vit_single),
            "vit_padded": vit_call([vit_padded]),
            "vit_bucketed": vit_call(vit_buckets),
            "softmax_padded": forward(ours_softmax, padded),
            "softmax_bucketed": forward_each(ours_softmax, bucketed),
            "softmax_packed": forward(ours_softmax, packed),
            "hybrid_packed": forward(ours_hybrid, packed),
        },
        args.repeats,
    )
    vit_best = min(("vit_per_frame", "vit_padded", "vit_bucketed"), key=seconds.get)
    for name, value in seconds.items():
        result[f"{name}_frames_per_s"] = round(len(frames) / value, 2)
    result["vit_best_way"] = vit_best.removeprefix("vit_")
    result["softmax_vs_vit_same_padded_batch"] = round(seconds["vit_padded"] / seconds["softmax_padded"], 3)
    result["softmax_vs_vit_same_buckets"] = round(seconds["vit_bucketed"] / seconds["softmax_bucketed"], 3)
    result["softmax_packed_vs_vit_best"] = round(seconds[vit_best] / seconds["softmax_packed"], 3)
    result["hybrid_vs_softmax_packed"] = round(seconds["softmax_packed"] / seconds["hybrid_packed"], 3)
    result["hybrid_packed_vs_vit_best"] = round(seconds[vit_best] / seconds["hybrid_packed"], 3)  # the old, mixed ratio

    # 4. AoE vs a standard top-k router MoE with the same parameter count (whole model and FFN alone).
    torch.manual_seed(0)
    aoe_model = AoEVideoEncoder(dataclasses.replace(config, ffn_kind="aoe")).eval()
    moe_model = AoEVideoEncoder(dataclasses.replace(config, ffn_kind="moe")).eval()
    result["aoe_parameters"] = aoe_model.num_parameters()
    result["moe_parameters"] = moe_model.num_parameters()
    tokens = torch.randn(packed.num_tokens, config.hidden_size)

    def ffn(module):
        def call():
            with torch.inference_mode():
                return module(tokens)

        return call

    seconds = interleaved_medians(
        {
            "aoe": forward(aoe_model, packed),
            "moe": forward(moe_model, packed),
            "aoe_ffn": ffn(aoe_model.layers[0].ffn),
            "moe_ffn": ffn(moe_model.layers[0].ffn),
        },
        args.repeats,
    )
    result["aoe_vs_moe"] = round(seconds["moe"] / seconds["aoe"], 3)
    result["aoe_vs_moe_ffn_only"] = round(seconds["moe_ffn"] / seconds["aoe_ffn"], 3)
    with torch.inference_mode():
        load = model(packed).expert_load
    if load is not None:
        result["expert_load_per_layer"] = [[round(v, 3) for v in row] for row in load.tolist()]

    # 5a. Achieved GFLOP/s of the shipped packed forward vs this machine's float32 matmul.
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(packed)
    flops = counter.get_total_flops()
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    seconds = interleaved_medians({"matmul": lambda: a @ b, "packed": forward(model, packed)}, max(5, args.repeats))
    peak = 2 * 1024**3 / seconds["matmul"] / 1e9
    achieved = flops / seconds["packed"] / 1e9
    result["forward_gflop"] = round(flops / 1e9, 3)
    result["achieved_gflops"] = round(achieved, 2)
    result["matmul_peak_gflops"] = round(peak, 2)
    result["fraction_of_peak"] = round(achieved / peak, 3)

    # 5b. Attention kernel for packing: per-segment (cu_seqlens-style, equal lengths batched)
    #     vs one SDPA over the whole sequence with a dense block-diagonal mask vs flex attention.
    attention = SegmentAttention(config, "softmax").eval()
    hidden = torch.randn(packed.num_tokens, config.hidden_size)
    batches = segment_batches(packed.cu_seqlens)
    ids = torch.repeat_interleave(torch.arange(packed.num_frames), packed.cu_seqlens[1:] - packed.cu_seqlens[:-1])
    block_mask_dense = ids[:, None] == ids[None, :]  # (L, L)

    def per_segment():
        with torch.inference_mode():
            attention(hidden, batches)

    def qkv_heads():
        return attention.qkv(hidden).reshape(1, -1, 3, config.num_heads, config.head_dim).permute(2, 0, 3, 1, 4)  # (3, 1, H, L, hd)

    def dense_masked():
        with torch.inference_mode():
            qkv = qkv_heads()
            out = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=block_mask_dense)
            attention.output(out.transpose(1, 2).reshape(-1, config.hidden_size))

    kernels = {"per_segment": per_segment, "dense_mask": dense_masked}
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        length = packed.num_tokens

        def same_frame(b, h, q_index, kv_index):
            return ids[q_index] == ids[kv_index]

        block_mask = create_block_mask(same_frame, None, None, length, length, device="cpu")

        def flex():
            with torch.inference_mode():
                qkv = qkv_heads()
                out = flex_attention(qkv[0], qkv[1], qkv[2], block_mask=block_mask)
                attention.output(out.transpose(1, 2).reshape(-1, config.hidden_size))

        flex()
        kernels["flex_eager"] = flex
    except Exception as error:  # flex attention's CPU path needs features a build may lack
        result["attention_flex_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    seconds = interleaved_medians(kernels, args.repeats)
    for name, value in seconds.items():
        result[f"attention_{name}_ms"] = round(value * 1000, 2)
    result["attention_choice"] = min(seconds, key=seconds.get)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["load_average_before"] = [round(v, 2) for v in load_before]
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return result
