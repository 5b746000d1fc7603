"""Indexing a long video, the worker's side: decode a segment, track it, summarise and embed it.

    indexer = SegmentIndexer(IndexSettings(), embedders=Embedders(encoder=load_default_encoder()))
    plan = indexer.plan("hour.mp4")                      # metadata and the number of segments
    for record in indexer.index_video("hour.mp4", only=[12, 13, 14]):
        ...                                              # one SegmentRecord per segment, in order

A `SegmentRecord` is everything the library stores of one segment (its STSG document,
zlib-compressed JSON; its tracks and events as rows; a one-line summary; the summary's MiniLM
embedding and the encoder's clip embedding as float32 bytes). Producing records writes nothing:
one writer (videothought.library) commits them, whether they come from this process (a serial
`Library.add`) or from Ray workers (videothought.library.distributed), so the two give the same
rows: the same frames (VideoReader.iter_segments gives a worker's share of segments the arrays a
full pass gives), the same tracker, the same functions.

    segment frames (T, H, W, 3) ──► track_frames ──► STSG document ──► segment_facts ──► tracks, events
                                                                   └─► segment_summary ──► MiniLM ──► text vector
    clip_frames of them ─────────────────────────► encoder.clip_embedding ─────────────► clip vector

Models load once per indexer: a serial build makes one per video, a Ray worker one for its life.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from videothought.graph.segments import segment_facts
from videothought.graph.verbalize import segment_summary

logger = logging.getLogger(__name__)


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
        """The settings as the library stores them (a video's identity is its sha256 and this)."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class VideoPlan:
    """What the library records of a video before its segments: the decoded size and length."""

    path: str
    fps: float
    num_frames: int
    width: int  # of the decoded frames (max_side applied)
    height: int
    duration_seconds: float
    num_segments: int  # planned: ceil(duration / segment_seconds)


@dataclass
class SegmentRecord:
    """One indexed segment: the library's rows for it, nothing else (frame numbers of the whole video)."""

    segment: int
    start_frame: int
    end_frame: int
    start_seconds: float
    end_seconds: float
    summary: str
    text_embedding: bytes | None  # float32, MiniLM (384-d) of the summary; None without a text model
    clip_embedding: bytes | None  # float32, the encoder's clip space; None without an encoder
    stsg: bytes  # zlib-compressed JSON STSG document
    build_seconds: float  # this segment's tracking + embedding time (timing, not content)
    tracks: list[dict]  # segment_facts' rows
    events: list[dict]


def float_bytes(vector) -> bytes | None:
    """A vector as float32 bytes (what the library's BLOB columns hold), or None."""
    if vector is None:
        return None
    return np.asarray(vector, dtype=np.float32).reshape(-1).tobytes()


def unit(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity becomes a dot product)."""
    return matrix / (np.linalg.norm(matrix, axis=-1, keepdims=True) + 1e-8)


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


class Embedders:
    """The text model (MiniLM, loaded on first use) and the encoder's clip and text towers, each optional.

    use_text=False: no text model at all (summaries are stored without a vector)."""

    def __init__(self, encoder=None, text_model=None, *, use_text: bool = True):
        self.encoder = encoder
        self._text_model = text_model if use_text else None
        self._text_failed = not use_text

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
        return unit(np.asarray(self._text_model(list(texts)), dtype=np.float32))

    def clip(self, frames: np.ndarray) -> np.ndarray | None:
        """(E,) unit clip embedding of a few frames (T, H, W, 3), or None without an encoder."""
        if self.encoder is None:
            return None
        embed = getattr(self.encoder, "clip_embedding", None) or self.encoder.encode_video
        try:
            return unit(np.asarray(embed(frames), dtype=np.float32).reshape(-1))
        except Exception as error:  # one bad segment must not stop indexing; it just has no clip vector
            logger.warning("clip embedding failed (%s); the segment is retrieved without it", error)
            return None

    def query(self, texts: list[str]) -> np.ndarray | None:
        """(N, E) unit embeddings of texts in the encoder's clip space, or None."""
        if self.encoder is None or not texts:
            return None
        try:
            return unit(np.asarray(self.encoder.encode_text(list(texts)), dtype=np.float32))
        except Exception as error:
            logger.warning("encoder text embedding failed (%s); retrieval without clip similarity", error)
            return None


# ---- the indexer ---------------------------------------------------------------------------
class SegmentIndexer:
    """Segments in, SegmentRecords out; holds the proposer and the embedders for its whole life.

    proposer: built once (the default costs ~1 s to set up); proposers keep no state from one
    segment to the next (AutoProposer picks per clip), so a worker's share of segments gives
    the same tracks as a full pass. tracker: None makes a fresh default tracker per segment
    (track ids restart in every segment; the library offsets them when merging).
    """

    def __init__(self, settings: IndexSettings = IndexSettings(), *, embedders: Embedders | None = None,
                 proposer=None, tracker=None):
        if proposer is None:
            from videothought.perception.proposals import default_proposer

            proposer = default_proposer()
        self.settings = settings
        self.embedders = embedders if embedders is not None else Embedders()
        self.proposer = proposer
        self.tracker = tracker

    def warm_up(self) -> None:
        """Load the text model now, so the first segment's build_seconds time the work alone."""
        self.embedders.text(["warm-up"])

    def plan(self, path: str) -> VideoPlan:
        """Open the video (errors name the file) and plan its segments."""
        from videothought.perception.video import VideoReader

        with VideoReader(path, max_side=self.settings.max_side) as reader:
            return plan_of(reader, self.settings)

    def index_segment(self, segment, fps: float, video_info: dict) -> SegmentRecord | None:
        """One segment (perception.video.Segment) as a record; None when it has under 2 frames
        (nothing to track: the library skips it, as a full pass does)."""
        from videothought.perception.pipeline import track_frames

        if len(segment) < 2:
            return None
        started = time.perf_counter()
        doc = track_frames(segment.frames, segment.frame_indices, fps, proposer=self.proposer, tracker=self.tracker,
                           video=video_info).to_dict()
        tracks, events = segment_facts(doc)
        summary = segment_summary(segment.start_seconds, segment.end_seconds, tracks, events,
                                  self.settings.summary_events)
        text_vector = self.embedders.text([summary])
        picks = np.linspace(0, len(segment) - 1, min(self.settings.clip_frames, len(segment))).round().astype(int)
        clip_vector = self.embedders.clip(segment.frames[picks])  # (clip_frames, H, W, 3) in
        stsg = zlib.compress(json.dumps(doc, separators=(",", ":")).encode("utf-8"), 6)
        return SegmentRecord(
            segment=int(segment.segment_index), start_frame=int(segment.frame_indices[0]),
            end_frame=int(segment.frame_indices[-1]), start_seconds=float(segment.start_seconds),
            end_seconds=float(segment.end_seconds), summary=summary,
            text_embedding=float_bytes(None if text_vector is None else text_vector[0]),
            clip_embedding=float_bytes(clip_vector), stsg=stsg, build_seconds=time.perf_counter() - started,
            tracks=tracks, events=events)

    def index_reader(self, reader, only: Sequence[int] | None = None, skip: Sequence[int] = (),
                     progress: bool = False) -> Iterator[SegmentRecord]:
        """Records of an open VideoReader's segments, in order: all of them (one streaming pass),
        or `only` these (seeking), less `skip` (already committed: decoded, not tracked)."""
        settings, meta = self.settings, reader.metadata
        segments = reader.iter_segments(settings.segment_seconds, fps=settings.index_fps, only=only)
        if progress:
            from tqdm import tqdm

            segments = tqdm(segments, total=len(only) if only is not None else plan_of(reader, settings).num_segments,
                            desc="indexing", unit="segment")
        # the resolved path: a worker may have opened the file by another spelling of it
        video_info = {"path": str(Path(reader.path).resolve()), "fps": meta.fps, "num_frames": meta.num_frames}
        skipped = {int(s) for s in skip}
        self.warm_up()
        for segment in segments:
            if segment.segment_index in skipped:  # decoding a finished segment again: the price of one pass
                continue
            record = self.index_segment(segment, meta.fps, video_info)
            if record is not None:
                yield record

    def index_video(self, path: str, only: Sequence[int] | None = None) -> Iterator[SegmentRecord]:
        """Records of these segments of the video at `path` (all when `only` is None)."""
        from videothought.perception.video import VideoReader

        with VideoReader(path, max_side=self.settings.max_side) as reader:
            yield from self.index_reader(reader, only=only)


def plan_of(reader, settings: IndexSettings) -> VideoPlan:
    """An open VideoReader's plan: the decoded size, length and planned segment count."""
    meta = reader.metadata
    planned = max(1, int(math.ceil(meta.duration_seconds / settings.segment_seconds - 1e-9)))
    return VideoPlan(path=str(reader.path), fps=float(meta.fps), num_frames=int(meta.num_frames),
                     width=int(meta.width), height=int(meta.height), duration_seconds=float(meta.duration_seconds),
                     num_segments=planned)
