"""The import graph of the project's modules: packages in layers, and no cycle at import time.

Every module under agent/ graph/ perception/ library/ training/ evals/ web/ cli/ is parsed (not
imported); its imports of videothought.* (at module level and inside functions, relative ones
too, and "module:attribute" strings that importlib resolves) are the edges. A command run in a
subprocess (`python -m videothought.cli ...`) is a program started, not an import. Units are the packages,
with two subpackages that are layers of their own: evals/world (the synthetic world, a data
source that training and the library's benchmark read) and agent/llm (the LLM backends and
server, which import nothing of the VoT graph):

    graph                      the STSG, exact; also the words, optional imports, thread policy
      ▲
    perception ◄── world       video in, tracks out  ◄─  the synthetic world (evals/world)
      ▲              ▲
    library ─────────┘         long videos indexed (its benchmark indexes world videos)
      ▲         llm            LLM backends and server (agent/llm): graph only
      ▲          ▲
    agent ───────┘             the VoT graph: both readers, state, context, run, session
      ▲
    web, training              the web app; encoder and node training (training reads the world)
      ▲
    evals                      benchmarks, runner, reports (`vot serve` adds its run browser to web)
      ▲
    cli                        dispatches by module name (strings)

ALLOWED below is that picture: each unit and the units it may import. A package-level edge that is
not allowed fails (a lower layer reaching up), and so does a cycle among modules' import-time
(module-level) imports. Imports inside functions may close a loop within one package (a lazy
import that breaks one is the point of them); they still obey the layers.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "graph", "perception", "library", "training", "evals", "web", "cli")

ALLOWED: dict[str, set[str]] = {
    "graph": set(),
    "perception": {"graph"},
    "world": {"graph", "perception"},
    "library": {"graph", "perception", "world"},
    "llm": {"graph"},
    "agent": {"graph", "perception", "library", "llm"},
    "web": {"graph", "perception", "library", "llm", "agent"},
    "training": {"graph", "perception", "world", "library", "llm", "agent"},
    "evals": {"graph", "perception", "world", "library", "llm", "agent", "web", "training"},
    "cli": {"graph", "perception", "world", "library", "llm", "agent", "web", "training", "evals"},
}
_IMPORTLIB_TARGET = re.compile(r"(videothought(?:\.\w+)+):\w+")  # "videothought.agent.graph:build_vot_graph"


def unit(module: str) -> str:
    """videothought.evals.world.x -> "world", videothought.agent.llm.x -> "llm", else the package."""
    parts = module.split(".")
    if parts[1:3] == ["evals", "world"]:
        return "world"
    if parts[1:3] == ["agent", "llm"]:
        return "llm"
    return parts[1]


def project_modules(root: Path = REPO) -> dict[str, Path]:
    """videothought.* module name -> file, for every .py under the packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = "videothought." + ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


class _Imports(ast.NodeVisitor):
    """(module, names imported from it, line, at import time) of every videothought import in one module."""

    def __init__(self, name: str, is_package: bool):
        self.name, self.is_package = name, is_package
        self.depth = 0  # functions entered
        self.guarded = 0  # `if TYPE_CHECKING:` blocks entered
        self.found: list[tuple[str, tuple[str, ...], int, bool]] = []

    def _add(self, module: str, line: int, names=(), *, lazy: bool = False) -> None:
        if module.startswith("videothought."):
            self.found.append((module, tuple(names), line, self.depth == 0 and self.guarded == 0 and not lazy))

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_If(self, node):
        test = ast.unparse(node.test)
        guarded = test in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        self.guarded += guarded
        for child in node.body:
            self.visit(child)
        self.guarded -= guarded
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node):
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node):
        if node.level:
            base = self.name.split(".")
            base = base if self.is_package else base[:-1]
            base = base[:len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        self._add(module, node.lineno, [alias.name for alias in node.names])

    def visit_Constant(self, node):
        # importlib by name ("videothought.agent.graph:build_vot_graph"): imported when used
        if isinstance(node.value, str) and (found := _IMPORTLIB_TARGET.fullmatch(node.value)):
            self._add(found.group(1), node.lineno, lazy=True)


def import_edges(modules: dict[str, Path]) -> dict[tuple[str, str], list[tuple[int, bool]]]:
    """(importer, imported module) -> [(line, at import time)], each target resolved to the
    longest module name that exists (`from pkg.mod import name` -> pkg.mod)."""
    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    edges: dict[tuple[str, str], list[tuple[int, bool]]] = {}
    for name, path in modules.items():
        visitor = _Imports(name, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for module, names, line, at_import in visitor.found:
            # `from package import module` imports that module; `from module import name`, the module
            targets = {f"{module}.{n}" if f"{module}.{n}" in modules else resolve(module) for n in names} \
                if names else {resolve(module)}
            for target in sorted(t for t in targets if t and t != name):
                edges.setdefault((name, target), []).append((line, at_import))
    return edges


def cycles(nodes, successors: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(successors.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(successors.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_layers_are_a_dag():
    assert set(ALLOWED) == {unit(m) for m in project_modules()}, "every unit has a row in ALLOWED"
    assert cycles(ALLOWED, ALLOWED) == [] and all(u not in below for u, below in ALLOWED.items())


def test_the_parser_sees_every_kind_of_import(tmp_path):
    package = tmp_path / "agent"
    (package / "rules").mkdir(parents=True)
    (tmp_path / "graph").mkdir()
    (tmp_path / "cli").mkdir()
    for path in ("agent/__init__.py", "agent/rules/__init__.py", "agent/run.py", "graph/__init__.py", "graph/stsg.py",
                 "cli/__init__.py"):
        (tmp_path / path).write_text("")
    (package / "rules" / "nodes.py").write_text(
        "from typing import TYPE_CHECKING\nfrom videothought.graph import stsg\nfrom .. import run\n"
        "if TYPE_CHECKING:\n    import videothought.agent.rules\n"
        "def f():\n    import videothought.graph\n    return 'videothought.agent.run:main'\n")
    modules = {name: path for name, path in project_modules(tmp_path).items()}
    edges = import_edges(modules)
    assert edges == {("videothought.agent.rules.nodes", "videothought.graph.stsg"): [(2, True)],
                     ("videothought.agent.rules.nodes", "videothought.agent.run"): [(3, True), (8, False)],
                     ("videothought.agent.rules.nodes", "videothought.agent.rules"): [(5, False)],
                     ("videothought.agent.rules.nodes", "videothought.graph"): [(7, False)]}
    (package / "run.py").write_text("def main():\n    return 'videothought.cli'  # a name, not an importlib target\n")
    assert ("videothought.agent.run", "videothought.cli") not in import_edges(project_modules(tmp_path))
    assert cycles("abcd", {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_package_imports_a_layer_above_it():
    offenders = []
    for (importer, imported), places in sorted(import_edges(project_modules()).items()):
        source, target = unit(importer), unit(imported)
        if source != target and target not in ALLOWED[source]:
            offenders.append(f"{importer} -> {imported} (line {places[0][0]}): {source} may not import {target}")
    assert offenders == [], "\n".join(offenders)


def test_no_cycle_among_import_time_imports():
    modules = project_modules()
    successors: dict[str, set[str]] = {}
    for (importer, imported), places in import_edges(modules).items():
        if any(at_import for _, at_import in places):
            successors.setdefault(importer, set()).add(imported)
    assert cycles(sorted(modules), successors) == []
