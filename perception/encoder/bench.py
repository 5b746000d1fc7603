"""`vot bench encoder`: packed vs padded, ours vs transformers' ViTModel, AoE vs a top-k MoE,
achieved GFLOP/s vs a measured matmul peak, and the attention-kernel choice for packing.

Every ratio compares two things timed in this one process on the same frames (medians of
`--repeats` runs, after a warm-up), so a noisy shared machine slows both sides alike.
Frames: `--num-sizes` sizes from 64 to 384 px on the long side, alternating 4:3 and 3:4,
each at most 384 px (patch 16). Models use the shipped configuration (random weights
unless `--checkpoint` is given: speed does not depend on training, except AoE's routing).
"""

from __future__ import annotations

import argparse
import statistics
import time


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median is reported)")
    parser.add_argument("--num-sizes", type=int, default=10, help="frame sizes between 64 and 384 px")
    parser.add_argument("--frames-per-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: on an oversubscribed machine 2 threads stall each other)")
    parser.add_argument("--checkpoint", default=None, help="encoder folder to take config and weights from")


def _median_seconds(function, repeats: int) -> float:
    function()  # warm-up: allocator, kernels, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    """Every frame zero-padded (bottom/right) to the largest height and width: the padded batch."""
    import numpy as np

    height = max(f.shape[0] for f in frames)
    width = max(f.shape[1] for f in frames)
    out = np.zeros((len(frames), height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i, : frame.shape[0], : frame.shape[1]] = frame
    return out


def run(args: argparse.Namespace) -> dict:
    import dataclasses

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from .configuration_aoe import AoEConfig
    from .modeling_aoe import AoEVideoEncoder, SegmentAttention, pack_frames, segment_batches

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
    max_side = 384
    packed = pack_frames(frames, config.patch_size, max_side)
    padded_frames = pad_to_max(frames)
    padded = pack_frames(padded_frames, config.patch_size, max_side)
    result: dict = {
        "threads": args.threads,
        "frames": len(frames),
        "sizes": sorted({f"{f.shape[1]}x{f.shape[0]}" for f in frames}, key=lambda s: int(s.split("x")[0])),
        "config": {k: getattr(config, k) for k in ("hidden_size", "num_layers", "patch_size", "ffn_kind", "num_experts", "top_k")},
        "attention_kinds": list(config.attention_kinds),
        "packed_tokens": packed.num_tokens,
        "padded_tokens": padded.num_tokens,
    }

    def forward(m, p):
        def call():
            with torch.inference_mode():
                return m(p)

        return call

    # 1. packed vs padded-to-max: the same model, the same frames.
    packed_s = _median_seconds(forward(model, packed), args.repeats)
    padded_s = _median_seconds(forward(model, padded), args.repeats)
    result["packed_frames_per_s"] = round(len(frames) / packed_s, 2)
    result["padded_frames_per_s"] = round(len(frames) / padded_s, 2)
    result["packed_vs_padded"] = round(padded_s / packed_s, 3)

    # 2. achieved GFLOP/s of the packed forward vs this machine's float32 matmul peak.
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(packed)
    flops = counter.get_total_flops()
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    matmul_s = _median_seconds(lambda: a @ b, max(5, args.repeats))
    peak = 2 * 1024**3 / matmul_s / 1e9
    achieved = flops / packed_s / 1e9
    result["forward_gflop"] = round(flops / 1e9, 3)
    result["achieved_gflops"] = round(achieved, 2)
    result["matmul_peak_gflops"] = round(peak, 2)
    result["fraction_of_peak"] = round(achieved / peak, 3)

    # 3. ours with a dense FFN vs transformers' ViTModel of the same width, depth and patch.
    from transformers import ViTConfig, ViTModel

    dense_kwargs = dict(ffn_kind="dense", temporal_every=0, dense_intermediate_size=4 * config.hidden_size)
    ours_hybrid = AoEVideoEncoder(dataclasses.replace(config, attention_kinds=None, **dense_kwargs)).eval()
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
    pixel_values = [
        ((torch.as_tensor(f).permute(2, 0, 1)[None].float() / 255.0) - 0.5) / 0.5 for f in frames
    ]  # each (1, 3, H, W): sizes differ, so ViT takes one frame (one size) per call

    def vit_per_size():
        with torch.inference_mode():
            for pixels in pixel_values:
                vit(pixel_values=pixels, interpolate_pos_encoding=True)

    padded_pixels = ((torch.as_tensor(padded_frames).permute(0, 3, 1, 2).float() / 255.0) - 0.5) / 0.5

    def vit_padded():
        with torch.inference_mode():
            vit(pixel_values=padded_pixels, interpolate_pos_encoding=True)

    vit_sizes_s = _median_seconds(vit_per_size, args.repeats)
    vit_padded_s = _median_seconds(vit_padded, args.repeats)
    vit_best_s = min(vit_sizes_s, vit_padded_s)
    hybrid_s = _median_seconds(forward(ours_hybrid, packed), args.repeats)
    softmax_s = _median_seconds(forward(ours_softmax, packed), args.repeats)
    result["vit_per_size_frames_per_s"] = round(len(frames) / vit_sizes_s, 2)
    result["vit_padded_frames_per_s"] = round(len(frames) / vit_padded_s, 2)
    result["ours_dense_hybrid_frames_per_s"] = round(len(frames) / hybrid_s, 2)
    result["ours_dense_softmax_frames_per_s"] = round(len(frames) / softmax_s, 2)
    result["ours_dense_vs_vit"] = round(vit_best_s / hybrid_s, 3)
    result["ours_dense_all_softmax_vs_vit"] = round(vit_best_s / softmax_s, 3)

    # 4. AoE vs a standard top-k router MoE with the same parameter count (whole model and FFN alone).
    aoe_model = AoEVideoEncoder(dataclasses.replace(config, ffn_kind="aoe")).eval()
    moe_model = AoEVideoEncoder(dataclasses.replace(config, ffn_kind="moe")).eval()
    result["aoe_parameters"] = aoe_model.num_parameters()
    result["moe_parameters"] = moe_model.num_parameters()
    aoe_s = _median_seconds(forward(aoe_model, packed), args.repeats)
    moe_s = _median_seconds(forward(moe_model, packed), args.repeats)
    result["aoe_vs_moe"] = round(moe_s / aoe_s, 3)
    tokens = torch.randn(packed.num_tokens, config.hidden_size)
    aoe_ffn, moe_ffn = aoe_model.layers[0].ffn, moe_model.layers[0].ffn

    def ffn(module):
        def call():
            with torch.inference_mode():
                return module(tokens)

        return call

    result["aoe_vs_moe_ffn_only"] = round(_median_seconds(ffn(moe_ffn), args.repeats) / _median_seconds(ffn(aoe_ffn), args.repeats), 3)
    with torch.inference_mode():
        load = model(packed).expert_load
    if load is not None:
        result["expert_load_per_layer"] = [[round(v, 3) for v in row] for row in load.tolist()]

    # 5. Attention kernel for packing: per-segment (cu_seqlens-style, equal lengths batched)
    #    vs one SDPA over the whole sequence with a dense block-diagonal mask vs flex attention.
    attention = SegmentAttention(config, "softmax").eval()
    hidden = torch.randn(packed.num_tokens, config.hidden_size)
    batches = segment_batches(packed.cu_seqlens)
    ids = torch.repeat_interleave(torch.arange(packed.num_frames), packed.cu_seqlens[1:] - packed.cu_seqlens[:-1])
    block_mask_dense = ids[:, None] == ids[None, :]  # (L, L)

    def per_segment():
        with torch.inference_mode():
            attention(hidden, batches)

    def dense_masked():
        with torch.inference_mode():
            qkv = attention.qkv(hidden).reshape(1, -1, 3, config.num_heads, config.head_dim).permute(2, 0, 3, 1, 4)
            out = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=block_mask_dense)
            attention.output(out.transpose(1, 2).reshape(-1, config.hidden_size))

    per_segment_s = _median_seconds(per_segment, args.repeats)
    dense_s = _median_seconds(dense_masked, args.repeats)
    result["attention_per_segment_ms"] = round(per_segment_s * 1000, 2)
    result["attention_dense_mask_ms"] = round(dense_s * 1000, 2)
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        length = packed.num_tokens

        def same_frame(b, h, q_index, kv_index):
            return ids[q_index] == ids[kv_index]

        block_mask = create_block_mask(same_frame, None, None, length, length, device="cpu")

        def flex():
            with torch.inference_mode():
                qkv = attention.qkv(hidden).reshape(1, -1, 3, config.num_heads, config.head_dim).permute(2, 0, 3, 1, 4)
                out = flex_attention(qkv[0], qkv[1], qkv[2], block_mask=block_mask)
                attention.output(out.transpose(1, 2).reshape(-1, config.hidden_size))

        result["attention_flex_eager_ms"] = round(_median_seconds(flex, args.repeats) * 1000, 2)
    except Exception as error:  # flex attention's CPU path needs features a build may lack
        result["attention_flex_eager_ms"] = None
        result["attention_flex_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    timings = {k: v for k, v in result.items() if k.startswith("attention_") and k.endswith("_ms") and v is not None}
    result["attention_choice"] = min(timings, key=timings.get).removeprefix("attention_").removesuffix("_ms")
    return result
