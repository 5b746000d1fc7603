"""Faster embedded decoding (issue 28): the lean decode loop, shared prompt prefixes, the int4
runtime, and `vot bench llm` on the tiny model (llama.cpp skipped, and said so)."""

from __future__ import annotations

import json
import os

import pytest
import torch

from videothought.agent.llm import LanguageModelError
from videothought.agent.llm.bench import LLAMA_CPP_MISSING, tiny_language_model
from videothought.agent.llm.local import RUNTIME_ENV, LocalLanguageModel, embedded_runtime, resolve_runtime
from videothought.agent.llm.quantized import Int4Linear, int4_available
from videothought.agent.llm.shared_prefix import PrefixCache, _cache_prefix

SYSTEM = "You answer questions about a video. Be brief and literal."
FACTS = "Video facts:\n" + "\n".join(f"At {t}.0s the red ball rolls left of the blue box {t}." for t in range(6))
QUESTIONS = ["Question: which object moves first?\nAnswer:", "Question: what does the red ball do?\nAnswer:",
             "Question: how many boxes are there?\nAnswer:"]
CHATS = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{FACTS}\n{q}"}] for q in QUESTIONS]
OPTIONS = [" the red ball", " the blue box", " nothing", " it rolls left and stops near the box"]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 24},
                                           "count": {"type": "integer", "minimum": 0, "maximum": 9}},
          "required": ["answer", "count"], "additionalProperties": False}
# A decode step through the 4-bit path: the 4-bit codes are exact (Q4_1 blocks); activations, scales and
# zeros are bfloat16 (8 bits of mantissa). Measured: 0.06 nats on the tiny model, 0.022 on SmolLM2 (32 tokens).
INT4_DECODE_TOLERANCE = 0.1  # nats per token


@pytest.fixture(scope="module")
def cached():
    return tiny_language_model("float32", prefix_cache_entries=4)


@pytest.fixture(scope="module")
def fresh():
    """The same weights, every call encoding its whole prompt."""
    return tiny_language_model("float32", prefix_cache_entries=0)


@pytest.fixture(scope="module")
def int4():
    return tiny_language_model("int4")


# ----------------------------------------------------------------------------- the decode loop


def test_greedy_decoding_equals_transformers_generate(fresh):
    for chat in CHATS[:2]:
        prompt_ids = fresh.encode(fresh.render(chat))
        ids = torch.tensor([prompt_ids])
        with torch.inference_mode():
            expected = fresh.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                            max_new_tokens=24, eos_token_id=sorted(fresh.end_token_ids()),
                                            pad_token_id=fresh.tokenizer.pad_token_id, top_p=None, top_k=None,
                                            temperature=None)[0, len(prompt_ids):].tolist()
        got = fresh._decode(prompt_ids, max_new_tokens=24, temperature=0.0, seed=None, stop=None, stream=None)
        assert got == expected
        generation = fresh.generate(chat, max_new_tokens=24)
        assert generation.text == fresh.tokenizer.decode(expected, skip_special_tokens=True)
        assert generation.completion_tokens == len(expected)


def test_stop_strings_streaming_and_seeded_sampling(fresh):
    chat = CHATS[0]
    full = fresh.generate(chat, max_new_tokens=24)
    cut_at = next(character for character in full.text[3:] if not character.isspace())
    pieces = []
    stopped = fresh.generate(chat, max_new_tokens=24, stop=[cut_at], on_text=pieces.append)
    assert stopped.text == full.text[: full.text.index(cut_at)] and "".join(pieces) == stopped.text
    assert stopped.completion_tokens < full.completion_tokens  # it stopped decoding, not just cut the text
    first, again = (fresh.generate(chat, max_new_tokens=16, temperature=1.0, seed=3) for _ in range(2))
    other = fresh.generate(chat, max_new_tokens=16, temperature=1.0, seed=4)
    assert first.text == again.text and other.text != first.text
    with pytest.raises(LanguageModelError, match="prompt is empty"):
        fresh.complete("", max_new_tokens=2)


# ----------------------------------------------------------------------------- shared prefixes


def test_a_reused_prefix_gives_the_same_logits(fresh):
    """The KV of the first n tokens, cut from one forward and reused by another, gives the logits a
    whole forward gives (positions n..P-1), to float rounding."""
    first, second = (fresh.encode(fresh.render(chat)) for chat in CHATS[:2])
    common = next(i for i, (a, b) in enumerate(zip(first, second)) if a != b)
    assert common > 50  # the system text and the facts
    with torch.inference_mode():
        whole = fresh.model(input_ids=torch.tensor([second])).logits[0]  # (P, V)
        kept = fresh.model(input_ids=torch.tensor([first]), use_cache=True).past_key_values
        prefix = _cache_prefix(kept, common)
        rest = fresh.model(input_ids=torch.tensor([second[common:]]), past_key_values=prefix,
                           use_cache=True).logits[0]  # (P - n, V)
    assert prefix.get_seq_length() == len(second)  # it grew by the fed tokens; the kept entry did not
    assert kept.get_seq_length() == len(first)
    torch.testing.assert_close(rest, whole[common:], atol=1e-5, rtol=1e-5)


def test_calls_about_one_question_reuse_the_prefix_and_give_the_same_results(cached, fresh, monkeypatch):
    cached.prefix_cache.clear()
    fed = []
    original = cached.model.forward

    def counting_forward(*args, **kwargs):
        fed.append(kwargs["input_ids"].shape[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(cached.model, "forward", counting_forward)
    prompt_tokens = [cached.count_tokens(cached.render(chat)) for chat in CHATS]
    option_tokens = sum(cached.count_tokens(o) for o in OPTIONS)

    assert cached.score(CHATS[0], OPTIONS) == pytest.approx(fresh.score(CHATS[0], OPTIONS), abs=1e-5)
    assert fed == [prompt_tokens[0] + option_tokens]  # nothing kept yet: the whole prompt, once
    assert cached.score(CHATS[1], OPTIONS) == pytest.approx(fresh.score(CHATS[1], OPTIONS), abs=1e-5)
    assert fed[1] < prompt_tokens[1] // 4 + option_tokens  # only what follows the shared system text + facts
    assert cached.prefix_cache.hits == 1 and cached.prefix_cache.reused_tokens > 50

    assert cached.generate(CHATS[2], max_new_tokens=12).text == fresh.generate(CHATS[2], max_new_tokens=12).text
    assert cached.generate(CHATS[2], max_new_tokens=12).text == fresh.generate(CHATS[2], max_new_tokens=12).text
    written = cached.generate(CHATS[1], json_schema=SCHEMA, max_new_tokens=48)
    assert written.text == fresh.generate(CHATS[1], json_schema=SCHEMA, max_new_tokens=48).text
    assert set(json.loads(written.text)) == {"answer", "count"}
    assert cached.prefix_cache.hits >= 4 and len(cached.prefix_cache) <= cached.prefix_cache.capacity


def test_prefix_cache_keeps_recent_prompts_and_drops_the_ones_a_longer_prompt_covers():
    cache = PrefixCache(capacity=2, min_tokens=2)
    kv = _kv(12)
    assert cache.store("base", list(range(10)), kv)
    assert cache.store("base", list(range(12)), kv) and len(cache) == 1  # 0..9 is a prefix of 0..11
    assert cache.store("base", [5, 5, 5, 5], kv) and cache.store("adapter", list(range(12)), kv)
    assert len(cache) == 2  # the oldest went
    found, length = cache.lookup("adapter", list(range(8)) + [99])
    assert length == 8 and found.get_seq_length() == 8
    assert cache.lookup("other", list(range(12)))[0] is None  # another scope never reads it
    assert cache.lookup("adapter", list(range(12)))[1] == 11  # the last prompt token is always fed
    assert cache.lookup("adapter", [0, 7, 7])[0] is None  # under min_tokens
    small = PrefixCache(capacity=4, min_tokens=2, max_tokens=20)
    assert small.store("s", list(range(12)), kv) and small.store("s", [7] * 9, kv) and len(small) == 1  # 21 > 20
    assert not small.store("s", list(range(21)), _kv(21)) and len(small) == 1  # one prompt over the budget


def _kv(length: int):
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=[(torch.randn(1, 2, length, 4), torch.randn(1, 2, length, 4))])


def test_the_prefix_cache_is_scoped_by_adapter_and_by_the_weights(tmp_path):
    from peft import LoraConfig, get_peft_model

    base = tiny_language_model("float32").model
    torch.manual_seed(5)
    peft_model = get_peft_model(base, LoraConfig(r=2, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "lora", safe_serialization=True)
    lm = tiny_language_model("float32", prefix_cache_entries=4)
    lm.add_adapter("rank_answers", tmp_path / "lora")

    def without_reuse():
        saved, lm.prefix_cache = lm.prefix_cache, None
        try:
            return lm.score(CHATS[1], OPTIONS)
        finally:
            lm.prefix_cache = saved

    lm.score(CHATS[0], OPTIONS)  # the base's KV of the shared prefix is kept
    base_scores = lm.score(CHATS[1], OPTIONS)
    lm.use_adapter("rank_answers")
    adapted = lm.score(CHATS[1], OPTIONS)
    assert adapted == pytest.approx(without_reuse(), abs=1e-5)
    assert max(abs(a - b) for a, b in zip(adapted, base_scores)) > 1e-3  # the adapter changes them
    lm.use_adapter(None)
    assert lm.score(CHATS[1], OPTIONS) == pytest.approx(base_scores, abs=1e-5)
    with torch.no_grad():
        lm.model.get_base_model().model.layers[0].mlp.down_proj.weight.mul_(1.5)  # weights changed in place
    changed = lm.score(CHATS[1], OPTIONS)
    assert changed == pytest.approx(without_reuse(), abs=1e-5)
    assert max(abs(a - b) for a, b in zip(changed, base_scores)) > 1e-3


# ----------------------------------------------------------------------------- the int4 runtime


def test_int4_codes_are_exact_and_scores_unchanged_and_decode_within_tolerance(fresh, int4):
    layers = [m for m in int4.model.modules() if isinstance(m, Int4Linear)]
    assert len(layers) == 2 * 7 and all(layer.max_error == 0.0 for layer in layers)  # every Linear but lm_head
    assert type(int4.model.lm_head) is torch.nn.Linear
    for chat in CHATS:
        assert int4.score(chat, OPTIONS) == fresh.score(chat, OPTIONS)  # the float32 weights: identical
    prompt_ids = fresh.encode(fresh.render(CHATS[0]))
    reply = fresh._decode(prompt_ids, max_new_tokens=24, temperature=0.0, seed=None, stop=None, stream=None)
    expected, got = fresh.stepwise_logprobs(prompt_ids, reply), int4.stepwise_logprobs(prompt_ids, reply)
    assert max(abs(a - b) for a, b in zip(expected, got)) <= INT4_DECODE_TOLERANCE
    assert expected != got  # the 4-bit path did run (bfloat16 activations round)
    written = int4.generate(CHATS[1], json_schema=SCHEMA, max_new_tokens=48)
    assert set(json.loads(written.text)) == {"answer", "count"}
    assert not any(layer.decoding for layer in layers)  # the 4-bit path is off outside decoding


def test_int4_keeps_lora_in_float32_and_adapters_switch(tmp_path):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(6)
    peft_model = get_peft_model(tiny_language_model("float32").model,
                                LoraConfig(r=2, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "lora", safe_serialization=True)
    plain = tiny_language_model("float32")
    plain.add_adapter("verify", tmp_path / "lora")
    model = tiny_language_model("float32").model
    lm = LocalLanguageModel(model, plain.tokenizer, name="tiny-int4", adapters={"verify": tmp_path / "lora"},
                            runtime="int4")
    loras = [name for name, module in lm.model.named_modules() if "lora_A" in name and type(module) is torch.nn.Linear]
    assert loras and isinstance(lm.model.base_model.model.model.layers[0].self_attn.q_proj.base_layer, Int4Linear)
    with_adapter = []
    for candidate in (lm, plain):
        candidate.use_adapter("verify")
        with_adapter.append(candidate.score(CHATS[0], OPTIONS))
        candidate.use_adapter(None)
    assert with_adapter[0] == with_adapter[1]
    assert lm.score(CHATS[0], OPTIONS) != with_adapter[0]
    # An adapter added after quantisation: the 4-bit copies are made again around peft's wrappers.
    lm.add_adapter("another", tmp_path / "lora")
    plain.add_adapter("another", tmp_path / "lora")
    assert lm.runtime == "int4" and isinstance(lm.model.base_model.model.model.layers[0].self_attn.q_proj.base_layer,
                                                 Int4Linear)
    lm.use_adapter("another")
    plain.use_adapter("another")
    assert lm.score(CHATS[0], OPTIONS) == plain.score(CHATS[0], OPTIONS) == with_adapter[1]
    assert lm.generate(CHATS[0], max_new_tokens=6).text == plain.generate(CHATS[0], max_new_tokens=6).text


def test_the_runtime_setting_and_its_errors(monkeypatch, tmp_path):
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    assert resolve_runtime(None) == "torch" and resolve_runtime("int4") == "int4"
    monkeypatch.setenv(RUNTIME_ENV, "int4")
    assert resolve_runtime(None) == "int4"
    monkeypatch.setenv(RUNTIME_ENV, "fast")
    with pytest.raises(LanguageModelError, match=r"\$VIDEOTHOUGHT_LLM_RUNTIME must be one of \['int4', 'torch'\]"):
        resolve_runtime(None)
    with pytest.raises(LanguageModelError, match="runtime must be one of"):
        resolve_runtime("int8")
    with pytest.raises(LanguageModelError, match="dtype='bfloat16' does not fit"):
        LocalLanguageModel.from_pretrained(tmp_path, runtime="int4", dtype="bfloat16")


def test_the_embedded_model_decodes_in_int4_where_it_fits(monkeypatch):
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    expected = "int4" if int4_available() and not torch.cuda.is_available() else "torch"
    assert embedded_runtime("auto") == embedded_runtime("float32") == embedded_runtime(torch.float32) == expected
    assert embedded_runtime("bfloat16") == "torch"  # int4 keeps float32 weights beside its 4-bit copies
    assert resolve_runtime(None, default=embedded_runtime()) == expected
    monkeypatch.setenv(RUNTIME_ENV, "torch")  # the setting still wins
    assert resolve_runtime(None, default=embedded_runtime()) == "torch"


def test_the_default_stack_loads_the_embedded_model_in_int4(monkeypatch):
    from videothought.agent.context import load_lm

    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    monkeypatch.delenv("VIDEOTHOUGHT_LLM", raising=False)
    lm = load_lm(adapters=None)
    assert lm.runtime == embedded_runtime("float32")
    assert LocalLanguageModel.embedded(dtype="bfloat16", prefix_cache_entries=0).runtime == "torch"


def test_int4_on_the_embedded_model(smollm, chat):
    """SmolLM2's Linear weights are the GGUF's Q4_1 blocks: the 4-bit codes are exact, scores are
    the float32 model's, a decode step stays within the tolerance, and the reply is the same."""
    lm = LocalLanguageModel.embedded(runtime="int4", prefix_cache_entries=0)
    layers = [m for m in lm.model.modules() if isinstance(m, Int4Linear)]
    assert len(layers) == 30 * 7 and max(layer.max_error for layer in layers) == 0.0
    options = ["The capital of France is Paris.", "Paris.", "London is in France.", "Berlin."]
    assert lm.score(chat, options) == pytest.approx(smollm.score(chat, options), abs=1e-4)
    reply = smollm.generate(chat, max_new_tokens=16)
    assert lm.generate(chat, max_new_tokens=16).text == reply.text
    prompt_ids = smollm.encode(smollm.render(chat))
    reply_ids = smollm.encode(reply.text)
    expected, got = smollm.stepwise_logprobs(prompt_ids, reply_ids), lm.stepwise_logprobs(prompt_ids, reply_ids)
    assert max(abs(a - b) for a, b in zip(expected, got)) <= INT4_DECODE_TOLERANCE


# ----------------------------------------------------------------------------- the benchmark


def test_vot_bench_llm_runs_on_the_tiny_model_and_shows_the_llama_cpp_skip(monkeypatch, capsys):
    from videothought.cli import main

    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))  # restored after the test
    assert main(["bench", "llm", "--tiny", "--threads", "1", "--repeats", "1", "--new-tokens", "6"]) == 0
    output = capsys.readouterr().out
    result = json.loads(output.strip().splitlines()[-1])
    assert "| llama.cpp | - | - | - | - | skipped: --tiny (a random model has no GGUF) |" in output
    assert result["skipped"] == {"llama.cpp": "skipped: --tiny (a random model has no GGUF)"}
    cells = {(row["backend"], row["condition"]) for row in result["rows"]}
    assert cells == {(b, c) for b in ("ours-float32", "ours-bfloat16", "ours-int4", "transformers")
                     for c in ("idle", "busy")}
    assert all(row["prefill_tokens_per_second"] > 0 and row["decode_tokens_per_second"] > 0 for row in result["rows"])
    assert len(result["load_average_start"]) == 3
    assert result["drift_from_float32"]["int4 vs float32"]["score_max_abs_difference_nats"] == 0.0
    assert result["scoring_5_candidates"]["float32"]["prefix_reused_tokens"] > 50
    assert "ours-int4 1t busy/idle" in result["ratios"]


def test_llama_cpp_missing_is_said_not_faked(monkeypatch):
    import importlib.util

    from videothought.agent.llm import bench

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    assert bench.llama_cpp("prompt") == LLAMA_CPP_MISSING
    assert "pip install 'videothought[bench]'" in LLAMA_CPP_MISSING
