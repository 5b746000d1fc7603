"""The protocol's shared pieces: the fake, the loader, message checks, adapter scopes."""

from __future__ import annotations

import pytest

from videothought.agent.llm import (
    FakeLanguageModel,
    Generation,
    InvalidMessagesError,
    LanguageModel,
    LanguageModelError,
    ModelNotFoundError,
    adapter_scope,
    check_language_model,
    load_language_model,
    render_chatml,
    truncate_at_stop,
    validate_messages,
)
from videothought.agent.llm.protocol import call_generate, call_score

USER = [{"role": "user", "content": "What is the man holding?"}]


def test_fake_replies_in_order_then_repeats_the_last():
    lm = FakeLanguageModel(replies=["a cup", "a phone"])
    assert isinstance(lm, LanguageModel)
    assert [lm.generate(USER).text for _ in range(3)] == ["a cup", "a phone", "a phone"]
    assert [c["kind"] for c in lm.calls] == ["generate"] * 3


def test_fake_reply_callable_stop_and_token_limit():
    lm = FakeLanguageModel(replies=lambda messages: f"You asked: {messages[-1]['content']}")
    generation = lm.generate(USER, max_new_tokens=3)
    assert isinstance(generation, Generation)
    assert generation.text == "You asked:" and generation.completion_tokens == 3
    assert lm.generate(USER, stop=["man"]).text == "You asked: What is the "
    assert generation.to_dict()["prompt_tokens"] == lm.count_tokens(render_chatml(USER))


def test_fake_scores_are_deterministic_and_overridable():
    lm = FakeLanguageModel(scores={"forced": -0.5})
    first = lm.score(USER, ["the man holds a cup", "zebra", "forced"])
    assert first == lm.score(USER, ["the man holds a cup", "zebra", "forced"])
    # "the", "man" occur in the prompt (-1 each); "holds", "a", "cup" do not (-5 each).
    assert first == [-17.0, -5.0, -0.5]
    assert lm.score(USER, []) == []


def test_load_language_model_specs(tmp_path, monkeypatch):
    assert isinstance(load_language_model("fake", replies=["x"]), FakeLanguageModel)
    monkeypatch.setenv("VIDEOTHOUGHT_LLM", "fake")
    assert isinstance(load_language_model(), FakeLanguageModel)
    from videothought.agent.llm.http import HTTPLanguageModel

    client = load_language_model("http://127.0.0.1:9/v1", model="m", timeout_seconds=1)
    assert isinstance(client, HTTPLanguageModel) and client.name == "http:m"  # no connection until used
    with pytest.raises(ModelNotFoundError, match="not 'embedded', 'fake', an http"):
        load_language_model(str(tmp_path / "missing"))
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        load_language_model(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ModelNotFoundError, match="no .safetensors"):
        load_language_model(str(tmp_path))
    (tmp_path / "pytorch_model.bin").write_bytes(b"never unpickled")
    with pytest.raises(ModelNotFoundError, match="pickle checkpoints are not loaded"):
        load_language_model(str(tmp_path))


def test_loading_the_embedded_model_reuses_the_cache(smollm):
    """The default load reads the safetensors cache: float32 weights, decoding with their exact
    4-bit copies where torch's int4 CPU kernel exists (llm/local.py embedded_runtime)."""
    import time

    import torch

    from videothought.agent.llm.local import embedded_runtime

    started = time.perf_counter()
    again = load_language_model("embedded")
    assert again.name == "smollm2-135m-instruct" and again.model.dtype == torch.float32
    assert again.runtime == embedded_runtime()
    assert time.perf_counter() - started < 20  # the GGUF dequantisation alone takes ~25 s
    prompt, candidates = "The capital of France is", [" Paris", " London", " banana"]
    assert again.score(prompt, candidates) == pytest.approx(smollm.score(prompt, candidates), abs=1e-4)


@pytest.mark.parametrize(
    "messages, match",
    [
        ("hello", "got str"),
        ([], "empty"),
        ([("user", "hi")], "tuple, not a dict"),
        ([{"role": "narrator", "content": "hi"}], "role 'narrator'"),
        ([{"role": "user"}], "content of type NoneType"),
        ([{"role": "user", "content": ["image"]}], "content of type list"),
    ],
)
def test_validate_messages(messages, match):
    with pytest.raises(InvalidMessagesError, match=match):
        validate_messages(messages)


def test_truncate_at_stop_takes_the_earliest():
    assert truncate_at_stop("abc. def\nghi", ["\n", "."]) == ("abc", True)
    assert truncate_at_stop("abc", ["x"]) == ("abc", False)
    assert truncate_at_stop("abc", None) == ("abc", False)


def test_adapter_scope_on_a_fake_with_adapters():
    lm = FakeLanguageModel(adapter_names=("rank_answers",))
    with adapter_scope(lm, "rank_answers") as active:
        assert active and lm.active_adapter == "rank_answers"
        lm.generate(USER)
    with adapter_scope(lm, "verify") as active:
        assert not active and lm.active_adapter is None
        lm.generate(USER)
    assert [c["adapter"] for c in lm.calls] == ["rank_answers", None]
    with pytest.raises(LanguageModelError, match="no adapter named 'x'"):
        lm.use_adapter("x")


# ----------------------------------------------------------------------------- check_language_model


class Fits:
    name = "fits"

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None):
        return Generation("x", 1, 1, 0.0)

    def score(self, prompt, continuations):
        return [0.0] * len(continuations)

    def count_tokens(self, text):
        return 1


class NoName(Fits):
    name = None


class NoScore:
    name = "no-score"
    generate, count_tokens = Fits.generate, Fits.count_tokens


class NoStop(Fits):
    def generate(self, messages, *, max_new_tokens=128, temperature=0.0):
        return Generation("x", 1, 1, 0.0)


class OneArgScore(Fits):
    def score(self, candidates):
        return [0.0]


class TokensAttribute(Fits):
    count_tokens = 3


class SaysFramesButTakesNone(Fits):
    accepts_frames = True


class TakesAnything(Fits):
    def generate(self, messages, **kwargs):
        return Generation("x", 1, 1, 0.0)


@pytest.mark.parametrize(
    "lm, match",
    [
        (None, "no language model given"),
        (NoName(), "needs a `name` attribute, a non-empty str; it has None"),
        (NoScore(), r"NoScore does not fit .* has no method `score\(prompt, continuations\)"),
        (NoStop(), r"`generate` lacks the keyword argument\(s\) \['stop'\]"),
        (OneArgScore(), "`score` takes 1 positional argument"),
        (TokensAttribute(), "its `count_tokens` is a int, not a method"),
        (SaysFramesButTakesNone(), "accepts_frames = True but `generate` takes no `frames=`"),
    ],
)
def test_check_language_model_names_what_does_not_fit(lm, match):
    with pytest.raises(LanguageModelError, match=match):
        check_language_model(lm)


def test_fitting_models_pass_the_check_and_loading_checks():
    for lm in (Fits(), TakesAnything(), FakeLanguageModel(), FakeLanguageModel(accepts_frames=True)):
        assert check_language_model(lm) is lm
    with pytest.raises(LanguageModelError, match="`name` attribute"):
        load_language_model("fake", name="")  # load_language_model results go through the check


def test_call_helpers_pass_frames_only_where_accepted():
    import numpy as np

    frames = np.zeros((2, 8, 8, 3), np.uint8)
    assert call_score(Fits(), "p", ["a"], frames=frames) == [0.0]  # a text-only model is never given frames
    vision = FakeLanguageModel(accepts_frames=True)
    call_score(vision, "p", ["a"], frames=frames)
    call_generate(vision, USER, frames=frames)
    assert [c["frames"] for c in vision.calls] == [(2, 8, 8, 3)] * 2
    with pytest.raises(LanguageModelError, match="accepts_frames=False"):
        FakeLanguageModel().generate(USER, frames=frames)  # a fake that does not take frames refuses them
