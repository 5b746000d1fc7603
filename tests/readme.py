"""The code snippets of README.md and docs/*.md, for the tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def snippet_file(name: str) -> Path:
    """The file (README.md or a page of docs/) that holds `<!-- snippet:NAME -->`: exactly one does."""
    marker = f"<!-- snippet:{name} -->"
    holders = [path for path in [README, *sorted(DOCS.glob("*.md"))] if marker in path.read_text(encoding="utf-8")]
    assert len(holders) == 1, f"the {name} snippet must be in exactly one of README.md and docs/*.md, found {holders}"
    return holders[0]


def snippet(name: str) -> str:
    """The python block after `<!-- snippet:NAME -->` in README.md or docs/*.md."""
    text = snippet_file(name).read_text(encoding="utf-8")
    block = re.search(rf"<!-- snippet:{re.escape(name)} -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert block, f"the {name} snippet lost its python block"
    return block.group(1)
