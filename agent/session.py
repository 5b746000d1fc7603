"""Long videos: index once, then ask and chat.

    session = Session("hour.mp4")                    # indexes (or loads the cached index)
    session.ask("What colour is the star that stops?", choices=[...]).answer
    session.chat("Which object enters the scene first?")      # -> "the red circle"
    session.chat("What does it do right after that?")         # "it" = the previous answer's object

Indexing streams the video once in fixed segments (bounded memory): per segment, the tracker's
STSG (global frame indices), a compact text summary, and (when an encoder is present) the
summary's embedding. The index is cached on disk keyed by the file's SHA-256, so a second
Session on the same file costs only the hash. A question retrieves the few segments whose
objects and events it names and the graph runs on their STSGs only: after indexing, the cost
of a question does not grow with the video's length.

A session is one LangGraph thread (`session.thread_id`); every turn is checkpointed on it and
`session.history` is what follow-ups see.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from videothought.agent.evidence import (
    compact_verbalize,
    doc_tracks,
    event_types,
    object_phrases,
    phrase_match,
    track_name,
    words,
)

logger = logging.getLogger(__name__)

INDEX_VERSION = 1
_TRACK_ID_STRIDE = 100_000  # merged segments: track t of segment s becomes s * stride + t


def file_sha256(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class SegmentIndex:
    """A video's segments: [{"index", "start_frame", "end_frame", "start_seconds", "end_seconds",
    "stsg", "summary", "labels", "events", "embedding"}], plus how it was built."""

    video_path: str
    sha256: str
    fps: float
    segment_seconds: float
    index_fps: float
    segments: list[dict] = field(default_factory=list)
    build_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"version": INDEX_VERSION, "video_path": self.video_path, "sha256": self.sha256, "fps": self.fps,
                "segment_seconds": self.segment_seconds, "index_fps": self.index_fps,
                "build_seconds": self.build_seconds, "segments": self.segments}

    @classmethod
    def from_dict(cls, data: dict) -> SegmentIndex:
        if data.get("version") != INDEX_VERSION:
            raise ValueError(f"index version {data.get('version')!r} is not {INDEX_VERSION}; rebuild it")
        return cls(video_path=data["video_path"], sha256=data["sha256"], fps=float(data["fps"]),
                   segment_seconds=float(data["segment_seconds"]), index_fps=float(data["index_fps"]),
                   segments=list(data["segments"]), build_seconds=float(data.get("build_seconds", 0.0)))

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SegmentIndex:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    # ---- retrieval -----------------------------------------------------------------------
    def segment_scores(self, question: str, phrases: list[str], encoder=None) -> list[float]:
        """How much each segment is about the question: its objects matching the target phrases,
        its events of the kinds the question names, and (with an encoder) embedding similarity."""
        phrases = list(dict.fromkeys(list(phrases) + object_phrases(question)))
        kinds = set(event_types(question))
        question_words = set(words(question))
        query = _embed(encoder, question) if encoder is not None else None
        scores = []
        for segment in self.segments:
            tracks = {int(k): v for k, v in segment["labels"].items()}
            score = 0.0
            for phrase in phrases:
                score += max((phrase_match(phrase, track) for track in tracks.values()), default=0.0)
            score += 0.5 * len(kinds & set(segment["events"]))
            score += 0.1 * len(question_words & set(words(segment["summary"])))  # weak lexical tie-breaker
            if query is not None and segment.get("embedding"):
                score += sum(a * b for a, b in zip(query, segment["embedding"]))
            scores.append(score)
        return scores

    def retrieve(self, question: str, phrases: list[str], k: int = 3, encoder=None) -> tuple[dict, list[int]]:
        """The merged STSG document of the `k` most relevant segments (in time order) and their indices."""
        if not self.segments:
            raise ValueError(f"{self.video_path}: the index has no segments")
        scores = self.segment_scores(question, phrases, encoder)
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
        chosen = sorted(ranked)
        return merge_documents([self.segments[i]["stsg"] for i in chosen], chosen, self.fps), chosen


def merge_documents(docs: list[dict], segment_ids: list[int], fps: float) -> dict:
    """One STSG document from several segments' (frame indices are global already; track ids are
    made unique as segment * 100000 + track)."""
    nodes, links, tracks, events = [], [], {}, []
    width = height = None
    for doc, segment in zip(docs, segment_ids):
        offset = segment * _TRACK_ID_STRIDE
        video = doc.get("video") or {}
        width, height = width or video.get("width"), height or video.get("height")
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
    return {"schema": "videothought.stsg", "version": 1,
            "video": {"fps": fps, "width": width, "height": height, "segments": segment_ids},
            "graph": graph, "tracks": tracks, "events": sorted(events, key=lambda e: e["start_frame"])}


def _embed(encoder, text: str) -> list[float] | None:
    try:
        import numpy as np

        vector = np.asarray(encoder.encode_text([text]), dtype=float).reshape(-1)
        return (vector / (np.linalg.norm(vector) + 1e-8)).tolist()
    except Exception as error:  # the encoder is optional: retrieval works on labels and events
        logger.warning("encoder text embedding failed: %s", error)
        return None


def build_index(
    video_path: str | os.PathLike,
    *,
    segment_seconds: float = 10.0,
    index_fps: float = 4.0,
    max_side: int = 320,
    proposer=None,
    tracker=None,
    encoder=None,
    sha256: str | None = None,
    progress: bool = False,
) -> SegmentIndex:
    """Index a video: one streaming decode, the tracker per segment, a summary per segment."""
    from videothought.perception.pipeline import track_frames
    from videothought.perception.video import VideoReader

    start = time.perf_counter()
    sha256 = sha256 or file_sha256(video_path)
    with VideoReader(video_path, max_side=max_side) as video:
        meta = video.metadata
        total = max(1, int(-(-meta.duration_seconds // segment_seconds)))
        segments_iter = video.iter_segments(segment_seconds, fps=index_fps)
        if progress:
            from tqdm import tqdm

            segments_iter = tqdm(segments_iter, total=total, desc="indexing", unit="segment")
        segments = []
        for segment in segments_iter:
            if len(segment) < 2:
                continue
            stsg = track_frames(segment.frames, segment.frame_indices, meta.fps, proposer=proposer, tracker=tracker,
                                video={"path": str(video_path), "fps": meta.fps, "num_frames": meta.num_frames})
            doc = stsg.to_dict()
            tracks = doc_tracks(doc)
            summary = f"{segment.start_seconds:.0f}-{segment.end_seconds:.0f}s: " + \
                compact_verbalize(doc, None, max_tokens=120).replace("\n", " ")
            segments.append({
                "index": len(segments),
                "start_frame": int(segment.frame_indices[0]), "end_frame": int(segment.frame_indices[-1]),
                "start_seconds": segment.start_seconds, "end_seconds": segment.end_seconds,
                "stsg": doc, "summary": summary,
                "labels": {str(t): {"label": track_name(v), "attributes": v.get("attributes", {})} for t, v in tracks.items()},
                "events": sorted({e["type"] for e in doc.get("events", [])}),
                "embedding": _embed(encoder, summary) if encoder is not None else None,
            })
    return SegmentIndex(video_path=str(video_path), sha256=sha256, fps=meta.fps, segment_seconds=segment_seconds,
                        index_fps=index_fps, segments=segments, build_seconds=time.perf_counter() - start)


def default_cache_dir() -> Path:
    from videothought.agent.llm import cache_root

    return cache_root() / "sessions"


class Session:
    """Ask and chat about one (long) video; the index is built once and cached by file hash."""

    def __init__(
        self,
        video_path: str | os.PathLike,
        *,
        context=None,
        cache_dir: str | os.PathLike | None = None,
        segment_seconds: float = 10.0,
        index_fps: float = 4.0,
        progress: bool = False,
        max_retries: int = 2,
        checkpointer=None,
    ):
        from langgraph.checkpoint.memory import InMemorySaver

        from videothought.agent.context import default_context
        from videothought.perception.video import VideoNotFoundError

        self.video_path = str(video_path)
        if not Path(self.video_path).is_file():
            raise VideoNotFoundError(self.video_path, "no such file")
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        context = context if context is not None else default_context()
        sha256 = file_sha256(self.video_path)
        index_path = self.cache_dir / f"{sha256[:32]}-{segment_seconds:g}s-{index_fps:g}fps.json"
        self.index = None
        self.index_seconds = 0.0
        if index_path.is_file():
            try:
                self.index = SegmentIndex.load(index_path)
            except (ValueError, KeyError, json.JSONDecodeError) as error:
                logger.warning("rebuilding the unreadable index %s: %s", index_path, error)
        if self.index is None:
            self.index = build_index(self.video_path, segment_seconds=segment_seconds, index_fps=index_fps,
                                     max_side=context.settings.max_side, proposer=context.proposer,
                                     tracker=context.tracker, encoder=context.encoder, sha256=sha256, progress=progress)
            self.index_seconds = self.index.build_seconds
            self.index.save(index_path)
        self.index_path = index_path
        self.context = context.with_overrides(index=_BoundIndex(self.index, context.encoder))
        self.thread_id = f"session-{sha256[:16]}-{int(time.time() * 1000)}"
        self.max_retries = max_retries
        self.checkpointer = checkpointer or InMemorySaver()
        self.history: list[dict] = []
        self._graph = None

    @property
    def graph(self):
        if self._graph is None:
            from videothought.agent.graph import build_vot_graph

            self._graph = build_vot_graph(max_retries=self.max_retries)
        return self._graph

    def ask(self, question: str, choices=(), *, remember: bool = False, trace_path=None):
        """Answer one question on the session's thread. With remember=True it joins the chat history."""
        from videothought.agent.run import run_question

        result = run_question(question, video_path=self.video_path, choices=list(choices), context=self.context,
                              thread_id=self.thread_id, graph=self.graph, checkpointer=self.checkpointer,
                              trace_path=trace_path, history=list(self.history))
        if remember:
            targets = [t["phrase"] for t in result.state.get("targets", []) if t.get("track_ids")]
            targets = object_phrases(result.answer) or targets  # "the red circle" answers name the object
            self.history.append({"question": question, "answer": result.answer, "targets": targets})
        return result

    def chat(self, message: str) -> str:
        """One chat turn: an open-ended question (or "... ? a | b | c" for choices); returns the answer.
        Follow-ups ("what does it do next?") resolve "it" to the previous turn's object."""
        question, choices = split_choices(message)
        return self.ask(question, choices, remember=True).answer


class _BoundIndex:
    """The index as the track node calls it (retrieve with the context's encoder)."""

    def __init__(self, index: SegmentIndex, encoder):
        self.index, self.encoder = index, encoder

    def retrieve(self, question: str, phrases: list[str], k: int = 3):
        return self.index.retrieve(question, phrases, k=k, encoder=self.encoder)


def split_choices(message: str) -> tuple[str, list[str]]:
    """"Which object stops? the red circle | the blue star" -> (question, [choices])."""
    if "?" in message and "|" in message.split("?", 1)[1]:
        question, rest = message.split("?", 1)
        return question.strip() + "?", [c.strip() for c in rest.split("|") if c.strip()]
    return message.strip(), []
