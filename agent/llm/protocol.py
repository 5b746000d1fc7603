"""The protocol every VoT node talks to, its errors and shared types (docs/llm.md documents it).

    lm.name                                                   -> str, e.g. "smollm2-135m-instruct"
    lm.generate(messages, *, max_new_tokens=128, temperature=0.0, stop=None, on_text=None) -> Generation
    lm.score(prompt, continuations)                           -> [sum log p(continuation | prompt), ...]
    lm.count_tokens(text)                                     -> int

A backend that sees pixels (`VisionLanguageModel`) also has `accepts_frames = True` and takes
`frames=` (a (T, H, W, 3) uint8 RGB array, or None) in `generate` and `score`.
`on_text` is optional: a backend that streams calls it with each new piece of the reply as it is
generated (the pieces concatenate to `Generation.text`); callers that want streaming from any
backend use `call_generate`, which falls back to one piece at the end.

`check_language_model(lm)` checks a user-supplied model against this protocol and raises a
`LanguageModelError` naming the missing or ill-fitting member; `load_language_model` results pass it.
Backends with adapters (local peft) expose `adapter_names` and `use_adapter(name | None)`, and
may expose `adapter_cards` ({name: card dict}); `adapter_scope(lm, node)` activates a node's adapter
when the backend has one, and `adapter_card(lm, node)` reads its card ({} when there is none).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

Messages = list[dict]
TextCallback = Callable[[str], None]


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
    """What every backend implements. `on_text` is optional (see `call_generate`)."""

    name: str

    def generate(
        self,
        messages: list[dict],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        on_text: TextCallback | None = None,
    ) -> Generation:
        """Reply to chat messages ({"role", "content": str} dicts); greedy at temperature 0; the reply is
        cut before the first stop string; `on_text(piece)` receives the reply as it is generated."""
        ...

    def score(self, prompt: list[dict] | str, continuations: list[str]) -> list[float]:
        """Sum of log-probabilities of each continuation given the prompt (chat messages are
        rendered with the chat template, continuation appended as the assistant's reply),
        computed in ONE batched forward pass for all continuations."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` is for this model (prompt budgets are counted with it)."""
        ...


@runtime_checkable
class VisionLanguageModel(LanguageModel, Protocol):
    """A LanguageModel that watches video: `frames` is a (T, H, W, 3) uint8 RGB array or None."""

    accepts_frames: bool

    def generate(
        self,
        messages: list[dict],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        on_text: TextCallback | None = None,
        frames: Any = None,
    ) -> Generation: ...

    def score(self, prompt: list[dict] | str, continuations: list[str], *, frames: Any = None) -> list[float]: ...


PROTOCOL_METHODS = ("generate", "score", "count_tokens")
GENERATE_KEYWORDS = ("max_new_tokens", "temperature", "stop")  # required; on_text and frames are optional


def accepts_frames(lm: Any) -> bool:
    """Whether `lm` takes pixels (`accepts_frames = True`, e.g. the `video:` backend)."""
    return getattr(lm, "accepts_frames", False) is True


@functools.lru_cache(maxsize=256)
def _signature_of(function: Callable, bound: bool) -> tuple[frozenset, bool, int | None]:
    """(keyword parameter names, takes **kwargs, positional parameters or None = any) of a plain
    function; `bound` drops its first parameter (self)."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # builtins, C extensions: assume it fits
        return frozenset(), True, None
    if bound and parameters and parameters[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                       inspect.Parameter.POSITIONAL_OR_KEYWORD):
        parameters = parameters[1:]
    names, var_keyword, positional, var_positional = set(), False, 0, False
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            var_keyword = True
        elif parameter.kind is parameter.VAR_POSITIONAL:
            var_positional = True
        else:
            if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                positional += 1
            if parameter.kind is not parameter.POSITIONAL_ONLY:
                names.add(parameter.name)
    return frozenset(names), var_keyword, None if var_positional else positional


def _parameters_of(function: Callable) -> tuple[frozenset, bool, int | None]:
    """`_signature_of` a function or bound method, cached on the plain function (a cache entry
    never keeps a model alive)."""
    bound = inspect.ismethod(function)
    target = function.__func__ if bound else function
    try:
        return _signature_of(target, bound)
    except TypeError:  # an unhashable callable object
        return _signature_of.__wrapped__(target, bound)


def takes_keyword(function: Callable, name: str) -> bool:
    """Whether `function` accepts the keyword argument `name` (by name or through **kwargs)."""
    names, var_keyword, _ = _parameters_of(function)
    return var_keyword or name in names


def check_language_model(lm: Any) -> Any:
    """Raise LanguageModelError naming what does not fit the protocol; return `lm` when it fits.

    Checks the members and their signatures (not their behaviour): `name` is a non-empty str;
    `generate(messages, *, max_new_tokens, temperature, stop)`, `score(prompt, continuations)`
    and `count_tokens(text)` exist and take those arguments; a model with `accepts_frames = True`
    takes `frames=` in generate and score.
    """
    if lm is None:
        raise LanguageModelError("no language model given (None); pass a LanguageModel or use load_language_model()")
    kind = type(lm).__name__
    where = f"{kind} does not fit the LanguageModel protocol (see docs/llm.md)"
    name = getattr(lm, "name", None)
    if not isinstance(name, str) or not name:
        raise LanguageModelError(f"{where}: it needs a `name` attribute, a non-empty str; it has {name!r}")
    wanted = {
        "generate": "generate(messages, *, max_new_tokens, temperature, stop) -> Generation",
        "score": "score(prompt, continuations) -> list[float]",
        "count_tokens": "count_tokens(text) -> int",
    }
    for method, signature in wanted.items():
        function = getattr(lm, method, None)
        if function is None:
            raise LanguageModelError(f"{where}: it has no method `{signature}`")
        if not callable(function):
            raise LanguageModelError(f"{where}: its `{method}` is a {type(function).__name__}, not a method `{signature}`")
        names, var_keyword, positional = _parameters_of(function)
        needed = {"generate": 1, "score": 2, "count_tokens": 1}[method]
        if positional is not None and positional < needed:
            raise LanguageModelError(
                f"{where}: `{method}` takes {positional} positional argument(s); the protocol calls `{signature}`")
        if method == "generate" and not var_keyword:
            missing = [k for k in GENERATE_KEYWORDS if k not in names]
            if missing:
                raise LanguageModelError(
                    f"{where}: `generate` lacks the keyword argument(s) {missing}; the protocol calls `{signature}`")
    if accepts_frames(lm):
        for method in ("generate", "score"):
            if not takes_keyword(getattr(lm, method), "frames"):
                raise LanguageModelError(
                    f"{where}: it says accepts_frames = True but `{method}` takes no `frames=` keyword argument")
    return lm


def call_generate(lm: Any, messages: list[dict], *, on_text: TextCallback | None = None, frames: Any = None,
                  **kwargs) -> Generation:
    """`lm.generate(messages, **kwargs)` passing `on_text` and `frames` only to backends that take them.

    A backend that does not stream still reaches `on_text`: once, with the whole reply. Frames go
    only to a backend with `accepts_frames = True`; others never see them.
    """
    generate = lm.generate
    if frames is not None and accepts_frames(lm):
        kwargs["frames"] = frames
    streams = on_text is not None and takes_keyword(generate, "on_text")
    if streams:
        kwargs["on_text"] = on_text
    generation = generate(messages, **kwargs)
    if on_text is not None and not streams:
        text = getattr(generation, "text", None)
        if isinstance(text, str) and text:
            on_text(text)
    return generation


def call_score(lm: Any, prompt: list[dict] | str, continuations: list[str], *, frames: Any = None) -> list[float]:
    """`lm.score(prompt, continuations)`, with `frames=` only for a backend with `accepts_frames = True`."""
    if frames is not None and accepts_frames(lm):
        return lm.score(prompt, continuations, frames=frames)
    return lm.score(prompt, continuations)


# ----------------------------------------------------------------------------- checks and text helpers

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


class TextStream:
    """Turns a growing reply (the text decoded so far) into `on_text` pieces that concatenate to the
    final reply: text that could still become a stop string is held back, and so is a trailing
    incomplete UTF-8 character (decoded as U+FFFD). Without `on_text` it does nothing.

        stream = TextStream(on_text, stop)
        for ...: stream.feed(decoded_so_far)      # returns True once a stop string was reached
        stream.finish(generation_text)            # emits what was held back
    """

    def __init__(self, on_text: TextCallback | None, stop: Sequence[str] | None = None):
        self.on_text = on_text
        self.stop = [s for s in (stop or ()) if s]
        self.holdback = max((len(s) for s in self.stop), default=1) - 1
        self.emitted = ""
        self.stopped = False

    def feed(self, text_so_far: str) -> bool:
        if self.stopped:
            return True
        cut, self.stopped = truncate_at_stop(text_so_far, self.stop)
        ready = cut if self.stopped else text_so_far[: len(text_so_far) - self.holdback]
        self._emit(ready.rstrip("\ufffd"))
        return self.stopped

    def finish(self, final_text: str) -> None:
        if not final_text.startswith(self.emitted):
            logger.debug("streamed text %r is not a prefix of the final reply %r", self.emitted[-40:], final_text[-40:])
            return
        self._emit(final_text)

    def _emit(self, ready: str) -> None:
        if self.on_text is not None and len(ready) > len(self.emitted) and ready.startswith(self.emitted):
            piece, self.emitted = ready[len(self.emitted):], ready
            self.on_text(piece)


# ----------------------------------------------------------------------------- adapters


def adapter_card(lm: Any, adapter_name: str) -> dict:
    """The card of the backend's adapter `adapter_name` (what `vot train nodes` wrote beside its
    weights), {} when the backend has no such adapter or no cards."""
    if adapter_name not in (getattr(lm, "adapter_names", ()) or ()):
        return {}
    return dict((getattr(lm, "adapter_cards", None) or {}).get(adapter_name) or {})


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
