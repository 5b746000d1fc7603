"""An OpenAI-compatible HTTP client behind the LanguageModel protocol (vLLM, llama.cpp server,
Ollama's /v1, our own `videothought.agent.llm.server`).

    lm = HTTPLanguageModel("http://127.0.0.1:8000/v1")               # model: the server's first
    lm = HTTPLanguageModel(url, model="Qwen/Qwen2.5-7B-Instruct", tokenizer="/models/qwen2.5-7b")

generate -> POST /chat/completions.
score    -> POST /completions with prompt = [prompt_text + c_i for each candidate] (one request,
            one batch on the server), echo=true, logprobs=1, max_tokens=0: the server returns every
            prompt's per-token logprobs with character offsets, and a continuation's score is the
            sum over the tokens that start at or after the prompt text's end (a token straddling
            the boundary counts to the continuation). vLLM supports this; servers that do not
            (llama.cpp, Ollama) get a ScoringNotSupportedError saying so.
count_tokens -> the local tokenizer when given, else POST /tokenize (vLLM and our server), else an
            estimate of 4 characters per token (logged once).

Chat prompts for scoring are rendered to text on the client (the completions endpoint takes
text): with `tokenizer=` (a local HF tokenizer folder) by its chat template, else ChatML
(`<|im_start|>role ... <|im_end|>`, the format of SmolLM2 and Qwen).

Failures: an unreachable server, a timeout, a 5xx/429 or a body that is not the JSON we
expect is retried `max_retries` times with exponential backoff, then raises
BackendUnavailableError naming the URL, the attempts and the last problem. Other 4xx
errors raise LanguageModelError at once with the server's message.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from videothought.agent.llm.protocol import (
    BackendUnavailableError,
    Generation,
    LanguageModelError,
    ScoringNotSupportedError,
    check_generation_args,
    render_chatml,
    validate_continuations,
    validate_messages,
)

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
CHARS_PER_TOKEN_ESTIMATE = 4  # rough for English BPE; used only when the server cannot count


class _Retryable(Exception):
    """A failure worth retrying (connection, timeout, 5xx, malformed body)."""


class HTTPLanguageModel:
    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout_seconds: float = 120.0,
        max_retries: int = 2,
        retry_backoff_seconds: float = 0.5,
        tokenizer: str | None = None,
    ):
        import httpx

        if not base_url.startswith(("http://", "https://")):
            raise LanguageModelError(f"base_url must start with http:// or https://, got {base_url!r}")
        if max_retries < 0 or timeout_seconds <= 0:
            raise LanguageModelError(f"need max_retries >= 0 and timeout_seconds > 0, got {max_retries}, {timeout_seconds}")
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self.retry_backoff_seconds = retry_backoff_seconds
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_seconds), headers=headers)
        self._model = model
        self._tokenizer = None
        if tokenizer is not None:
            from transformers import AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(tokenizer)
            except (OSError, ValueError) as error:
                raise LanguageModelError(f"could not load the tokenizer {tokenizer!r}: {error}") from error
        self._server_counts_tokens: bool | None = None  # learnt on the first count_tokens
        self.name = f"http:{model or self.base_url}"

    # --------------------------------------------------------------- transport

    @property
    def model(self) -> str:
        """The model id sent with requests: given, or the first one the server lists."""
        if self._model is None:
            listing = self._request("GET", "/models")
            data = listing.get("data") if isinstance(listing, dict) else None
            if not data or not isinstance(data[0], dict) or "id" not in data[0]:
                raise LanguageModelError(f"{self.base_url}/models lists no model: {str(listing)[:200]}")
            self._model = str(data[0]["id"])
            self.name = f"http:{self._model}"
        return self._model

    def _url(self, path: str) -> str:
        if path.startswith("/v1/") or path == "/tokenize":  # server-root paths (vLLM's /tokenize)
            root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
            return root + path
        return self.base_url + path

    def _request(self, method: str, path: str, payload: dict | None = None) -> Any:
        """One JSON request with bounded retries; returns the decoded JSON body."""
        import httpx

        url = self._url(path)
        problems = []
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.retry_backoff_seconds * 2 ** (attempt - 1))
            try:
                response = self._client.request(method, url, json=payload)
            except httpx.TimeoutException:
                problems.append(f"timed out after {self.timeout_seconds:g} s")
                continue
            except httpx.TransportError as error:  # refused, reset, DNS, ...
                problems.append(f"could not connect ({type(error).__name__}: {error})")
                continue
            if response.status_code in RETRYABLE_STATUS:
                problems.append(f"HTTP {response.status_code}: {_error_message(response)}")
                continue
            if response.status_code >= 400:
                raise _http_error(url, response)
            try:
                return response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                problems.append(f"the body is not JSON: {response.text[:120]!r}")
                continue
        raise BackendUnavailableError(
            f"{method} {url} failed {len(problems)} time(s) (max_retries={self.max_retries}); "
            f"last: {problems[-1]}" + (f"; before: {'; '.join(problems[:-1])}" if len(problems) > 1 else "")
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HTTPLanguageModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --------------------------------------------------------------- protocol

    def render(self, messages: list[dict]) -> str:
        messages = validate_messages(messages)
        if self._tokenizer is not None and self._tokenizer.chat_template:
            return self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return render_chatml(messages)

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None) -> Generation:
        messages = validate_messages(messages)
        check_generation_args(max_new_tokens, temperature, stop)
        payload = {"model": self.model, "messages": messages, "max_tokens": max_new_tokens,
                   "temperature": temperature, "stream": False}
        if stop:
            payload["stop"] = list(stop)
        start = time.perf_counter()
        body = self._request("POST", "/chat/completions", payload)
        try:
            text = body["choices"][0]["message"]["content"] or ""
            if not isinstance(text, str):
                raise TypeError(f"content is a {type(text).__name__}")
        except (KeyError, IndexError, TypeError) as error:
            raise LanguageModelError(
                f"{self.base_url}/chat/completions answered without choices[0].message.content "
                f"({type(error).__name__}: {error}): {str(body)[:200]}"
            ) from error
        usage = body.get("usage") or {}
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return Generation(
            text=text,
            prompt_tokens=int(prompt_tokens) if isinstance(prompt_tokens, int) else self.count_tokens(self.render(messages)),
            completion_tokens=int(completion_tokens) if isinstance(completion_tokens, int) else self.count_tokens(text),
            latency_seconds=time.perf_counter() - start,
        )

    def score(self, prompt, continuations) -> list[float]:
        continuations = validate_continuations(continuations)
        if not continuations:
            return []
        prompt_text = prompt if isinstance(prompt, str) else self.render(prompt)
        if not isinstance(prompt_text, str) or not prompt_text:
            raise LanguageModelError("the prompt must be non-empty text or chat messages")
        payload = {"model": self.model, "prompt": [prompt_text + c for c in continuations],
                   "max_tokens": 0, "echo": True, "logprobs": 1, "temperature": 0.0}
        try:
            body = self._request("POST", "/completions", payload)
        except LanguageModelError as error:
            if isinstance(error, BackendUnavailableError):
                raise
            raise ScoringNotSupportedError(
                f"{self.base_url} refused prompt scoring (/completions with echo=true, logprobs, max_tokens=0; "
                f"vLLM supports it, llama.cpp and Ollama do not): {error}"
            ) from error
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or len(choices) != len(continuations):
            raise ScoringNotSupportedError(
                f"{self.base_url}/completions returned {len(choices) if isinstance(choices, list) else 'no'} "
                f"choices for {len(continuations)} scored prompts"
            )
        scores: list[float | None] = [None] * len(continuations)
        for position, choice in enumerate(choices):
            index = choice.get("index", position) if isinstance(choice, dict) else position
            logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
            if not isinstance(index, int) or not 0 <= index < len(continuations) or not isinstance(logprobs, dict):
                raise ScoringNotSupportedError(
                    f"{self.base_url}/completions did not return prompt logprobs (echo=true, logprobs=1, "
                    "max_tokens=0); this server cannot score continuations"
                )
            scores[index] = _continuation_logprob(logprobs, len(prompt_text), self.base_url)
        if any(s is None for s in scores):
            raise ScoringNotSupportedError(f"{self.base_url}/completions repeated a choice index")
        return [float(s) for s in scores]

    def count_tokens(self, text: str) -> int:
        if not isinstance(text, str):
            raise LanguageModelError(f"count_tokens needs a str, got {type(text).__name__}")
        if self._tokenizer is not None:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        if self._server_counts_tokens is not False:
            try:
                body = self._request("POST", "/tokenize", {"model": self.model, "prompt": text})
                count = body.get("count") if isinstance(body, dict) else None
                if isinstance(count, int):
                    self._server_counts_tokens = True
                    return count
            except LanguageModelError as error:
                if self._server_counts_tokens:  # it worked before: a real failure
                    raise
                logger.warning("%s cannot count tokens (%s); estimating %d characters per token",
                               self.base_url, error, CHARS_PER_TOKEN_ESTIMATE)
            self._server_counts_tokens = False
        return max(1, -(-len(text) // CHARS_PER_TOKEN_ESTIMATE)) if text else 0


def _continuation_logprob(logprobs: dict, prompt_chars: int, where: str) -> float:
    """Sum the logprobs of the tokens covering characters >= prompt_chars. Token i spans
    [text_offset[i], text_offset[i] + len(tokens[i])) (capped by the next offset); a token
    straddling the boundary belongs to the continuation."""
    values, offsets = logprobs.get("token_logprobs"), logprobs.get("text_offset")
    if not isinstance(values, list) or not isinstance(offsets, list) or len(values) != len(offsets) or not values:
        raise ScoringNotSupportedError(f"{where}/completions returned no token_logprobs/text_offset to score with")
    tokens = logprobs.get("tokens")
    if not isinstance(tokens, list) or len(tokens) != len(offsets):
        tokens = None
    total, counted = 0.0, 0
    for i, (value, offset) in enumerate(zip(values, offsets)):
        end = offsets[i + 1] if i + 1 < len(offsets) else float("inf")
        if tokens is not None and isinstance(tokens[i], str):
            end = min(end, offset + len(tokens[i]))  # whitespace between tokens is not the token's
        if end <= prompt_chars:
            continue
        if value is None:
            raise ScoringNotSupportedError(
                f"{where}/completions gave no logprob for a continuation token at character {offset} "
                "(the continuation starts the text: the prompt must be non-empty)"
            )
        total += float(value)
        counted += 1
    if not counted:
        raise ScoringNotSupportedError(f"{where}/completions returned no tokens past the prompt")
    return total


def _error_message(response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return str(body["error"].get("message", body["error"]))[:300]
        return str(body)[:300]
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:300] or response.reason_phrase


def _http_error(url: str, response) -> LanguageModelError:
    return LanguageModelError(f"{url} answered HTTP {response.status_code}: {_error_message(response)}")
