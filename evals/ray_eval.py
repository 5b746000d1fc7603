"""`vot eval --ray`: questions spread over Ray workers; this process writes the results file.

    vot eval --task world --data runs/world --out runs/eval-world --ray            # a local cluster
    vot eval --task world --data runs/world --out runs/eval-world --ray auto --workers 8

The run directory is the serial run's (evals/runner.py): the same run.json, the same
results.jsonl (one record per question, written and fsync'd by this process alone), the same
checkpoints.sqlite. So a rerun resumes whatever was interrupted, with or without --ray, and
`vot report` reads the run as it reads any other.

    driver (writes results.jsonl)                       workers (actors, one CPU each)
    ─────────────────────────────                       ──────────────────────────────
    questions without a record
    each distinct video ─────────────── prepare ──────► a long video is indexed into the run's
                                                         library once (evals/long_videos.py)
    a question, or a conversation's turns ── answer ───► runner.answer_question, in turn order,
    append + fsync each record ◄──────── [records] ────┘  checkpointing every node
    forget the question's checkpoint

A worker builds the graph and its context once (models load once per worker), answers with the
serial runner's own function and checkpoints into the run's checkpoints.sqlite, so a question
killed mid-graph continues from its last node on the rerun. A conversation's turns go to one
worker in order (a follow-up reads the agent's own earlier answers). Records are in completion
order in the file; readers sort them by question (runner.read_records).

Limits: several workers share checkpoints.sqlite and the long-video library, which SQLite
allows on one machine's disk; on several machines RUN_DIR must be shared storage and SQLite's
locking over a network file system is not to be trusted (index long videos first with
`vot index --ray` and point VIDEOTHOUGHT_LIBRARY at the library; see docs/scaling.md).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from pathlib import Path

from videothought.evals import conversations
from videothought.evals.datasets import Sample
from videothought.evals.task import Task
from videothought.evals.runner import (
    ResultLog,
    RunnerError,
    RunOptions,
    _forget_thread,
    _running_accuracy,
    open_checkpointer,
    read_records,
    run_manifest,
    shard_samples,
    summary_of,
    todo_samples,
    write_manifest,
)

logger = logging.getLogger(__name__)

CHECKPOINT_WAIT_SECONDS = 60.0  # a worker's checkpoint write waits this long for the others' (SQLite lock)


class EvalWorker:
    """A Ray actor's body: the graph, its context and a checkpointer, built once."""

    def __init__(self, task_name: str, run_dir: str, options: RunOptions, threads: int, path: list[str]):
        from videothought.evals.long_videos import LongVideoContexts
        from videothought.evals.runner import build_context, build_graph
        from videothought.library.cluster import set_worker_threads

        for entry in reversed(path):  # the driver's import path: --graph module:function resolves alike
            if entry not in sys.path:
                sys.path.insert(0, entry)
        set_worker_threads(threads)
        self.task_name, self.options = task_name, options
        self.saver, self.connection = open_checkpointer(Path(run_dir) / "checkpoints.sqlite", CHECKPOINT_WAIT_SECONDS)
        self.graph = build_graph(options.graph, ablate=options.ablate, checkpointer=self.saver)
        self.context = build_context(options.context, options.graph, self.graph)
        self.long_videos = LongVideoContexts(run_dir)

    def prepare(self, sample: Sample) -> str | None:
        """Index the sample's video into the run's library when it is long; the error, if any."""
        try:
            self.long_videos.context_for(sample, self.context)
        except Exception as error:  # the question records it when it runs
            return f"{type(error).__name__}: {error}"
        return None

    def answer(self, items: list[tuple[int, Sample]], earlier: dict[str, dict]) -> list[dict]:
        """Records of these questions, answered in order (a conversation's turns see the earlier ones)."""
        from videothought.evals.runner import answer_question

        done = dict(earlier)
        records = []
        for position, sample in items:
            record = answer_question(self.graph, self.context, self.long_videos, self.task_name, position, sample,
                                     done, shard=(0, 1), recursion_limit=self.options.recursion_limit)
            done[sample.key] = record
            records.append(record)
        return records


def question_groups(todo: list[tuple[int, Sample]]) -> list[list[tuple[int, Sample]]]:
    """Units of work: a conversation's turns together in task order, every other question alone."""
    groups: dict[object, list[tuple[int, Sample]]] = {}
    for position, sample in todo:
        conversation = (sample.metadata or {}).get("conversation")
        key = ("conversation", conversation) if conversation is not None else ("question", position)
        groups.setdefault(key, []).append((position, sample))
    return list(groups.values())


def _earlier_turns(group: list[tuple[int, Sample]], done: dict[str, dict]) -> dict[str, dict]:
    conversation = (group[0][1].metadata or {}).get("conversation")
    if conversation is None:
        return {}
    return {key: record for key, record in done.items()
            if ((record.get("sample") or {}).get("metadata") or {}).get("conversation") == conversation}


def run_task_ray(task: Task, run_dir: str | Path, options: RunOptions | None = None, *,
                 address: str | None = None, workers: int | None = None) -> dict:
    """Answer every question RUN_DIR has no record of, on Ray workers. Returns the run's summary
    (the serial runner's, plus `workers` and `lost`: questions whose worker died, left for a rerun)."""
    from tqdm import tqdm

    from videothought.library.cluster import cluster_cpus, ray_session, task_error, worker_threads

    options = options or RunOptions()
    if options.shard is not None:
        raise RunnerError("--shard and --ray do not mix: Ray spreads the questions itself")
    if workers is not None and workers < 1:
        raise RunnerError(f"--workers must be at least 1, got {workers}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(run_dir, run_manifest(task, options))
    selected = shard_samples(task.samples, 0, 1)
    finished = {r["key"]: r for r in read_records(run_dir)}
    todo = todo_samples(selected, finished, options.retry_errors)
    already = len(selected) - len(todo)
    done = {sample.key: finished[sample.key] for _, sample in selected if sample.key in finished}
    started = time.perf_counter()
    lost = count = 0
    if todo:
        with ray_session(address, num_cpus=workers) as ray:
            count = workers or cluster_cpus(ray)
            actor_class = ray.remote(num_cpus=1)(EvalWorker)

            def new_actor():
                return actor_class.remote(task.name, str(run_dir), options, worker_threads(), list(sys.path))

            actors = [new_actor() for _ in range(count)]
            saver, connection = open_checkpointer(run_dir / "checkpoints.sqlite", CHECKPOINT_WAIT_SECONDS)
            bar = tqdm(total=len(selected), initial=already, desc=f"{task.name} (ray x{count})", unit="q",
                       file=sys.stderr, disable=not options.progress, dynamic_ncols=True)
            try:
                # long videos are indexed once, in parallel, before questions about them run anywhere
                first_of_video = {}
                for _, sample in todo:
                    if sample.video_path:
                        first_of_video.setdefault(sample.video_path, sample)
                prepared = [actors[i % count].prepare.remote(s) for i, s in enumerate(first_of_video.values())]
                for problem in ray.get(prepared):
                    if problem:
                        logger.warning("preparing a video failed (its questions will say why): %s", problem)
                slots = deque(actors * 2)  # two calls per worker in flight: one running, one queued
                waiting = deque(question_groups(todo))
                inflight: dict = {}
                with ResultLog(run_dir / "results.jsonl") as log, bar:
                    bar.set_postfix_str(_running_accuracy(done.values()))
                    while waiting or inflight:
                        while slots and waiting:
                            actor, group = slots.popleft(), waiting.popleft()
                            inflight[actor.answer.remote(group, _earlier_turns(group, done))] = (actor, group)
                        ready, _ = ray.wait(list(inflight), num_returns=1)
                        actor, group = inflight.pop(ready[0])
                        try:
                            records = ray.get(ready[0])
                        except ray.exceptions.RayActorError as error:  # the worker died: a rerun answers these
                            lost += len(group)
                            logger.warning("a worker died (%s); %d question(s) left for a rerun", task_error(error),
                                           len(group))
                            if any(a is actor for a in actors):
                                replacement = new_actor()
                                actors = [replacement if a is actor else a for a in actors]
                                slots = deque(a for a in slots if a is not actor)
                                slots.extend([replacement, replacement])
                            continue
                        slots.append(actor)
                        for record in records:
                            log.append(record)
                            _forget_thread(saver, f"{task.name}:{record['key']}")
                            done[record["key"]] = record
                            bar.update(1)
                        bar.set_postfix_str(_running_accuracy(done.values()))
            finally:
                connection.close()
                for actor in actors:
                    ray.kill(actor)
    records = [done[s.key] for _, s in selected if s.key in done]
    summary = summary_of(task.name, run_dir, "ray", records, len(selected), already, len(todo), started)
    return summary | {"workers": count, "lost": lost, "main_process": True}
