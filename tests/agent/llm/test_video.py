"""The Qwen2-VL-class video LLM adapter on a tiny randomly initialised config built in code."""

from __future__ import annotations

import numpy as np
import pytest

from videothought.agent.llm import LanguageModel, LanguageModelError, load_language_model
from videothought.agent.llm.video import (
    VideoInputError,
    VideoLanguageModel,
    patchify_video,
    resized_shape,
    tiny_random_video_lm,
)
from tests.conftest import moving_square_frames

CHAT = [{"role": "user", "content": "Where does the red square move?"}]
CANDIDATES = ["It moves right.", "It moves left.", "It does not move."]


@pytest.fixture(scope="module")
def video_lm():
    return tiny_random_video_lm(seed=0)


@pytest.fixture(scope="module")
def frames():
    return moving_square_frames(4)  # (4, 48, 64, 3) uint8


def test_patch_rows_hold_the_right_pixels():
    """Row r of pixel_values is the tube at (t, h, w) in Qwen2-VL's merge-block order."""
    t_len, height, width, p, m, tp = 4, 56, 112, 14, 2, 2
    grid = np.indices((t_len, height, width)).astype(np.float64)  # (3, T, H, W): t, y, x of each pixel
    # Red = frame * 32 + patch row * 8 + patch column: each tube's pixels say where they came from.
    frames = np.zeros((t_len, height, width, 3), np.uint8)
    frames[..., 0] = (grid[0] * 32 + (grid[1] // p) * 8 + grid[2] // p).astype(np.uint8)
    mean, std = (0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255)  # pixel value in = value out
    pixel_values, grid_thw = patchify_video(frames, patch_size=p, temporal_patch_size=tp, merge_size=m,
                                            max_pixels=height * width, mean=mean, std=std)
    assert grid_thw.tolist() == [2, 4, 8]
    assert pixel_values.shape == (2 * 4 * 8, 3 * tp * p * p)
    rows = pixel_values.reshape(-1, 3, tp, p, p)  # (N, C, tp, p, p)
    gh, gw = 4, 8
    for row in [0, 1, 2, 3, 4, 17, 40, 63]:
        t, rest = divmod(row, gh * gw)
        block, inner = divmod(rest, m * m)
        bh, bw = divmod(block, gw // m)
        ih, iw = divmod(inner, m)
        h, w = bh * m + ih, bw * m + iw
        for k in range(tp):
            expected = (t * tp + k) * 32 + h * 8 + w
            assert np.allclose(rows[row, 0, k], expected, atol=1e-3), (row, k)
        assert np.allclose(rows[row, 1:], 0.0)


def test_patchify_resizes_pads_time_and_normalises():
    frames = np.full((3, 50, 90, 3), 255, np.uint8)
    pixel_values, grid_thw = patchify_video(frames, max_pixels=56 * 84)
    assert grid_thw.tolist() == [2, 4, 6]  # 3 frames padded to 4; 50x90 -> 56x84
    white = (1.0 - 0.48145466) / 0.26862954
    assert np.allclose(pixel_values.reshape(-1, 3, 2, 14, 14)[:, 0], white, atol=1e-5)
    assert resized_shape(720, 1280, 28, 224 * 224, 56 * 56) == (168, 280)  # 47040 <= 50176 pixels, ~16:9
    assert resized_shape(10, 10, 28, 224 * 224, 56 * 56) == (56, 56)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 8, 8), np.uint8), r"\(T, H, W, 3\)"),
        (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
        (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
        ([[1, 2, 3]], "list"),
        (np.zeros((1, 1, 500, 3), np.uint8), "aspect ratio"),
    ],
)
def test_bad_frames_get_a_clear_error(bad, match):
    with pytest.raises(VideoInputError, match=match):
        patchify_video(bad)


def test_forward_and_generate_with_frames(video_lm, frames):
    assert isinstance(video_lm, LanguageModel)
    generation = video_lm.generate(CHAT, frames=frames, max_new_tokens=4)
    text_only = video_lm.generate(CHAT, max_new_tokens=4)
    _, _, video_tokens = video_lm.encode_frames(frames)
    assert video_tokens == 2 * 2 * 2  # 4 frames at 56x56: (2, 4, 4) tubes merged 2x2
    assert generation.prompt_tokens == text_only.prompt_tokens + video_tokens + 2  # + vision start/end
    assert 1 <= generation.completion_tokens <= 4 and isinstance(generation.text, str)
    # The video changes what the model predicts (a random model, but not one that ignores its input).
    assert video_lm.score(CHAT, CANDIDATES, frames=frames) != video_lm.score(CHAT, CANDIDATES)


def test_batched_video_scores_equal_single_and_the_reference_forward(video_lm, frames):
    import torch

    batched = video_lm.score(CHAT, CANDIDATES, frames=frames)
    single = [video_lm.score(CHAT, [c], frames=frames)[0] for c in CANDIDATES]
    assert batched == pytest.approx(single, abs=1e-4)
    # Reference: transformers' own path (pixel values into the forward, no shared vision output).
    pixel_values, grid, video_tokens = video_lm.encode_frames(frames)
    prompt_ids = video_lm._prompt_ids(CHAT, video_tokens)
    continuation = video_lm.tokenizer(CANDIDATES[0], add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + continuation])
    with torch.inference_mode():
        logits = video_lm.model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values_videos=pixel_values,
                                video_grid_thw=grid, mm_token_type_ids=(ids == video_lm.video_token_id).int() * 2).logits
    logprobs = torch.log_softmax(logits[0].float(), dim=-1)
    expected = sum(float(logprobs[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(continuation))
    assert batched[0] == pytest.approx(expected, abs=1e-4)


def test_watching_gives_frames_to_plain_protocol_calls(video_lm, frames):
    with_frames = video_lm.score(CHAT, CANDIDATES, frames=frames)
    with video_lm.watching(frames):
        assert video_lm.score(CHAT, CANDIDATES) == pytest.approx(with_frames, abs=1e-5)
    assert video_lm.frames is None
    assert video_lm.score(CHAT, CANDIDATES) != pytest.approx(with_frames, abs=1e-5)


def test_save_and_load_through_the_spec(video_lm, frames, tmp_path):
    video_lm.model.save_pretrained(tmp_path, safe_serialization=True)
    video_lm.tokenizer.save_pretrained(tmp_path)
    loaded = load_language_model(str(tmp_path), max_pixels=video_lm.max_pixels)
    assert isinstance(loaded, VideoLanguageModel)
    assert loaded.score(CHAT, CANDIDATES, frames=frames) == pytest.approx(
        video_lm.score(CHAT, CANDIDATES, frames=frames), abs=1e-5)
    assert isinstance(load_language_model(f"video:{tmp_path}"), VideoLanguageModel)


def test_video_input_errors(video_lm):
    with pytest.raises(LanguageModelError, match="no frames were given"):
        video_lm.score("<|vision_start|><|video_pad|><|vision_end|> what?", ["x"])
    with pytest.raises(LanguageModelError, match="exceed the context"):
        video_lm.score(CHAT, ["word " * 5000])
    with pytest.raises(VideoInputError):
        video_lm.generate(CHAT, frames=np.zeros((2, 8, 8), np.uint8))


def test_packed_scoring_is_one_forward_and_equals_the_padded_batch(video_lm, frames, monkeypatch):
    packed = video_lm.score(CHAT, CANDIDATES, frames=frames)
    video_lm.packed_scoring = False
    try:
        padded = video_lm.score(CHAT, CANDIDATES, frames=frames)
    finally:
        video_lm.packed_scoring = True
    assert packed == pytest.approx(padded, abs=1e-4)
    shapes = []
    original = video_lm.model.forward
    monkeypatch.setattr(video_lm.model, "forward", lambda **kw: shapes.append(tuple(kw["input_ids"].shape)) or original(**kw))
    video_lm.score(CHAT, CANDIDATES, frames=frames)
    _, _, video_tokens = video_lm.encode_frames(frames)
    prompt_tokens = len(video_lm._prompt_ids(CHAT, video_tokens))
    assert shapes == [(1, prompt_tokens + sum(video_lm.count_tokens(c) for c in CANDIDATES))]
