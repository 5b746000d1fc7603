"""The README's code snippets, for the tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def snippet(name: str) -> str:
    """The python block after `<!-- snippet:NAME -->` in README.md."""
    text = README.read_text(encoding="utf-8")
    block = re.search(rf"<!-- snippet:{re.escape(name)} -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert block, f"README.md lost its {name} snippet"
    return block.group(1)
