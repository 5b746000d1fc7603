"""The library's SQLite file: schema, opening (and refusing what is not a library), the one writer.

    library = Library("videos.sqlite", encoder=load_default_encoder())
    video = library.add("hour.mp4", progress=True)     # indexes once; a rerun continues a killed build

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

Writing is three calls, whoever produced the records: `begin_video` (a row in 'indexing'),
`commit_segment` once per SegmentRecord (one transaction each: a killed build loses at most the
segments in flight, and a rerun skips `committed_segments`), `finish_video` ('complete').
`add` runs them over this process's own SegmentIndexer (one streaming pass); a Ray build
(library/distributed.py) runs them over records from workers. SQLite has one writer, so the
records of many workers go through one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import time
import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from videothought.graph.segments import merge_documents
from videothought.library import retrieval
from videothought.library.retrieval import BoundIndex, RetrievalWeights, SegmentHit
from videothought.perception.indexing import Embedders, IndexSettings, SegmentRecord, VideoPlan

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

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
TABLES = ("meta", "videos", "segments", "tracks", "events")


class LibraryError(RuntimeError):
    """The library cannot do what was asked (unknown video, an unfinished index, ...)."""


class CorruptLibraryError(LibraryError):
    """The library file is not a readable index of this schema; Library(..., rebuild=True) starts afresh."""


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


def file_sha256(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


class Library:
    """Indexed videos in one SQLite file. Not shared across threads; one writer at a time."""

    def __init__(self, path: str | os.PathLike, *, encoder=None, text_model=None, rebuild: bool = False,
                 weights: RetrievalWeights = RetrievalWeights()):
        """rebuild: when the file is not a readable index, move it aside (".corrupt-<time>") and
        start an empty one instead of raising CorruptLibraryError."""
        self.path = Path(path)
        self.embedders = Embedders(encoder, text_model)
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
                if not set(TABLES) <= tables:
                    raise CorruptLibraryError(f"{self.path}: a SQLite file but not a video library "
                                              f"(tables {sorted(tables)}, needs {list(TABLES)})")
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

    def find(self, sha256: str, settings: IndexSettings) -> tuple[int, str] | None:
        """(video_id, status) of the file with this hash indexed with these settings, or None."""
        row = self.connection.execute("SELECT video_id, status FROM videos WHERE sha256=? AND settings=?",
                                      (sha256, settings.key())).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    # ---- writing: begin, commit per segment, finish -------------------------------------------
    def begin_video(self, video_path: str, plan: VideoPlan, *, sha256: str, settings: IndexSettings,
                    name: str | None = None) -> int:
        """The video's id: its row in 'indexing' (created now, or left by an interrupted build)."""
        found = self.find(sha256, settings)
        if found is not None:
            logger.info("%s: continuing an interrupted index", video_path)
            return found[0]
        with self.connection:
            cursor = self.connection.execute(
                "INSERT INTO videos (path, name, sha256, settings, fps, num_frames, width, height, "
                "duration_seconds, num_segments, status, build_seconds, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'indexing', 0, ?)",
                (str(Path(video_path).resolve()), name or Path(video_path).stem, sha256, settings.key(),
                 plan.fps, plan.num_frames, plan.width, plan.height, plan.duration_seconds, plan.num_segments,
                 time.time()))
        return int(cursor.lastrowid)

    def committed_segments(self, video_id: int) -> set[int]:
        return {r[0] for r in self.connection.execute("SELECT segment FROM segments WHERE video_id=?", (video_id,))}

    def commit_segment(self, video_id: int, record: SegmentRecord) -> None:
        """One segment's rows in one transaction: after a kill it is wholly there or wholly absent."""
        index = record.segment
        with self.connection:
            self.connection.execute(
                "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (video_id, index, record.start_frame, record.end_frame, record.start_seconds, record.end_seconds,
                 record.summary, record.text_embedding, record.clip_embedding, record.stsg, record.build_seconds))
            self.connection.executemany(
                "INSERT INTO tracks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(video_id, index, t["track_id"], t["label"], json.dumps(t["attributes"]), " ".join(t["terms"]),
                  t["first_frame"], t["last_frame"]) for t in record.tracks])
            self.connection.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(video_id, index, position, e["type"], json.dumps(e["track_ids"]), json.dumps(e["labels"]),
                  json.dumps(e["attributes"]), " ".join(e["terms"]), e["start_frame"], e["end_frame"])
                 for position, e in enumerate(record.events)])

    def finish_video(self, video_id: int) -> VideoRecord:
        """Mark the video complete; its build_seconds is the sum of its segments'."""
        with self.connection:
            self.connection.execute(
                "UPDATE videos SET status='complete', build_seconds=(SELECT COALESCE(SUM(build_seconds), 0) "
                "FROM segments WHERE video_id=?) WHERE video_id=?", (video_id, video_id))
        self._cache.pop(video_id, None)
        return self.video(video_id)

    def add(self, video_path: str | os.PathLike, *, settings: IndexSettings = IndexSettings(), proposer=None,
            tracker=None, sha256: str | None = None, progress: bool = False, name: str | None = None) -> VideoRecord:
        """Index a video in this process (or finish an interrupted index of it), one streaming
        pass. Already complete: only the hash is read."""
        from videothought.perception.indexing import SegmentIndexer, plan_of
        from videothought.perception.video import VideoNotFoundError, VideoReader

        video_path = str(video_path)
        if not Path(video_path).is_file():
            raise VideoNotFoundError(video_path, "no such file")
        sha256 = sha256 or file_sha256(video_path)
        found = self.find(sha256, settings)
        if found is not None and found[1] == "complete":
            return self.video(found[0])
        with VideoReader(video_path, max_side=settings.max_side) as reader:
            video_id = self.begin_video(video_path, plan_of(reader, settings), sha256=sha256, settings=settings,
                                        name=name)
            # built once per video: the default proposer costs ~1 s to set up
            indexer = SegmentIndexer(settings, embedders=self.embedders, proposer=proposer, tracker=tracker)
            for record in indexer.index_reader(reader, skip=self.committed_segments(video_id), progress=progress):
                self.commit_segment(video_id, record)
        return self.finish_video(video_id)

    # ---- reading segments ------------------------------------------------------------------
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

    # ---- retrieval (library/retrieval.py) ----------------------------------------------------
    def _arrays(self, video_id: int) -> dict:
        """What scoring needs of one video, read once per process (a few hundred small rows)."""
        if video_id not in self._cache:
            record = self.video(video_id)
            if record.status != "complete":
                raise LibraryError(f"{record.name}: its index is unfinished ({record.segments_done} of "
                                   f"{record.num_segments} segments); add it again to continue")
            self._cache[video_id] = retrieval.load_arrays(self.connection, record)
        return self._cache[video_id]

    def score_segments(self, question: str, phrases: list[str], video_id: int) -> list[SegmentHit]:
        """Every segment of one video, scored (library/retrieval.py), in segment order."""
        return retrieval.score_segments(self._arrays(video_id), question, phrases, self.embedders, self.weights)

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

    def bind(self, video: int | str) -> BoundIndex:
        return BoundIndex(self, self.video(video).video_id)
