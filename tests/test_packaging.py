"""What `pip install` (editable or a wheel) installs: every package folder listed in pyproject.toml,
and every package-data pattern matching files. A folder missing from `packages` still imports in an
editable install (its parent's folder is on the path) and is silently absent from a wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setuptools_table() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def folder_of(package: str, mapping: dict[str, str]) -> Path:
    """Where `package` lives: the longest package-dir entry it starts with, then its own parts."""
    top = max((name for name in mapping if package == name or package.startswith(name + ".")), key=len)
    return REPO / mapping[top] / Path(*package[len(top):].strip(".").split(".") if package != top else ())


def test_every_package_folder_is_listed_and_every_listed_package_exists():
    table = setuptools_table()
    mapping, listed = table["package-dir"], set(table["packages"])
    found = {".".join([name, *init.parent.relative_to(REPO / folder).parts])
             for name, folder in mapping.items() for init in (REPO / folder).rglob("__init__.py")}
    assert found - listed == set(), f"package folders pyproject.toml does not install: {sorted(found - listed)}"
    assert listed - found == set(), f"listed packages with no folder: {sorted(listed - found)}"


def test_every_package_data_pattern_matches_files():
    table = setuptools_table()
    for package, patterns in table["package-data"].items():
        folder = folder_of(package, table["package-dir"])
        for pattern in patterns:
            assert any(p.is_file() for p in folder.glob(pattern)), f"{package}: {pattern!r} matches no file in {folder}"
    assert (folder_of("videothought.web", table["package-dir"]) / "static" / "index.html").is_file()


def test_every_package_says_its_job():
    """Each package's __init__ opens with a docstring whose first sentence is its job."""
    import ast

    table = setuptools_table()
    silent = []
    for package in table["packages"]:
        init = folder_of(package, table["package-dir"]) / "__init__.py"
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        if len(docstring.split(".")[0].split()) < 4:
            silent.append(package)
    assert silent == [], f"packages whose __init__ does not say their job: {silent}"
