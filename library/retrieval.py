"""Retrieval: which segments of a video hold what a question asks about.

Every segment of a video is scored with three signals, each z-normalised over the video's
segments, then summed with weights (RetrievalWeights):

    facts   question words (and the target phrases) against the segment's track and event
            terms, each word weighted by its rarity across the video's segments (idf): a label
            seen once in an hour outweighs one seen everywhere
    text    MiniLM cosine between the question and the segment's summary
    clip    the encoder's text embedding of each target phrase (or the question) against the
            segment's clip embedding, best phrase

Scoring reads only arrays cached per video (`load_arrays`: a few hundred rows); the graph then
sees the k chosen segments' STSGs, so a question's cost does not grow with the video's length.
Nothing here knows any dataset's vocabulary.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from videothought.graph.words import content_runs, terms

if TYPE_CHECKING:
    from videothought.library.store import Library, VideoRecord
    from videothought.perception.indexing import Embedders


@dataclass(frozen=True)
class RetrievalWeights:
    """Weights of the z-normalised signals. Chosen on development seeds of the synthetic world
    (dev seed 9001; never on the held-out seeds reported): facts carry the needle, text and clip
    break ties among segments whose facts say little."""

    facts: float = 1.0
    text: float = 0.5
    clip: float = 0.25

    def __post_init__(self):
        for name in ("facts", "text", "clip"):
            if getattr(self, name) < 0:
                raise ValueError(f"retrieval weight {name} must be >= 0, got {getattr(self, name)!r}")


@dataclass
class SegmentHit:
    """One retrieved segment and why."""

    video_id: int
    segment: int
    score: float
    start_seconds: float
    end_seconds: float
    parts: dict = field(default_factory=dict)  # signal -> z-score
    summary: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def zscore(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 1e-9 else np.zeros_like(values)


def load_arrays(connection: sqlite3.Connection, record: VideoRecord) -> dict:
    """What scoring needs of one complete video, read once: per segment its term sets and embeddings."""
    video_id = record.video_id
    rows = connection.execute(
        "SELECT segment, start_seconds, end_seconds, summary, text_embedding, clip_embedding FROM segments "
        "WHERE video_id=? ORDER BY segment", (video_id,)).fetchall()
    segment_ids = [r[0] for r in rows]
    position = {s: i for i, s in enumerate(segment_ids)}
    track_terms: list[list[set]] = [[] for _ in rows]
    for segment, words in connection.execute("SELECT segment, terms FROM tracks WHERE video_id=?", (video_id,)):
        track_terms[position[segment]].append(set(words.split()))
    event_terms: list[set] = [set() for _ in rows]
    for segment, words in connection.execute("SELECT segment, terms FROM events WHERE video_id=?", (video_id,)):
        event_terms[position[segment]].update(words.split())
    vocabulary = [set().union(*tracks, events) if tracks else set(events)
                  for tracks, events in zip(track_terms, event_terms)]
    document_frequency = Counter(w for words in vocabulary for w in words)

    def stack(column: int) -> np.ndarray | None:
        vectors = [np.frombuffer(r[column], dtype=np.float32) if r[column] else None for r in rows]
        sizes = {v.size for v in vectors if v is not None}
        if len(sizes) != 1:
            return None
        size = sizes.pop()
        return np.stack([v if v is not None else np.zeros(size, np.float32) for v in vectors])  # (S, D)

    return {"record": record, "segments": segment_ids, "times": [(r[1], r[2]) for r in rows],
            "summaries": [r[3] for r in rows], "text": stack(4), "clip": stack(5),
            "track_terms": track_terms, "event_terms": event_terms, "df": document_frequency}


def fact_scores(arrays: dict, question: str, phrases: list[str]) -> np.ndarray:
    """Per segment: idf-weighted question words found in its facts.

    Object words count when they sit on one track together: each target phrase, and each run
    of content words in the question ("the green hexagon" -> green hexagon), scores its best
    track; a pink star beats a pink object and a star elsewhere. Every question word found
    among the segment's event terms (types, attribute values) adds its idf once.
    """
    count = len(arrays["segments"])
    idf = {w: math.log((count + 1) / (df + 0.5)) for w, df in arrays["df"].items()}
    runs = [set(terms(p)) for p in phrases] + [set(terms(run)) for run in content_runs(question)]
    runs = [run & set(idf) for run in runs]
    runs = [run for run in dict.fromkeys(frozenset(r) for r in runs) if run]
    asked = [w for w in dict.fromkeys(terms(question) + [w for p in phrases for w in terms(p)]) if w in idf]
    scores = np.zeros(count)
    for i in range(count):
        tracks, events = arrays["track_terms"][i], arrays["event_terms"][i]
        score = sum(max((sum(idf[w] for w in run & t) for t in tracks), default=0.0) for run in runs)
        scores[i] = score + sum(idf[w] for w in asked if w in events)
    return scores


def score_segments(arrays: dict, question: str, phrases: list[str], embedders: Embedders,
                   weights: RetrievalWeights) -> list[SegmentHit]:
    """Every segment of one video (its `load_arrays`), scored, in segment order."""
    phrases = [p for p in phrases if p and p.strip()]
    parts = {"facts": zscore(fact_scores(arrays, question, phrases))}
    if arrays["text"] is not None and weights.text > 0:
        query = embedders.text([question])
        if query is not None and query.shape[-1] == arrays["text"].shape[-1]:
            parts["text"] = zscore(arrays["text"] @ query[0])
    if arrays["clip"] is not None and weights.clip > 0:
        queries = embedders.query(phrases or [question])
        if queries is not None and queries.shape[-1] == arrays["clip"].shape[-1]:
            parts["clip"] = zscore((arrays["clip"] @ queries.T).max(axis=1))  # (S, P) -> (S,)
    total = sum(getattr(weights, name) * values for name, values in parts.items())
    video_id = arrays["record"].video_id
    return [SegmentHit(video_id=video_id, segment=segment, score=float(total[i]),
                       start_seconds=arrays["times"][i][0], end_seconds=arrays["times"][i][1],
                       parts={name: round(float(values[i]), 4) for name, values in parts.items()},
                       summary=arrays["summaries"][i])
            for i, segment in enumerate(arrays["segments"])]


class BoundIndex:
    """One video of a library as the track node calls it: retrieve(question, phrases, k)."""

    def __init__(self, library: Library, video_id: int):
        self.library, self.video_id = library, video_id

    @property
    def record(self) -> VideoRecord:
        return self.library.video(self.video_id)

    @property
    def segments(self) -> list[int]:
        """The indexed segments' numbers, in order."""
        return [r[0] for r in self.library.connection.execute(
            "SELECT segment FROM segments WHERE video_id=? ORDER BY segment", (self.video_id,))]

    def retrieve(self, question: str, phrases: list[str], k: int = 3, *, around_frame: int | None = None
                 ) -> tuple[dict, list[int]]:
        return self.library.retrieve(question, phrases, k=k, video=self.video_id, around_frame=around_frame)

    def search(self, question: str, phrases: list[str] = (), k: int = 5) -> list[SegmentHit]:
        return self.library.search(question, phrases, k=k, video=self.video_id)

    def names_object(self, text: str) -> bool:
        """True when every content word of `text` belongs to one tracked object anywhere in the video."""
        words = set(terms(text))
        if not words:
            return False
        arrays = self.library._arrays(self.video_id)
        return any(words <= track for tracks in arrays["track_terms"] for track in tracks)
