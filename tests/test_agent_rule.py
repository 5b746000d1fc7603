"""The agent's rule (issue 10): nothing under agent/ knows the synthetic world's benchmark.

"Under agent/" counts what moved out of it (issue 30): the web app (web/) and the reader's words
and sentences (graph/words.py, graph/verbalize.py).

    (a) no agent module imports or names videothought.evals (the `vot` dispatcher lives in cli/,
        the web app's evaluation-run browser in evals/web_runs.py and is passed in);
    (b) the agent's source holds none of the world's question or option templates (the literal
        text around their placeholders, 3+ words: "do right after it", "watching only the",
        "were removed which event would not happen", "it does so on its own", ...), nor the
        held-out rewordings' (evals/world/reword.py, 4+ words);
    (c) no tuple/list/set literal or dict in agent/ lists 3+ of the world's shape names.

Benchmarks over the world, its oracle and the world-grammar solver live in evals/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path


from videothought.evals.world.config import COLOUR_NAMES, SHAPES, SIZES

REPO = Path(__file__).resolve().parents[1]
AGENT = REPO / "agent"
WORLD = REPO / "evals" / "world"
MOVED_OUT_OF_AGENT = [REPO / "graph" / "words.py", REPO / "graph" / "verbalize.py"]

# Everyday question openers that the world's templates start with: not a template on their own.
GENERIC = {"what does the", "why does the", "what colour is", "what colour is the", "what shape is",
           "how many times does", "s are there", "objects are there"}

GENERIC_REWORDED = {"what does it do", "at some point in the video"}



def agent_modules() -> list[Path]:
    modules = sorted(AGENT.rglob("*.py")) + sorted((REPO / "web").rglob("*.py")) + MOVED_OUT_OF_AGENT
    assert len(modules) > 10 and all(p.is_file() for p in modules), f"found only {len(modules)} modules under {AGENT}"
    return modules


def _normalised(text: str) -> str:
    """Lower-case words only, single-spaced, padded: punctuation and line breaks do not hide a phrase."""
    return " " + " ".join(re.findall(r"[a-z]+", text.lower())) + " "


# ---- (a) imports ---------------------------------------------------------------------------
def evals_imports(path: Path) -> list[str]:
    """Every way `path` reaches videothought.evals: import statements, relative imports that climb
    out of the agent package into evals, and module names in strings (importlib)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("videothought.evals")]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module.startswith("videothought.evals"):
                found.append(module)
            elif node.level == 0 and module == "videothought" and any(a.name == "evals" for a in node.names):
                found.append("videothought.evals")
            elif node.level >= 2 and (module.split(".")[0] == "evals" or any(a.name == "evals" for a in node.names)):
                found.append("." * node.level + module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                re.match(r"videothought\.evals(\.|$)", node.value):
            found.append(node.value)
    return found


def test_every_way_of_reaching_evals_is_seen(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\nimport videothought.evals.world\nfrom ..evals import runner\n"
                      "from ... import evals\nfrom videothought import evals as e\n"
                      "importlib.import_module('videothought.evals.report')\nfrom videothought.graph import stsg\n")
    assert evals_imports(module) == ["videothought.evals.world", "..evals", "...", "videothought.evals",
                                     "videothought.evals.report"]
    module.write_text("SHAPES = ('circle', 'square', 'star')\nNAMES = {'triangle': 1, 'hexagon': 2, 'diamond': 3}\n"
                      "OK = ('circle', 'ball', 'disc')\n")
    assert shape_lists(module) == [1, 2]


def test_no_agent_module_imports_evals():
    offenders = {}
    for path in agent_modules():
        relative = path.relative_to(REPO).as_posix()
        found = evals_imports(path)
        if found:
            offenders[relative] = found
    assert offenders == {}, f"agent modules reaching videothought.evals: {offenders}"


# ---- (b) templates -----------------------------------------------------------------------
_VOCABULARY = (set(COLOUR_NAMES) | set(SHAPES) | {s + "s" for s in SHAPES} | set(SIZES)
               | {"left", "top", "bottom", "first", "second", "third", "fourth", "fifth"})  # not "right": "right after"


def _fragments(text: str, min_words: int) -> set[str]:
    """The runs of words between the world's vocabulary and numbers (the placeholders' values)."""
    found, run = set(), []
    for word in re.findall(r"[a-z]+|\d+(?:\.\d+)?", text.lower()) + ["0"]:
        if word in _VOCABULARY or word[0].isdigit():
            if len(run) >= min_words:
                found.add(" ".join(run))
            run = []
        else:
            run.append(word)
    return found


def _literal_text(path: Path, only_calls: tuple[str, ...] = ()) -> list[str]:
    """String constants and the constant parts of f-strings, docstrings and identifiers excepted;
    with `only_calls`, only those inside calls of these names (e.g. Draft(...))."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    roots = [tree]
    if only_calls:
        roots = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) in only_calls]
    texts = []
    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and not re.fullmatch(r"\w*", node.value):
                texts.append(node.value)
    return texts


def world_template_fragments() -> set[str]:
    """The world's question and option templates (questions.py, phrases.py, long.py's needle
    questions) as word runs of 3+, plus the same from questions a generated world really asks."""
    from videothought.evals.world.questions import SceneFacts, write_questions
    from videothought.evals.world.render import render_video
    from videothought.evals.world.simulate import sample_spec

    import numpy as np

    texts = _literal_text(WORLD / "questions.py") + _literal_text(WORLD / "phrases.py") + \
        _literal_text(WORLD / "long.py", only_calls=("Draft",))
    for index in range(3):
        rng = np.random.default_rng([0, index])
        spec = sample_spec(rng, seconds=4.0, video_id=f"w0_{index:06d}")
        _, truth = render_video(spec)
        for question in write_questions(SceneFacts(truth), rng, video_id=spec.video_id, max_questions=8):
            texts += [question.question, *question.options]
    fragments = set().union(*(_fragments(text, 3) for text in texts)) - GENERIC
    return {f for f in fragments if not f.startswith(("s ", "cause track"))}


def reword_template_fragments() -> set[str]:
    from videothought.evals.world.reword import template_fragments

    return set().union(*(_fragments(text, 4) for text in template_fragments())) - GENERIC_REWORDED


def test_the_fragments_are_the_world_s_templates():
    """The extraction itself: it finds the templates (a rule over an empty list proves nothing)."""
    world = world_template_fragments()
    for expected in ("watching only the", "were removed which event would not happen", "it does so on its own",
                     "how many different objects collide with", "because it hits the", "bounces off the",
                     "once in this video in which minute", "do right after it"):
        assert any(expected in fragment for fragment in world), expected
    reworded = reword_template_fragments()
    assert {"if you stop the video at", "having seen only the", "nothing else made it happen"} <= reworded


def test_the_agent_source_holds_no_world_template():
    fragments = sorted(world_template_fragments() | reword_template_fragments())
    hits = {}
    for path in agent_modules():
        source = _normalised(path.read_text(encoding="utf-8"))
        found = [f for f in fragments if f" {f} " in source]
        if found:
            hits[path.relative_to(REPO).as_posix()] = found
    assert hits == {}, f"world templates in the agent's source: {hits}"


# ---- (c) vocabulary lists ------------------------------------------------------------------
def shape_lists(path: Path) -> list[int]:
    """Line numbers of tuple/list/set literals or dicts (keys or values) naming 3+ world shapes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            elements = node.elts
        elif isinstance(node, ast.Dict):
            elements = [k for k in node.keys if k is not None] + list(node.values)
        else:
            continue
        names = {e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        if len(names & set(SHAPES)) >= 3:
            lines.append(node.lineno)
    return lines


def test_the_agent_source_lists_no_world_shapes():
    found = {p.relative_to(REPO).as_posix(): lines for p in agent_modules() if (lines := shape_lists(p))}
    assert found == {}, f"lists of the world's shape names in agent/: {found}"


# ---- (d) the held-out wording family is held out of every word table -----------------------------
# Question words every English question uses: a rule about them would forbid asking questions at all.
QUESTION_OPENERS = {"how many", "what does", "what causes", "without the", "which", "what is", "what kind of"}
# Names of the STSG schema's own attributes (graph/schema.py): an attribute called "shape" is the schema's,
# not a wording ("the red shape"). Record fields (an observation's "box", a JSON Schema's "items") likewise.
SCHEMA_NAMES = {"shape", "colour", "size", "label"}
RECORD_KEYS = {"box", "items"}
WORD_TABLE_PACKAGES = ("agent", "graph", "perception")


def heldout_phrases() -> set[str]:
    """Every phrase of the reword module's held-out family, slot by slot: its nouns, size words, generic
    nouns and relative words, and each template's text around its placeholders (2+ words)."""
    from videothought.evals.world import reword

    phrases: set[str] = set()
    for table in (reword.QUESTION_TEMPLATES, reword.OPTION_TEMPLATES, reword.EVENT_TEMPLATES, reword.CAUSE_TEMPLATES):
        for per_family in table.values():
            for template in per_family.get("heldout", ()):
                for piece in re.split(r"\{\w+\}", template):
                    words = _normalised(piece).strip()
                    if len(words.split()) >= 2:
                        phrases.add(words)
    for pool in (reword.SHAPE_NOUNS["heldout"], reword.SIZE_WORDS["heldout"]):
        phrases |= {_normalised(word).strip() for words in pool.values() for word in words}
    phrases |= {_normalised(word).strip() for word in reword.OBJECT_NOUNS["heldout"] + reword.RELATIVE["heldout"]}
    return phrases - QUESTION_OPENERS


def table_strings(path: Path) -> list[tuple[int, str, bool]]:
    """(line, string, is a dict key) of every string element of a tuple/list/set literal or a dict (keys and values):
    the word tables of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            elements = node.elts
        elif isinstance(node, ast.Dict):
            elements = [k for k in node.keys if k is not None] + list(node.values)
        else:
            continue
        keys = set(map(id, node.keys)) if isinstance(node, ast.Dict) else set()
        found += [(e.lineno, e.value, id(e) in keys) for e in elements
                  if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return found


def heldout_in_tables(phrases: set[str], paths: list[Path]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in paths:
        for line, text, is_key in table_strings(path):
            plain = _normalised(text).strip()
            singular = " ".join(w[:-1] if w.endswith("s") and len(w) > 3 else w for w in plain.split())
            for phrase in phrases:
                if (plain == phrase and phrase in SCHEMA_NAMES) or plain in RECORD_KEYS:
                    continue
                if plain in (phrase, phrase + "s", phrase + "es") or singular == phrase or \
                        (len(phrase.split()) >= 2 and f" {phrase} " in f" {plain} "):
                    where = path.relative_to(REPO).as_posix() if REPO in path.parents else path.name
                    hits.setdefault(f"{where}:{line}", []).append(f"{text!r} ~ {phrase!r}")
    return hits


def test_the_check_finds_a_held_out_phrase_in_a_word_table(tmp_path):
    phrases = heldout_phrases()
    assert len(phrases) > 40 and {"lozenge", "leave the picture"} & phrases
    table = tmp_path / "m.py"
    table.write_text("ALIASES = {'diamond': ('rhombus', 'lozenges')}\nPHRASES = ('go out', 'leave the picture now')\n")
    assert set(heldout_in_tables({"lozenge", "leave the picture"}, [table])) == {"m.py:1", "m.py:2"}


def test_no_word_table_holds_a_held_out_phrase():
    """Every held-out phrase of every slot against every word table in agent/, graph/ and perception/:
    the held-out family must stay unseen by the code that reads questions (issue 25)."""
    paths = [p for package in WORD_TABLE_PACKAGES for p in sorted((REPO / package).rglob("*.py"))]
    hits = heldout_in_tables(heldout_phrases(), paths)
    assert hits == {}, f"held-out phrases in word tables: {hits}"
