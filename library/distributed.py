"""Indexing videos on a Ray cluster: workers decode, track and embed; this process writes.

    from videothought.library.distributed import WorkerSpec, add_videos_ray
    with Library("videos.sqlite") as library:
        report = add_videos_ray(library, ["a.mp4", "b.mp4"], address="auto", spec=WorkerSpec())
        report.records, report.failures            # VideoRecords; (path, message) per video that failed

    driver (this process, the one SQLite writer)          Ray workers (actors, one CPU each)
    ──────────────────────────────────────────           ───────────────────────────────────
    hash each file; skip the complete ones
    plan(path) ─────────────────────────────────────────► open the video (errors name the file)
    begin_video (in the order given) ◄────── VideoPlan ──┘
    segments not committed yet, in chunks of
    segments_per_task ─── index(path, [12, 13, 14]) ───► seek, decode, track, embed
    commit_segment, one transaction each ◄─ [SegmentRecord] ┘   (models loaded once per actor)
    finish_video when every chunk is in

Resuming is the serial build's: a segment is in the library or not, so a rerun after a kill
(of this process, or of the cluster) sends only the missing segments. A video whose worker
raised is left 'indexing' with what it committed, named in `report.failures`; the others go on.
The rows equal a serial `Library.add`'s, row for row, except the timings (build_seconds,
added_at): the same SegmentIndexer code runs on the same frames (tested, tests/library/).

Worker models are named by WorkerSpec strings ("default", None, or "module:function"), which
any node can import; a closure could not travel to a remote node.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from videothought.library.cluster import (
    cluster_cpus,
    import_spec,
    ray_session,
    set_worker_threads,
    task_error,
    worker_threads,
)
from videothought.library.store import Library, VideoRecord, file_sha256
from videothought.perception.indexing import IndexSettings

logger = logging.getLogger(__name__)

DEFAULT = "default"


@dataclass(frozen=True)
class WorkerSpec:
    """What each worker loads once, by name: "default" (the embedded stack), None (none), or
    "module:function" (a factory called with no arguments)."""

    encoder: str | None = DEFAULT  # the AoE encoder, for clip embeddings; None: facts and text only
    text_model: str | None = DEFAULT  # MiniLM for summaries; a factory returns a callable texts -> (N, D)
    proposer: str | None = DEFAULT  # the default proposer (AutoProposer)

    def build(self):
        """(encoder, text_model, proposer) in this process. A None text model here means MiniLM,
        loaded on first use (the Embedders' own default); WorkerSpec(text_model=None) turns it off."""
        encoder = text_model = proposer = None
        if self.encoder == DEFAULT:
            from videothought.perception.encoder import load_default_encoder

            encoder = load_default_encoder()
        elif self.encoder:
            encoder = import_spec(self.encoder, "encoder")()
        if self.text_model not in (None, DEFAULT):
            text_model = import_spec(self.text_model, "text model")()
        if self.proposer not in (None, DEFAULT):
            proposer = import_spec(self.proposer, "proposer")()
        return encoder, text_model, proposer


class IndexWorker:
    """A Ray actor's body: one SegmentIndexer for the actor's life (models loaded once)."""

    def __init__(self, settings: IndexSettings, spec: WorkerSpec, threads: int):
        from videothought.perception.indexing import Embedders, SegmentIndexer

        set_worker_threads(threads)
        encoder, text_model, proposer = spec.build()
        embedders = Embedders(encoder, text_model, use_text=spec.text_model is not None)
        self.indexer = SegmentIndexer(settings, embedders=embedders, proposer=proposer)
        self.indexer.warm_up()
        self.segments_done = 0

    def plan(self, path: str):
        return self.indexer.plan(path)

    def index(self, path: str, segments: list[int]) -> list:
        records = list(self.indexer.index_video(path, only=segments))
        self.segments_done += len(records)
        return records

    def stats(self) -> dict:
        import os
        import resource

        return {"pid": os.getpid(), "segments_done": self.segments_done,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


@dataclass
class BuildReport:
    """What a Ray build did: the videos indexed (input order), the ones that failed and why."""

    records: list[VideoRecord] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, message naming it)
    segments_committed: int = 0
    record_bytes: list[int] = field(default_factory=list)  # per committed segment, pickled as Ray sends it
    commit_seconds: float = 0.0  # the writer's time in commit_segment, all segments
    workers: int = 0
    startup_seconds: float = 0.0  # from the call until every worker had loaded its models (hashing included)
    worker_stats: list[dict] = field(default_factory=list)  # per worker: pid, segments_done, peak_rss_mb
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"videos": [r.to_dict() for r in self.records], "failures": [list(f) for f in self.failures],
                "segments_committed": self.segments_committed, "workers": self.workers,
                "worker_stats": self.worker_stats, "commit_seconds": round(self.commit_seconds, 3),
                "startup_seconds": round(self.startup_seconds, 3),
                "seconds": round(self.seconds, 3)}


@dataclass
class _Video:
    position: int
    path: str
    sha256: str
    name: str | None = None
    video_id: int | None = None
    chunks_left: int = 0
    failed: bool = False


def worker_start_error(error: BaseException) -> str:
    """Why an actor died in its constructor, in one line (Ray wraps the constructor's exception)."""
    cause = getattr(error, "cause", None) or getattr(getattr(error, "error_msg", None), "cause", None)
    text = str(cause if cause is not None else error).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _chunks(segments: list[int], size: int) -> list[list[int]]:
    return [segments[i:i + size] for i in range(0, len(segments), size)]


def _message(path: str, error: BaseException) -> str:
    """The worker's error as one line that names the file (VideoErrors start with it already)."""
    error = task_error(error)
    text = str(error)
    return text if path in text else f"{path}: {type(error).__name__}: {text}"


def add_videos_ray(library: Library, paths: list[str], *, settings: IndexSettings = IndexSettings(),
                   spec: WorkerSpec = WorkerSpec(), address: str | None = None, workers: int | None = None,
                   segments_per_task: int = 3, progress: bool = False) -> BuildReport:
    """Index `paths` into `library` with Ray workers (see the module docstring).

    address: "auto", "HOST:PORT", or None for a local cluster of `workers` CPUs (a cluster this
    process is already connected to is used as it is). workers: actors (default: the cluster's
    CPUs). segments_per_task: consecutive segments a worker decodes after one seek; a kill loses
    at most the chunks in flight.
    """
    if segments_per_task < 1:
        raise ValueError(f"segments_per_task must be at least 1, got {segments_per_task!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    started = time.perf_counter()
    report = BuildReport()
    videos: list[_Video] = []
    done_records: dict[int, VideoRecord] = {}
    seen: set[str] = set()
    for position, path in enumerate(str(p) for p in paths):
        if not Path(path).is_file():
            report.failures.append((path, f"{path}: no such file"))
            continue
        sha256 = file_sha256(path)
        if sha256 in seen:  # the same file twice (or a copy): one index serves both
            continue
        seen.add(sha256)
        found = library.find(sha256, settings)
        if found is not None and found[1] == "complete":
            done_records[position] = library.video(found[0])
            continue
        videos.append(_Video(position, path, sha256))
    if not videos:
        report.records = [done_records[p] for p in sorted(done_records)]
        report.seconds = time.perf_counter() - started
        return report

    with ray_session(address, num_cpus=workers) as ray:
        count = workers or cluster_cpus(ray)
        actor_class = ray.remote(num_cpus=1)(IndexWorker)
        actors = [actor_class.remote(settings, spec, worker_threads()) for _ in range(count)]
        report.workers = count
        try:
            ray.get([actor.stats.remote() for actor in actors])  # every worker up, its models loaded
        except ray.exceptions.RayActorError as error:  # a model that cannot load: no worker can index
            for actor in actors:
                ray.kill(actor)
            raise ValueError(f"the Ray workers could not start: {worker_start_error(error)}") from None
        report.startup_seconds = time.perf_counter() - started
        idle = deque(actors * 2)  # two calls per actor in flight: one running, one queued behind it
        inflight: dict = {}  # ref -> (kind, video, chunk, actor)
        jobs: deque = deque()  # (video, chunk) waiting for an actor
        plans: dict[int, object] = {}  # position -> VideoPlan, registered in input order
        next_to_begin = 0
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(desc="indexing (ray)", unit="segment", total=0)

        def submit(kind, video, chunk=None):
            actor = idle.popleft()
            ref = actor.plan.remote(video.path) if kind == "plan" else actor.index.remote(video.path, chunk)
            inflight[ref] = (kind, video, chunk, actor)

        def fail(video: _Video, error: BaseException) -> None:
            if not video.failed:
                video.failed = True
                message = _message(video.path, error)
                report.failures.append((video.path, message))
                logger.warning("indexing failed: %s", message)

        def begin_in_order() -> None:
            nonlocal next_to_begin
            while next_to_begin < len(videos):
                video = videos[next_to_begin]
                if video.failed:
                    next_to_begin += 1
                    continue
                if video.position not in plans:
                    return
                plan = plans.pop(video.position)
                video.video_id = library.begin_video(video.path, plan, sha256=video.sha256, settings=settings,
                                                     name=video.name)
                todo = [s for s in range(plan.num_segments) if s not in library.committed_segments(video.video_id)]
                chunks = _chunks(todo, segments_per_task)
                video.chunks_left = len(chunks)
                jobs.extend((video, chunk) for chunk in chunks)
                if bar is not None:
                    bar.total += len(todo)
                    bar.refresh()
                if not chunks:
                    done_records[video.position] = library.finish_video(video.video_id)
                next_to_begin += 1

        pending_plans = deque(videos)
        while pending_plans or jobs or inflight:
            while idle and (pending_plans or jobs):
                if pending_plans:
                    submit("plan", pending_plans.popleft())
                else:
                    video, chunk = jobs.popleft()
                    if video.failed:
                        continue
                    submit("index", video, chunk)
            ready, _ = ray.wait(list(inflight), num_returns=1)
            ref = ready[0]
            kind, video, chunk, actor = inflight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as error:  # the worker process died (a crash in a decoder)
                fail(video, error)
                if any(a is actor for a in actors):  # first news of this death: a fresh worker takes its slots
                    replacement = actor_class.remote(settings, spec, worker_threads())
                    actors = [replacement if a is actor else a for a in actors]
                    idle = deque(a for a in idle if a is not actor)
                    idle.extend([replacement, replacement])
                if kind == "plan":
                    begin_in_order()
                continue
            except Exception as error:  # the video's own error (unreadable, truncated, ...), raised in the worker
                idle.append(actor)
                fail(video, error)
                if kind == "plan":
                    begin_in_order()
                continue
            idle.append(actor)
            if kind == "plan":
                plans[video.position] = result
                begin_in_order()
                continue
            if video.failed:
                continue
            for record in result:
                committing = time.perf_counter()
                library.commit_segment(video.video_id, record)
                report.commit_seconds += time.perf_counter() - committing
                report.segments_committed += 1
                report.record_bytes.append(len(pickle.dumps(record, protocol=5)))  # measuring, never loading
            if bar is not None:
                bar.update(len(chunk))
            video.chunks_left -= 1
            if video.chunks_left == 0:
                done_records[video.position] = library.finish_video(video.video_id)
        if bar is not None:
            bar.close()
        report.worker_stats = ray.get([actor.stats.remote() for actor in actors])
        for actor in actors:
            ray.kill(actor)
    report.records = [done_records[p] for p in sorted(done_records)]
    report.seconds = time.perf_counter() - started
    return report
