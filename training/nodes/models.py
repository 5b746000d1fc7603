"""The base LLM of node post-training and the identity its adapters are bound to.

    model, tokenizer = load_base("embedded")          # SmolLM2-135M-Instruct, float32 (CPU)
    model, tokenizer = load_base("tiny-random")       # CI: a 2-layer random Llama, SmolLM2's tokenizer
    write_adapter_card(folder, base_identity(model, "embedded"), stage="lora", node="rank_answers", ...)
    check_adapter_fits(folder, model)                 # AdapterMismatchError naming what differs

Every adapter folder this package writes holds, next to peft's adapter_config.json and
adapter_model.safetensors, `videothought-adapter.json`: the base model's identity (name,
architecture, hidden size, layers, vocabulary), the stage, the node and the command that
reproduces it. A peft adapter loaded onto a different base either fails deep inside peft
with a shape error or, worse, loads silently when the shapes agree (two 135M models of one
family); the card makes the mismatch an error that names both models.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

ADAPTER_CARD = "videothought-adapter.json"


class AdapterMismatchError(ValueError):
    """An adapter (or projector) that does not belong to the model it is loaded onto."""


def load_tokenizer(spec: str):
    """The tokenizer of a recipe's base_model (the embedded one for "embedded" and "tiny-random")."""
    from transformers import AutoTokenizer

    from videothought.agent.llm.embedded import embedded_tokenizer

    if spec in ("embedded", "tiny-random"):
        return embedded_tokenizer()
    tokenizer = AutoTokenizer.from_pretrained(Path(spec))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def base_dtype_here(dtype: str) -> str:
    """The dtype the frozen base loads in: `dtype`, except "bfloat16" on a CPU without bf16 units (no
    AVX-512 or AMX, as torch dispatches them), which emulates bf16 matmuls 63x slower than float32 (an
    AVX2 EPYC measured here: 2048x576 @ 576x1536, one thread). There it is "float32", with a warning:
    the same adapter, sooner. LoRA weights are float32 either way."""
    import torch

    capability = str(torch.backends.cpu.get_cpu_capability())
    if dtype == "bfloat16" and "AVX512" not in capability.upper() and not torch.cuda.is_available():
        logger.warning("base_dtype bfloat16 on a CPU without bf16 units (%s): the base runs in float32", capability)
        return "float32"
    return dtype


def load_base(spec: str, *, seed: int = 0, dtype: str = "float32"):
    """(model in train mode, tokenizer) for a recipe's base_model. dtype "bfloat16" keeps the frozen
    base in bfloat16 (its matmuls run on the CPU's bf16 units, ~1.5x faster per SFT step measured here;
    LoRA weights stay float32 and are cast per layer)."""
    import torch
    from transformers import AutoModelForCausalLM

    from videothought.agent.llm.embedded import ensure_embedded_checkpoint, tiny_random_model

    if spec == "tiny-random":
        return tiny_random_model(seed=seed)  # agent/llm/embedded.py TINY_CONFIG
    tokenizer = load_tokenizer(spec)
    folder = ensure_embedded_checkpoint() if spec == "embedded" else Path(spec)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, base_dtype_here(dtype)),
                                                 use_safetensors=True)
    model.config._name_or_path = spec
    return model, tokenizer


def base_identity(model, spec: str | None = None) -> dict:
    """What an adapter is bound to: the fields that must agree for its weights to mean anything."""
    config = getattr(model, "config", None)
    base = getattr(model, "get_base_model", None)
    if base is not None:
        config = base().config
    name = spec or getattr(config, "_name_or_path", "") or ""
    if name.rstrip("/").endswith("smollm2-135m-instruct"):
        name = "embedded"
    return {"name": str(name), "model_type": getattr(config, "model_type", None),
            "hidden_size": int(getattr(config, "hidden_size", 0)),
            "num_hidden_layers": int(getattr(config, "num_hidden_layers", 0)),
            "vocab_size": int(getattr(config, "vocab_size", 0))}


def write_adapter_card(folder: Path, identity: dict, **fields) -> None:
    (Path(folder) / ADAPTER_CARD).write_text(json.dumps({"base_model": identity, **fields}, indent=1) + "\n")


def writer_card(node: str, source: Path | None, *, option_reads: bool = False) -> dict:
    """The writer's card fields (agent/writer.py reads them): its prompt style, and whether it reads
    each option alone again. A stage's data may teach single-option readings (`option_reads`); a stage
    that trains on whole programs (rejection sampling, GRPO, DPO) keeps what the adapter it starts
    from does. {} for other nodes."""
    if node != "writer":
        return {}
    start = read_adapter_card(source) if source is not None and (Path(source) / ADAPTER_CARD).is_file() else {}
    fields = {"prompt_style": start.get("prompt_style") or "compact"}
    if option_reads or start.get("option_pass"):
        fields["option_pass"] = True
    return fields


def read_adapter_card(folder: Path) -> dict:
    path = Path(folder) / ADAPTER_CARD
    if not path.is_file():
        raise AdapterMismatchError(f"{folder} has no {ADAPTER_CARD}: not an adapter written by `vot train nodes`")
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise AdapterMismatchError(f"{path} is not valid JSON: {error}") from None


def check_adapter_fits(folder: Path, model, *, expected_node: str | None = None) -> dict:
    """The adapter card of `folder`, after checking it was trained on `model`'s architecture and
    (when given) for `expected_node`. Raises AdapterMismatchError naming the difference."""
    card = read_adapter_card(folder)
    wanted = card.get("base_model") or {}
    have = base_identity(model)
    for key in ("model_type", "hidden_size", "num_hidden_layers", "vocab_size"):
        if wanted.get(key) != have.get(key):
            raise AdapterMismatchError(
                f"adapter {folder} was trained on base model {wanted.get('name')!r} ({key}={wanted.get(key)!r}); "
                f"the loaded model {have.get('name')!r} has {key}={have.get(key)!r}")
    if expected_node is not None and card.get("node") not in (None, expected_node):
        raise AdapterMismatchError(f"adapter folder {folder} is named {expected_node!r} but was trained for node "
                                   f"{card.get('node')!r}")
    return card
