"""docs/perception.md's "What the offline default sees" (linked from the README's swap table):
the open-vocabulary snippet runs as written (on a tiny random OWLv2 saved to disk), and the
names it uses exist."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from tests.graph.scenes import Mover, render  # noqa: E402
from tests.perception.test_detectors import tiny_owlv2  # noqa: E402
from videothought.perception.people import BASIC_COLOURS  # noqa: E402
from videothought.perception.video import write_video  # noqa: E402

README = Path(__file__).resolve().parents[2] / "docs" / "perception.md"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"## What the offline default sees\n(.*?)\n## ", text, re.DOTALL)
    assert match, "docs/perception.md lost its section 'What the offline default sees'"
    return match.group(1)


def snippet() -> str:
    block = re.search(r"<!-- snippet:open-vocabulary -->\s*```python\n(.*?)```", section(), re.DOTALL)
    assert block, "the section lost its open-vocabulary snippet"
    return block.group(1)


def test_the_section_names_what_the_default_sees():
    text = section()
    for label in ('"person"', '"face"', '"text"', '"object"', "rapidocr-onnxruntime", "docs/llm.md", "video:"):
        assert label in text, label
    assert "VTEST_NUMBERS" not in text  # the measured numbers were filled in


@pytest.mark.slow
def test_the_snippet_runs_as_written(tmp_path):
    model, tokenizer = tiny_owlv2()
    model.save_pretrained(tmp_path / "owlv2")
    tokenizer.save_pretrained(tmp_path / "owlv2")
    frames, _ = render([Mover("red", "circle", (20, 40), (4, 0))], 10)
    video = write_video(tmp_path / "clip.mp4", frames, fps=10.0)
    code = snippet()
    assert '"/models/owlv2-base-patch16-ensemble"' in code and '"clip.mp4"' in code
    code = code.replace('"/models/owlv2-base-patch16-ensemble"', repr(str(tmp_path / "owlv2")))
    code = code.replace('"clip.mp4"', repr(str(video)))
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    stsg, queries = namespace["stsg"], ["a person", "a dog", "a red ball"]
    assert stsg.vocabulary["label"] == queries and stsg.vocabulary["query"] == queries
    # "a person" is a query: the pipeline describes people (perception.people) and says so.
    assert stsg.vocabulary["upper_colour"] == list(BASIC_COLOURS)
    assert set(namespace["labels"].values()) <= set(queries)


def test_the_agent_lines_name_real_parameters():
    from videothought.agent.context import VoTContext
    from videothought.agent.llm import load_language_model  # noqa: F401  (the name the README imports)

    assert {"proposer", "lm"} <= {f.name for f in fields(VoTContext)}
    assert 'default_context(proposer=detector, lm=load_language_model("video:' in section()
