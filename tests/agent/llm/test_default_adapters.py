"""The embedded default stack loads the shipped per-node adapters (agent/adapters/), unless told not to."""

from __future__ import annotations

import pytest

import videothought.agent.llm as llm_package
from videothought.agent.context import ADAPTERS_ENV_VAR, SHIPPED_ADAPTERS, load_lm, node_adapters

NODES = {"identify_targets", "analyze_actions", "rank_answers", "vot", "writer"}  # verify is trained, not shipped


@pytest.fixture
def loads(monkeypatch):
    """Replaces load_language_model: records what load_lm asks for instead of loading a model."""
    calls = []

    def fake_load(spec, **kwargs):
        calls.append((spec, kwargs))
        return object()

    monkeypatch.setattr(llm_package, "load_language_model", fake_load)
    monkeypatch.delenv("VIDEOTHOUGHT_LLM", raising=False)
    monkeypatch.delenv(ADAPTERS_ENV_VAR, raising=False)
    return calls


def test_default_stack_loads_every_shipped_node_adapter(loads):
    load_lm()
    spec, kwargs = loads[-1]
    assert spec == "embedded" and kwargs["dtype"] == "float32"
    assert set(kwargs["adapters"]) == NODES
    assert kwargs["adapters"]["rank_answers"] == str(SHIPPED_ADAPTERS / "rank_answers")


def test_adapters_are_turned_off_by_env_or_argument(loads, monkeypatch, tmp_path):
    load_lm(adapters=None)
    assert loads[-1][1]["adapters"] == {}
    monkeypatch.setenv(ADAPTERS_ENV_VAR, "none")
    load_lm()
    assert loads[-1][1]["adapters"] == {}
    monkeypatch.setenv(ADAPTERS_ENV_VAR, str(tmp_path / "typo"))  # a named folder that is missing is an error
    with pytest.raises(FileNotFoundError, match="typo does not exist"):
        load_lm()
    monkeypatch.setenv(ADAPTERS_ENV_VAR, str(SHIPPED_ADAPTERS))
    load_lm()
    assert set(loads[-1][1]["adapters"]) == NODES


def test_an_install_without_shipped_adapters_runs_untrained(loads, monkeypatch, tmp_path, caplog):
    import videothought.agent.context as context

    monkeypatch.setattr(context, "SHIPPED_ADAPTERS", tmp_path / "absent")
    with caplog.at_level("WARNING", logger="videothought.agent.context"):
        load_lm()
    assert loads[-1][1]["adapters"] == {}
    assert "no shipped node adapters" in caplog.text


def test_shipped_adapters_fit_the_embedded_model(smollm):
    """Every shipped folder is complete (safetensors, card) and was trained on this base model."""
    from videothought.training.nodes.models import check_adapter_fits

    found = node_adapters(str(SHIPPED_ADAPTERS))
    assert set(found) == NODES
    for node, folder in found.items():
        card = check_adapter_fits(folder, smollm.model, expected_node=node)
        assert card["command"].startswith("vot train nodes --config training/recipes/nodes/")
