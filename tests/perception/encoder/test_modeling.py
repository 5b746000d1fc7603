"""The AoE encoder's contracts: packing is exact, frames stay independent, AoE routes by norm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videothought.perception.encoder.configuration_aoe import AoEConfig, EncoderConfigError
from videothought.perception.encoder.modeling_aoe import (
    AoEVideoEncoder,
    AutonomyOfExperts,
    EncoderInputError,
    TopKRouterMoE,
    linear_attention,
    pack_frames,
    segment_batches,
)

SIZES = [(64, 96), (120, 80), (64, 96), (48, 48), (200, 150), (33, 70)]


def tiny_config(**overrides) -> AoEConfig:
    values = dict(
        hidden_size=64, num_layers=3, num_heads=4, linear_per_softmax=1, temporal_every=1,
        num_experts=4, top_k=2, expert_intermediate_size=128, aoe_low_rank=16,
        embedding_size=32, max_grid_side=8, image_max_side=160,
    )  # fmt: skip
    values.update(overrides)
    return AoEConfig(**values)


def tiny_model(seed: int = 0, **overrides) -> AoEVideoEncoder:
    torch.manual_seed(seed)
    return AoEVideoEncoder(tiny_config(**overrides)).eval()


def random_frames(sizes=SIZES, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in sizes]


@pytest.mark.parametrize("ffn_kind", ["aoe", "moe", "dense"])
def test_packed_forward_equals_per_frame_forward(ffn_kind):
    model = tiny_model(ffn_kind=ffn_kind)
    frames = random_frames()
    with torch.no_grad():
        packed = model(pack_frames(frames, 16, 160))
        starts = packed.packed.cu_seqlens.tolist()
        for position, frame in enumerate(frames):
            alone = model(pack_frames([frame], 16, 160))
            tokens = packed.patch_tokens[starts[position] : starts[position + 1]]
            assert tokens.shape == alone.patch_tokens.shape
            assert (tokens - alone.patch_tokens).abs().max().item() <= 1e-5
            assert (packed.frame_embeddings[position] - alone.frame_embeddings[0]).abs().max().item() <= 1e-5


def test_one_frames_outputs_have_exactly_zero_gradient_wrt_other_frames_pixels():
    model = tiny_model()
    packed = pack_frames(random_frames(), 16, 160)
    packed.patches.requires_grad_(True)
    output = model(packed)
    starts = packed.cu_seqlens.tolist()
    target = 2
    regions = model.region_embeddings(output, [(target, [5, 5, 40, 30])])
    loss = output.frame_embeddings[target].square().sum() + output.patch_tokens[starts[target]].sum() + regions.sum()
    loss.backward()
    gradient = packed.patches.grad
    inside = gradient[starts[target] : starts[target + 1]]
    outside = torch.cat([gradient[: starts[target]], gradient[starts[target + 1] :]])
    assert inside.abs().sum() > 0  # the frame's own pixels matter
    assert torch.equal(outside, torch.zeros_like(outside))  # exactly zero, not small


def test_aoe_picks_top_k_experts_by_activation_norm_and_weighs_by_softmax_of_norms():
    torch.manual_seed(1)
    config = tiny_config()
    aoe = AutonomyOfExperts(config)
    x = torch.randn(10, config.hidden_size)
    out, loss, chosen = aoe(x)
    activations = (x @ aoe.down).reshape(10, config.num_experts, config.aoe_low_rank)
    norms = activations.norm(dim=-1)
    expected_chosen = norms.argsort(dim=-1, descending=True)[:, : config.top_k]
    assert torch.equal(chosen.sort(dim=-1).values, expected_chosen.sort(dim=-1).values)
    # Recompute token 3 by hand from the chosen experts only.
    token = 3
    weights = norms[token, chosen[token]].softmax(dim=0)
    manual = torch.zeros(config.hidden_size)
    for weight, e in zip(weights, chosen[token].tolist()):
        gate = torch.nn.functional.silu(x[token] @ aoe.down[:, e * 16 : (e + 1) * 16] @ aoe.up[e])
        manual += weight * ((gate * (x[token] @ aoe.project[e])) @ aoe.output[e])
    torch.testing.assert_close(out[token], manual, rtol=1e-5, atol=1e-6)
    # Switch loss: E * sum_e (fraction of the L * k picks that went to e) * (mean softmax of norms for e).
    fraction = torch.bincount(chosen.reshape(-1), minlength=config.num_experts).float() / chosen.numel()
    expected_loss = config.num_experts * (fraction * norms.softmax(dim=-1).mean(dim=0)).sum()
    torch.testing.assert_close(loss, expected_loss, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "hidden_size, intermediate, low_rank", [(64, 128, 16), (128, 256, 64)]
)
def test_aoe_parameter_count_equals_the_top_k_router_moe_it_replaces(hidden_size, intermediate, low_rank):
    config = tiny_config(hidden_size=hidden_size, expert_intermediate_size=intermediate, aoe_low_rank=low_rank)
    aoe = sum(p.numel() for p in AutonomyOfExperts(config).parameters())
    moe = sum(p.numel() for p in TopKRouterMoE(config).parameters())
    assert aoe == moe == config.num_experts * config.moe_expert_parameters()
    assert aoe == config.num_experts * config.aoe_expert_parameters()


def test_shipped_default_config_matches_moe_parameters_exactly():
    config = AoEConfig()
    assert config.aoe_expert_parameters() == config.moe_expert_parameters()


def test_whole_models_with_aoe_and_moe_have_equal_parameter_counts():
    assert tiny_model(ffn_kind="aoe").num_parameters() == tiny_model(ffn_kind="moe").num_parameters()


def test_video_encoder_starts_equal_to_the_image_encoder():
    model = tiny_model()
    frames = np.stack(random_frames([(64, 96)] * 5))
    with torch.no_grad():
        images = model(pack_frames(frames, 16, 160))
        video = model(pack_frames(frames, 16, 160, clip_lengths=[5]))
    assert torch.equal(images.patch_tokens, video.patch_tokens)
    # ...and differs once the temporal layers have learned something.
    with torch.no_grad():
        model.layers[0].temporal.output.weight.normal_()
        changed = model(pack_frames(frames, 16, 160, clip_lengths=[5]))
    assert not torch.allclose(images.patch_tokens, changed.patch_tokens)
    expected_clip = torch.nn.functional.normalize(model.frame_projection(images.patch_tokens.mean(0)), dim=-1)
    torch.testing.assert_close(video.clip_embeddings[0], expected_clip, rtol=1e-5, atol=1e-6)


def test_dense_residuals_start_as_the_plain_residual_stream():
    dense = tiny_model(dense_residuals=True)
    plain = tiny_model(dense_residuals=False)
    plain.load_state_dict(dense.state_dict())
    packed = pack_frames(random_frames(), 16, 160)
    with torch.no_grad():
        torch.testing.assert_close(dense(packed).patch_tokens, plain(packed).patch_tokens, rtol=0, atol=1e-6)
        dense.dense_weights[2][0] += 0.5  # mix in the embedding: a different network
        assert not torch.allclose(dense(packed).patch_tokens, plain(packed).patch_tokens, atol=1e-4)


def test_save_load_round_trip_is_exact(tmp_path):
    model = tiny_model(seed=3)
    with torch.no_grad():
        model.dense_weights[1][0] += 0.25
    model.save_pretrained(tmp_path / "ckpt")
    loaded = AoEVideoEncoder.from_pretrained(tmp_path / "ckpt")
    assert loaded.config == model.config
    packed = pack_frames(random_frames(), 16, 160)
    with torch.no_grad():
        assert torch.equal(model(packed).frame_embeddings, loaded(packed).frame_embeddings)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name


def test_from_pretrained_rejects_mismatched_weights(tmp_path):
    tiny_model().save_pretrained(tmp_path / "a")
    tiny_config(hidden_size=32).save(tmp_path / "a")  # config no longer matches the weights
    with pytest.raises(ValueError, match="shape|missing"):
        AoEVideoEncoder.from_pretrained(tmp_path / "a")


def test_segment_batches_group_equal_lengths():
    batches = segment_batches(torch.tensor([0, 4, 7, 11]))
    as_lists = sorted(b.tolist() for b in batches)
    assert as_lists == [[[0, 1, 2, 3], [7, 8, 9, 10]], [[4, 5, 6]]]


def test_linear_attention_matches_its_quadratic_form():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 1, 2, 5, 4).unbind(0)
    phi_q, phi_k = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    scores = phi_q @ phi_k.transpose(-1, -2)  # (1, 2, 5, 5)
    expected = (scores / scores.sum(-1, keepdim=True)) @ v
    torch.testing.assert_close(linear_attention(q, k, v), expected, rtol=1e-5, atol=1e-6)


def test_hybrid_ratio_in_the_config_sets_layer_kinds():
    assert AoEConfig(num_layers=6, linear_per_softmax=2).attention_kinds == (
        "linear", "linear", "softmax", "linear", "linear", "softmax",
    )  # fmt: skip
    assert AoEConfig(num_layers=2, linear_per_softmax=0).attention_kinds == ("softmax", "softmax")


def test_size_embedding_makes_original_size_matter():
    model = tiny_model()
    small = random_frames([(64, 64)])[0]
    big = np.kron(small, np.ones((4, 4, 1), dtype=np.uint8))  # same picture at 256 px: resized back to 160
    with torch.no_grad():
        a = model(pack_frames([big], 16, 64)).patch_tokens
        b = model(pack_frames([small], 16, 64)).patch_tokens
    assert a.shape == b.shape and not torch.allclose(a, b, atol=1e-4)


def test_frames_larger_than_the_position_table_still_encode():
    model = tiny_model()  # max_grid_side=8: 128 px
    with torch.no_grad():
        output = model(pack_frames(random_frames([(300, 420)]), 16, 400))
    assert output.packed.grids.tolist() == [[18, 25]] and torch.isfinite(output.patch_tokens).all()


def test_expert_load_is_reported_per_layer():
    model = tiny_model()
    with torch.no_grad():
        output = model(pack_frames(random_frames(), 16, 160))
    assert output.expert_load.shape == (3, 4)
    torch.testing.assert_close(output.expert_load.sum(dim=1), torch.ones(3))


@pytest.mark.parametrize(
    "values, message",
    [
        ({"hidden_size": 30, "num_heads": 4}, "divisible"),
        ({"top_k": 5, "num_experts": 4}, "top_k"),
        ({"ffn_kind": "magic"}, "'magic'"),
        ({"attention_kinds": ("linear",), "num_layers": 2}, "attention_kinds"),
        ({"patch_size": 0}, "patch_size"),
    ],
)
def test_bad_config_values_are_rejected_by_name(values, message):
    with pytest.raises(EncoderConfigError, match=message):
        tiny_config(**values)


def test_bad_inputs_give_clear_errors():
    model = tiny_model()
    with pytest.raises(EncoderInputError, match="uint8"):
        pack_frames([np.zeros((10, 10, 3), dtype=np.float32)], 16)
    with pytest.raises(EncoderInputError, match=r"\(H, W, 3\)"):
        pack_frames([np.zeros((10, 10), dtype=np.uint8)], 16)
    with pytest.raises(EncoderInputError, match="no frames"):
        pack_frames([], 16)
    with pytest.raises(EncoderInputError, match="mixes frame sizes"):
        pack_frames(random_frames([(32, 32), (48, 48)]), 16, clip_lengths=[2])
    with torch.no_grad():
        output = model(pack_frames(random_frames([(64, 64)]), 16))
        with pytest.raises(EncoderInputError, match="frame position 3"):
            model.region_embeddings(output, [(3, [0, 0, 10, 10])])
        with pytest.raises(EncoderInputError, match="outside"):
            model.region_embeddings(output, [(0, [100, 100, 120, 120])])
        with pytest.raises(EncoderInputError, match="x2 > x1"):
            model.region_embeddings(output, [(0, [10, 10, 5, 20])])


def test_region_crops_add_a_margin_and_stay_inside_the_frame():
    from videothought.perception.encoder.modeling_aoe import crop_regions

    frame = torch.arange(100 * 120 * 3, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(100, 120, 3)
    middle, corner = crop_regions([frame], [(0, [50, 40, 70, 60]), (0, [0, 0, 10, 30])], margin=0.25)
    assert middle.shape == (30, 30, 3)  # 20 px box + 5 px on each side
    assert torch.equal(middle, frame[35:65, 45:75])
    assert corner.shape == (38, 28, 3)  # half-side 22.5 px around (5, 15), clipped at the top-left corner
    assert torch.equal(corner, frame[0:38, 0:28])


def test_region_embedding_uses_the_crop_and_the_frame_context():
    with_crop = tiny_model()
    without = tiny_model(region_crop_side=0)
    without.load_state_dict(with_crop.state_dict())
    packed = pack_frames(random_frames(), 16, 160)
    box = [(1, [10, 10, 50, 60])]
    with torch.no_grad():
        a = with_crop.region_embeddings(with_crop(packed), box)
        b = without.region_embeddings(without(packed), box)
    assert a.shape == b.shape == (1, 32) and not torch.allclose(a, b, atol=1e-4)


def test_forward_regions_packs_the_crops_with_the_frames_in_one_forward():
    from videothought.perception.encoder.modeling_aoe import concat_packed

    model = tiny_model()
    frames = random_frames()
    packed = pack_frames(frames, 16, 160)
    boxes = [(1, [10, 10, 50, 60]), (4, [0, 0, 20, 150]), (1, [60, 5, 80, 100])]
    calls = []
    hook = model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].num_frames))
    with torch.no_grad():
        one_pass = model.forward_regions(packed, boxes)
        two_pass = model.region_embeddings(model(packed), boxes)
    hook.remove()
    assert calls[0] == len(frames) + len(boxes)  # frames and crops in one sequence
    assert calls[1:] == [len(frames), len(boxes)]  # the reference: frames, then crops
    torch.testing.assert_close(one_pass, two_pass, rtol=0, atol=1e-5)
    joined = concat_packed([packed, pack_frames(frames[:2], 16, 64)])
    assert joined.cu_seqlens.tolist() == packed.cu_seqlens.tolist() + [
        packed.num_tokens + n for n in pack_frames(frames[:2], 16, 64).cu_seqlens[1:].tolist()
    ]
    assert joined.num_frames == len(frames) + 2 and len(joined.frames) == len(frames) + 2


def test_bench_buckets_group_by_aspect_then_size_and_pad_less_than_the_worst_case():
    from videothought.perception.encoder.bench import mixed_frames, pad_to_max, size_buckets

    frames = mixed_frames(10, 2)  # 10 sizes x 2 frames, even sizes landscape, odd portrait
    buckets = size_buckets(frames, 4)
    assert buckets == [[0, 1, 4, 5, 8], [9, 12, 13, 16, 17], [2, 3, 6, 7, 10], [11, 14, 15, 18, 19]]
    for bucket in buckets:
        landscape = {frames[i].shape[1] >= frames[i].shape[0] for i in bucket}
        assert len(landscape) == 1
    bucketed_pixels = sum(pad_to_max([frames[i] for i in b]).shape[0] * pad_to_max([frames[i] for i in b]).shape[1] * len(b) for b in buckets)
    worst = pad_to_max(frames)
    assert bucketed_pixels < worst.shape[0] * worst.shape[1] * worst.shape[2] / 1.5
    assert size_buckets(frames, 1) == [sorted(range(20), key=lambda i: frames[i].shape[0] * frames[i].shape[1])]


def test_bench_interleaves_repeats():
    from videothought.perception.encoder.bench import interleaved_medians

    order = []
    medians = interleaved_medians({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=3)
    assert order == ["a", "b"] * 4  # one warm-up each, then a, b, a, b, a, b
    assert set(medians) == {"a", "b"}


def test_bench_frames_span_ten_sizes_and_pad_to_the_largest():
    from videothought.perception.encoder.bench import mixed_frames, pad_to_max

    frames = mixed_frames(10, 1)
    sides = [max(f.shape[:2]) for f in frames]
    assert len({f.shape for f in frames}) == 10 and min(sides) == 64 and max(sides) == 384
    padded = pad_to_max(frames)
    assert padded.shape[1:3] == (max(f.shape[0] for f in frames), max(f.shape[1] for f in frames))
    assert np.array_equal(padded[3, : frames[3].shape[0], : frames[3].shape[1]], frames[3])
