"""A Qwen2-VL-class video LLM (Qwen2-VL, Qwen2.5-VL) behind the VisionLanguageModel protocol.

    lm = VideoLanguageModel.from_pretrained("/models/Qwen2-VL-2B-Instruct")   # or load_language_model("video:/path")
    lm.accepts_frames                                    # True: the VoT nodes hand it their frames
    lm.generate(messages, frames=batch.frames)           # (T, H, W, 3) uint8 RGB from VideoReader
    lm.score(messages, ["A", "B", "C"], frames=frames)   # one vision pass, one batched LM forward
    with lm.watching(frames):                            # code that only knows the plain protocol
        run_graph(...)                                   # sees the video in every call without frames=

No image processor is needed (transformers' fast processors need torchvision, absent here):
`patchify_video` turns frames into Qwen2-VL's packed patch rows itself.

    frames (T, H, W, 3) uint8
      -> resize to (H', W'), multiples of patch_size * merge_size (28), at most max_pixels each
      -> rescale to [0, 1], normalise with the CLIP mean/std
      -> pad T to a multiple of temporal_patch_size (2) by repeating the last frame
      -> rows of one (temporal_patch_size x patch_size x patch_size) tube each, ordered so that
         every merge_size x merge_size block of neighbouring tubes is contiguous:
         (t, h/m, w/m, m, m) x (C, tp, p, p)   ->   pixel_values (grid_t * grid_h * grid_w, C * tp * p * p)
      video_grid_thw = [grid_t, grid_h, grid_w]; the LLM sees grid_t * grid_h * grid_w / m^2 video tokens

In the text the video is `<|vision_start|><|video_pad|> x N<|vision_end|>` at the start of the first
user message; `mm_token_type_ids` marks those tokens (2 = video) for the 3-D rotary positions.

Scoring runs the vision tower once and packs the K candidates after one copy of the prompt
and video tokens (shared_prefix.PackedContinuations, with Qwen2-VL's 3-D positions), so K
candidates cost one vision pass and one LM forward over P + sum(L_k) tokens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from videothought.agent.llm.protocol import (
    Generation,
    LanguageModelError,
    ModelNotFoundError,
    TextStream,
    check_generation_args,
    render_chatml,
    truncate_at_stop,
    validate_continuations,
    validate_messages,
)

logger = logging.getLogger(__name__)

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
VIDEO_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")  # config.json model_type -> the class in `_model_class`
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|video_pad|>", "<|image_pad|>")
VIDEO_TOKEN_TYPE = 2  # mm_token_type_ids: text 0, image 1, video 2


class VideoInputError(LanguageModelError, ValueError):
    """Frames are not a (T, H, W, 3) uint8 array the model can take."""


def is_video_model_folder(path: str | os.PathLike) -> bool:
    try:
        config = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return config.get("model_type") in VIDEO_MODEL_TYPES


def _model_class(model_type: str):
    import transformers

    names = {"qwen2_vl": "Qwen2VLForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"}
    if model_type not in names:
        raise ModelNotFoundError(f"model_type {model_type!r} is not a video LLM this backend knows {VIDEO_MODEL_TYPES}")
    cls = getattr(transformers, names[model_type], None)
    if cls is None:
        raise ModelNotFoundError(f"the installed transformers {transformers.__version__} has no {names[model_type]}")
    return cls


# ----------------------------------------------------------------------------- frames -> patches


def resized_shape(height: int, width: int, factor: int, max_pixels: int, min_pixels: int) -> tuple[int, int]:
    """The (height, width) nearest the input that are multiples of `factor` with the pixel count in
    [min_pixels, max_pixels], keeping the aspect ratio (Qwen2-VL's "smart resize" rule)."""
    if min(height, width) < 1:
        raise VideoInputError(f"frames of {height}x{width} pixels are empty")
    if max(height, width) / min(height, width) > 200:
        raise VideoInputError(f"frames of {height}x{width} have an aspect ratio over 200")
    new_h = max(factor, round(height / factor) * factor)
    new_w = max(factor, round(width / factor) * factor)
    if new_h * new_w > max_pixels:
        shrink = (height * width / max_pixels) ** 0.5
        new_h = max(factor, int(height / shrink / factor) * factor)
        new_w = max(factor, int(width / shrink / factor) * factor)
    elif new_h * new_w < min_pixels:
        grow = (min_pixels / (height * width)) ** 0.5
        new_h = int(np.ceil(height * grow / factor)) * factor
        new_w = int(np.ceil(width * grow / factor)) * factor
    return new_h, new_w


def patchify_video(
    frames: np.ndarray,
    *,
    patch_size: int = 14,
    temporal_patch_size: int = 2,
    merge_size: int = 2,
    max_pixels: int = 224 * 224,  # per frame; 224^2 -> 64 LLM tokens per 2 frames at merge 2
    min_pixels: int = 56 * 56,
    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN,
    std: tuple[float, float, float] = OPENAI_CLIP_STD,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 RGB -> (pixel_values (N, 3 * tp * p * p) float32, video_grid_thw (3,) int64)."""
    from PIL import Image

    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise VideoInputError(f"frames must be a (T, H, W, 3) array, got {type(frames).__name__} of shape {shape}")
    if frames.dtype != np.uint8:
        raise VideoInputError(f"frames must be uint8 RGB (0-255), got dtype {frames.dtype}")
    if frames.shape[0] == 0:
        raise VideoInputError("frames are empty (T = 0)")
    factor = patch_size * merge_size
    height, width = resized_shape(frames.shape[1], frames.shape[2], factor, max_pixels, min_pixels)
    if (height, width) != frames.shape[1:3]:
        frames = np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.BICUBIC)) for f in frames])
    pixels = frames.astype(np.float32) / 255.0  # (T, H', W', 3)
    pixels = (pixels - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    remainder = pixels.shape[0] % temporal_patch_size
    if remainder:
        pad = np.repeat(pixels[-1:], temporal_patch_size - remainder, axis=0)
        pixels = np.concatenate([pixels, pad])  # (T', H', W', 3), T' a multiple of tp
    grid_t, grid_h, grid_w = pixels.shape[0] // temporal_patch_size, height // patch_size, width // patch_size
    m, p, tp = merge_size, patch_size, temporal_patch_size
    tubes = pixels.transpose(0, 3, 1, 2).reshape(  # (T', 3, H', W') -> split every axis into its blocks
        grid_t, tp, 3, grid_h // m, m, p, grid_w // m, m, p
    )
    tubes = tubes.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)  # (gt, gh/m, gw/m, m, m, 3, tp, p, p)
    pixel_values = np.ascontiguousarray(tubes.reshape(grid_t * grid_h * grid_w, 3 * tp * p * p))
    return pixel_values, np.array([grid_t, grid_h, grid_w], dtype=np.int64)


# ----------------------------------------------------------------------------- streaming


def token_streamer(tokenizer, on_text, stop):
    """A transformers streamer that decodes the new tokens as `generate` produces them and hands
    the new text to `on_text` (through `TextStream`: stop strings and split characters held back).
    Synchronous: it runs inside `generate`, no thread. `.stream.finish(text)` flushes the rest."""
    from transformers.generation.streamers import BaseStreamer

    class CallbackStreamer(BaseStreamer):
        def __init__(self):
            self.stream = TextStream(on_text, stop)
            self.new_ids: list[int] = []
            self.prompt_seen = False

        def put(self, value) -> None:
            if not self.prompt_seen:  # generate's first put is the prompt
                self.prompt_seen = True
                return
            self.new_ids.extend(int(i) for i in value.reshape(-1).tolist())
            self.stream.feed(tokenizer.decode(self.new_ids, skip_special_tokens=True))

        def end(self) -> None:
            pass

    return CallbackStreamer()


# ----------------------------------------------------------------------------- the backend


class VideoLanguageModel:
    """Qwen2VLForConditionalGeneration / Qwen2_5_VLForConditionalGeneration + a tokenizer holding the
    vision tokens. Frames given per call (`frames=`) go to the vision tower; without them the call
    uses the frames of an enclosing `watching` block, or none (text only)."""

    accepts_frames = True  # the VoT nodes pass their frames (agent/steps.py watch_frames)

    def __init__(self, model, tokenizer, *, name: str, max_pixels: int = 224 * 224):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.max_pixels = max_pixels
        self.frames: np.ndarray | None = None  # the video every call sees unless given frames=
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        config = model.config
        vision = config.vision_config
        self.patch_size, self.merge_size = int(vision.patch_size), int(vision.spatial_merge_size)
        self.temporal_patch_size = int(vision.temporal_patch_size)
        self.video_token_id = int(config.video_token_id)
        for token, expected in (("<|vision_start|>", config.vision_start_token_id),
                                ("<|vision_end|>", config.vision_end_token_id),
                                ("<|video_pad|>", config.video_token_id)):
            found = tokenizer.convert_tokens_to_ids(token)
            if found != expected:
                raise LanguageModelError(
                    f"{name}: tokenizer maps {token} to {found} but the model config expects {expected}"
                )
        # Packed scoring needs an attention kernel that takes a custom 4-D mask (sdpa, eager).
        self.packed_scoring = getattr(getattr(config, "text_config", config), "_attn_implementation", None) in (
            "sdpa", "eager")
        text_config = getattr(config, "text_config", config)
        self.max_context_tokens = int(getattr(text_config, "max_position_embeddings", 0) or 0) or None

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, dtype: Any = "auto", name: str | None = None,
                        max_pixels: int = 224 * 224) -> VideoLanguageModel:
        import torch
        from transformers import AutoTokenizer

        path = Path(path).expanduser()
        if not is_video_model_folder(path):
            raise ModelNotFoundError(
                f"{path} is not a Qwen2-VL-class model folder (config.json model_type one of {VIDEO_MODEL_TYPES})")
        if not any(path.glob("*.safetensors")):
            raise ModelNotFoundError(f"{path} holds no .safetensors weights (pickle checkpoints are not loaded)")
        dtypes = {"auto": torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16}
        if dtype not in dtypes and not isinstance(dtype, torch.dtype):
            raise LanguageModelError(f"dtype must be one of {sorted(dtypes)}, got {dtype!r}")
        model_type = json.loads((path / "config.json").read_text())["model_type"]
        model = _model_class(model_type).from_pretrained(path, dtype=dtypes.get(dtype, dtype), use_safetensors=True)
        return cls(model, AutoTokenizer.from_pretrained(path), name=name or path.name, max_pixels=max_pixels)

    # --------------------------------------------------------------- the video

    @contextlib.contextmanager
    def watching(self, frames: np.ndarray | None) -> Iterator[VideoLanguageModel]:
        """Every call in the block sees `frames` (unless it passes its own)."""
        previous, self.frames = self.frames, frames
        try:
            yield self
        finally:
            self.frames = previous

    def encode_frames(self, frames: np.ndarray):
        """(pixel_values (N, D) tensor, video_grid_thw (1, 3) tensor, number of LLM video tokens)."""
        import torch

        pixel_values, grid = patchify_video(
            frames, patch_size=self.patch_size, temporal_patch_size=self.temporal_patch_size,
            merge_size=self.merge_size, max_pixels=self.max_pixels,
        )
        num_tokens = int(grid.prod()) // self.merge_size**2
        return (torch.from_numpy(pixel_values).to(self.model.device, self.model.dtype),
                torch.from_numpy(grid)[None].to(self.model.device), num_tokens)

    # --------------------------------------------------------------- text

    def render(self, messages: list[dict], *, with_video: bool) -> str:
        messages = [dict(m) for m in validate_messages(messages)]
        if with_video:
            users = [m for m in messages if m["role"] == "user"]
            if not users:
                raise LanguageModelError("frames need a user message to attach to")
            users[0]["content"] = "<|vision_start|><|video_pad|><|vision_end|>" + users[0]["content"]
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return render_chatml(messages)

    def _prompt_ids(self, prompt: list[dict] | str, num_video_tokens: int | None) -> list[int]:
        """Token ids with the single <|video_pad|> expanded to num_video_tokens copies."""
        if isinstance(prompt, str):
            text = ("<|vision_start|><|video_pad|><|vision_end|>" + prompt) if num_video_tokens else prompt
        else:
            text = self.render(prompt, with_video=bool(num_video_tokens))
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not num_video_tokens:
            if self.video_token_id in ids:
                raise LanguageModelError("the prompt holds <|video_pad|> but no frames were given")
            return ids
        at = ids.index(self.video_token_id)
        return ids[:at] + [self.video_token_id] * num_video_tokens + ids[at + 1:]

    def count_tokens(self, text: str) -> int:
        if not isinstance(text, str):
            raise LanguageModelError(f"count_tokens needs a str, got {type(text).__name__}")
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_prompt_tokens(self, prompt: list[dict] | str, *, frames=None) -> int:
        """Tokens of the prompt `generate` and `score` build from these messages and frames, the
        video's tokens included: what our server reports as a scoring request's usage."""
        _, _, num_video_tokens = self._video(frames)
        return len(self._prompt_ids(prompt, num_video_tokens))

    def _video(self, frames):
        frames = self.frames if frames is None else frames
        return self.encode_frames(frames) if frames is not None else (None, None, None)

    # --------------------------------------------------------------- protocol

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None, on_text=None,
                 frames=None) -> Generation:
        import torch
        from transformers import GenerationConfig

        check_generation_args(max_new_tokens, temperature, stop)
        start = time.perf_counter()
        pixel_values, grid, num_video_tokens = self._video(frames)
        ids = self._prompt_ids(messages, num_video_tokens)
        self._check_length(len(ids) + max_new_tokens)
        input_ids = torch.tensor([ids], device=self.model.device)
        inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
        if pixel_values is not None:
            inputs.update(pixel_values_videos=pixel_values, video_grid_thw=grid,
                          mm_token_type_ids=(input_ids == self.video_token_id).int() * VIDEO_TOKEN_TYPE)
        eos = [i for i in {self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids("<|im_end|>")}
               if isinstance(i, int) and i != self.tokenizer.unk_token_id]
        config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None, top_p=None, top_k=None,
            eos_token_id=sorted(eos), pad_token_id=self.tokenizer.pad_token_id,
            stop_strings=list(stop) if stop else None,
        )
        streamer = token_streamer(self.tokenizer, on_text, stop) if on_text is not None else None
        with torch.inference_mode():
            output = self.model.generate(**inputs, generation_config=config, tokenizer=self.tokenizer, streamer=streamer)
        new_ids = output[0, len(ids):].tolist()
        text, _ = truncate_at_stop(self.tokenizer.decode(new_ids, skip_special_tokens=True), stop)
        if streamer is not None:
            streamer.stream.finish(text)
        return Generation(text=text, prompt_tokens=len(ids), completion_tokens=len(new_ids),
                          latency_seconds=time.perf_counter() - start)

    def score(self, prompt, continuations, *, frames=None) -> list[float]:
        """Sum log p(continuation | video + prompt) for each continuation: one vision pass, then ONE
        LM forward with the continuations packed after a single copy of the prompt and video
        tokens (`PackedContinuations`; the right-padded batch when `packed_scoring` is off)."""
        per_continuation = self.continuation_logprobs(prompt, continuations, frames=frames)
        return [float(sum(value for _, _, value in tokens)) for tokens in per_continuation]

    def continuation_logprobs(self, prompt, continuations, *, frames=None) -> list[list[tuple[int, str, float]]]:
        """Per continuation: (token id, token text, log p(token | video + prompt + the continuation's
        earlier tokens)) for each of its tokens; `score` sums them. What our server returns as a chat
        request's `prompt_logprobs` (the vLLM extension that scores with images over HTTP)."""
        continuations = validate_continuations(continuations)
        if not continuations:
            return []
        pixel_values, grid, num_video_tokens = self._video(frames)
        prompt_ids = self._prompt_ids(prompt, num_video_tokens)
        continuation_ids = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        self._check_length(len(prompt_ids) + max(len(ids) for ids in continuation_ids))
        if self.packed_scoring:
            per_continuation = self._packed_logprobs(prompt_ids, continuation_ids, pixel_values, grid)
        else:
            per_continuation = self._padded_logprobs(prompt_ids, continuation_ids, pixel_values, grid)
        return [[(int(token), self.tokenizer.decode([token]), float(value)) for token, value in zip(ids, logprobs)]
                for ids, logprobs in zip(continuation_ids, per_continuation)]

    def _video_features(self, pixel_values, grid, copies: int):
        """The vision tower's output for one video, shared by `copies` sequences of a batch."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        features = self.model.model.get_video_features(pixel_values, grid, return_dict=True)
        return BaseModelOutputWithPooling(pooler_output=tuple(features.pooler_output) * copies)

    def _packed_logprobs(self, prompt_ids, continuation_ids, pixel_values, grid):
        import torch

        from videothought.agent.llm.shared_prefix import PackedContinuations

        packed = PackedContinuations.build(prompt_ids, continuation_ids)
        device = self.model.device
        input_ids = packed.input_ids.to(device)  # (1, T)
        inputs = {"input_ids": input_ids, "attention_mask": packed.attention_mask.to(device)}
        with torch.inference_mode():
            if pixel_values is not None:
                # 3-D rotary positions of the prompt (text, then the video's t/h/w grid, then text);
                # continuation tokens are text: the same position on all three axes, from the
                # prompt's next free position on.
                prompt = input_ids[:, : packed.num_prompt]  # (1, P)
                prompt_positions, _ = self.model.model.get_rope_index(
                    prompt, mm_token_type_ids=(prompt == self.video_token_id).int() * VIDEO_TOKEN_TYPE,
                    video_grid_thw=grid,
                )  # (3, 1, P)
                offset = int(prompt_positions.max()) + 1 - packed.num_prompt
                positions = (packed.positions + offset).to(device)[None, None].repeat(3, 1, 1)  # (3, 1, T)
                positions[:, :, : packed.num_prompt] = prompt_positions
                inputs.update(position_ids=positions, video_grid_thw=grid,
                              mm_encoder_outputs={"video": self._video_features(pixel_values, grid, copies=1)})
            else:
                inputs["position_ids"] = packed.positions.to(device)[None, None].repeat(3, 1, 1)  # (3, 1, T)
            logits = self.model(**inputs, logits_to_keep=packed.keep[None].to(device), use_cache=False).logits
        return packed.continuation_logprobs(logits, self.name)

    def _padded_logprobs(self, prompt_ids, continuation_ids, pixel_values, grid):
        import torch

        sequences = [prompt_ids + ids for ids in continuation_ids]
        lengths = [len(s) for s in sequences]
        batch, width, first = len(sequences), max(lengths), len(prompt_ids)
        input_ids = torch.full((batch, width), self.tokenizer.pad_token_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((batch, width), dtype=torch.long)  # (B, T)
        keep = torch.zeros((batch, width), dtype=torch.bool)  # (B, T): positions predicting a continuation token
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
            keep[row, first - 1 : len(ids) - 1] = True
        targets = torch.cat([torch.tensor(ids[first:]) for ids in sequences])  # (N,)
        device = self.model.device
        inputs = {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}
        with torch.inference_mode():
            if pixel_values is not None:
                # One vision pass; every row reuses its output (the video is the same).
                inputs.update(video_grid_thw=grid.repeat(batch, 1),
                              mm_encoder_outputs={"video": self._video_features(pixel_values, grid, copies=batch)},
                              mm_token_type_ids=(inputs["input_ids"] == self.video_token_id).int() * VIDEO_TOKEN_TYPE)
            logits = self.model(**inputs, logits_to_keep=keep.to(device), use_cache=False).logits
            logits = logits.reshape(-1, logits.shape[-1]).float()  # (N, V)
            logprobs = torch.log_softmax(logits, dim=-1).gather(1, targets.to(device)[:, None])[:, 0]  # (N,)
        return list(logprobs.cpu().split([n - first for n in lengths]))

    def _check_length(self, num_tokens: int) -> None:
        if self.max_context_tokens and num_tokens > self.max_context_tokens:
            raise LanguageModelError(
                f"{self.name}: {num_tokens} tokens (text + video) exceed the context of {self.max_context_tokens}; "
                "use fewer frames or a smaller max_pixels"
            )


# ----------------------------------------------------------------------------- a tiny random model


def tiny_random_video_lm(seed: int = 0, *, tokenizer=None, max_pixels: int = 56 * 56,
                         model_type: str = "qwen2_vl") -> VideoLanguageModel:
    """A randomly initialised ~2M-parameter Qwen2-VL (model_type="qwen2_vl") or Qwen2.5-VL
    ("qwen2_5_vl") with the embedded SmolLM2 tokenizer plus the vision tokens: for tests and for
    wiring checks without a real checkpoint (its output is noise)."""
    import torch
    import transformers
    from transformers import AutoTokenizer

    if tokenizer is None:
        from videothought.agent.llm.embedded import ensure_embedded_checkpoint

        tokenizer = AutoTokenizer.from_pretrained(ensure_embedded_checkpoint())
    tokenizer.add_special_tokens({"additional_special_tokens": list(VISION_TOKENS)})
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS}
    text_config = {
        "vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    }
    if model_type == "qwen2_vl":
        config_class = transformers.Qwen2VLConfig
        vision_config = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2,
                         "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
    elif model_type == "qwen2_5_vl":
        config_class = transformers.Qwen2_5_VLConfig
        # window attention in block 0 (windows of 56 px = 2x2 merged patches), full attention in block 1
        vision_config = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                         "out_hidden_size": 64, "fullatt_block_indexes": [1], "window_size": 56,
                         "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
    else:
        raise ValueError(f"model_type must be one of {VIDEO_MODEL_TYPES}, got {model_type!r}")
    config = config_class(
        text_config=text_config, vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = _model_class(model_type)(config)
    name = {"qwen2_vl": "qwen2-vl", "qwen2_5_vl": "qwen2.5-vl"}[model_type]
    return VideoLanguageModel(model, tokenizer, name=f"tiny-random-{name}-{seed}", max_pixels=max_pixels)
