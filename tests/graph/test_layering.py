"""The package layers: graph is the bottom, perception builds on it, never the reverse.

Checked on the source with ast (imports inside functions count too), so a lazy import that
would bring the cycle back fails here rather than in a user's traceback.
"""

import ast
from pathlib import Path

GRAPH_DIR = Path(__file__).resolve().parents[2] / "graph"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, relative imports resolved inside videothought.graph."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x / from .x import y: inside graph (or above it)
                base = "videothought.graph" if node.level == 1 else "videothought"
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def test_graph_never_imports_perception():
    sources = sorted(GRAPH_DIR.rglob("*.py"))
    assert len(sources) >= 8, f"expected graph/'s modules under {GRAPH_DIR}"
    offenders = [f"{path.name}:{line} imports {module}" for path in sources
                 for line, module in imported_modules(path)
                 if module == "videothought.perception" or module.startswith("videothought.perception.")]
    assert not offenders, "graph/ must not import perception (perception imports graph):\n" + "\n".join(offenders)


def test_the_scan_sees_lazy_and_relative_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from videothought.perception.video import write_video\n"
                      "from videothought import perception\nfrom .. import perception as p\n")
    modules = [m for _, m in imported_modules(sample)]
    assert "videothought.perception.video" in modules
    assert "videothought.perception" in modules
    assert modules.count("videothought.perception") == 2


def test_schema_imports_nothing_of_videothought():
    """graph/schema.py holds the records and box geometry both layers share: it stays dependency-free."""
    modules = [m for _, m in imported_modules(GRAPH_DIR / "schema.py")]
    assert not [m for m in modules if m.startswith("videothought")]
