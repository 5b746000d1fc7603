"""Our OpenAI-compatible server as the OpenAI API behaves: a model it does not serve is refused
with 404 and an OpenAI error object, every answer carries `usage` (scoring answers included),
and `vot llm serve` starts it. Real servers on loopback, read by the official `openai` client."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import openai
import pytest

from videothought.agent.llm import FakeLanguageModel
from videothought.agent.llm.server import LLMServer

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where does the red car go?"}]


@pytest.fixture
def server():
    with LLMServer(FakeLanguageModel(replies=["It turns left."]), model_name="fake-1") as served:
        yield served


def official_client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=30)


def assert_usage(usage: dict, prompt_tokens: int, completion_tokens: int) -> None:
    assert usage == {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                     "total_tokens": prompt_tokens + completion_tokens}


def test_a_model_the_server_does_not_serve_is_refused_with_404(server):
    client = official_client(server.url)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=CHAT)
    error = caught.value.body
    assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error" and error["param"] == "model"
    assert "`gpt-4o` does not exist" in error["message"] and "'fake-1'" in error["message"]
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="fake-2", prompt="Once", max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("text-davinci-003")
    assert client.models.retrieve("fake-1").id == "fake-1"
    # the raw error object, as OpenAI's: {"error": {"message", "type", "param", "code"}}
    response = httpx.post(server.url + "/completions", json={"model": "", "prompt": "x", "max_tokens": 1})
    assert response.status_code == 404 and set(response.json()["error"]) == {"message", "type", "param", "code"}
    response = httpx.post(server.url + "/tokenize", json={"model": "other", "prompt": "x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    response = httpx.post(server.url + "/chat/completions", json={"model": 7, "messages": CHAT})
    assert response.status_code == 400 and "'model' must be a string" in response.json()["error"]["message"]
    # The served name, or none at all (vLLM's default), is answered.
    assert client.chat.completions.create(model="fake-1", messages=CHAT).choices[0].message.content == "It turns left."
    assert httpx.post(server.url + "/chat/completions", json={"messages": CHAT}).status_code == 200


def test_every_answer_carries_usage_scoring_included(server):
    client = official_client(server.url)
    chat = client.chat.completions.create(model="fake-1", messages=CHAT, max_tokens=16)
    assert chat.usage.completion_tokens == 4 and chat.usage.total_tokens == chat.usage.prompt_tokens + 4
    completion = client.completions.create(model="fake-1", prompt="Once upon", max_tokens=2)
    assert_usage(completion.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}), 2, 2)
    # The scoring path (echo, logprobs, max_tokens=0) counts the scored prompts' tokens: 3 + 1 here.
    scored = client.completions.create(model="fake-1", prompt=["a b a", "c"], echo=True, logprobs=1, max_tokens=0)
    assert scored.choices[0].logprobs.tokens == ["a", "b", "a"]
    assert_usage(scored.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}), 4, 0)
    raw = httpx.post(server.url + "/completions", json={"prompt": "x y", "echo": True, "logprobs": 0,
                                                        "max_tokens": 0}).json()
    assert_usage(raw["usage"], 2, 0)


def test_chat_scoring_usage_counts_the_context_the_video_and_the_scored_message():
    """vLLM's chat scoring extension (prompt_logprobs with continue_final_message) on the tiny
    random Qwen2-VL: usage is the prompt `generate` would see plus the scored tokens."""
    from tests.conftest import moving_square_frames
    from videothought.agent.llm.http import frames_to_image_parts
    from videothought.agent.llm.server import image_parts_to_frames
    from videothought.agent.llm.video import tiny_random_video_lm

    lm = tiny_random_video_lm(seed=0, model_type="qwen2_vl")
    parts = frames_to_image_parts(moving_square_frames(4))
    sent = image_parts_to_frames([p["image_url"]["url"] for p in parts])
    with LLMServer(lm) as served:
        for content, frames in ([CHAT[-1]["content"], None],
                                [[{"type": "text", "text": CHAT[-1]["content"]}, *parts], sent]):
            messages = [CHAT[0], {"role": "user", "content": content}, {"role": "assistant", "content": " right"}]
            body = httpx.post(served.url + "/chat/completions", timeout=60, json={
                "model": lm.name, "messages": messages, "prompt_logprobs": 0, "continue_final_message": True,
                "max_tokens": 1}).json()
            scored = [entry for entry in body["prompt_logprobs"] if entry is not None]
            prompt = lm.generate(CHAT, frames=frames, max_new_tokens=1).prompt_tokens
            assert_usage(body["usage"], prompt + len(scored), 0)
            assert len(scored) == lm.count_tokens(" right")
    assert prompt > lm.generate(CHAT, max_new_tokens=1).prompt_tokens  # the video's tokens were counted


def test_vot_llm_serve_starts_the_server():
    process = subprocess.Popen(
        [sys.executable, "-m", "videothought.cli", "llm", "serve", "--model", "fake", "--port", "0",
         "--served-name", "fake-x", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("serving fake-x at http://127.0.0.1:"), (line, process.poll())
        client = official_client(line.split(" at ")[1].strip())
        assert [m.id for m in client.models.list()] == ["fake-x"]
        assert client.chat.completions.create(model="fake-x", messages=CHAT).choices[0].message.content == "OK"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="fake", messages=CHAT)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_vot_llm_without_an_action_or_with_a_bad_model_says_what_to_do():
    bare = subprocess.run([sys.executable, "-m", "videothought.cli", "llm"], capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and "ACTION" in bare.stderr and "usage: vot llm" in bare.stderr
    listing = subprocess.run([sys.executable, "-m", "videothought.cli", "--help"], capture_output=True, text=True,
                             timeout=60)
    assert "vot llm serve" in listing.stdout
    bad = subprocess.run([sys.executable, "-m", "videothought.cli", "llm", "serve", "--model", "/no/such/model"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "vot llm serve: " in bad.stderr and "/no/such/model" in bad.stderr
    assert "Traceback" not in bad.stderr
