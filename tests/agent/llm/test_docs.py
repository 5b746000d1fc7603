"""docs/llm.md documents the protocol exactly as the code declares it."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from videothought.agent.llm import protocol

DOC = Path(__file__).resolve().parents[3] / "docs" / "llm.md"


def documented_classes() -> dict[str, ast.ClassDef]:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- protocol -->\s*```python\n(.*?)```\s*<!-- /protocol -->", text, re.DOTALL)
    assert block, "docs/llm.md lost its <!-- protocol --> block"
    tree = ast.parse(block.group(1))
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def documented_members(node: ast.ClassDef) -> tuple[set[str], dict[str, list[tuple[str, str, object]]]]:
    attributes = {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)}
    methods = {}
    for function in (s for s in node.body if isinstance(s, ast.FunctionDef)):
        arguments = function.args
        positional = [a.arg for a in arguments.args][1:]  # without self
        defaults = [None] * (len(positional) - len(arguments.defaults)) + [
            ast.literal_eval(d) for d in arguments.defaults]
        keyword = [(a.arg, ast.literal_eval(d)) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults)]
        methods[function.name] = ([(name, "positional", default) for name, default in zip(positional, defaults)]
                                  + [(name, "keyword", default) for name, default in keyword])
    return attributes, methods


def code_members(cls) -> tuple[set[str], dict[str, list[tuple[str, str, object]]]]:
    attributes = set(cls.__dict__.get("__annotations__", {}))
    methods = {}
    for name, function in vars(cls).items():
        if inspect.isfunction(function) and not name.startswith("_"):
            parameters = list(inspect.signature(function).parameters.values())[1:]
            methods[name] = [(p.name, "keyword" if p.kind is p.KEYWORD_ONLY else "positional",
                              None if p.default is p.empty else p.default) for p in parameters]
    return attributes, methods


@pytest.mark.parametrize("name", ["LanguageModel", "VisionLanguageModel"])
def test_the_documented_protocol_is_the_code(name):
    documented = documented_classes()
    assert name in documented, f"docs/llm.md does not document {name}"
    doc_attributes, doc_methods = documented_members(documented[name])
    attributes, methods = code_members(getattr(protocol, name))
    assert doc_attributes == attributes
    assert set(doc_methods) == set(methods)
    for method, parameters in methods.items():
        assert doc_methods[method] == parameters, method


def test_the_docs_name_every_protocol_member_and_the_run_settings():
    text = DOC.read_text(encoding="utf-8")
    for needle in ["`name`", "`generate(messages", "`on_text`", "`score(prompt, continuations)`", "`count_tokens(text)`",
                   "`accepts_frames = True`", "adapter_scope", "check_language_model", "default_context(lm=",
                   "$VIDEOTHOUGHT_LLM", "python -m videothought.agent.llm.server --model embedded --port 8000",
                   "?images=1", "vLLM", "Ollama", "llama.cpp", "stream=true"]:
        assert needle in text, needle
    assert protocol.GENERATE_KEYWORDS == ("max_new_tokens", "temperature", "stop")


def test_the_llm_package_is_installed_from_a_wheel_too():
    import tomllib

    pyproject = tomllib.loads((DOC.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert "videothought.agent.llm" in pyproject["tool"]["setuptools"]["packages"]
    assert any(requirement.startswith("openai") for requirement in pyproject["project"]["optional-dependencies"]["test"])
