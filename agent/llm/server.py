"""A small, real OpenAI-compatible HTTP server over any of our LanguageModel backends.

    python -m videothought.agent.llm.server --port 8000                 # the embedded SmolLM2
    python -m videothought.agent.llm.server --model /models/x --port 8000
    vot ask clip.mp4 "..." with VIDEOTHOUGHT_LLM=http://127.0.0.1:8000/v1

    with LLMServer(lm) as server:          # in process, on a free loopback port
        client = HTTPLanguageModel(server.url)

Endpoints (the subset of the OpenAI API our client and vLLM-style scorers use):

    GET  /v1/models                  the one served model
    POST /v1/chat/completions        messages, max_tokens | max_completion_tokens, temperature, stop
    POST /v1/completions             prompt (str or list), max_tokens, temperature, stop;
                                     scoring: echo=true, logprobs=N, max_tokens=0 returns each prompt's
                                     per-token logprobs (all prompts in one batched forward), as vLLM does
    POST /tokenize                   {"prompt": str} -> {"count", "max_model_len"} (vLLM's extension)
    GET  /health

Not served (a 400 that says so): streaming, n > 1, echo with generated tokens.
Errors are OpenAI-shaped: {"error": {"message", "type", "code"}}. Requests are served on
threads, the backend is called under one lock (a torch model is not re-entrant).
Built on the standard library's ThreadingHTTPServer: no extra dependency.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from videothought.agent.llm.protocol import LanguageModel, LanguageModelError, validate_messages

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 << 20  # 8 MiB: far above any prompt we send, small enough to refuse junk


class RequestError(Exception):
    """A request we refuse: becomes an OpenAI-shaped error response with this status."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST, code: str = "invalid_request"):
        super().__init__(message)
        self.status, self.code = status, code


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
    if body.get("stream"):
        raise RequestError("streaming is not supported by this server; send stream=false")
    if body.get("n", 1) not in (1, None):
        raise RequestError(f"only n=1 is supported, got n={body.get('n')!r}")


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

    def models(self) -> dict:
        return {"object": "list", "data": [
            {"id": self.model_name, "object": "model", "created": self.created, "owned_by": "videothought"}
        ]}

    def chat_completions(self, body: dict) -> dict:
        _refuse_unsupported(body)
        try:
            messages = validate_messages(body.get("messages"))
        except LanguageModelError as error:
            raise RequestError(str(error)) from error
        max_tokens = _int_field(body, "max_completion_tokens", _int_field(body, "max_tokens", 128, 1), 1)
        with self.lock:
            generation = self.lm.generate(
                messages, max_new_tokens=max_tokens, temperature=_temperature_field(body), stop=_stop_field(body)
            )
        finish = "length" if generation.completion_tokens >= max_tokens else "stop"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": generation.text},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": generation.prompt_tokens, "completion_tokens": generation.completion_tokens,
                      "total_tokens": generation.prompt_tokens + generation.completion_tokens},
        }

    def completions(self, body: dict) -> dict:
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
            return {"id": ident, "object": "text_completion", "created": created, "model": self.model_name,
                    "choices": self._echo_logprobs(prompts, logprobs), "usage": None}
        if echo:
            raise RequestError("echo=true is only supported with max_tokens=0 (prompt scoring)")
        complete = getattr(self.lm, "complete", None)
        if complete is None:
            raise RequestError(f"the backend {self.model_name!r} only serves chat; use /v1/chat/completions")
        choices, prompt_tokens, completion_tokens = [], 0, 0
        for index, prompt in enumerate(prompts):
            with self.lock:
                generation = complete(prompt, max_new_tokens=max_tokens, temperature=_temperature_field(body),
                                      stop=_stop_field(body))
            prompt_tokens += generation.prompt_tokens
            completion_tokens += generation.completion_tokens
            choices.append({"index": index, "text": generation.text, "logprobs": None,
                            "finish_reason": "length" if generation.completion_tokens >= max_tokens else "stop"})
        return {"id": ident, "object": "text_completion", "created": created, "model": self.model_name,
                "choices": choices, "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                              "total_tokens": prompt_tokens + completion_tokens}}

    def _echo_logprobs(self, prompts: list[str], logprobs: int | None) -> list[dict]:
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
        return choices

    def tokenize(self, body: dict) -> dict:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise RequestError("'prompt' must be a string")
        with self.lock:
            count = self.lm.count_tokens(prompt)
        return {"count": count, "max_model_len": getattr(self.lm, "max_context_tokens", None)}


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

    def _error(self, status: HTTPStatus, message: str, code: str) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._send(status, {"error": {"message": message, "type": kind, "code": code}})

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

    def _dispatch(self, routes: dict) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        handler = routes.get(path)
        try:
            if handler is None:
                raise RequestError(f"no route {self.command} {path}", HTTPStatus.NOT_FOUND, "not_found")
            self._send(HTTPStatus.OK, handler())
        except RequestError as error:
            self._error(error.status, str(error), error.code)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m videothought.agent.llm.server", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a model spec for load_language_model (default: embedded)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--served-name", default=None, help="the model id reported by /v1/models")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    from videothought.agent.llm import load_language_model

    if args.model and args.model.startswith(("http://", "https://")):
        parser.exit(2, "llm_server: refusing to proxy another HTTP server; give a local model spec\n")
    try:
        lm = load_language_model(args.model)
    except LanguageModelError as error:
        parser.exit(2, f"llm_server: {error}\n")
    try:
        server = LLMServer(lm, args.host, args.port, model_name=args.served_name)
    except OSError as error:
        parser.exit(2, f"llm_server: cannot listen on {args.host}:{args.port}: {error}\n")
    # One line on stdout that a parent process can wait for (the port may have been 0).
    print(f"serving {server.model_name} at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
