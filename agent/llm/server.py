"""A small, real OpenAI-compatible HTTP server over any of our LanguageModel backends.

    vot llm serve --model embedded --port 8000                              # the embedded SmolLM2
    vot llm serve --model video:/models/qwen2-vl --port 8000
    python -m videothought.agent.llm.server --model embedded --port 8000    # the same, without the `vot` script
    VIDEOTHOUGHT_LLM=http://127.0.0.1:8000/v1 vot ask clip.mp4 "..."

    with LLMServer(lm) as server:          # in process, on a free loopback port
        client = HTTPLanguageModel(server.url)

Endpoints (the subset of the OpenAI API our client and vLLM-style scorers use):

    GET  /v1/models                  the one served model; GET /v1/models/{id} that model (404 for another)
    POST /v1/chat/completions        messages, max_tokens | max_completion_tokens, temperature, stop, stream,
                                     stream_options.include_usage; content may be a list of parts
                                     ({"type": "text"} and {"type": "image_url"} with base64 data URLs)
                                     when the served model takes frames (a `video:` model): the images,
                                     in order, are the frames it watches. vLLM's scoring extension:
                                     prompt_logprobs=0 with continue_final_message=true returns the
                                     final assistant message's token logprobs (earlier tokens: null).
    POST /v1/completions             prompt (str or list), max_tokens, temperature, stop, stream;
                                     scoring: echo=true, logprobs=N, max_tokens=0 returns each prompt's
                                     per-token logprobs (all prompts in one batched forward), as vLLM does
    POST /tokenize                   {"prompt": str} -> {"count", "max_model_len"} (vLLM's extension)
    GET  /health

stream=true answers with server-sent events as the official `openai` client reads them:
`data: {chunk}` events (object "chat.completion.chunk" or "text_completion"), the reply's pieces
as the backend generates them, then `data: [DONE]`; an error after the stream started is sent as
a `data: {"error": ...}` event.
Not served (a 400 that says so): n > 1, echo with generated tokens, images for a text-only model,
image URLs that are not data URLs (the server fetches nothing).

`model`: a request naming another model than the served one is refused with 404 and code
"model_not_found", as the OpenAI API refuses a model it does not have; a request without `model`
gets the served one (as vLLM does). Every non-streamed answer carries `usage` (prompt_tokens,
completion_tokens, total_tokens): for scoring, the scored prompt's tokens and 0 completion tokens
(a chat scoring request counts the context, the video's tokens and the scored message, as the
backend's `count_prompt_tokens` counts them; a backend without it is counted on the ChatML
rendering of the text). Streams carry it in a last chunk when `stream_options.include_usage` is set.
Errors are OpenAI-shaped: {"error": {"message", "type", "param", "code"}}. Requests are served on
threads, the backend is called under one lock (a torch model is not re-entrant).
Built on the standard library's ThreadingHTTPServer: no extra dependency.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import logging
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from videothought.agent.llm.protocol import (
    takes_keyword,
    LanguageModel,
    LanguageModelError,
    accepts_frames,
    call_generate,
    render_chatml,
    validate_messages,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 << 20  # 32 MiB: 8 frames as JPEG data URLs take ~0.3 MB; small enough to refuse junk
MAX_IMAGES = 64  # frames per request: a Qwen2-VL context holds far fewer at useful sizes


class RequestError(Exception):
    """A request we refuse: becomes an OpenAI-shaped error response with this status."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST, code: str = "invalid_request",
                 param: str | None = None):
        super().__init__(message)
        self.status, self.code, self.param = status, code, param


def _int_field(body: dict, key: str, default: int, low: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise RequestError(f"{key!r} must be an integer >= {low}, got {value!r}")
    return value


def _stop_field(body: dict) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return stop
    raise RequestError(f"'stop' must be a string or a list of strings, got {stop!r}")


def _temperature_field(body: dict) -> float:
    value = body.get("temperature", 0.0)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RequestError(f"'temperature' must be a number >= 0, got {value!r}")
    return float(value)


def _refuse_unsupported(body: dict) -> None:
    if body.get("n", 1) not in (1, None):
        raise RequestError(f"only n=1 is supported, got n={body.get('n')!r}")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(f"'stream' must be true or false, got {stream!r}")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestError(f"'stream_options' must be an object, got {options!r}")


def _include_usage(body: dict) -> bool:
    return bool((body.get("stream_options") or {}).get("include_usage"))


def chat_generation_options(body: dict, frames) -> dict:
    """A chat request's generation options as keyword arguments of the backend's `generate`
    (through `call_generate`): the one place they are read from the request, for the streamed
    and the plain answer alike. A new option (say `response_format`) is read here and passed on."""
    max_tokens = _int_field(body, "max_completion_tokens", _int_field(body, "max_tokens", 128, 1), 1)
    options = {"max_new_tokens": max_tokens, "temperature": _temperature_field(body), "stop": _stop_field(body),
               "frames": frames}
    schema = _json_schema_field(body)
    if schema is not None:
        options["json_schema"] = schema
    if isinstance(body.get("seed"), int) and not isinstance(body.get("seed"), bool):
        options["seed"] = body["seed"]
    return options


def _json_schema_field(body: dict) -> dict | None:
    """The JSON Schema of `response_format: {"type": "json_schema", "json_schema": {"schema": ...}}`
    (OpenAI's structured outputs), None for {"type": "text"} or no response_format. "json_object"
    (any JSON) is the schema {"type": "object"}."""
    response_format = body.get("response_format")
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or "type" not in response_format:
        raise RequestError(f"response_format must be an object with a 'type', got {response_format!r}")
    kind = response_format["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind != "json_schema":
        raise RequestError(f"response_format type must be text, json_object or json_schema, got {kind!r}")
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        raise RequestError("response_format json_schema needs {\"name\": ..., \"schema\": {...}}")
    return spec["schema"]


def image_parts_to_frames(images: list[str]):
    """Base64 data URLs of images -> frames (T, H, W, 3) uint8 RGB, all at the first image's size."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    frames = []
    for position, url in enumerate(images):
        if not url.startswith("data:image/") or ";base64," not in url:
            raise RequestError(f"image {position}: only base64 data URLs (data:image/...;base64,...) are taken; "
                               f"this server fetches nothing, got {url[:40]!r}")
        try:
            raw = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
            image = Image.open(io.BytesIO(raw))
            image = image.convert("RGB")
        except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as error:
            raise RequestError(f"image {position} is not a decodable image: {type(error).__name__}: {error}") from error
        if frames and image.size != (frames[0].shape[1], frames[0].shape[0]):
            image = image.resize((frames[0].shape[1], frames[0].shape[0]), Image.BICUBIC)
        frames.append(np.asarray(image, dtype=np.uint8))
    return np.stack(frames)  # (T, H, W, 3)


def split_content_parts(messages: Any) -> tuple[Any, list[str]]:
    """OpenAI messages whose content may be a list of parts -> (messages with str content, image URLs
    in order). Text parts of one message are joined by newlines."""
    if not isinstance(messages, list):
        return messages, []
    plain, images = [], []
    for position, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            plain.append(message)
            continue
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                if not isinstance(url, str):
                    raise RequestError(f"message {position}: an image_url part needs {{'url': str}}, got {image!r}")
                images.append(url)
            else:
                raise RequestError(f"message {position}: content parts must be 'text' or 'image_url', got {kind!r}")
        plain.append({**message, "content": "\n".join(t for t in texts if t)})
    if len(images) > MAX_IMAGES:
        raise RequestError(f"{len(images)} images in one request; at most {MAX_IMAGES}")
    return plain, images


@dataclass
class EventStream:
    """A streamed answer: `run(emit)` calls emit(event dict) per server-sent event; the handler
    writes each as `data: {json}` and ends with `data: [DONE]`."""

    run: Callable[[Callable[[dict], None]], None]


class LLMServer(ThreadingHTTPServer):
    """An OpenAI-compatible server for one LanguageModel; port 0 picks a free port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, lm: LanguageModel, host: str = "127.0.0.1", port: int = 0, *, model_name: str | None = None):
        super().__init__((host, port), _Handler)
        self.lm = lm
        self.model_name = model_name or getattr(lm, "name", "model")
        self.lock = threading.Lock()
        self.created = int(time.time())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL clients use, ending in /v1."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> LLMServer:
        """Serve on a daemon thread (returns at once)."""
        self._thread = threading.Thread(target=self.serve_forever, name="llm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --------------------------------------------------------------- endpoint logic (JSON in, JSON out)

    def model_card(self) -> dict:
        return {"id": self.model_name, "object": "model", "created": self.created, "owned_by": "videothought"}

    def models(self) -> dict:
        return {"object": "list", "data": [self.model_card()]}

    def model(self, model_id: str) -> dict:
        """GET /v1/models/{id}: the served model, or 404 as for a request that names another."""
        self.check_model({"model": model_id})
        return self.model_card()

    def check_model(self, body: dict) -> None:
        """Refuse a request for a model this server does not serve (404 "model_not_found", as
        the OpenAI API answers); no `model` at all means the served one."""
        model = body.get("model")
        if model is None:
            return
        if not isinstance(model, str):
            raise RequestError(f"'model' must be a string, got {model!r}", param="model")
        if model != self.model_name:
            raise RequestError(f"The model `{model}` does not exist: this server serves {self.model_name!r} "
                               "(GET /v1/models lists it)", HTTPStatus.NOT_FOUND, "model_not_found", param="model")

    def chat_completions(self, body: dict) -> dict | EventStream:
        self.check_model(body)
        _refuse_unsupported(body)
        messages, images = split_content_parts(body.get("messages"))
        frames = None
        if images:
            if not accepts_frames(self.lm):
                raise RequestError(f"the served model {self.model_name!r} is text-only and takes no images; "
                                   "send text content, or serve a video model (--model video:/path)")
            frames = image_parts_to_frames(images)
        try:
            messages = validate_messages(messages)
        except LanguageModelError as error:
            raise RequestError(str(error)) from error
        if body.get("prompt_logprobs") is not None:
            return self._chat_prompt_logprobs(body, messages, frames)
        options = chat_generation_options(body, frames)
        if "json_schema" in options and not takes_keyword(self.lm.generate, "json_schema"):
            raise RequestError(f"response_format json_schema: the served model {self.model_name!r} cannot constrain "
                               "its reply to a schema (its backend takes no json_schema)", param="response_format")
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if body.get("stream"):
            return EventStream(lambda emit: self._stream_chat(emit, messages, options, ident, created,
                                                              _include_usage(body)))
        with self.lock:
            generation = call_generate(self.lm, messages, **options)
        return {
            "id": ident, "object": "chat.completion", "created": created, "model": self.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": generation.text},
                         "finish_reason": _finish(generation, options["max_new_tokens"])}],
            "usage": _usage(generation),
        }

    def _stream_chat(self, emit, messages, options, ident, created, include_usage) -> None:
        def chunk(delta: dict, finish: str | None = None) -> dict:
            event = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": self.model_name,
                     "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                event["usage"] = None
            return event

        emit(chunk({"role": "assistant", "content": ""}))
        with self.lock:
            generation = call_generate(self.lm, messages, on_text=lambda piece: emit(chunk({"content": piece})),
                                       **options)
        emit(chunk({}, _finish(generation, options["max_new_tokens"])))
        if include_usage:
            emit({"id": ident, "object": "chat.completion.chunk", "created": created, "model": self.model_name,
                  "choices": [], "usage": _usage(generation)})

    def _chat_prompt_logprobs(self, body: dict, messages: list[dict], frames) -> dict:
        """vLLM's scoring extension on chat: the final assistant message's tokens' logprobs given
        everything before it (and the images). Earlier prompt tokens are reported as null."""
        _int_field(body, "prompt_logprobs", 0, 0)
        if not body.get("continue_final_message") or messages[-1]["role"] != "assistant":
            raise RequestError("prompt_logprobs is served for scoring only: end the messages with the assistant "
                               "text to score and set continue_final_message=true")
        scorer = getattr(self.lm, "continuation_logprobs", None)
        if scorer is None:
            raise RequestError(f"the backend {self.model_name!r} cannot return chat prompt logprobs; "
                               "score text through /v1/completions with echo=true")
        with self.lock:
            (tokens,) = scorer(messages[:-1], [messages[-1]["content"]], frames=frames)
            context_tokens = self._count_prompt_tokens(messages[:-1], frames)
        entries = [None] + [{str(token_id): {"logprob": value, "decoded_token": text}}
                            for token_id, text, value in tokens]
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                "model": self.model_name, "prompt_logprobs": entries,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "length"}],
                "usage": _token_usage(context_tokens + len(tokens), 0)}

    def _count_prompt_tokens(self, messages: list[dict], frames) -> int:
        """The tokens of the prompt the backend built for these messages (and frames): its own
        count where it offers one, else its tokenizer's count of the ChatML rendering (text only)."""
        counter = getattr(self.lm, "count_prompt_tokens", None)
        if counter is not None:
            return int(counter(messages, frames=frames))
        return int(self.lm.count_tokens(render_chatml(messages)))

    def completions(self, body: dict) -> dict:
        self.check_model(body)
        _refuse_unsupported(body)
        prompts = body.get("prompt")
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
            raise RequestError("'prompt' must be a non-empty string or a list of non-empty strings")
        max_tokens = _int_field(body, "max_tokens", 16, 0)
        logprobs = body.get("logprobs")
        if logprobs is not None and (isinstance(logprobs, bool) or not isinstance(logprobs, int) or logprobs < 0):
            raise RequestError(f"'logprobs' must be an integer >= 0 or null, got {logprobs!r}")
        echo = bool(body.get("echo", False))
        created, ident = int(time.time()), f"cmpl-{uuid.uuid4().hex[:24]}"
        if max_tokens == 0:
            if not echo:
                raise RequestError("max_tokens=0 without echo=true asks for nothing")
            choices, prompt_tokens = self._echo_logprobs(prompts, logprobs)
            return {"id": ident, "object": "text_completion", "created": created, "model": self.model_name,
                    "choices": choices, "usage": _token_usage(prompt_tokens, 0)}
        if echo:
            raise RequestError("echo=true is only supported with max_tokens=0 (prompt scoring)")
        complete = getattr(self.lm, "complete", None)
        if complete is None:
            raise RequestError(f"the backend {self.model_name!r} only serves chat; use /v1/chat/completions")
        options = {"max_new_tokens": max_tokens, "temperature": _temperature_field(body), "stop": _stop_field(body)}
        if body.get("stream"):
            return EventStream(lambda emit: self._stream_completions(emit, complete, prompts, options, ident, created,
                                                                     _include_usage(body)))
        choices, prompt_tokens, completion_tokens = [], 0, 0
        for index, prompt in enumerate(prompts):
            with self.lock:
                generation = complete(prompt, **options)
            prompt_tokens += generation.prompt_tokens
            completion_tokens += generation.completion_tokens
            choices.append({"index": index, "text": generation.text, "logprobs": None,
                            "finish_reason": "length" if generation.completion_tokens >= max_tokens else "stop"})
        return {"id": ident, "object": "text_completion", "created": created, "model": self.model_name,
                "choices": choices, "usage": _token_usage(prompt_tokens, completion_tokens)}

    def _stream_completions(self, emit, complete, prompts, options, ident, created, include_usage) -> None:
        def chunk(index: int, text: str, finish: str | None = None) -> dict:
            event = {"id": ident, "object": "text_completion", "created": created, "model": self.model_name,
                     "choices": [{"index": index, "text": text, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                event["usage"] = None
            return event

        prompt_tokens = completion_tokens = 0
        for index, prompt in enumerate(prompts):
            with self.lock:
                generation = complete(prompt, on_text=lambda piece, index=index: emit(chunk(index, piece)), **options)
            emit(chunk(index, "", _finish(generation, options["max_new_tokens"])))
            prompt_tokens += generation.prompt_tokens
            completion_tokens += generation.completion_tokens
        if include_usage:
            emit({"id": ident, "object": "text_completion", "created": created, "model": self.model_name,
                  "choices": [], "usage": _token_usage(prompt_tokens, completion_tokens)})

    def _echo_logprobs(self, prompts: list[str], logprobs: int | None) -> tuple[list[dict], int]:
        """The choices of an echo request (each prompt's tokens and log-probs) and the number of
        prompt tokens scored, for `usage`."""
        token_logprobs = getattr(self.lm, "token_logprobs", None)
        if token_logprobs is None:
            raise RequestError(f"the backend {self.model_name!r} cannot return prompt logprobs")
        with self.lock:
            per_prompt = token_logprobs(prompts)  # one batched forward for every prompt
        choices = []
        for index, (prompt, tokens) in enumerate(zip(prompts, per_prompt)):
            choices.append({"index": index, "text": prompt, "finish_reason": "length", "logprobs": {
                "tokens": [t for t, _, _ in tokens],
                "token_logprobs": [lp for _, _, lp in tokens],
                "text_offset": [offset for _, offset, _ in tokens],
                "top_logprobs": None if not logprobs else [None] + [{t: lp} for t, _, lp in tokens[1:]],
            }})
        return choices, sum(len(tokens) for tokens in per_prompt)

    def tokenize(self, body: dict) -> dict:
        self.check_model(body)
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise RequestError("'prompt' must be a string")
        with self.lock:
            count = self.lm.count_tokens(prompt)
        return {"count": count, "max_model_len": getattr(self.lm, "max_context_tokens", None)}


def _finish(generation, max_tokens: int) -> str:
    return "length" if generation.completion_tokens >= max_tokens else "stop"


def _token_usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _usage(generation) -> dict:
    return _token_usage(generation.prompt_tokens, generation.completion_tokens)


class _Handler(BaseHTTPRequestHandler):
    server: LLMServer
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses one connection
    # Headers and body leave in separate writes; with Nagle's algorithm and the client's delayed
    # ACK each response then waited ~40 ms on loopback (measured: 50 -> 3.6 ms per fake generate call).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # route access logs to logging, not stderr
        logger.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: HTTPStatus, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: HTTPStatus, message: str, code: str, param: str | None = None) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._send(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})

    def _read_json(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError("a JSON body with a Content-Length header is required", HTTPStatus.LENGTH_REQUIRED)
        if int(length) > MAX_BODY_BYTES:
            raise RequestError(f"the body is {length} bytes, over the {MAX_BODY_BYTES} byte limit",
                               HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RequestError(f"the body is not valid JSON: {error}") from error
        if not isinstance(body, dict):
            raise RequestError(f"the body must be a JSON object, got {type(body).__name__}")
        return body

    def _write_chunk(self, data: bytes) -> None:
        """One piece of a chunked (Transfer-Encoding: chunked) body; b"" ends the body."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_events(self, stream: EventStream) -> None:
        """Server-sent events over a chunked body: `data: {json}\n\n` per event, then `data: [DONE]`."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def emit(event: dict) -> None:
            self._write_chunk(b"data: " + json.dumps(event).encode() + b"\n\n")

        try:
            stream.run(emit)
        except (BrokenPipeError, ConnectionResetError):
            logger.info("the client left in the middle of a stream")
            self.close_connection = True
            return
        except Exception as error:  # noqa: BLE001 - the status line is sent: report in the stream
            if not isinstance(error, (LanguageModelError, RequestError)):
                logger.exception("streamed request %s failed", self.path)
            kind = "invalid_request_error" if isinstance(error, (LanguageModelError, RequestError)) else "server_error"
            emit({"error": {"message": f"{type(error).__name__}: {error}", "type": kind, "param": None, "code": None}})
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _dispatch(self, routes: dict) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        handler = routes.get(path)
        if handler is None and self.command == "GET" and path.startswith("/v1/models/"):
            model_id = urllib.parse.unquote(path[len("/v1/models/"):])
            handler = lambda: self.server.model(model_id)  # noqa: E731
        try:
            if handler is None:
                raise RequestError(f"no route {self.command} {path}", HTTPStatus.NOT_FOUND, "not_found")
            answer = handler()
            if isinstance(answer, EventStream):
                self._send_events(answer)
            else:
                self._send(HTTPStatus.OK, answer)
        except RequestError as error:
            self._error(error.status, str(error), error.code, error.param)
        except LanguageModelError as error:  # the backend refused the request (bad messages, too long, ...)
            self._error(HTTPStatus.BAD_REQUEST, str(error), "backend_refused")
        except Exception as error:  # noqa: BLE001 - a server reports, it does not die
            logger.exception("request %s %s failed", self.command, path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(error).__name__}: {error}", "internal_error")

    def do_GET(self) -> None:
        self._dispatch({"/v1/models": self.server.models, "/health": lambda: {"status": "ok"}})

    def do_POST(self) -> None:
        server = self.server
        self._dispatch({
            "/v1/chat/completions": lambda: server.chat_completions(self._read_json()),
            "/v1/completions": lambda: server.completions(self._read_json()),
            "/tokenize": lambda: server.tokenize(self._read_json()),
            "/v1/tokenize": lambda: server.tokenize(self._read_json()),
        })


# ----------------------------------------------------------------------------- `vot llm serve`


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="a model spec for load_language_model: embedded (the "
                        "default), a local HF folder, video:/path, fake")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free port)")
    parser.add_argument("--served-name", default=None, help="the model id reported by /v1/models and required "
                        "of requests that name one (default: the backend's name)")
    parser.add_argument("--log-level", default="INFO")


def configure(parser: argparse.ArgumentParser) -> None:
    """`vot llm ACTION`: `serve` is the one action."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_serve_options(actions.add_parser(
        "serve", help="serve a model over the OpenAI-compatible HTTP API (chat, completions, scoring, streaming)",
        description="Serve a model over the OpenAI-compatible HTTP API until interrupted."))


def run(args: argparse.Namespace) -> int:
    return serve_command(args, prog=f"vot llm {args.action}")


def serve_command(args: argparse.Namespace, *, prog: str) -> int:
    """Load the model, bind, print one `serving NAME at URL` line, serve until Ctrl-C."""
    import sys

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")  # a no-op under `vot`, which set it up
    logging.getLogger().setLevel(args.log_level.upper())
    from videothought.agent.llm import load_language_model

    if args.model and args.model.startswith(("http://", "https://")):
        print(f"{prog}: refusing to proxy another HTTP server; give a local model spec", file=sys.stderr)
        return 2
    try:
        lm = load_language_model(args.model)
    except LanguageModelError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    try:
        server = LLMServer(lm, args.host, args.port, model_name=args.served_name)
    except OSError as error:
        print(f"{prog}: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    # One line on stdout that a parent process can wait for (the port may have been 0).
    print(f"serving {server.model_name} at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m videothought.agent.llm.server [options]`: `vot llm serve` without the `vot` script."""
    parser = argparse.ArgumentParser(prog="python -m videothought.agent.llm.server", description=__doc__.splitlines()[0])
    add_serve_options(parser)
    return serve_command(parser.parse_args(argv), prog="llm.server")


if __name__ == "__main__":
    raise SystemExit(main())
