"""Tokens as they come: our server's server-sent events read by the official `openai` client,
the HTTP backend consuming a stream, and the local / video / fake backends' `on_text`."""

from __future__ import annotations

import threading
import time

import openai
import pytest

from videothought.agent.llm import FakeLanguageModel, Generation, LanguageModelError
from videothought.agent.llm.http import HTTPLanguageModel
from videothought.agent.llm.protocol import TextStream, call_generate
from videothought.agent.llm.server import LLMServer

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where does the red car go?"}]


@pytest.fixture
def fake_server():
    fake = FakeLanguageModel(replies=["It turns left.", "Then it stops."])
    with LLMServer(fake, model_name="fake-1") as server:
        yield fake, server


def official_client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=30)


def test_the_openai_client_chats_with_our_server(fake_server):
    _, server = fake_server
    client = official_client(server)
    assert [m.id for m in client.models.list()] == ["fake-1"]
    reply = client.chat.completions.create(model="fake-1", messages=CHAT, max_tokens=16)
    assert reply.choices[0].message.content == "It turns left." and reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens == 4 and reply.usage.total_tokens == reply.usage.prompt_tokens + 4


def test_the_openai_client_reads_our_stream(fake_server):
    _, server = fake_server
    client = official_client(server)
    chunks = list(client.chat.completions.create(model="fake-1", messages=CHAT, stream=True,
                                                 stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == ["It", " turns", " left", "."]  # token by token, not one block
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    # raw completions stream too
    completion = list(client.completions.create(model="fake-1", prompt="Once", max_tokens=3, stream=True))
    assert "".join(c.choices[0].text for c in completion) == "Then it stops"
    assert completion[-1].choices[0].finish_reason == "length"


def test_a_bad_request_gets_a_400_with_a_clear_message(fake_server):
    _, server = fake_server
    client = official_client(server)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="fake-1", messages=[{"role": "robot", "content": "hi"}], stream=True)
    assert caught.value.status_code == 400 and "role 'robot'" in str(caught.value)
    with pytest.raises(openai.BadRequestError, match="only n=1"):
        client.chat.completions.create(model="fake-1", messages=CHAT, n=2)
    assert client.chat.completions.create(model="fake-1", messages=CHAT).choices[0].message.content  # still serving


class Handshake:
    """Emits one piece, then waits until the client has seen it before finishing: a server that
    buffered the reply would make it wait in vain (`seen_in_time` stays False)."""

    name = "handshake"

    def __init__(self):
        self.client_saw_first_piece = threading.Event()
        self.seen_in_time = None

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None, on_text=None):
        on_text("Hello")
        self.seen_in_time = self.client_saw_first_piece.wait(timeout=10)
        on_text(" world")
        return Generation("Hello world", 3, 2, 0.0)

    def score(self, prompt, continuations):
        return [0.0] * len(continuations)

    def count_tokens(self, text):
        return len(text.split())


def test_pieces_reach_the_client_while_the_model_is_still_generating():
    lm = Handshake()
    with LLMServer(lm) as server:
        pieces = []
        for chunk in official_client(server).chat.completions.create(model="handshake", messages=CHAT, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                lm.client_saw_first_piece.set()
    assert pieces == ["Hello", " world"] and lm.seen_in_time is True


class FailsMidway(Handshake):
    def generate(self, messages, *, on_text=None, **kwargs):
        on_text("Partial")
        raise LanguageModelError("the model ran out of memory")


def test_a_failure_mid_stream_is_reported_in_the_stream():
    with LLMServer(FailsMidway()) as server:
        with pytest.raises(openai.APIError, match="ran out of memory"):
            list(official_client(server).chat.completions.create(model="handshake", messages=CHAT, stream=True))
        client = HTTPLanguageModel(server.url, max_retries=2, retry_backoff_seconds=0.01)
        seen = []
        with pytest.raises(LanguageModelError, match="failed mid-stream.*ran out of memory"):
            client.generate(CHAT, on_text=seen.append)
        assert seen == ["Partial"]


def test_the_http_backend_consumes_a_stream(fake_server):
    fake, server = fake_server
    client = HTTPLanguageModel(server.url, max_retries=0)
    pieces: list[str] = []
    generation = client.generate(CHAT, on_text=pieces.append)
    assert pieces == ["It", " turns", " left", "."] and generation.text == "It turns left."
    assert generation.completion_tokens == 4  # from the stream's usage chunk
    pieces.clear()
    assert client.generate(CHAT, stop=["stops"], on_text=pieces.append).text == "Then it "
    assert "".join(pieces) == "Then it "


def test_text_stream_holds_back_stop_strings_and_split_characters():
    pieces: list[str] = []
    stream = TextStream(pieces.append, stop=["STOP"])
    for so_far in ["He", "Hello S", "Hello ST", "Hello world \ufffd", "Hello world é", "Hello world é STOP and more"]:
        stream.feed(so_far)
    stream.finish("Hello world é ")
    assert "".join(pieces) == "Hello world é " and all("S" not in p for p in pieces)
    assert stream.stopped


def test_call_generate_streams_from_a_backend_that_cannot():
    class Plain:
        name = "plain"

        def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None):
            return Generation("all at once", 1, 3, 0.0)

    pieces: list[str] = []
    assert call_generate(Plain(), CHAT, on_text=pieces.append, frames=object()).text == "all at once"
    assert pieces == ["all at once"]


def test_the_tiny_video_lm_streams():
    from videothought.agent.llm.video import tiny_random_video_lm

    lm = tiny_random_video_lm(seed=0)
    pieces: list[str] = []
    streamed = lm.generate(CHAT, max_new_tokens=6, on_text=pieces.append)
    assert "".join(pieces) == streamed.text == lm.generate(CHAT, max_new_tokens=6).text
    assert len(pieces) >= 2


@pytest.mark.slow
def test_the_embedded_model_streams_through_our_server_to_the_openai_client(smollm, chat):
    pieces: list[str] = []
    local = smollm.generate(chat, max_new_tokens=12, on_text=pieces.append)
    assert "".join(pieces) == local.text == smollm.generate(chat, max_new_tokens=12).text and len(pieces) >= 3
    with LLMServer(smollm) as server:
        started, first_piece_at, remote = time.perf_counter(), None, []
        for chunk in official_client(server).chat.completions.create(model=smollm.name, messages=chat, max_tokens=12,
                                                                     stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                first_piece_at = first_piece_at or time.perf_counter() - started
                remote.append(chunk.choices[0].delta.content)
        total = time.perf_counter() - started
    assert "".join(remote) == local.text and len(remote) >= 3
    assert first_piece_at < total  # the first piece came before the reply was complete
