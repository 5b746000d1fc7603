"""Robust parsing of small-model output, and generation with a bounded, stricter retry.

Small models wrap JSON in prose and code fences, use single quotes and Python literals,
leave trailing commas, or stop mid-object at the token limit. The extractors here find
the intended value in such text or raise `ParseError` saying what was wrong; they never
guess between two plausible readings (an ambiguous reply is a parse failure, which the
caller records as such).

    extract_json('Sure! ```json\\n{"targets": ["red car",]}\\n```')   # {'targets': ['red car']}
    extract_choice("The answer is (B) because ...", num_choices=4)     # 1
    extract_rating("Rationality: 8/10. The man ...")                   # 8.0

The `generate_*` helpers ask the model, parse, and on failure re-ask at most `retries`
times with the error and a stricter instruction appended to the conversation. They
return a `ParseOutcome` (value None after the last failure) holding every attempt's
Generation and error text for the step-wise trace; nothing raises on bad model output, and a
backend failure (server down, prompt over the context) is recorded the same way.
All of them, and the VoT nodes (agent/steps.py), go through ONE loop: `generate_parsed`.

    value, attempts, errors = generate_json(lm, messages, schema_keys=["targets"])
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from videothought.agent.llm.protocol import Generation, LanguageModel

OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class ParseError(ValueError):
    """Model output did not contain the expected value; the message says what was found instead."""


# ----------------------------------------------------------------------------- JSON

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)(?:```|$)", re.DOTALL)
_CLOSERS = {"{": "}", "[": "]"}


def _scan_balanced(text: str, start: int) -> tuple[int | None, list[str], str | None]:
    """From the bracket at `start`, find its matching closer, skipping brackets inside strings.

    Returns (end index or None when the text ends first, the unclosed bracket stack, the
    open quote character if the text ends inside a string).
    """
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'":
            # An apostrophe inside a word (don't) is not a quote.
            if char == "'" and index > 0 and text[index - 1].isalnum():
                continue
            quote = char
        elif char in _CLOSERS:
            stack.append(char)
        elif char in "}]":
            if not stack or _CLOSERS[stack[-1]] != char:
                return None, [], None  # mismatched: not a JSON value starting here
            stack.pop()
            if not stack:
                return index, [], None
    return None, stack, quote


def _outside_strings(text: str, transform: Callable[[str], str]) -> str:
    """Apply `transform` to the parts of `text` that are not inside quoted strings."""
    parts, buffer, quote, escaped = [], [], None, False
    for char in text:
        if quote:
            buffer.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                parts.append("".join(buffer))
                buffer, quote = [], None
        elif char in "\"'":
            parts.append(transform("".join(buffer)))
            buffer, quote = [char], char
        else:
            buffer.append(char)
    parts.append("".join(buffer) if quote else transform("".join(buffer)))
    return "".join(parts)


def _python_literals(segment: str) -> str:
    segment = re.sub(r"\btrue\b", "True", segment)
    segment = re.sub(r"\bfalse\b", "False", segment)
    return re.sub(r"\bnull\b", "None", segment)


def _loads_lenient(candidate: str) -> Any:
    """json.loads, then repairs: trailing commas, Python literals/quotes, unquoted keys."""
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        pass
    repaired = _outside_strings(candidate, lambda s: re.sub(r",\s*([}\]])", r"\1", s))
    try:
        return json.loads(repaired)
    except json.JSONDecodeError:
        pass
    quoted_keys = _outside_strings(repaired, lambda s: re.sub(r"([{,]\s*)([A-Za-z_][\w-]*)\s*:", r'\1"\2":', s))
    for attempt in (repaired, quoted_keys):
        try:
            return ast.literal_eval(_outside_strings(attempt, _python_literals))
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            continue
    raise ParseError(f"not valid JSON: {candidate[:80]!r}")


def _json_candidates(text: str, openers: str) -> Iterator[tuple[str, bool]]:
    """Yield (candidate text, complete?) for every bracket that starts a JSON-looking value."""
    for start, char in enumerate(text):
        if char not in openers:
            continue
        end, stack, quote = _scan_balanced(text, start)
        if end is not None:
            yield text[start : end + 1], True
        elif stack:
            # Truncated at the token limit: close the open string and brackets.
            tail = (quote or "") + "".join(_CLOSERS[b] for b in reversed(stack))
            body = text[start:].rstrip()
            if not quote:
                body = body.rstrip(",:")
            yield body + tail, False


def extract_json(text: str, expect: str | None = "object") -> Any:
    """The first JSON value of the expected kind in `text` ("object", "list" or None = either).

    Looks inside code fences first, then the whole text; accepts trailing commas, single
    quotes, Python True/False/None, unquoted keys, and output truncated mid-value (closed).
    Raises ParseError when nothing parses.
    """
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}")
    if expect not in ("object", "list", None):
        raise ValueError(f"expect must be 'object', 'list' or None, got {expect!r}")
    openers = {"object": "{", "list": "[", None: "{["}[expect]
    sources = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    truncated_fallback = None
    for source in sources:
        for candidate, complete in _json_candidates(source, openers):
            try:
                value = _loads_lenient(candidate)
            except ParseError:
                continue
            if complete:
                return value
            if truncated_fallback is None and value not in ({}, []):  # a lone "{" is not a value
                truncated_fallback = value
    if truncated_fallback is not None:
        return truncated_fallback
    kind = {"object": "JSON object", "list": "JSON list", None: "JSON value"}[expect]
    raise ParseError(f"no {kind} found in the reply: {text.strip()[:120]!r}")


def check_keys(value: Any, schema_keys: Sequence[str] | None) -> Any:
    """Raise ParseError unless `value` is a dict holding every key in schema_keys."""
    if not schema_keys:
        return value
    if not isinstance(value, dict):
        raise ParseError(f"expected a JSON object with keys {list(schema_keys)}, got a {type(value).__name__}")
    missing = [k for k in schema_keys if k not in value]
    if missing:
        raise ParseError(f"the JSON object lacks key(s) {missing}; it has {sorted(value)}")
    return value


# ----------------------------------------------------------------------------- options

def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def extract_choice(text: str, num_choices: int, choices: Sequence[str] | None = None) -> int:
    """The 0-based option the reply picks, from a letter (A, (B), "answer: C"), a 1-based
    number ("option 2") or the option's text. Raises ParseError when none or several fit.
    """
    if num_choices < 1 or num_choices > len(OPTION_LETTERS):
        raise ValueError(f"num_choices must be in 1..{len(OPTION_LETTERS)}, got {num_choices}")
    if not isinstance(text, str) or not text.strip():
        raise ParseError("the reply is empty")
    letters = OPTION_LETTERS[:num_choices]
    stripped = text.strip()

    def from_letter(letter: str, how: str) -> int:
        index = OPTION_LETTERS.index(letter.upper())
        if index >= num_choices:
            raise ParseError(f"the reply picks option {letter.upper()} ({how}) but there are only {num_choices} options")
        return index

    # 1. A keyword then a letter: "Answer: B", "the correct option is (C)", "choice: d)".
    keyword = re.search(
        r"\b(?:answer|option|choice)\b(?:\s+is)?\s*[:=\-]?\s*([\(\[]?)([A-Za-z])([\)\]\.:,]|\s|$)",
        stripped, re.IGNORECASE,
    )
    # A lowercase letter counts only when marked as an option ("(c)", "c)", ": c"), not the article "a".
    if keyword and (keyword.group(2).isupper() or keyword.group(1) or (keyword.group(3) and keyword.group(3) in ")]")
                    or any(mark in stripped[keyword.start() : keyword.start(2)] for mark in ":=")):
        return from_letter(keyword.group(2), "after 'answer/option'")
    # 2. A keyword then a 1-based number: "option 2", "Answer: 3".
    number = re.search(r"\b(?:answer|option|choice)\b(?:\s+is)?\s*[:#=\-]?\s*\(?(\d+)\)?", stripped, re.IGNORECASE)
    if number:
        value = int(number.group(1))
        if not 1 <= value <= num_choices:
            raise ParseError(f"the reply picks option number {value} but options are 1..{num_choices}")
        return value - 1
    # 3. The reply starts with a letter: "B", "B)", "(B) blue", "B. blue" -- unless it goes on to
    #    name other options in brackets ("(A) or (B)"), which is ambiguous.
    bracketed = set(re.findall(r"[\(\[]([A-Z])[\)\]]", stripped))
    if len(bracketed) > 1:
        raise ParseError(f"the reply names several options {sorted(bracketed)}")
    leading = re.match(r"^[\(\[]?([A-Z])(?:[\)\]\.:,]|\s|$)", stripped)
    if leading and (leading.group(1) in letters or len(stripped) <= 3):
        return from_letter(leading.group(1), "at the start")
    # 4. Exactly one bracketed letter in the text: "... so (C)."
    if bracketed:
        return from_letter(bracketed.pop(), "in brackets")
    # 5. The text of exactly one option (ignoring those contained in another matched one).
    if choices:
        reply = f" {_normalise(stripped)} "
        matched = [i for i, c in enumerate(choices) if _normalise(c) and f" {_normalise(c)} " in reply]
        matched = [i for i in matched
                   if not any(i != j and _normalise(choices[i]) in _normalise(choices[j]) for j in matched)]
        if len(matched) == 1:
            return matched[0]
        if len(matched) > 1:
            raise ParseError(f"the reply mentions several options {[choices[i] for i in matched]}")
    raise ParseError(f"no option ({', '.join(letters)}) found in the reply: {stripped[:120]!r}")


# ----------------------------------------------------------------------------- ratings

_NUMBER = r"(\d+(?:\.\d+)?)"


def extract_rating(text: str, low: float = 1, high: float = 10) -> float:
    """A rating in [low, high] from "8/10", "Rating: 7", "I'd rate it 9", or a lone number."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError("the reply is empty")

    def checked(value: str, how: str) -> float:
        rating = float(value)
        if not low <= rating <= high:
            raise ParseError(f"the rating {value} ({how}) is outside {low:g}..{high:g}")
        return rating

    out_of = re.search(_NUMBER + rf"\s*(?:/|out of)\s*{high:g}\b", text, re.IGNORECASE)
    if out_of:
        return checked(out_of.group(1), f"out of {high:g}")
    keyword = re.search(r"\b(?:rating|rate|rated|score|scored)\b[^\d\n]{0,24}?" + _NUMBER, text, re.IGNORECASE)
    if keyword:
        return checked(keyword.group(1), "after 'rating'")
    leading = re.match(r"^\s*\**" + _NUMBER + r"\b", text)
    if leading:
        return checked(leading.group(1), "at the start")
    in_range = {float(n) for n in re.findall(r"(?<![\w.])" + _NUMBER + r"(?!\w|\.\d)", text) if low <= float(n) <= high}
    if len(in_range) == 1:
        return in_range.pop()
    if len(in_range) > 1:
        raise ParseError(f"several numbers could be the rating: {sorted(in_range)}")
    raise ParseError(f"no rating {low:g}-{high:g} found in the reply: {text.strip()[:120]!r}")


# ----------------------------------------------------------------------------- generate + retry


@dataclass
class ParseOutcome:
    """What a generate_* helper got: the value (None when every attempt failed), how many
    attempts it took, each failure's message, and every attempt's Generation and prompt.

    Unpacks as the triple `value, attempts, errors = outcome`.
    """

    value: Any
    attempts: int
    errors: list[str] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)  # the last user message of each attempt
    conversations: list[list[dict]] = field(default_factory=list)  # the messages of each attempt
    backend_failed: bool = False  # the last attempt raised a backend error (recorded in errors)

    def __iter__(self):
        return iter((self.value, self.attempts, self.errors))

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def prompt_tokens(self) -> int:
        return sum(int(getattr(g, "prompt_tokens", 0) or 0) for g in self.generations)

    @property
    def completion_tokens(self) -> int:
        return sum(int(getattr(g, "completion_tokens", 0) or 0) for g in self.generations)

    @property
    def latency_seconds(self) -> float:
        return sum(float(getattr(g, "latency_seconds", 0.0) or 0.0) for g in self.generations)

    @property
    def text(self) -> str:
        """The last reply's text (the one parsed when `ok`)."""
        return self.generations[-1].text if self.generations else ""


def generate_parsed(
    lm: LanguageModel,
    messages: list[dict] | Callable[[bool], list[dict]],
    parse: Callable[[str], Any],
    *,
    retry_instruction: str | None = None,
    retries: int = 2,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    stop: list[str] | None = None,
    frames: Any = None,
    on_text: Callable[[str], None] | None = None,
    what: str = "reply",
    backend_errors: tuple[type[BaseException], ...] | None = None,
) -> ParseOutcome:
    """THE parse-retry loop (the nodes' and the library's): generate, parse; on a failure re-ask at
    most `retries` more times, then give up with `value = None`. Nothing raises on bad model output.

    messages: the conversation, or `build(strict: bool) -> conversation` (the nodes' prompts have a
        stricter wording for retries: attempt 1 is build(False), later ones build(True)).
    parse: text -> value; raises ParseError or returns None when the reply is unusable.
    retry_instruction: with a list of messages, a retry re-asks with the bad reply, the error and
        this instruction appended; without it (and with a plain list) the same messages are re-asked.
    frames / on_text: passed on through `call_generate` (frames only to a backend that accepts them;
        on_text gets every attempt's reply as it streams).
    backend_errors: exceptions that count as a backend failure (server down, prompt too long):
        recorded in `errors`, they end the attempts at once (a stricter prompt cannot fix them) and
        set `backend_failed`. Default: LanguageModelError; the nodes pass (Exception,) so that no
        backend failure crashes a run.
    """
    from videothought.agent.llm.protocol import LanguageModelError, call_generate

    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    backend_errors = backend_errors or (LanguageModelError,)
    build = messages if callable(messages) else None
    conversation = list(build(False) if build else messages)
    outcome = ParseOutcome(value=None, attempts=0)
    for attempt in range(1, retries + 2):
        outcome.attempts += 1
        outcome.conversations.append(conversation)
        outcome.prompts.append(str(conversation[-1].get("content", "")) if conversation else "")
        try:
            generation = call_generate(lm, conversation, max_new_tokens=max_new_tokens, temperature=temperature,
                                       stop=stop, frames=frames, on_text=on_text)
            text = getattr(generation, "text", None)
            if not isinstance(text, str):
                raise LanguageModelError(f"generate returned a {type(generation).__name__} without a str `text`")
        except backend_errors as error:
            outcome.errors.append(f"generate failed (attempt {attempt}): {type(error).__name__}: {error}")
            outcome.backend_failed = True
            return outcome
        outcome.generations.append(generation)
        try:
            value = parse(text)
            if value is None:
                raise ParseError(f"no {what} in the reply: {text.strip()[:120]!r}")
            outcome.value = value
            return outcome
        except ParseError as error:
            outcome.errors.append(f"unparsable {what} (attempt {attempt}): {error}")
            if build is not None:
                conversation = list(build(True))
            elif retry_instruction is not None:
                conversation = list(messages) + [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": f"I could not use that reply: {error}. {retry_instruction}"},
                ]
    return outcome


def generate_json(
    lm: LanguageModel,
    messages: list[dict],
    schema_keys: Sequence[str] | None = None,
    retries: int = 2,
    *,
    expect: str = "object",
    max_new_tokens: int = 128,
    temperature: float = 0.0,
) -> ParseOutcome:
    """Ask for JSON (an object with `schema_keys`, or a list with expect="list")."""
    if expect == "list":
        instruction = "Reply with ONLY a JSON list, like [\"...\", \"...\"], and nothing else."
    else:
        keys = ", ".join(f'"{k}": ...' for k in (schema_keys or ()))
        instruction = f"Reply with ONLY one JSON object{f' like {{{keys}}}' if keys else ''}, and nothing else."
    return generate_parsed(
        lm, messages, lambda text: check_keys(extract_json(text, expect), schema_keys),
        retry_instruction=instruction, retries=retries, what="JSON", max_new_tokens=max_new_tokens, temperature=temperature,
    )


def generate_choice(
    lm: LanguageModel,
    messages: list[dict],
    choices: Sequence[str],
    retries: int = 2,
    *,
    max_new_tokens: int = 32,
    temperature: float = 0.0,
) -> ParseOutcome:
    """Ask for one of `choices`; the value is its 0-based index."""
    letters = ", ".join(OPTION_LETTERS[: len(choices)])
    return generate_parsed(
        lm, messages, lambda text: extract_choice(text, len(choices), choices),
        retry_instruction=f"Reply with ONLY the letter of one option ({letters}).",
        retries=retries, max_new_tokens=max_new_tokens, temperature=temperature, what="option",
    )


def generate_rating(
    lm: LanguageModel,
    messages: list[dict],
    retries: int = 2,
    *,
    low: int = 1,
    high: int = 10,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
) -> ParseOutcome:
    """Ask for a {low}-{high} rating; the value is a float; `outcome.text` holds the rationale."""
    return generate_parsed(
        lm, messages, lambda text: extract_rating(text, low, high),
        retry_instruction=f"Reply starting with 'Rating: N/{high}' where N is a number from {low} to {high}, "
        "then one sentence of rationale.",
        retries=retries, max_new_tokens=max_new_tokens, temperature=temperature, what="rating",
    )
