"""The nodes' LLM-call helpers (agent/steps.py) go through the library's one parse-retry loop and
record every attempt in the step's TraceRecord; backend failures are recorded, never raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from videothought.agent import steps
from videothought.agent.llm import FakeLanguageModel, generate_parsed, parsing
from videothought.agent.state import TraceRecord

NORMAL = [{"role": "user", "content": "List the objects."}]
STRICT = [{"role": "user", "content": "List the objects, comma-separated, nothing else."}]


def build(strict: bool) -> list[dict]:
    return STRICT if strict else NORMAL


def parse_list(text: str):
    items = [item.strip() for item in text.split(",") if item.strip() and len(item.split()) <= 3]
    return items if len(items) >= 2 else None


def test_the_nodes_use_the_librarys_loop(monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["what"])
        return generate_parsed(*args, **kwargs)

    monkeypatch.setattr(parsing, "generate_parsed", spy)
    lm = FakeLanguageModel(replies=["Well, I think there is a man riding along the road today", "man, bike"])
    record = TraceRecord(node="identify_targets")
    assert steps.generate_parsed(lm, build, parse_list, record, 16, 2, "target list") == ["man", "bike"]
    assert seen == ["target list"]
    # attempt 1 with the normal prompt, attempt 2 with the strict one; both recorded
    assert [c["messages"] for c in lm.calls] == [NORMAL, STRICT]
    assert record.llm_calls == 2 and len(record.prompts) == 2 and "nothing else" in record.prompts[1]
    assert len(record.errors) == 1 and record.errors[0].startswith("unparsable target list (attempt 1)")
    assert record.completion_tokens == 13 + 3  # "Well , I think ... today" and "man , bike"
    source = Path(steps.__file__).read_text()
    assert "for attempt in" not in source  # no second retry loop in the nodes' helpers


def test_backend_failures_are_recorded_by_the_nodes_and_raised_by_nobody():
    class Broken(FakeLanguageModel):
        def generate(self, *args, **kwargs):
            raise RuntimeError("CUDA error: device-side assert")

    record = TraceRecord(node="analyze_actions")
    assert steps.llm_generate(Broken(), NORMAL, record, 8) is None
    assert record.errors == ["generate failed (attempt 1): RuntimeError: CUDA error: device-side assert"]
    assert record.llm_calls == 1
    # the library's loop lets a non-backend exception through (a bug in a user's model is not hidden)
    with pytest.raises(RuntimeError, match="device-side assert"):
        generate_parsed(Broken(), NORMAL, parse_list)


def test_node_adapters_are_active_for_each_attempt():
    lm = FakeLanguageModel(replies=["nope", "a, b"], adapter_names=("identify_targets",))
    record = TraceRecord(node="identify_targets")
    steps.generate_parsed(lm, build, parse_list, record, 16, 1, "target list")
    assert [c["adapter"] for c in lm.calls] == ["identify_targets"] * 2 and lm.active_adapter is None


def test_on_text_streams_every_attempt():
    lm = FakeLanguageModel(replies=["nope", "a, b"])
    pieces: list[str] = []
    steps.generate_parsed(lm, build, parse_list, TraceRecord(node="n"), 16, 1, "list", on_text=pieces.append)
    assert "".join(pieces) == "nopea, b"
