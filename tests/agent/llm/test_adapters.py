"""peft LoRA adapters per node on the real SmolLM2, with tiny adapters made here."""

from __future__ import annotations

from pathlib import Path

import pytest

from videothought.agent.llm import LanguageModelError, ModelNotFoundError, adapter_scope, load_language_model
from videothought.agent.llm.embedded import embedded_checkpoint_dir
from videothought.agent.llm.local import LocalLanguageModel

PROMPT = [{"role": "user", "content": "Is the man riding a bike? Answer yes or no."}]
CANDIDATES = ["Yes.", "No.", "Maybe later."]
SCALE_B = 1.0  # peft random init is already a visible change; a larger B makes the 30 layers chaotic


def make_lora(base_dir: Path, out_dir: Path, seed: int) -> Path:
    """A rank-2 LoRA on q/v projections with random (non-zero) A and B, saved as safetensors."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=2, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, config)
    with torch.no_grad():  # make the adapter's effect clearly visible in the scores
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.mul_(SCALE_B)
    model.save_pretrained(out_dir, safe_serialization=True)
    assert (out_dir / "adapter_model.safetensors").is_file()
    return out_dir


@pytest.fixture(scope="module")
def adapters(smollm, tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapters")
    base_dir = embedded_checkpoint_dir()
    return {"rank_answers": make_lora(base_dir, folder / "rank", seed=1),
            "verify": make_lora(base_dir, folder / "verify", seed=2)}


@pytest.fixture(scope="module")
def adapted(adapters):
    return load_language_model("embedded", adapters=adapters, dtype="float32")


def test_adapters_load_inactive_and_activate_by_name(smollm, adapted):
    assert isinstance(adapted, LocalLanguageModel)
    assert adapted.adapter_names == ("rank_answers", "verify") and adapted.active_adapter is None
    base = smollm.score(PROMPT, CANDIDATES)
    assert adapted.score(PROMPT, CANDIDATES) == pytest.approx(base, abs=1e-4)  # inactive = the base model
    adapted.use_adapter("rank_answers")
    rank = adapted.score(PROMPT, CANDIDATES)
    adapted.use_adapter("verify")
    verify = adapted.score(PROMPT, CANDIDATES)
    adapted.use_adapter(None)
    assert adapted.score(PROMPT, CANDIDATES) == pytest.approx(base, abs=1e-4)
    assert max(abs(a - b) for a, b in zip(rank, base)) > 0.05
    assert max(abs(a - b) for a, b in zip(verify, rank)) > 0.05


def test_active_adapter_equals_the_merged_model(adapted, adapters):
    """The scores with an adapter active equal a model with that LoRA merged into its weights."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir = embedded_checkpoint_dir()
    merged = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), str(adapters["verify"])
    ).merge_and_unload()
    reference = LocalLanguageModel(merged, AutoTokenizer.from_pretrained(base_dir), name="merged")
    with adapter_scope(adapted, "verify") as active:
        assert active is True and adapted.active_adapter == "verify"
        scores = adapted.score(PROMPT, CANDIDATES)
    assert adapted.active_adapter is None  # restored
    assert scores == pytest.approx(reference.score(PROMPT, CANDIDATES), abs=1e-3)


def test_adapter_scope_restores_the_previous_adapter_even_on_error(adapted):
    adapted.use_adapter("rank_answers")
    with pytest.raises(RuntimeError, match="boom"):
        with adapter_scope(adapted, "verify"):
            assert adapted.active_adapter == "verify"
            raise RuntimeError("boom")
    assert adapted.active_adapter == "rank_answers"
    with adapter_scope(adapted, "identify_targets") as active:  # no such adapter: left as is
        assert active is False and adapted.active_adapter == "rank_answers"
    adapted.use_adapter(None)


def test_adapter_errors(adapted, adapters, tmp_path):
    with pytest.raises(LanguageModelError, match="no adapter named 'nope'"):
        adapted.use_adapter("nope")
    with pytest.raises(LanguageModelError, match="already loaded"):
        adapted.add_adapter("verify", adapters["verify"])
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "adapter_config.json").write_text((adapters["verify"] / "adapter_config.json").read_text())
    (pickled / "adapter_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelNotFoundError, match="no adapter_model.safetensors"):
        adapted.add_adapter("pickled", pickled)
    with pytest.raises(ModelNotFoundError, match="no adapter_config.json"):
        adapted.add_adapter("missing", tmp_path / "nowhere")
