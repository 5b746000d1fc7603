"""An OpenAI-compatible HTTP client behind the LanguageModel protocol (vLLM, llama.cpp server,
Ollama's /v1, our own `videothought.agent.llm.server`).

    lm = HTTPLanguageModel("http://127.0.0.1:8000/v1")               # model: the server's first
    lm = HTTPLanguageModel(url, model="Qwen/Qwen2.5-7B-Instruct", tokenizer="/models/qwen2.5-7b")
    lm = HTTPLanguageModel(url, send_images=True)                    # a vision-language server
    lm = load_language_model("http://127.0.0.1:8000/v1?images=1")    # the same, as a spec

generate -> POST /chat/completions; with `on_text` it streams (stream=true, server-sent events) and
            hands each piece of the reply to on_text as it arrives.
images   -> with send_images=True the backend has `accepts_frames = True`: frames passed to generate
            or score travel as OpenAI image content parts (base64 JPEG data URLs, one per frame, before
            the text of the first user message), which vLLM, Ollama and llama.cpp's server take for
            vision models. Scoring with frames uses vLLM's chat extension (prompt_logprobs with the
            candidate as a final assistant message, continue_final_message=true; one request per
            candidate), which our server also serves; llama.cpp and Ollama cannot score: a
            ScoringNotSupportedError says so.
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

import base64
import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from videothought.agent.llm.protocol import (
    BackendUnavailableError,
    Generation,
    LanguageModelError,
    ScoringNotSupportedError,
    TextStream,
    check_generation_args,
    render_chatml,
    truncate_at_stop,
    validate_continuations,
    validate_messages,
)

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
CHARS_PER_TOKEN_ESTIMATE = 4  # rough for English BPE; used only when the server cannot count
TRUE_WORDS = ("1", "true", "yes", "on")


def frames_to_image_parts(frames, *, max_side: int = 448, jpeg_quality: int = 85) -> list[dict]:
    """(T, H, W, 3) uint8 RGB frames -> OpenAI image content parts, one base64 JPEG data URL per frame.

    max_side: frames are shrunk so their longer side is at most this (vision servers resize again;
    448 keeps a request of 8 frames near 0.3 MB). The inverse is `image_parts_to_frames` (server side).
    """
    import numpy as np
    from PIL import Image

    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise LanguageModelError(
            f"frames must be a (T, H, W, 3) uint8 array, got {type(frames).__name__} "
            f"{getattr(frames, 'shape', '')} {getattr(frames, 'dtype', '')}")
    parts = []
    for frame in frames:
        image = Image.fromarray(frame)
        if max(image.size) > max_side:
            scale = max_side / max(image.size)
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=jpeg_quality)
        url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def with_image_parts(messages: list[dict], image_parts: list[dict]) -> list[dict]:
    """The messages with the first user message's content as [images..., {"type": "text", ...}]."""
    result, attached = [], False
    for message in messages:
        if not attached and message["role"] == "user":
            message = {**message, "content": [*image_parts, {"type": "text", "text": message["content"]}]}
            attached = True
        result.append(message)
    if not attached:
        raise LanguageModelError("frames need a user message to attach to")
    return result


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
        send_images: bool | None = None,
        image_max_side: int = 448,
    ):
        """send_images: frames go to the server as image parts (the model must take images); also
        `?images=1` on the URL. image_max_side: the longer side of each JPEG sent, in pixels."""
        import httpx

        if not base_url.startswith(("http://", "https://")):
            raise LanguageModelError(f"base_url must start with http:// or https://, got {base_url!r}")
        parts = urlsplit(base_url)
        if parts.query:
            query = parse_qs(parts.query)
            unknown = sorted(set(query) - {"images"})
            if unknown:
                raise LanguageModelError(f"unknown option(s) {unknown} in {base_url!r}; the spec takes ?images=1")
            if send_images is None:
                send_images = query["images"][-1].lower() in TRUE_WORDS
            base_url = urlunsplit(parts._replace(query="", fragment=""))
        self.send_images = bool(send_images)
        self.image_max_side = image_max_side
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

    @property
    def accepts_frames(self) -> bool:
        """True with send_images: the VoT nodes then pass their frames, sent as image parts."""
        return self.send_images

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

    def _request(self, method: str, path: str, payload: dict | None = None,
                 on_event: Callable[[dict], None] | None = None) -> Any:
        """One JSON request with bounded retries; returns the decoded JSON body.

        With `on_event` the answer is a stream of server-sent events: each `data:` JSON object goes
        to on_event until `data: [DONE]`; returns None. A stream is retried only until its first
        event arrived (a half-delivered reply cannot be taken back)."""
        import httpx

        url = self._url(path)
        problems = []
        delivered = [False]
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.retry_backoff_seconds * 2 ** (attempt - 1))
            try:
                if on_event is None:
                    response = self._client.request(method, url, json=payload)
                else:
                    with self._client.stream(method, url, json=payload) as response:
                        if response.status_code >= 400:
                            response.read()
                        else:
                            return self._read_events(url, response, on_event, delivered)
            except httpx.TimeoutException:
                problems.append(f"timed out after {self.timeout_seconds:g} s")
                if delivered[0]:
                    break
                continue
            except httpx.TransportError as error:  # refused, reset, DNS, ...
                problems.append(f"could not connect ({type(error).__name__}: {error})")
                if delivered[0]:
                    break
                continue
            except _Retryable as error:
                problems.append(str(error))
                if delivered[0]:
                    break
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

    @staticmethod
    def _read_events(url: str, response, on_event: Callable[[dict], None], delivered: list[bool]) -> None:
        """Server-sent events: `data: {json}` lines, blank lines between events, `data: [DONE]` last."""
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # comments (": ..."), event names, blank separators
            data = line[len("data:"):].strip()
            if data == "[DONE]":
                return None
            try:
                event = json.loads(data)
            except json.JSONDecodeError as error:
                raise _Retryable(f"a streamed event is not JSON: {data[:120]!r}") from error
            if isinstance(event, dict) and isinstance(event.get("error"), dict):
                raise LanguageModelError(f"{url} failed mid-stream: {event['error'].get('message', event['error'])}")
            delivered[0] = True
            on_event(event)
        raise _Retryable("the stream ended without data: [DONE]")

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

    def _wire_messages(self, messages: list[dict], frames) -> list[dict]:
        """The messages as sent: with the frames as image parts when given."""
        if frames is None:
            return messages
        if not self.send_images:
            raise LanguageModelError(
                f"{self.name}: frames given but send_images is off; pass send_images=True (or ?images=1) "
                "when the server's model takes images")
        return with_image_parts(messages, frames_to_image_parts(frames, max_side=self.image_max_side))

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None, on_text=None,
                 frames=None, json_schema: dict | None = None, seed: int | None = None) -> Generation:
        """The protocol's generate over /chat/completions. `json_schema`: sent as OpenAI's
        `response_format: {"type": "json_schema", ...}` (vLLM, llama.cpp's server, Ollama and our own
        `vot llm serve` constrain the reply to it); `seed` as the request's seed."""
        messages = validate_messages(messages)
        check_generation_args(max_new_tokens, temperature, stop)
        payload = {"model": self.model, "messages": self._wire_messages(messages, frames),
                   "max_tokens": max_new_tokens, "temperature": temperature, "stream": on_text is not None}
        if stop:
            payload["stop"] = list(stop)
        if json_schema is not None:
            if not isinstance(json_schema, dict):
                raise LanguageModelError(f"json_schema must be a JSON Schema dict, got {type(json_schema).__name__}")
            payload["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": "reply", "schema": json_schema, "strict": True}}
        if seed is not None:
            payload["seed"] = int(seed)
        start = time.perf_counter()
        if on_text is not None:
            text, usage = self._stream_chat(payload, on_text, stop)
        else:
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

    def _stream_chat(self, payload: dict, on_text, stop) -> tuple[str, dict]:
        """POST a stream=true chat request; on_text gets each content delta. Returns (text, usage)."""
        payload = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        pieces: list[str] = []
        usage: dict = {}
        stream = TextStream(on_text, stop)  # servers cut at stop strings; this guards those that do not

        def on_event(event: dict) -> None:
            if isinstance(event.get("usage"), dict):
                usage.update(event["usage"])
            for choice in event.get("choices") or []:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                content = delta.get("content") if isinstance(delta, dict) else None
                if isinstance(content, str) and content:
                    pieces.append(content)
                    stream.feed("".join(pieces))

        self._request("POST", "/chat/completions", payload, on_event=on_event)
        text, _ = truncate_at_stop("".join(pieces), stop)
        stream.finish(text)
        return text, usage

    def score(self, prompt, continuations, *, frames=None) -> list[float]:
        continuations = validate_continuations(continuations)
        if not continuations:
            return []
        if frames is not None:
            return self._score_with_images(prompt, continuations, frames)
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

    def _score_with_images(self, prompt, continuations: list[str], frames) -> list[float]:
        """Score with the frames as image parts: per candidate one chat request (vLLM's extension:
        the candidate as a final assistant message, continue_final_message=true, prompt_logprobs=0),
        summing the logprobs of the prompt's last tokens that spell the candidate."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else validate_messages(prompt)
        wired = self._wire_messages(messages, frames)
        scores = []
        for continuation in continuations:
            payload = {"model": self.model, "messages": wired + [{"role": "assistant", "content": continuation}],
                       "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0,
                       "add_generation_prompt": False, "continue_final_message": True}
            try:
                body = self._request("POST", "/chat/completions", payload)
            except LanguageModelError as error:
                if isinstance(error, BackendUnavailableError):
                    raise
                raise ScoringNotSupportedError(_IMAGE_SCORING_HELP.format(url=self.base_url, problem=error)) from error
            entries = body.get("prompt_logprobs") if isinstance(body, dict) else None
            if not isinstance(entries, list) or not entries:
                raise ScoringNotSupportedError(_IMAGE_SCORING_HELP.format(
                    url=self.base_url, problem="the answer has no prompt_logprobs"))
            scores.append(_tail_logprob(entries, continuation, self.base_url))
        return scores

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


_IMAGE_SCORING_HELP = (
    "{url} cannot score candidates with images ({problem}). Scoring with frames needs vLLM's chat "
    "extension (prompt_logprobs with continue_final_message, served by vLLM and by "
    "python -m videothought.agent.llm.server); llama.cpp and Ollama do not offer it. Use send_images=False "
    "to score on text alone.")


def _tail_logprob(entries: list, continuation: str, where: str) -> float:
    """Sum the logprobs of the last prompt tokens whose decoded text covers `continuation`. Each
    entry is None or {token id: {"logprob", "decoded_token", ...}} (vLLM's prompt_logprobs with 0
    extra candidates: the prompt token itself); a token straddling the boundary counts."""
    total, covered = 0.0, ""
    for entry in reversed(entries):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ScoringNotSupportedError(
                f"{where}: prompt_logprobs ran out (or held {len(entry) if isinstance(entry, dict) else entry!r} "
                f"entries) before covering the candidate {continuation!r}")
        (value,) = entry.values()
        if not isinstance(value, dict) or not isinstance(value.get("logprob"), (int, float)):
            raise ScoringNotSupportedError(f"{where}: a prompt_logprobs entry has no logprob: {str(entry)[:120]}")
        total += float(value["logprob"])
        covered = str(value.get("decoded_token") or "") + covered
        if len(covered) >= len(continuation):
            return total
    raise ScoringNotSupportedError(f"{where}: prompt_logprobs do not cover the candidate {continuation!r}")


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
