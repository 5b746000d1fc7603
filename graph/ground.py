"""Grounding a program's descriptions in one scene: {"name": noun, "adj": [words]} -> track ids.

    names = SceneNames.from_query(scene)            # what the scene's perception can name
    grounder = DescriptionGrounder(scene, names, matcher=ExactMatcher())
    grounder.ground({"name": "circle", "adj": ["red", "large"]})  # -> Grounded(track_ids=(3,), ...)

A word is grounded against the *names perception can output* (the STSG document's "vocabulary",
else the labels and attribute values its tracks carry): its label words and attribute values
("person", "circle", "red", "upper_colour: red"). A `TextMatcher` decides which name a word means:
`ExactMatcher` by spelling (case and a plural "s" aside); an embedding matcher (a learned text
model, perception/text_match.py) also maps words the scene does not spell its way. Nothing here
knows a dataset's words: the names come from the scene, the knowledge from the matcher.

Sizes are relative: "small", "medium" and "large" (or what a matcher reads as them) pick among
the described tracks by their median box area. The schema's generic label "object" names any
track. A name no track can carry is *unknown* (perception cannot see it), not "no such object".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

SIZE_NAMES = ("small", "medium", "large")  # relative box sizes, always groundable
DESCRIBING = ("colour", "shape", "size", "upper_colour", "lower_colour", "text")  # attributes a description reads
GENERIC_LABEL = "object"  # graph/schema.py's default label: a track perception could not name


class TextMatcher(Protocol):
    """similarity(words, names) -> (W, N) array in [0, 1]; 1 = the word means that name."""

    def similarity(self, words: list[str], names: list[str]) -> np.ndarray: ...


def normalise(word: str) -> str:
    """Lower case, single spaces, and a plural "s" / "es" dropped (English morphology, not a word list)."""
    word = " ".join(str(word).lower().replace("-", " ").split())
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


class ExactMatcher:
    """Words mean the names they spell (after `normalise`)."""

    def similarity(self, words: list[str], names: list[str]) -> np.ndarray:
        return np.array([[1.0 if normalise(w) == normalise(n) else 0.0 for n in names] for w in words],
                        dtype=np.float32).reshape(len(words), len(names))


@dataclass
class SceneNames:
    """What the scene's perception can name: label words and {attribute: values}."""

    labels: list[str] = field(default_factory=list)
    attributes: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_query(cls, scene, vocabulary: dict | None = None) -> SceneNames:
        """From the STSG's vocabulary when it has one, plus every label and attribute value its
        tracks carry (a track may carry a name the vocabulary does not list)."""
        vocabulary = vocabulary if vocabulary is not None else (scene.stsg.vocabulary or {})
        attributes: dict[str, list[str]] = {}
        labels: list[str] = []
        for key, values in vocabulary.items():
            if key == "label":
                labels += [str(v) for v in values or []]
            elif values:
                attributes.setdefault(key, []).extend(str(v) for v in values)
        for facts in scene.tracks.values():
            labels.append(facts.label)
            for key, value in facts.attributes.items():
                if isinstance(value, str) and value:
                    attributes.setdefault(key, []).append(value)
        # only what describes a thing (graph/program.py ATTRIBUTES): a motion attribute ("walking_direction:
        # left") is read by the program's operators, not by a description ("the man on the left")
        attributes = {k: v for k, v in attributes.items() if k in DESCRIBING}
        attributes.setdefault("size", []).extend(SIZE_NAMES)
        # a label that only repeats attribute values ("red circle") adds no name of its own
        values = {normalise(v) for vs in attributes.values() for v in vs}
        label_words = []
        for label in labels:
            words = [w for w in normalise(label).split() if w not in values]
            if words:
                label_words.append(" ".join(words))
        return cls(sorted(set(label_words)), {k: sorted(set(map(str.lower, v))) for k, v in sorted(attributes.items())})

    @classmethod
    def from_vocabulary(cls, vocabulary: dict | None) -> SceneNames:
        """What a perception can name, from its vocabulary alone (no scene): a prompt's names before
        any video is seen, or for training text."""
        from videothought.graph.query import SceneQuery
        from videothought.graph.stsg import STSG

        import networkx as nx

        return cls.from_query(SceneQuery(STSG(nx.MultiDiGraph())), vocabulary or {})

    def text(self) -> str:
        """One line per kind of name, for the writer's prompt: "label: person, face; colour: red, ..."."""
        parts = []
        if self.labels:
            parts.append("label: " + ", ".join(self.labels))
        for key, values in self.attributes.items():
            if key == "size":
                continue  # sizes are relative: any scene has them
            if values and len(values) <= 24:
                parts.append(f"{key}: " + ", ".join(values))
        return "; ".join(parts)


@dataclass(frozen=True)
class Grounded:
    """What a description names: the tracks, or why it names nothing this perception can see."""

    track_ids: tuple[int, ...]
    unknown: str | None = None  # set when a word names nothing perception can name (it cannot tell)
    matched: tuple[tuple[str, str], ...] = ()  # (word, the name it was read as)

    def to_dict(self) -> dict:
        return {"track_ids": list(self.track_ids), "unknown": self.unknown, "matched": [list(m) for m in self.matched]}


class DescriptionGrounder:
    """Grounds descriptions in one scene (a graph.query.SceneQuery)."""

    def __init__(self, scene, names: SceneNames | None = None, *, matcher: TextMatcher | None = None,
                 min_similarity: float = 0.6):
        self.scene = scene
        self.names = names or SceneNames.from_query(scene)
        self.matcher = matcher or ExactMatcher()
        self.min_similarity = min_similarity  # an embedding match below this is no match
        self._cache: dict[str, tuple[str, str] | None] = {}

    def read_word(self, word: str, *, noun: bool) -> list[tuple[str, str]]:
        """The (attribute, name) readings of a word: [("label", "person")], [("colour", "red"),
        ("upper_colour", "red")] (a value several attributes share), [("size", "large")]; [] when it
        means nothing this scene's perception can name. A noun reads as a label first."""
        key = f"{noun}:{normalise(word)}"
        if key not in self._cache:
            self._cache[key] = self._read(word, noun)
        return self._cache[key]

    def _read(self, word: str, noun: bool) -> list[tuple[str, str]]:
        candidates = [("label", name) for name in self.names.labels]
        candidates += [(attribute, value) for attribute, values in self.names.attributes.items() for value in values]
        if not candidates:
            return []
        exact = ExactMatcher().similarity([word], [name for _, name in candidates])[0]
        if exact.max() >= 1.0:
            hits = [candidates[i] for i in np.flatnonzero(exact >= 1.0)]
            labels = [h for h in hits if h[0] == "label"]
            return labels if noun and labels else [h for h in hits if h[0] != "label"] or hits
        if isinstance(self.matcher, ExactMatcher):
            return []
        # a word read by similarity never means "any object": "car" is close to "object" in any text
        # model, and "the car" must stay a thing perception cannot name, not every track
        candidates = [c for c in candidates if c != ("label", GENERIC_LABEL)]
        if not candidates:
            return []
        scores = self.matcher.similarity([word], [name for _, name in candidates])[0]
        best = float(scores.max())
        if best < self.min_similarity:
            return []
        return [candidates[i] for i in np.flatnonzero(scores >= best - 1e-6)]

    def ground(self, description: dict | None, among: list[int] | None = None) -> Grounded:
        """The tracks (of `among`, default all) the description names."""
        description = description or {}
        ids = sorted(self.scene.tracks if among is None else [t for t in among if t in self.scene.tracks])
        matched: list[tuple[str, str]] = []
        name = description.get("name")
        size = None
        words = ([(name, True)] if name else []) + [(w, False) for w in description.get("adj") or []]
        for word, noun in words:
            readings = self.read_word(word, noun=noun)
            if not readings:
                if noun:
                    return Grounded((), unknown=f"perception here cannot name {word!r} "
                                                f"(it names: {self.names.text() or 'nothing'})")
                continue  # an adjective nothing here can see narrows nothing ("the running man")
            matched.append((word, ", ".join(f"{a}={v}" for a, v in readings)))
            sizes = [v for a, v in readings if a == "size"]
            if sizes:
                size = sizes[0]
            elif readings == [("label", GENERIC_LABEL)]:
                continue
            else:
                ids = [t for t in ids if any(self._has(t, a, v) for a, v in readings)]
        if size is not None and len(ids) > 1:
            if all(isinstance(self.scene.tracks[t].attributes.get("size"), str) for t in ids):
                ids = [t for t in ids if normalise(self.scene.tracks[t].attributes["size"]) == size]  # as perception says
            else:
                ids = self._by_size(ids, size)  # relative: the largest / smallest / middle box
        return Grounded(tuple(ids), None, tuple(matched))

    def closest(self, description: dict) -> list[int]:
        """The tracks that meet the most of a description's words (at least half of them, the name
        if it is one of them): a stand-in when no track meets them all."""
        words = ([(description["name"], True)] if description.get("name") else []) + \
            [(w, False) for w in description.get("adj") or []]
        scored: dict[int, int] = {}
        readable = 0
        for word, noun in words:
            readings = [r for r in self.read_word(word, noun=noun) if r[0] != "size" and r != ("label", GENERIC_LABEL)]
            if not readings:
                continue
            readable += 1
            for track in self.scene.tracks:
                if any(self._has(track, a, v) for a, v in readings):
                    scored[track] = scored.get(track, 0) + (2 if noun else 1)
        if not scored or readable < 2:
            return []
        best = max(scored.values())
        if best * 2 < readable + bool(description.get("name")):
            return []
        return sorted(t for t, score in scored.items() if score == best)

    def _has(self, track_id: int, attribute: str, value: str) -> bool:
        facts = self.scene.tracks[track_id]
        if attribute == "label":
            return value in normalise(facts.label).split() or normalise(facts.label) == value \
                or any(isinstance(v, str) and normalise(v) == value for v in facts.attributes.values())
        have = facts.attributes.get(attribute)
        return isinstance(have, str) and normalise(have) == normalise(value)

    def _by_size(self, ids: list[int], size: str) -> list[int]:
        """Among several tracks, the largest / smallest / middle by median box area; a track the
        tracker split in two has about the same area and stays with its other half."""
        areas = {t: self.median_area(t) for t in ids}
        ordered = sorted(ids, key=lambda t: areas[t])
        pick = ordered[-1] if size == "large" else ordered[0] if size == "small" else ordered[len(ordered) // 2]
        return sorted(t for t in ids if math.isclose(areas[t], areas[pick], rel_tol=0.15))

    def median_area(self, track_id: int) -> float:
        boxes = self.scene.boxes(track_id)
        return float(np.median((boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2]))) if len(boxes) else 0.0


def words_of(text: str) -> list[str]:
    """Lower-case words of a text (for matchers that take phrases)."""
    return re.findall(r"[a-z0-9]+", text.lower())
