"""The local transformers backend on the real shipped SmolLM2-135M-Instruct."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from videothought.agent.llm import LanguageModel, LanguageModelError, adapter_scope
from videothought.agent.llm.embedded import embedded_checkpoint_dir

CANDIDATES = ["The capital of France is Paris.", "Paris.", "London is in France.", "Banana purple seventeen under.",
              "Berlin."]


def test_the_embedded_model_is_the_cached_safetensors_copy(smollm):
    folder = embedded_checkpoint_dir()
    assert (folder / "model.safetensors").is_file()
    source = json.loads((folder / "videothought-source.json").read_text())
    assert source["gguf"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert isinstance(smollm, LanguageModel)
    assert smollm.model.config.num_hidden_layers == 30 and smollm.model.config.hidden_size == 576


def test_generate_answers_and_counts_tokens(smollm, chat):
    generation = smollm.generate(chat, max_new_tokens=12)
    assert "Paris" in generation.text
    rendered = smollm.render(chat)
    assert generation.prompt_tokens == smollm.count_tokens(rendered)
    assert 1 <= generation.completion_tokens <= 12 and generation.latency_seconds > 0
    again = smollm.generate(chat, max_new_tokens=12)
    assert again.text == generation.text  # greedy is deterministic


def test_generate_respects_max_new_tokens_and_stop(smollm):
    prompt = "1, 2, 3, 4, 5,"
    full = smollm.complete(prompt, max_new_tokens=6)
    assert full.completion_tokens == 6  # counting on: no end token within 6
    assert full.text.startswith(" 6,")
    stopped = smollm.complete(prompt, max_new_tokens=6, stop=[","])
    assert stopped.text == " 6"
    assert stopped.completion_tokens < full.completion_tokens  # it stopped generating, not just cut text


def test_batched_scores_equal_one_at_a_time_and_rank_sensibly(smollm, chat):
    batched = smollm.score(chat, CANDIDATES)
    single = [smollm.score(chat, [candidate])[0] for candidate in CANDIDATES]
    assert batched == pytest.approx(single, abs=1e-4)
    assert all(s < 0 for s in batched)
    by_text = dict(zip(CANDIDATES, batched))
    assert by_text["The capital of France is Paris."] > by_text["London is in France."]
    assert by_text["Paris."] > by_text["Berlin."]
    assert by_text["Banana purple seventeen under."] == min(batched)


def test_score_is_one_forward_pass_over_one_copy_of_the_prompt(smollm, chat, monkeypatch):
    calls = []
    original = smollm.model.forward

    def counting_forward(*args, **kwargs):
        calls.append(tuple(kwargs["input_ids"].shape))
        return original(*args, **kwargs)

    monkeypatch.setattr(smollm.model, "forward", counting_forward)
    smollm.prefix_cache.clear()
    first = smollm.score(chat, CANDIDATES)
    prompt_length = smollm.count_tokens(smollm.render(chat))
    continuations = sum(smollm.count_tokens(c) for c in CANDIDATES)
    assert calls == [(1, prompt_length + continuations)]
    # the same prompt again: its KV is reused, only its last token is fed (it predicts each first token)
    assert smollm.score(chat, CANDIDATES) == pytest.approx(first, abs=1e-4)
    assert calls[1] == (1, 1 + continuations)


def test_packed_and_padded_scoring_agree(smollm, chat):
    packed = smollm.score(chat, CANDIDATES)
    smollm.packed_scoring = False
    try:
        padded = smollm.score(chat, CANDIDATES)
    finally:
        smollm.packed_scoring = True
    assert packed == pytest.approx(padded, abs=1e-4)
    # Continuations of very different lengths, one a prefix of another.
    texts = ["Paris", "Paris is the capital and the largest city of France, on the Seine.", "P"]
    packed = smollm.score("Q: capital of France? A:", texts)
    assert packed == pytest.approx([smollm.score("Q: capital of France? A:", [t])[0] for t in texts], abs=1e-4)


def test_score_matches_a_plain_full_logits_forward(smollm):
    """The masked logits_to_keep path equals log_softmax over a full forward of prompt + continuation."""
    import torch

    prompt, continuation = "The sky is", " blue today"
    prompt_ids, continuation_ids = smollm.encode(prompt), smollm.encode(continuation)
    ids = torch.tensor([prompt_ids + continuation_ids])
    with torch.inference_mode():
        logprobs = torch.log_softmax(smollm.model(input_ids=ids).logits[0].float(), dim=-1)  # (T, V)
    expected = sum(float(logprobs[len(prompt_ids) - 1 + i, token]) for i, token in enumerate(continuation_ids))
    assert smollm.score(prompt, [continuation, " green cheese"])[0] == pytest.approx(expected, abs=1e-4)


def test_token_logprobs_give_offsets_and_match_score(smollm):
    prompt, continuation = "The capital of France is", " Paris"
    (tokens,) = smollm.token_logprobs([prompt + continuation])
    assert tokens[0][2] is None and tokens[0][1] == 0
    assert "".join(t for t, _, _ in tokens) == prompt + continuation
    tail = sum(lp for _, offset, lp in tokens if offset >= len(prompt))
    assert tail == pytest.approx(smollm.score(prompt, [continuation])[0], abs=1e-4)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda lm: lm.generate("hello"), "list of"),
        (lambda lm: lm.generate([{"role": "robot", "content": "x"}]), "role 'robot'"),
        (lambda lm: lm.generate([{"role": "user", "content": None}]), "content of type NoneType"),
        (lambda lm: lm.generate([{"role": "user", "content": "x"}], max_new_tokens=0), "max_new_tokens"),
        (lambda lm: lm.score("prompt", []), None),
        (lambda lm: lm.score("prompt", ["ok", ""]), "continuation 1 is empty"),
        (lambda lm: lm.score("prompt", "abc"), "list of strings"),
        (lambda lm: lm.score("", ["x"]), "prompt is empty"),
        (lambda lm: lm.score("word " * 9000, ["x"]), "over the model's context of 8192"),
    ],
)
def test_bad_input_gets_a_clear_error(smollm, call, match):
    if match is None:
        assert call(smollm) == []
        return
    with pytest.raises(LanguageModelError, match=match):
        call(smollm)


def test_adapter_scope_is_a_no_op_without_adapters(smollm, chat):
    before = smollm.score(chat, ["Paris."])
    with adapter_scope(smollm, "rank_answers") as active:
        assert active is False
        assert smollm.score(chat, ["Paris."]) == before


CONVERT_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    import videothought.agent.llm.embedded as embedded

    def fake_convert(gguf, out_dir):
        # The real conversion is exercised by every embedded load; here only the locking matters.
        with open(os.environ["CONVERT_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")
        time.sleep(1.0)
        (Path(out_dir) / "model.safetensors").write_bytes(b"stub")

    embedded._convert_gguf = fake_convert
    print(json.dumps(str(embedded.ensure_embedded_checkpoint())))
""")


def test_concurrent_first_use_converts_once_and_atomically(tmp_path):
    pytest.importorskip("gguf")
    env = {**__import__("os").environ, "VIDEOTHOUGHT_CACHE": str(tmp_path / "cache"),
           "CONVERT_LOG": str(tmp_path / "conversions.log")}
    processes = [subprocess.Popen([sys.executable, "-c", CONVERT_SCRIPT], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-500:] for _, err in outputs]
    folders = {json.loads(out.strip().splitlines()[-1]) for out, _ in outputs}
    target = tmp_path / "cache" / "models" / "smollm2-135m-instruct"
    assert folders == {str(target)}
    assert len((tmp_path / "conversions.log").read_text().split()) == 1  # one process converted
    assert (target / "model.safetensors").read_bytes() == b"stub"
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(".smollm2") and not p.name.endswith(".lock")]
    assert leftovers == []  # no half-written staging folders


@pytest.mark.slow
def test_the_safetensors_copy_equals_the_gguf_model(smollm):
    """The converted cache holds exactly the dequantised GGUF weights (~30 s: the GGUF load)."""
    import torch
    from transformers import AutoModelForCausalLM

    from videothought.agent.llm.embedded import embedded_gguf_path

    gguf = embedded_gguf_path()
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    ids = torch.tensor([smollm.encode("A man rides a red bike across the street.")])
    with torch.inference_mode():
        expected = reference(input_ids=ids).logits
        converted = smollm.model(input_ids=ids).logits
    assert torch.equal(expected, converted)
