"""A deterministic stand-in LanguageModel for tests: scripted replies, deterministic scores, recorded calls."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from videothought.agent.llm.protocol import (
    Generation,
    LanguageModelError,
    TextStream,
    check_generation_args,
    render_chatml,
    truncate_at_stop,
    validate_continuations,
    validate_messages,
)

_FAKE_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(eq=False)
class FakeLanguageModel:
    """Scripted replies, deterministic scores, every call recorded in `calls`.

    replies: a list consumed in order (the last one repeats once the list runs out), or a
        callable (messages) -> str. Default: "OK".
    Tokens are words and punctuation marks (`\\w+|[^\\w\\s]`). A token's log-probability is
    `seen_logprob` when the same token (case-insensitive) occurs earlier in the text and
    `unseen_logprob` otherwise, so a continuation that reuses the prompt's words outscores
    one that does not; `scores={continuation: value}` overrides per continuation.
    The same per-token function serves `score` and `token_logprobs` (what our HTTP server's
    echo+logprobs endpoint returns), so scores through HTTP equal scores in process.
    accepts_frames=True makes it pose as a vision-language model: `frames=` is taken and each
    call records the frames' shape (`calls[i]["frames"]`); without it, frames are refused.
    `on_text` receives the reply token by token.
    """

    replies: list[str] | Callable[[list[dict]], str] = field(default_factory=lambda: ["OK"])
    scores: dict[str, float] = field(default_factory=dict)
    name: str = "fake"
    seen_logprob: float = -1.0
    unseen_logprob: float = -5.0
    latency_seconds: float = 0.0  # sleep per call, to exercise timeouts
    adapter_names: tuple[str, ...] = ()
    adapter_cards: dict[str, dict] = field(default_factory=dict)  # {adapter name: its card}, as local peft has
    accepts_frames: bool = False
    calls: list[dict] = field(default_factory=list)
    active_adapter: str | None = None
    _reply_index: int = 0

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None, on_text=None,
                 frames=None, json_schema: dict | None = None, seed: int | None = None) -> Generation:
        """A scripted reply. With `json_schema` the call is recorded with its schema and the reply
        must be a JSON document (a script that says otherwise is a broken test: LanguageModelError),
        as a constraining backend guarantees; `seed` is recorded."""
        messages = validate_messages(messages)
        check_generation_args(max_new_tokens, temperature, stop)
        generation = self._reply(messages, render_chatml(messages), max_new_tokens, stop, "generate", on_text,
                                 self._frames_shape(frames))
        self.calls[-1].update({"json_schema": json_schema, "seed": seed, "temperature": temperature})
        if json_schema is not None:
            import json

            try:
                json.loads(generation.text)
            except json.JSONDecodeError as error:
                raise LanguageModelError(f"{self.name}: a scripted reply under json_schema is not JSON: {error}") from error
        return generation

    def complete(self, prompt: str, *, max_new_tokens=128, temperature=0.0, stop=None, on_text=None) -> Generation:
        """Raw-text completion (what /v1/completions without echo serves)."""
        check_generation_args(max_new_tokens, temperature, stop)
        return self._reply([{"role": "user", "content": prompt}], prompt, max_new_tokens, stop, "complete", on_text,
                           None)

    def _frames_shape(self, frames) -> tuple | None:
        if frames is None:
            return None
        if not self.accepts_frames:
            raise LanguageModelError(f"{self.name}: frames given, but this fake has accepts_frames=False")
        shape = getattr(frames, "shape", None)
        if shape is None or len(shape) != 4 or shape[-1] != 3:
            raise LanguageModelError(f"{self.name}: frames must be a (T, H, W, 3) array, got shape {shape}")
        return tuple(int(n) for n in shape)

    def _reply(self, messages, prompt_text, max_new_tokens, stop, kind, on_text, frames_shape) -> Generation:
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
        call = {"kind": kind, "messages": messages, "adapter": self.active_adapter}
        if frames_shape is not None:
            call["frames"] = frames_shape
        self.calls.append(call)
        stream = TextStream(on_text)
        for token in _FAKE_TOKEN.finditer(text):
            stream.feed(text[: token.end()])
        stream.finish(text)
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

    def score(self, prompt, continuations, *, frames=None) -> list[float]:
        continuations = validate_continuations(continuations)
        frames_shape = self._frames_shape(frames)
        if not continuations:
            return []
        prompt_text = prompt if isinstance(prompt, str) else render_chatml(validate_messages(prompt))
        call = {"kind": "score", "prompt": prompt, "continuations": continuations, "adapter": self.active_adapter}
        if frames_shape is not None:
            call["frames"] = frames_shape
        self.calls.append(call)
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
