"""Grounding: which tracks a phrase names.

Two signals, combined per track:

    lexical   the phrase's attribute constraints (read through the scene's vocabulary, see
              agent/rules/language.py) against the track's label and attributes: +1 per constraint
              it meets, 0.5 when the track lacks that attribute, -1 when it contradicts it
    visual    the encoder's region-text similarity: the phrase's text embedding against the
              track's region embedding (mean of a few boxes, computed once by the track node),
              as a softmax over the tracks; it breaks ties and rescues a track whose attribute
              the namer got wrong

A size word ("the big ball") picks among equally good tracks by mean box area; a relative
clause ("the circle that stops") keeps the tracks that did it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from videothought.agent.rules.language import Mention, Vocabulary, read_text
from videothought.graph.query import SceneQuery

logger = logging.getLogger(__name__)

VISUAL_WEIGHT = 0.6  # a confident region match (p ~ 1) outweighs one unknown attribute (0.5), not a contradiction
TIE_MARGIN = 0.15  # tracks within this of the best are all named (a track split in two by the tracker)


@dataclass
class Grounding:
    """The tracks a mention names, the best score, and whether any track fully meets it."""

    track_ids: list[int] = field(default_factory=list)
    score: float = 0.0
    exact: bool = False  # some track meets every constraint of the phrase

    def to_dict(self) -> dict:
        return {"track_ids": self.track_ids, "score": round(self.score, 4), "exact": self.exact}


def lexical_score(mention: Mention, facts) -> float:
    """Constraints met by one track, in [-1, 1] (see the module docstring)."""
    if not mention.constraints:
        return 1.0
    total = 0.0
    for attribute, value in mention.constraints.items():
        if attribute == "label":
            total += 1.0 if value in facts.words() else -1.0 if facts.label not in ("", "object") else 0.5
            continue
        have = facts.attributes.get(attribute)
        if have is None:
            have_words = facts.words()
            total += 1.0 if value in have_words else 0.5
        else:
            total += 1.0 if str(have).lower() == value else -1.0
    return total / len(mention.constraints)


class Grounder:
    """Grounds mentions in one scene; region-text similarity when track embeddings are given."""

    def __init__(self, scene: SceneQuery, vocabulary: Vocabulary, *, encoder=None,
                 track_embeddings: dict[int, list[float]] | None = None):
        self.scene = scene
        self.vocabulary = vocabulary
        self.encoder = encoder if track_embeddings else None
        self.track_embeddings = {int(k): np.asarray(v, dtype=np.float32) for k, v in (track_embeddings or {}).items()
                                 if int(k) in scene.tracks}
        self._visual_cache: dict[str, dict[int, float]] = {}

    def visual(self, text: str) -> dict[int, float]:
        """Softmax over tracks of region-text similarity to `text` ({} without an encoder)."""
        if self.encoder is None or not self.track_embeddings:
            return {}
        if text not in self._visual_cache:
            try:
                query = np.asarray(self.encoder.encode_text([text]), dtype=np.float32)[0]  # (D,)
                query /= np.linalg.norm(query) + 1e-8
                ids = sorted(self.track_embeddings)
                regions = np.stack([self.track_embeddings[t] for t in ids])  # (N, D), unit rows
                logit_scale = getattr(getattr(self.encoder, "model", None), "logit_scale", None)
                scale = float(logit_scale.detach().exp()) if logit_scale is not None else 20.0  # CLIP-style temperature
                logits = scale * (regions @ query)  # (N,)
                logits -= logits.max()
                probabilities = np.exp(logits) / np.exp(logits).sum()
                self._visual_cache[text] = {t: float(p) for t, p in zip(ids, probabilities)}
            except Exception as error:  # the encoder is an aid: its failure only loses the visual signal
                logger.warning("region-text grounding failed for %r: %s", text, error)
                self._visual_cache[text] = {}
        return self._visual_cache[text]

    def ground(self, mention: Mention) -> Grounding:
        tracks = self.scene.tracks
        if not tracks:
            return Grounding()
        if mention.generic and not mention.constraints and not mention.size:
            ids = sorted(tracks)
            if mention.clause_event:
                ids = [t for t in ids if any(h.kind == mention.clause_event for h in self.scene.happenings(t))] or ids
            return Grounding(ids, 1.0, True)
        lexical = {t: lexical_score(mention, facts) for t, facts in tracks.items()}
        visual = self.visual(mention.text) if mention.constraints else {}
        combined = {t: lexical[t] + VISUAL_WEIGHT * visual.get(t, 0.0) for t in tracks}
        if mention.clause_event:
            did = {t for t in tracks if any(h.kind == mention.clause_event for h in self.scene.happenings(t))}
            if did:
                combined = {t: s + (0.5 if t in did else -0.5) for t, s in combined.items()}
        best = max(combined.values())
        if best <= 0.25:
            return Grounding([], best, False)
        chosen = sorted(t for t, s in combined.items() if s >= best - TIE_MARGIN)
        if mention.size and len(chosen) > 1:
            chosen = self._by_size(chosen, mention.size)
        exact = any(lexical[t] >= 1.0 - 1e-9 for t in chosen)
        return Grounding(chosen, float(best), exact)

    def _by_size(self, ids: list[int], size: str) -> list[int]:
        """Among several tracks, the largest / smallest / middle one by median box area; tracks of
        one object split by the tracker have about the same area and stay together."""
        areas = {}
        for t in ids:
            boxes = self.scene.boxes(t)
            areas[t] = float(np.median((boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2]))) if len(boxes) else 0.0
        ordered = sorted(ids, key=lambda t: areas[t])
        pick = ordered[-1] if size == "large" else ordered[0] if size == "small" else ordered[len(ordered) // 2]
        return sorted(t for t in ids if math.isclose(areas[t], areas[pick], rel_tol=0.15))

    def ground_text(self, text: str) -> list[tuple[Mention, Grounding]]:
        """Every object mention of a text with its grounding."""
        return [(m, self.ground(m)) for m in read_text(text, self.vocabulary).objects]


def ground_phrase(phrase: str, doc: dict | None, *, encoder=None, track_embeddings=None) -> Grounding:
    """One phrase against one STSG document: the track ids it names (all of the phrase's mentions)."""
    scene = SceneQuery.from_document(doc)
    grounder = Grounder(scene, Vocabulary.from_document(doc), encoder=encoder, track_embeddings=track_embeddings)
    found = grounder.ground_text(phrase)
    if not found:
        return Grounding()
    ids = sorted({t for _, g in found for t in g.track_ids})
    return Grounding(ids, min(g.score for _, g in found), all(g.exact for _, g in found))
