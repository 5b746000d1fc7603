"""The README a newcomer reads in ten minutes: what the project is and how to start on its first
screen, one example per command (each a real `vot` command), the swap table, links that lead
somewhere; the results live in docs/results.md, which keeps a place for the program writer."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from tests.readme import DOCS, README, ROOT

PAGES = [README, *sorted(DOCS.glob("*.md"))]


def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_the_first_screen_says_what_it_is_and_how_to_start():
    first_screen = "\n".join(readme().splitlines()[:30])
    assert "answers questions about a video step by step" in first_screen
    assert "make demo" in first_screen and "make test" in first_screen
    assert len(readme().splitlines()) < 150, "the README is read in ten minutes: results go to docs/results.md"


def test_every_vot_command_of_the_readme_exists():
    from videothought.cli import COMMANDS

    commands = re.findall(r"(?:^|&& |`)vot ([a-z]+)((?: [^\s`&#]+)*)", readme(), re.MULTILINE)
    used = {name for name, _ in commands}
    assert {"ask", "chat", "serve", "eval", "train", "world", "report", "llm"} <= used, used
    assert used <= set(COMMANDS), used - set(COMMANDS)
    for _, arguments in commands:
        for path in re.findall(r"--config (\S+)", arguments):
            assert (ROOT / path).is_file(), path
    assert "vot llm serve" in readme()


def test_the_readme_shows_the_architecture_the_swap_table_and_the_python_entry_point():
    from videothought.agent.run import RunResult

    text = readme()
    assert "## How it fits together" in text and "identify_targets ─► track" in text
    assert "| part | default (offline, CPU) | swap with |" in text
    assert "result.verification" in text and "verification" in {f.name for f in fields(RunResult)}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_the_readme_and_the_docs_lead_somewhere():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            destination = (page.parent / path).resolve() if path else page
            if not destination.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and destination.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", destination.read_text(encoding="utf-8"), re.MULTILINE)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_results_keep_a_place_for_the_program_writer():
    results = (DOCS / "results.md").read_text(encoding="utf-8")
    assert "## Program writer (issue 25)" in results
    assert "## Benchmarks" in results and "## Long videos" in results
