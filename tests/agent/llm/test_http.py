"""The OpenAI-compatible client against real servers on loopback: ours (fake and embedded
backends, in process and as a subprocess) and deliberately broken ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from videothought.agent.llm import (
    BackendUnavailableError,
    FakeLanguageModel,
    LanguageModelError,
    ScoringNotSupportedError,
    load_language_model,
)
from videothought.agent.llm.http import HTTPLanguageModel
from videothought.agent.llm.embedded import embedded_checkpoint_dir
from videothought.agent.llm.server import LLMServer

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where does the red car go?"}]


@pytest.fixture
def fake_server():
    fake = FakeLanguageModel(replies=["It turns left.", "Then it stops."])
    with LLMServer(fake, model_name="fake-1") as server:
        yield fake, server


def test_generate_through_the_server(fake_server):
    fake, server = fake_server
    client = load_language_model(server.url, max_retries=0)
    assert isinstance(client, HTTPLanguageModel)
    first = client.generate(CHAT, max_new_tokens=16)
    assert first.text == "It turns left." and client.model == "fake-1" and client.name == "http:fake-1"
    assert first.prompt_tokens == fake.count_tokens("".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in CHAT) + "<|im_start|>assistant\n")
    assert first.completion_tokens == 4 and first.latency_seconds > 0
    assert fake.calls[-1]["messages"] == CHAT  # the messages crossed the wire intact
    assert client.generate(CHAT, stop=["stops"]).text == "Then it "
    assert client.generate(CHAT, max_new_tokens=1).text == "Then"


def test_scores_through_the_server_equal_in_process_scores(fake_server):
    fake, server = fake_server
    client = HTTPLanguageModel(server.url, max_retries=0)
    candidates = [" the red car goes left", "Nothing.", "car car car"]
    assert client.score(CHAT, candidates) == fake.score(CHAT, candidates)
    assert client.score("the cat sat on", [" the mat", " a dog"]) == fake.score("the cat sat on", [" the mat", " a dog"])
    assert client.count_tokens("one two, three") == 4 == fake.count_tokens("one two, three")


def test_openai_wire_format(fake_server):
    _, server = fake_server
    with httpx.Client() as http:
        models = http.get(server.url + "/models").json()
        assert models["data"][0]["id"] == "fake-1" and models["object"] == "list"
        body = http.post(server.url + "/chat/completions", json={"model": "fake-1", "messages": CHAT}).json()
        assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
        assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
        scored = http.post(server.url + "/completions", json={
            "model": "fake-1", "prompt": ["a b a", "c"], "echo": True, "logprobs": 1, "max_tokens": 0}).json()
        first = scored["choices"][0]["logprobs"]
        assert first["tokens"] == ["a", "b", "a"] and first["text_offset"] == [0, 2, 4]
        assert first["token_logprobs"] == [-5.0, -5.0, -1.0]
        assert scored["choices"][1]["text"] == "c"
        completion = http.post(server.url + "/completions", json={"prompt": "Once", "max_tokens": 3}).json()
        assert completion["choices"][0]["text"] == "Then it stops"  # the second scripted reply


@pytest.mark.parametrize(
    "path, payload, status, message",
    [
        ("/chat/completions", {"messages": "hi"}, 400, "list of"),
        ("/chat/completions", {"messages": CHAT, "stream": "yes"}, 400, "'stream' must be true or false"),
        ("/chat/completions", {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}]}]}, 400,
         "text-only and takes no images"),
        ("/chat/completions", {"messages": [{"role": "user", "content": [{"type": "video", "video": "x"}]}]}, 400,
         "must be 'text' or 'image_url'"),
        ("/chat/completions", {"messages": CHAT, "prompt_logprobs": 0}, 400, "served for scoring only"),
        ("/chat/completions", {"messages": CHAT, "n": 3}, 400, "only n=1"),
        ("/chat/completions", {"messages": CHAT, "max_tokens": -1}, 400, "'max_tokens' must be an integer >= 1"),
        ("/chat/completions", {"messages": CHAT, "stop": 5}, 400, "'stop' must be"),
        ("/completions", {"prompt": "", "max_tokens": 0, "echo": True}, 400, "non-empty"),
        ("/completions", {"prompt": "x", "max_tokens": 0}, 400, "asks for nothing"),
        ("/completions", {"prompt": "x", "max_tokens": 2, "echo": True}, 400, "only supported with max_tokens=0"),
        ("/embeddings", {"input": "x"}, 404, "no route"),
    ],
)
def test_server_rejects_bad_requests_with_openai_errors(fake_server, path, payload, status, message):
    _, server = fake_server
    response = httpx.post(server.url + path, json=payload)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_server_rejects_non_json_bodies(fake_server):
    _, server = fake_server
    response = httpx.post(server.url + "/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]


def test_client_reports_4xx_at_once_with_the_servers_message(fake_server):
    fake, server = fake_server
    client = HTTPLanguageModel(server.url, max_retries=3, retry_backoff_seconds=5.0)
    started = time.perf_counter()
    with pytest.raises(LanguageModelError, match="HTTP 400.*role 'robot'"):
        # The client validates messages itself; send a raw bad request through its transport.
        client._request("POST", "/chat/completions", {"messages": [{"role": "robot", "content": "x"}]})
    assert time.perf_counter() - started < 2.0  # no retries (backoff would take >= 5 s)


class ChatOnly:
    """A backend that generates but cannot score: like llama.cpp's or Ollama's OpenAI endpoints."""

    name = "chat-only"

    def __init__(self):
        self.inner = FakeLanguageModel(replies=["hi"])

    def generate(self, *args, **kwargs):
        return self.inner.generate(*args, **kwargs)

    def count_tokens(self, text):
        return self.inner.count_tokens(text)


def test_scoring_against_a_server_that_cannot_score_is_a_clear_error():
    with LLMServer(ChatOnly()) as server:
        client = HTTPLanguageModel(server.url, max_retries=0)
        assert client.generate(CHAT).text == "hi"
        with pytest.raises(ScoringNotSupportedError, match="echo=true, logprobs, max_tokens=0.*cannot return prompt logprobs"):
            client.score(CHAT, ["a", "b"])


# ----------------------------------------------------------------------------- broken servers


class Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, body, delay) and counts requests."""

    protocol_version = "HTTP/1.1"
    script: list = []
    requests: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        type(self).requests.append(json.loads(self.rfile.read(length)))
        status, body, delay = self.script[min(len(self.requests) - 1, len(self.script) - 1)]
        time.sleep(delay)
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    do_GET = do_POST


@pytest.fixture
def scripted():
    def start(script):
        handler = type("Handler", (Scripted,), {"script": script, "requests": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", handler

    servers = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


GOOD_CHAT = json.dumps({"choices": [{"message": {"role": "assistant", "content": "fine"}}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1}})


def test_malformed_json_is_retried_a_bounded_number_of_times(scripted):
    url, handler = scripted([(200, "{this is not json", 0.0)])
    client = HTTPLanguageModel(url, model="m", max_retries=2, retry_backoff_seconds=0.01)
    with pytest.raises(BackendUnavailableError, match=r"failed 3 time\(s\).*the body is not JSON"):
        client.generate(CHAT)
    assert len(handler.requests) == 3


def test_a_500_then_success_recovers(scripted):
    url, handler = scripted([(500, '{"error": {"message": "CUDA out of memory"}}', 0.0), (200, GOOD_CHAT, 0.0)])
    client = HTTPLanguageModel(url, model="m", max_retries=2, retry_backoff_seconds=0.01)
    generation = client.generate(CHAT)
    assert generation.text == "fine" and generation.prompt_tokens == 3 and len(handler.requests) == 2


def test_persistent_500_names_the_servers_message(scripted):
    url, handler = scripted([(500, '{"error": {"message": "CUDA out of memory"}}', 0.0)])
    client = HTTPLanguageModel(url, model="m", max_retries=1, retry_backoff_seconds=0.01)
    with pytest.raises(BackendUnavailableError, match="HTTP 500: CUDA out of memory"):
        client.generate(CHAT)
    assert len(handler.requests) == 2


def test_timeouts_are_bounded(scripted):
    url, handler = scripted([(200, GOOD_CHAT, 1.5)])
    client = HTTPLanguageModel(url, model="m", timeout_seconds=0.3, max_retries=1, retry_backoff_seconds=0.01)
    started = time.perf_counter()
    with pytest.raises(BackendUnavailableError, match="timed out after 0.3 s"):
        client.generate(CHAT)
    assert time.perf_counter() - started < 1.4  # two 0.3 s attempts, not the server's 1.5 s
    assert len(handler.requests) == 2


def test_a_reply_without_content_is_a_clear_error(scripted):
    url, _ = scripted([(200, json.dumps({"choices": []}), 0.0)])
    with pytest.raises(LanguageModelError, match=r"without choices\[0\].message.content"):
        HTTPLanguageModel(url, model="m", max_retries=0).generate(CHAT)


def test_a_scoring_reply_without_logprobs_is_a_clear_error(scripted):
    url, _ = scripted([(200, json.dumps({"choices": [{"index": 0, "text": "a"}, {"index": 1, "text": "b"}]}), 0.0)])
    with pytest.raises(ScoringNotSupportedError, match="did not return prompt logprobs"):
        HTTPLanguageModel(url, model="m", max_retries=0).score("prompt", ["a", "b"])


def test_an_unreachable_server_is_a_clear_error():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = HTTPLanguageModel(f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, retry_backoff_seconds=0.01)
    with pytest.raises(BackendUnavailableError, match=f"127.0.0.1:{port}.*could not connect"):
        client.generate(CHAT)


def test_token_counting_falls_back_to_an_estimate_when_the_server_cannot(scripted):
    url, _ = scripted([(404, '{"error": {"message": "not found"}}', 0.0)])
    client = HTTPLanguageModel(url, model="m", max_retries=0)
    assert client.count_tokens("abcdefghij") == 3  # ceil(10 / 4)


# ----------------------------------------------------------------------------- the real model over HTTP


def test_the_embedded_model_over_http_matches_in_process(smollm):
    with LLMServer(smollm) as server:
        client = HTTPLanguageModel(server.url, tokenizer=str(embedded_checkpoint_dir()), max_retries=0)
        chat = [{"role": "user", "content": "What is the capital of France?"}]
        candidates = ["Paris.", "The capital of France is Paris.", "Banana purple."]
        assert client.score(chat, candidates) == pytest.approx(smollm.score(chat, candidates), abs=1e-4)
        assert client.score("The capital of France is", [" Paris", " London"]) == pytest.approx(
            smollm.score("The capital of France is", [" Paris", " London"]), abs=1e-4)
        remote, local = client.generate(chat, max_new_tokens=8), smollm.generate(chat, max_new_tokens=8)
        assert (remote.text, remote.prompt_tokens, remote.completion_tokens) == (
            local.text, local.prompt_tokens, local.completion_tokens)
        assert client.count_tokens("hello world") == smollm.count_tokens("hello world")


def test_the_server_module_runs_as_a_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "videothought.agent.llm.server", "--model", "fake", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("serving fake at http://127.0.0.1:"), (line, process.poll())
        client = HTTPLanguageModel(line.split(" at ")[1].strip(), max_retries=0)
        assert client.generate(CHAT).text == "OK"
        assert client.score("a b", [" a", " c"]) == [-1.0, -5.0]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_server_module_refuses_a_bad_model_spec():
    result = subprocess.run([sys.executable, "-m", "videothought.agent.llm.server", "--model", "/no/such/model"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "/no/such/model" in result.stderr and "Traceback" not in result.stderr
