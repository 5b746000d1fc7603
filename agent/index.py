"""A library of indexed videos in one SQLite file: segments, per-segment STSGs, summaries, embeddings.

    library = Library("videos.sqlite", encoder=load_default_encoder())
    video = library.add("hour.mp4", progress=True)     # indexes once; a rerun continues a killed build
    doc, segment_ids = library.retrieve("What colour is the star that hits the pink hexagon?",
                                        ["star", "pink hexagon"], k=3, video=video.video_id)
    library.search("Which object enters first?", [], k=5)  # across every video in the library

Indexing streams the video once (`VideoReader.iter_segments`: one segment's frames alive at a
time) and commits one transaction per segment, so a killed build loses at most the segment in
flight and a rerun continues after the last committed one. A second `add` of the same file
costs only its SHA-256.

Schema (version SCHEMA_VERSION):

    meta      key TEXT PK, value TEXT                     schema_version, created_at
    videos    video_id INTEGER PK, path, name, sha256, settings (JSON), fps, num_frames, width,
              height, duration_seconds, num_segments (planned), status ('indexing'|'complete'),
              build_seconds, added_at           UNIQUE(sha256, settings)
    segments  (video_id, segment) PK, start_frame, end_frame, start_seconds, end_seconds,
              summary TEXT, text_embedding BLOB (float32, MiniLM 384-d), clip_embedding BLOB
              (float32, the encoder's clip space), stsg BLOB (zlib-compressed JSON node-link
              document, frame indices of the whole video), build_seconds
    tracks    (video_id, segment, track_id) PK, label, attributes (JSON), terms, first_frame,
              last_frame                                  the segment's tracks, for queries
    events    (video_id, segment, position) PK, type, track_ids (JSON), labels (JSON),
              attributes (JSON), terms, start_frame, end_frame

`terms` are the stemmed words of labels, string attribute values and event types: what a
question's words are matched against. Nothing here knows any dataset's vocabulary.

Retrieval scores every segment of a video with three signals, each z-normalised over the
video's segments, then summed with weights (RetrievalWeights):

    facts   question words (and the target phrases) against the segment's track and event
            terms, each word weighted by its rarity across the video's segments (idf): a label
            seen once in an hour outweighs one seen everywhere
    text    MiniLM cosine between the question and the segment's summary
    clip    the encoder's text embedding of each target phrase (or the question) against the
            segment's clip embedding, best phrase

Scoring reads only arrays cached per video (a few hundred rows); the graph then sees the k
chosen segments' STSGs, so a question's cost does not grow with the video's length.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TRACK_ID_STRIDE = 100_000  # merged segments: track t of segment s becomes s * stride + t

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS videos (
    video_id INTEGER PRIMARY KEY, path TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL,
    settings TEXT NOT NULL, fps REAL NOT NULL, num_frames INTEGER NOT NULL, width INTEGER, height INTEGER,
    duration_seconds REAL NOT NULL, num_segments INTEGER NOT NULL, status TEXT NOT NULL,
    build_seconds REAL NOT NULL DEFAULT 0, added_at REAL NOT NULL, UNIQUE (sha256, settings));
CREATE TABLE IF NOT EXISTS segments (
    video_id INTEGER NOT NULL REFERENCES videos(video_id) ON DELETE CASCADE, segment INTEGER NOT NULL,
    start_frame INTEGER NOT NULL, end_frame INTEGER NOT NULL, start_seconds REAL NOT NULL,
    end_seconds REAL NOT NULL, summary TEXT NOT NULL, text_embedding BLOB, clip_embedding BLOB,
    stsg BLOB NOT NULL, build_seconds REAL NOT NULL, PRIMARY KEY (video_id, segment));
CREATE TABLE IF NOT EXISTS tracks (
    video_id INTEGER NOT NULL, segment INTEGER NOT NULL, track_id INTEGER NOT NULL, label TEXT NOT NULL,
    attributes TEXT NOT NULL, terms TEXT NOT NULL, first_frame INTEGER NOT NULL, last_frame INTEGER NOT NULL,
    PRIMARY KEY (video_id, segment, track_id));
CREATE TABLE IF NOT EXISTS events (
    video_id INTEGER NOT NULL, segment INTEGER NOT NULL, position INTEGER NOT NULL, type TEXT NOT NULL,
    track_ids TEXT NOT NULL, labels TEXT NOT NULL, attributes TEXT NOT NULL, terms TEXT NOT NULL,
    start_frame INTEGER NOT NULL, end_frame INTEGER NOT NULL, PRIMARY KEY (video_id, segment, position));
CREATE INDEX IF NOT EXISTS events_type ON events (video_id, type);
CREATE INDEX IF NOT EXISTS tracks_label ON tracks (video_id, label);
"""
_TABLES = ("meta", "videos", "segments", "tracks", "events")


class LibraryError(RuntimeError):
    """The library cannot do what was asked (unknown video, an unfinished index, ...)."""


class CorruptLibraryError(LibraryError):
    """The library file is not a readable index of this schema; Library(..., rebuild=True) starts afresh."""


@dataclass(frozen=True)
class IndexSettings:
    """How a video is cut and tracked. A video indexed with other settings is another entry."""

    segment_seconds: float = 10.0  # a retrieved unit: long enough to hold an event and what follows it
    # ("right after"), short enough that 3 of them stay a small graph for the reasoning nodes
    index_fps: float = 12.0  # tracker frames per second: collisions last a frame or two, sparser misses them
    # (the agent's own max_frames_per_second); measured ~0.5 s of tracking per 10 s segment of 320x240
    max_side: int = 320  # frames are decoded at this size, as the agent decodes short clips
    clip_frames: int = 8  # frames per segment for the clip embedding: ~0.15 s on a CPU (40 frames: 0.9 s)
    summary_events: int = 24  # distinct (event, objects) lines kept in a segment's text summary

    def __post_init__(self):
        if not self.segment_seconds > 0:
            raise ValueError(f"segment_seconds must be positive, got {self.segment_seconds!r}")
        if not self.index_fps > 0:
            raise ValueError(f"index_fps must be positive, got {self.index_fps!r}")
        if self.max_side < 16:
            raise ValueError(f"max_side must be at least 16 pixels, got {self.max_side!r}")
        if self.clip_frames < 1 or self.summary_events < 1:
            raise ValueError(f"clip_frames and summary_events must be >= 1, got {self.clip_frames!r}, "
                             f"{self.summary_events!r}")

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


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
class VideoRecord:
    video_id: int
    path: str
    name: str
    sha256: str
    fps: float
    num_frames: int
    duration_seconds: float
    num_segments: int
    status: str
    build_seconds: float
    segments_done: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


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


# ---- words --------------------------------------------------------------------------------
_STOP_WORDS = frozenset("""a an the and or but of to in on at by for with from into onto off over under
about after before during while then than that this these those it its it's they them their there here
is are was were be been being do does did doing done has have had having what which who whom whose
when where why how whole somewhere video clip scene object objects thing things one once first last
any all some each every other another same such very just only also not no yes can could would should
will shall may might must right left up down out s""".split())


def stem(word: str) -> str:
    """A light English stemmer: "collides" / "collided" / "colliding" -> "collid"."""
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def terms(text: str) -> list[str]:
    """Content words of a text, stemmed, in order (duplicates kept)."""
    return [stem(w) for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP_WORDS and len(w) > 1]


def _content_runs(text: str) -> list[str]:
    """Maximal runs of content words: "What colour is the circle that hits the green hexagon?"
    -> ["colour", "circle", "hits", "green hexagon"]: the candidates for words on one object."""
    runs, current = [], []
    for word in re.findall(r"[a-z]+|[^a-z\s]", text.lower()):
        if word.isalpha() and word not in _STOP_WORDS and len(word) > 1:
            current.append(word)
        else:
            if current:
                runs.append(" ".join(current))
            current = []
    if current:
        runs.append(" ".join(current))
    return runs


def _value_words(values) -> str:
    return " ".join(str(v) for v in values if isinstance(v, str))


# ---- documents -----------------------------------------------------------------------------
def merge_documents(docs: list[dict], segment_ids: list[int], fps: float, video: dict | None = None) -> dict:
    """One STSG document from several segments' (frame indices are the whole video's already;
    track ids are made unique as segment * TRACK_ID_STRIDE + track)."""
    nodes, links, tracks, events = [], [], {}, []
    width = height = None
    for doc, segment in zip(docs, segment_ids):
        offset = segment * TRACK_ID_STRIDE
        info = doc.get("video") or {}
        width, height = width or info.get("width"), height or info.get("height")
        rename = {}
        for node in doc.get("graph", {}).get("nodes", []):
            track_id = int(node["track_id"]) + offset
            new_id = f"o:{track_id}:{int(node['frame_index'])}"
            rename[node["id"]] = new_id
            nodes.append({**node, "id": new_id, "track_id": track_id})
        for link in doc.get("graph", {}).get("links", []):
            if link["source"] in rename and link["target"] in rename:
                links.append({**link, "source": rename[link["source"]], "target": rename[link["target"]]})
        for key, value in doc.get("tracks", {}).items():
            tracks[str(int(key) + offset)] = value
        for event in doc.get("events", []):
            events.append({**event, "track_ids": [int(t) + offset for t in event["track_ids"]]})
    graph = {"directed": True, "multigraph": True, "graph": {}, "nodes": nodes, "links": links}
    info = {**(video or {}), "fps": fps, "width": width, "height": height, "segments": list(segment_ids)}
    merged = {"schema": "videothought.stsg", "version": 1, "video": info, "graph": graph, "tracks": tracks,
              "events": sorted(events, key=lambda e: (e["start_frame"], e["end_frame"]))}
    # what the perception stack can name (one stack indexed every segment): without it a colour no
    # retrieved track has ("the red diamond") would read as just "diamond"
    vocabulary = next((doc["vocabulary"] for doc in docs if doc.get("vocabulary")), None)
    if vocabulary:
        merged["vocabulary"] = vocabulary
    return merged


def segment_facts(doc: dict) -> tuple[list[dict], list[dict]]:
    """The segment's tracks and events as rows: what retrieval matches question words against."""
    spans: dict[int, list[int]] = {}
    for node in doc.get("graph", {}).get("nodes", []):
        if "track_id" not in node:
            continue
        track, frame = int(node["track_id"]), int(node["frame_index"])
        first, last = spans.get(track, (frame, frame))
        spans[track] = [min(first, frame), max(last, frame)]
    tracks = []
    labels = {}
    for key, info in doc.get("tracks", {}).items():
        track = int(key)
        label = str(info.get("label") or "object")
        attributes = {k: v for k, v in (info.get("attributes") or {}).items() if isinstance(v, (str, int, float, bool))}
        labels[track] = label
        first, last = spans.get(track, (0, 0))
        tracks.append({"track_id": track, "label": label, "attributes": attributes,
                       "terms": sorted(set(terms(label + " " + _value_words(attributes.values())))),
                       "first_frame": first, "last_frame": last})
    events = []
    for event in doc.get("events", []):
        attributes = {k: v for k, v in (event.get("attributes") or {}).items() if isinstance(v, (str, int, float, bool))}
        names = [labels.get(int(t), "object") for t in event["track_ids"]]
        words = terms(str(event["type"]).replace("_", " ") + " " + _value_words(attributes.values()))
        events.append({"type": str(event["type"]), "track_ids": [int(t) for t in event["track_ids"]], "labels": names,
                       "attributes": attributes, "terms": sorted(set(words)),
                       "start_frame": int(event["start_frame"]), "end_frame": int(event["end_frame"])})
    return tracks, events


def segment_summary(start_seconds: float, end_seconds: float, tracks: list[dict], events: list[dict],
                    max_events: int) -> str:
    """One line of plain text: the objects seen, then what happened (repeats counted).

    "0:10-0:20. Seen: cyan square, green hexagon. Events: cyan square collide green hexagon;
    cyan square turn wall top (x3); green hexagon exit."
    """
    def clock(seconds: float) -> str:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"

    seen = list(dict.fromkeys(t["label"] for t in tracks))
    lines = Counter()
    for event in events:
        extra = _value_words(v for k, v in sorted(event["attributes"].items()) if k != "cause_track_id")
        who = " ".join(event["labels"][:1])
        rest = " ".join(event["labels"][1:])
        lines[" ".join(x for x in (who, event["type"], rest, extra) if x)] += 1
    # rarer events first: a collision says more about a segment than its tenth turn
    ordered = sorted(lines.items(), key=lambda item: (item[1], item[0]))[:max_events]
    events_text = "; ".join(f"{text} (x{count})" if count > 1 else text for text, count in ordered)
    return (f"{clock(start_seconds)}-{clock(end_seconds)}. Seen: {', '.join(seen) or 'nothing tracked'}. "
            f"Events: {events_text or 'none'}.")


def _blob(vector) -> bytes | None:
    if vector is None:
        return None
    return np.asarray(vector, dtype=np.float32).reshape(-1).tobytes()


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / (np.linalg.norm(matrix, axis=-1, keepdims=True) + 1e-8)


def _zscore(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 1e-9 else np.zeros_like(values)


def file_sha256(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


# ---- embedders ---------------------------------------------------------------------------
class MiniLMText:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit) through transformers alone.

    The same vectors as sentence-transformers' pipeline (mean pooling over tokens, then L2
    normalisation, 256 tokens at most) without importing sentence-transformers, which costs
    ~170 MB of resident memory: indexing an hour must stay under 1 GB.
    """

    max_tokens = 256  # the model's max_seq_length in its sentence-transformers config

    def __init__(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        from videothought.perception.encoder.text import minilm_path

        path = minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    def __call__(self, texts: list[str]) -> np.ndarray:
        """(N, 384) float32."""
        import torch

        with torch.inference_mode():
            batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_tokens,
                                   return_tensors="pt")
            hidden = self.model(**batch).last_hidden_state  # (N, L, 384)
            mask = batch["attention_mask"][..., None].to(hidden.dtype)  # (N, L, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (N, 384)
            return torch.nn.functional.normalize(pooled, dim=-1).numpy()


class _Embedders:
    """The text model (MiniLM) and the encoder's clip and text towers, each optional."""

    def __init__(self, encoder=None, text_model=None):
        self.encoder = encoder
        self._text_model = text_model
        self._text_failed = False

    def text(self, texts: list[str]) -> np.ndarray | None:
        """(N, 384) unit MiniLM sentence embeddings, or None when no text model is installed."""
        if self._text_model is None and not self._text_failed:
            try:
                self._text_model = MiniLMText()
            except Exception as error:  # the text model is optional: facts still retrieve
                logger.warning("no text model for segment summaries (%s); retrieval uses facts and clips", error)
                self._text_failed = True
        if self._text_model is None:
            return None
        return _unit(np.asarray(self._text_model(list(texts)), dtype=np.float32))

    def clip(self, frames: np.ndarray) -> np.ndarray | None:
        """(E,) unit clip embedding of a few frames, or None without an encoder."""
        if self.encoder is None:
            return None
        embed = getattr(self.encoder, "clip_embedding", None) or self.encoder.encode_video
        try:
            return _unit(np.asarray(embed(frames), dtype=np.float32).reshape(-1))
        except Exception as error:  # one bad segment must not stop indexing; it just has no clip vector
            logger.warning("clip embedding failed (%s); the segment is retrieved without it", error)
            return None

    def query(self, texts: list[str]) -> np.ndarray | None:
        """(N, E) unit embeddings of texts in the encoder's clip space, or None."""
        if self.encoder is None or not texts:
            return None
        try:
            return _unit(np.asarray(self.encoder.encode_text(list(texts)), dtype=np.float32))
        except Exception as error:
            logger.warning("encoder text embedding failed (%s); retrieval without clip similarity", error)
            return None


# ---- the library ---------------------------------------------------------------------------
class Library:
    """Indexed videos in one SQLite file. Not shared across threads; one writer at a time."""

    def __init__(self, path: str | os.PathLike, *, encoder=None, text_model=None, rebuild: bool = False,
                 weights: RetrievalWeights = RetrievalWeights()):
        """rebuild: when the file is not a readable index, move it aside (".corrupt-<time>") and
        start an empty one instead of raising CorruptLibraryError."""
        self.path = Path(path)
        self.embedders = _Embedders(encoder, text_model)
        self.weights = weights
        self._cache: dict[int, dict] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection = self._open()
        except CorruptLibraryError as error:
            if not rebuild:
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            logger.warning("%s; moved it to %s and starting an empty library", error, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(str(self.path) + suffix).unlink()
            self.path.replace(aside)
            self.connection = self._open()

    def _open(self) -> sqlite3.Connection:
        existed = self.path.is_file() and self.path.stat().st_size > 0
        connection = sqlite3.connect(str(self.path), timeout=30.0)
        try:
            if existed:
                problem = connection.execute("PRAGMA quick_check").fetchone()[0]
                if problem != "ok":
                    raise CorruptLibraryError(f"{self.path}: the SQLite file fails its integrity check ({problem})")
                tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not set(_TABLES) <= tables:
                    raise CorruptLibraryError(f"{self.path}: a SQLite file but not a video library "
                                              f"(tables {sorted(tables)}, needs {list(_TABLES)})")
                version = connection.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if version is None or int(version[0]) != SCHEMA_VERSION:
                    raise CorruptLibraryError(f"{self.path}: library schema version {version and version[0]!r}, "
                                              f"this code reads {SCHEMA_VERSION}")
            connection.execute("PRAGMA journal_mode=WAL")  # a reader never blocks the indexer
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
            connection.execute("PRAGMA foreign_keys=ON")
            with connection:
                connection.executescript(_SCHEMA)
                connection.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                connection.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (str(time.time()),))
        except sqlite3.DatabaseError as error:
            connection.close()
            raise CorruptLibraryError(f"{self.path}: not a readable video library ({error}); "
                                      "delete it or open it with rebuild=True to index again") from None
        except CorruptLibraryError:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- videos ----------------------------------------------------------------------------
    def videos(self) -> list[VideoRecord]:
        rows = self.connection.execute(
            "SELECT v.video_id, path, name, sha256, fps, num_frames, duration_seconds, num_segments, status, "
            "v.build_seconds, (SELECT COUNT(*) FROM segments s WHERE s.video_id = v.video_id) "
            "FROM videos v ORDER BY v.video_id").fetchall()
        return [VideoRecord(*row) for row in rows]

    def video(self, which: int | str) -> VideoRecord:
        """A video by id, sha256 (or its prefix), name or path."""
        for record in self.videos():
            if which in (record.video_id, record.name, record.path) or (
                    isinstance(which, str) and len(which) >= 8 and record.sha256.startswith(which)):
                return record
        raise LibraryError(f"{self.path}: no video {which!r} (has: {[v.name for v in self.videos()]})")

    def add(self, video_path: str | os.PathLike, *, settings: IndexSettings = IndexSettings(), proposer=None,
            tracker=None, sha256: str | None = None, progress: bool = False, name: str | None = None) -> VideoRecord:
        """Index a video (or finish an interrupted index of it). Already complete: only the hash is read."""
        from videothought.perception.video import VideoNotFoundError, VideoReader

        video_path = str(video_path)
        if not Path(video_path).is_file():
            raise VideoNotFoundError(video_path, "no such file")
        sha256 = sha256 or file_sha256(video_path)
        row = self.connection.execute("SELECT video_id, status FROM videos WHERE sha256=? AND settings=?",
                                      (sha256, settings.key())).fetchone()
        if row is not None and row[1] == "complete":
            return self.video(row[0])
        with VideoReader(video_path, max_side=settings.max_side) as reader:
            meta = reader.metadata
            planned = max(1, int(math.ceil(meta.duration_seconds / settings.segment_seconds - 1e-9)))
            if row is None:
                with self.connection:
                    cursor = self.connection.execute(
                        "INSERT INTO videos (path, name, sha256, settings, fps, num_frames, width, height, "
                        "duration_seconds, num_segments, status, build_seconds, added_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'indexing', 0, ?)",
                        (str(Path(video_path).resolve()), name or Path(video_path).stem, sha256, settings.key(),
                         float(meta.fps), int(meta.num_frames), int(meta.width), int(meta.height),
                         float(meta.duration_seconds), planned, time.time()))
                video_id = int(cursor.lastrowid)
            else:
                video_id = int(row[0])
                logger.info("%s: continuing an interrupted index", video_path)
            self._index_segments(video_id, reader, settings, proposer, tracker, planned, progress)
        with self.connection:
            self.connection.execute(
                "UPDATE videos SET status='complete', build_seconds=(SELECT COALESCE(SUM(build_seconds), 0) "
                "FROM segments WHERE video_id=?) WHERE video_id=?", (video_id, video_id))
        self._cache.pop(video_id, None)
        return self.video(video_id)

    def _index_segments(self, video_id, reader, settings: IndexSettings, proposer, tracker, planned: int,
                        progress: bool) -> None:
        try:
            from videothought.perception.pipeline import track_frames
        except ImportError:  # before the tracking pipeline moved into perception/
            from videothought.graph.pipeline import track_frames

        if proposer is None:  # built once per video: the default proposer costs ~1 s to set up
            from videothought.perception.proposals import default_proposer

            proposer = default_proposer()
        meta = reader.metadata
        done = {r[0] for r in self.connection.execute("SELECT segment FROM segments WHERE video_id=?", (video_id,))}
        segments = reader.iter_segments(settings.segment_seconds, fps=settings.index_fps)
        if progress:
            from tqdm import tqdm

            segments = tqdm(segments, total=planned, initial=0, desc="indexing", unit="segment")
        video_info = {"path": str(reader.path), "fps": meta.fps, "num_frames": meta.num_frames}
        self.embedders.text(["warm-up"])  # load the text model now: segment build_seconds time the work alone
        for segment in segments:
            # decoding a finished segment again is the price of one streaming pass (no seeking)
            if segment.segment_index in done or len(segment) < 2:
                continue
            started = time.perf_counter()
            doc = track_frames(segment.frames, segment.frame_indices, meta.fps, proposer=proposer, tracker=tracker,
                               video=video_info).to_dict()
            tracks, events = segment_facts(doc)
            summary = segment_summary(segment.start_seconds, segment.end_seconds, tracks, events,
                                      settings.summary_events)
            text_vector = self.embedders.text([summary])
            picks = np.linspace(0, len(segment) - 1, min(settings.clip_frames, len(segment))).round().astype(int)
            clip_vector = self.embedders.clip(segment.frames[picks])  # (clip_frames, H, W, 3) in
            stsg_blob = zlib.compress(json.dumps(doc, separators=(",", ":")).encode("utf-8"), 6)
            build_seconds = time.perf_counter() - started
            index = int(segment.segment_index)
            with self.connection:  # one transaction per segment: a kill loses at most this one
                self.connection.execute(
                    "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (video_id, index, int(segment.frame_indices[0]), int(segment.frame_indices[-1]),
                     float(segment.start_seconds), float(segment.end_seconds), summary,
                     _blob(None if text_vector is None else text_vector[0]), _blob(clip_vector), stsg_blob,
                     build_seconds))
                self.connection.executemany(
                    "INSERT INTO tracks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(video_id, index, t["track_id"], t["label"], json.dumps(t["attributes"]), " ".join(t["terms"]),
                      t["first_frame"], t["last_frame"]) for t in tracks])
                self.connection.executemany(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(video_id, index, position, e["type"], json.dumps(e["track_ids"]), json.dumps(e["labels"]),
                      json.dumps(e["attributes"]), " ".join(e["terms"]), e["start_frame"], e["end_frame"])
                     for position, e in enumerate(events)])

    # ---- retrieval -------------------------------------------------------------------------
    def _arrays(self, video_id: int) -> dict:
        """What scoring needs of one video, read once: per segment its term sets and embeddings."""
        if video_id in self._cache:
            return self._cache[video_id]
        record = self.video(video_id)
        if record.status != "complete":
            raise LibraryError(f"{record.name}: its index is unfinished ({record.segments_done} of "
                               f"{record.num_segments} segments); add it again to continue")
        rows = self.connection.execute(
            "SELECT segment, start_seconds, end_seconds, summary, text_embedding, clip_embedding FROM segments "
            "WHERE video_id=? ORDER BY segment", (video_id,)).fetchall()
        segment_ids = [r[0] for r in rows]
        position = {s: i for i, s in enumerate(segment_ids)}
        track_terms: list[list[set]] = [[] for _ in rows]
        for segment, words in self.connection.execute("SELECT segment, terms FROM tracks WHERE video_id=?",
                                                      (video_id,)):
            track_terms[position[segment]].append(set(words.split()))
        event_terms: list[set] = [set() for _ in rows]
        for segment, words in self.connection.execute("SELECT segment, terms FROM events WHERE video_id=?",
                                                      (video_id,)):
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

        arrays = {"record": record, "segments": segment_ids, "times": [(r[1], r[2]) for r in rows],
                  "summaries": [r[3] for r in rows], "text": stack(4), "clip": stack(5),
                  "track_terms": track_terms, "event_terms": event_terms, "df": document_frequency}
        self._cache[video_id] = arrays
        return arrays

    def _fact_scores(self, arrays: dict, question: str, phrases: list[str]) -> np.ndarray:
        """Per segment: idf-weighted question words found in its facts.

        Object words count when they sit on one track together: each target phrase, and each run
        of content words in the question ("the green hexagon" -> green hexagon), scores its best
        track; a pink star beats a pink object and a star elsewhere. Every question word found
        among the segment's event terms (types, attribute values) adds its idf once.
        """
        count = len(arrays["segments"])
        idf = {w: math.log((count + 1) / (df + 0.5)) for w, df in arrays["df"].items()}
        runs = [set(terms(p)) for p in phrases] + [set(terms(run)) for run in _content_runs(question)]
        runs = [run & set(idf) for run in runs]
        runs = [run for run in dict.fromkeys(frozenset(r) for r in runs) if run]
        asked = [w for w in dict.fromkeys(terms(question) + [w for p in phrases for w in terms(p)]) if w in idf]
        scores = np.zeros(count)
        for i in range(count):
            tracks, events = arrays["track_terms"][i], arrays["event_terms"][i]
            score = sum(max((sum(idf[w] for w in run & t) for t in tracks), default=0.0) for run in runs)
            scores[i] = score + sum(idf[w] for w in asked if w in events)
        return scores

    def score_segments(self, question: str, phrases: list[str], video_id: int) -> list[SegmentHit]:
        """Every segment of one video, scored (see the module docstring), in segment order."""
        arrays = self._arrays(video_id)
        phrases = [p for p in phrases if p and p.strip()]
        parts = {"facts": _zscore(self._fact_scores(arrays, question, phrases))}
        if arrays["text"] is not None and self.weights.text > 0:
            query = self.embedders.text([question])
            if query is not None and query.shape[-1] == arrays["text"].shape[-1]:
                parts["text"] = _zscore(arrays["text"] @ query[0])
        if arrays["clip"] is not None and self.weights.clip > 0:
            queries = self.embedders.query(phrases or [question])
            if queries is not None and queries.shape[-1] == arrays["clip"].shape[-1]:
                parts["clip"] = _zscore((arrays["clip"] @ queries.T).max(axis=1))  # (S, P) -> (S,)
        total = sum(getattr(self.weights, name) * values for name, values in parts.items())
        return [SegmentHit(video_id=video_id, segment=segment, score=float(total[i]),
                           start_seconds=arrays["times"][i][0], end_seconds=arrays["times"][i][1],
                           parts={name: round(float(values[i]), 4) for name, values in parts.items()},
                           summary=arrays["summaries"][i])
                for i, segment in enumerate(arrays["segments"])]

    def search(self, question: str, phrases: list[str] = (), k: int = 5, video: int | str | None = None
               ) -> list[SegmentHit]:
        """The k best segments of one video, or of every complete video in the library (best first)."""
        if video is not None:
            video_ids = [self.video(video).video_id]
        else:
            video_ids = [v.video_id for v in self.videos() if v.status == "complete"]
        if not video_ids:
            raise LibraryError(f"{self.path}: no indexed video to search")
        hits = [hit for video_id in video_ids for hit in self.score_segments(question, list(phrases), video_id)]
        return sorted(hits, key=lambda h: (-h.score, h.video_id, h.segment))[:k]

    def retrieve(self, question: str, phrases: list[str], k: int = 3, *, video: int | str | None = None,
                 around_frame: int | None = None) -> tuple[dict, list[int]]:
        """The merged STSG document of the k most relevant segments of one video (in time order) and
        their indices. Without `video`, the video of the best segment in the library.

        around_frame: a follow-up's moment ("what does it do right after that?"): the segment
        holding that frame and its nearer neighbour come first, the best-scoring ones fill up to k."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k!r}")
        if video is None:
            video = self.search(question, phrases, k=1)[0].video_id
        record = self.video(video)
        hits = self.search(question, phrases, k=k + 2, video=record.video_id)
        chosen = self.segments_around(record.video_id, around_frame)[:k] if around_frame is not None else []
        for hit in hits:
            if len(chosen) >= k:
                break
            if hit.segment not in chosen:
                chosen.append(hit.segment)
        chosen = sorted(chosen)
        return self.document(record.video_id, chosen), chosen

    def segments_around(self, video: int | str, frame: int) -> list[int]:
        """The segment holding `frame`, then the neighbour nearer to it ([] when no segment holds it)."""
        record = self.video(video)
        row = self.connection.execute(
            "SELECT segment, start_frame, end_frame FROM segments WHERE video_id=? AND start_frame<=? "
            "ORDER BY start_frame DESC LIMIT 1", (record.video_id, int(frame))).fetchone()
        if row is None or int(frame) > row[2]:
            return []
        segment, start, end = row
        neighbour = segment + 1 if frame - start >= (end - start) / 2 else segment - 1
        exists = self.connection.execute("SELECT 1 FROM segments WHERE video_id=? AND segment=?",
                                         (record.video_id, neighbour)).fetchone()
        return [segment] + ([neighbour] if exists else [])

    def document(self, video: int | str, segment_ids: list[int]) -> dict:
        """The merged STSG document of these segments (frame indices of the whole video)."""
        record = self.video(video)
        docs = []
        for segment in segment_ids:
            row = self.connection.execute("SELECT stsg FROM segments WHERE video_id=? AND segment=?",
                                          (record.video_id, int(segment))).fetchone()
            if row is None:
                raise LibraryError(f"{record.name}: no segment {segment}")
            docs.append(json.loads(zlib.decompress(row[0]).decode("utf-8")))
        info = {"path": record.path, "num_frames": record.num_frames, "name": record.name}
        return merge_documents(docs, list(segment_ids), record.fps, video=info)

    def bind(self, video: int | str) -> BoundIndex:
        return BoundIndex(self, self.video(video).video_id)


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


def main(argv: list[str] | None = None) -> int:
    """python -m videothought.agent.index LIBRARY VIDEO... : index videos (resumable), print a JSON line each."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m videothought.agent.index", description=main.__doc__)
    parser.add_argument("library", help="the SQLite library file (created)")
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--segment-seconds", type=float, default=IndexSettings.segment_seconds)
    parser.add_argument("--index-fps", type=float, default=IndexSettings.index_fps)
    parser.add_argument("--no-encoder", action="store_true", help="no clip embeddings (facts and text only)")
    parser.add_argument("--rebuild", action="store_true", help="start afresh when the library file is unreadable")
    args = parser.parse_args(argv)
    encoder = None
    if not args.no_encoder:
        from videothought.perception.encoder import load_default_encoder

        encoder = load_default_encoder()
    settings = IndexSettings(segment_seconds=args.segment_seconds, index_fps=args.index_fps)
    with Library(args.library, encoder=encoder, rebuild=args.rebuild) as library:
        for path in args.videos:
            record = library.add(path, settings=settings, progress=True)
            print(json.dumps(record.to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
