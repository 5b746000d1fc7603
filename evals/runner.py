"""The resumable evaluation runner: every question through a compiled LangGraph graph, one
JSONL record per answered question (result, prediction, step-wise trace, per-question
metrics), written append-only and fsync'd so a kill loses nothing.

    RUN_DIR/
      run.json                      what ran: task, graph, ablations, split (checked on rerun)
      results.jsonl                 one record per question (results.shard-I-of-N.jsonl per shard)
      checkpoints.sqlite            LangGraph checkpoints of questions in flight (per shard)

One record (one JSON line):

    {"record": "result", "format": 1, "key": "w0_000003_w0_000003_q002", "index": 26,
     "status": "ok" | "error", "error": null | "RuntimeError: ... (at file.py:12 in node)",
     "answer": "...", "answer_index": 2 | null (unparsable), "correct": true | false | null (no gold),
     "sample": Sample.to_dict(), "prediction": {answer, answer_index, targets, stsg, frame_indices,
     action_analysis, candidate_scores, verification, retries, excluded_answers},
     "trace": [TraceRecord.to_dict(), ...], "metrics": metrics.question_metrics(...),
     "wall_seconds": 12.3, "cpu_seconds": 20.1, "shard": "0/1", "resumed": "fresh" | "continued" | "recovered",
     "code": "git commit of the code that answered" | null}

Resuming, at three depths:
  - a question with a record is skipped (the last record of a key wins when reading);
  - a question killed mid-graph continues from its last LangGraph checkpoint (SqliteSaver,
    durability="sync": a node's writes are on disk before the next node starts);
  - a question whose graph finished but whose record was not written is taken from the
    checkpoint's final state.
A torn last line (a kill during the write) is ignored when reading and cut off before
the next append.

Work is split by position: shard i of n takes questions i, i+n, i+2n, ... Under
`accelerate launch` the shard is the process's PartialState index of num_processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import inspect
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from videothought.evals import conversations
from videothought.evals import metrics as run_metrics
from videothought.evals.datasets import Sample
from videothought.evals.task import Task
from videothought.evals.long_videos import LongVideoContexts

logger = logging.getLogger(__name__)

DEFAULT_GRAPH = "videothought.agent.graph:build_vot_graph"
DEFAULT_CONTEXT = "videothought.agent.context:default_context"
AGENT_PACKAGE = "videothought.agent."  # graphs reusing nodes from here get DEFAULT_CONTEXT under --context auto
RECORD_FORMAT = 1
PREDICTION_KEYS = (
    "answer",
    "answer_index",
    "targets",
    "stsg",
    "frame_indices",
    "action_analysis",
    "candidate_scores",
    "verification",
    "retries",
    "excluded_answers",
)
MANIFEST_CHECKED = ("task", "split", "graph", "ablate", "context")


class RunnerError(RuntimeError):
    """The run cannot start as asked (bad --graph, --shard, a RUN_DIR of another run, ...)."""


# ---------------------------------------------------------------------------------------
# Append-only JSONL


def _cut_torn_tail(path: Path) -> int:
    """Cut a last line that has no newline (a kill during its write). Returns bytes removed."""
    if not path.is_file():
        return 0
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Walk back to the last newline in blocks.
        position, keep = size, 0
        while position > 0:
            start = max(0, position - 65536)
            handle.seek(start)
            block = handle.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    logger.warning("%s: cut a torn last line (%d bytes) left by an interrupted write", path, size - keep)
    return size - keep


class ResultLog:
    """An append-only JSONL file: one write and one fsync per record."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(self.path)
        existed = self.path.exists()
        self._handle = self.path.open("a", encoding="utf-8")
        if not existed:
            _fsync_dir(self.path.parent)

    def append(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=False, default=_json_default, allow_nan=False) + "\n"
        self._handle.write(line)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _json_default(value: Any):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def result_files(run_dir: str | os.PathLike) -> list[Path]:
    return sorted(Path(run_dir).glob("results*.jsonl"))


def read_records(run_dir: str | os.PathLike) -> list[dict]:
    """Every question's latest record in a run directory (all shards), in the task's order.

    A line that is not JSON is skipped with a warning (a torn last line of a killed writer).
    """
    latest: dict[str, dict] = {}
    for path in result_files(run_dir):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    logger.warning("%s:%d: skipping a line that is not JSON (torn write?)", path, number)
                    continue
                if isinstance(record, dict) and record.get("record") == "result" and "key" in record:
                    latest[record["key"]] = record
    return sorted(latest.values(), key=lambda r: (r.get("index", 0), r["key"]))


def read_manifest(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise RunnerError(f"{run_dir} is not a run directory (no run.json); `vot eval --out DIR` writes one")
    return json.loads(path.read_text(encoding="utf-8"))


def write_manifest(run_dir: Path, manifest: dict) -> None:
    """Create run.json, or check that the existing one describes the same run."""
    path = run_dir / "run.json"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        for _ in range(50):  # another shard may be writing it this instant
            with contextlib.suppress(json.JSONDecodeError):
                existing = json.loads(path.read_text(encoding="utf-8"))
                break
            time.sleep(0.1)
        else:
            raise RunnerError(f"{path} is not valid JSON; remove it or use another --out") from None
        different = {k: (existing.get(k), manifest.get(k)) for k in MANIFEST_CHECKED if existing.get(k) != manifest.get(k)}
        if different:
            details = ", ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in different.items())
            raise RunnerError(f"{run_dir} holds a different run ({details}); use another --out to start a new one")
        return
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(run_dir)


# ---------------------------------------------------------------------------------------
# Graphs


def import_object(spec: str, what: str) -> Any:
    """`module:attribute`, importing the module. The working directory is importable (like uvicorn)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise RunnerError(f"{what} must look like module:function, got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise RunnerError(f"{what} {spec!r}: cannot import {module_name!r} ({error})") from None
    try:
        value = module
        for part in attribute.split("."):
            value = getattr(value, part)
    except AttributeError:
        raise RunnerError(f"{what} {spec!r}: {module_name} has no attribute {attribute!r}") from None
    return value


def _accepts(function, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def build_graph(spec: str, *, ablate: Sequence[str] = (), checkpointer=None):
    """A compiled graph from a factory `module:function` returning a StateGraph or a compiled graph.

    ablate is passed to the factory (`ablate=[...]`), which must accept it. A StateGraph is
    compiled with `checkpointer`; a compiled graph without a checkpointer gets it.
    """
    from langgraph.graph import StateGraph
    from langgraph.pregel import Pregel

    factory = import_object(spec, "--graph")
    if isinstance(factory, (StateGraph, Pregel)):
        if ablate:
            raise RunnerError(f"--graph {spec!r} is a graph, not a factory; --ablate needs a factory taking ablate=")
        graph = factory
    else:
        if not callable(factory):
            raise RunnerError(f"--graph {spec!r} is neither a graph nor a callable factory")
        if ablate and not _accepts(factory, "ablate"):
            raise RunnerError(f"--graph {spec!r} takes no ablate= argument, so --ablate {list(ablate)} cannot remove nodes")
        try:
            graph = factory(ablate=list(ablate)) if ablate else factory()
        except (ValueError, TypeError) as error:
            raise RunnerError(f"--graph {spec!r} refused to build: {error}") from None
    if isinstance(graph, StateGraph):
        return graph.compile(checkpointer=checkpointer)
    if isinstance(graph, Pregel):
        if graph.checkpointer is None and checkpointer is not None:
            graph = graph.copy(update={"checkpointer": checkpointer})
        return graph
    raise RunnerError(f"--graph {spec!r} returned {type(graph).__name__}, not a StateGraph or a compiled graph")


def uses_vot_nodes(graph) -> bool:
    """Whether a (compiled or uncompiled) graph reuses the VoT agent: its context schema is the
    agent's, or one of its nodes is a function from videothought.agent. Such nodes read their
    models from `runtime.context`, so they need the agent's context to run at all."""
    builder = graph if hasattr(graph, "add_node") else getattr(graph, "builder", None)
    if builder is None:
        return False
    schema = getattr(builder, "context_schema", None)
    if schema is not None and getattr(schema, "__module__", "").startswith(AGENT_PACKAGE):
        return True
    for spec in (getattr(builder, "nodes", None) or {}).values():
        function = getattr(spec, "runnable", spec)
        function = getattr(function, "func", None) or function  # LangGraph's RunnableCallable
        while isinstance(function, functools.partial):
            function = function.func
        function = inspect.unwrap(function)
        if getattr(function, "__module__", "").startswith(AGENT_PACKAGE):
            return True
    return False


def build_context(spec: str | None, graph_spec: str, graph=None):
    """The run context: `--context module:function`; with "auto" (the default), the agent's
    default_context for the default graph and for any graph that reuses VoT nodes
    (`uses_vot_nodes`), none otherwise; "none": no context."""
    if spec in (None, "auto"):
        wants_agent = graph_spec == DEFAULT_GRAPH or (graph is not None and uses_vot_nodes(graph))
        spec = DEFAULT_CONTEXT if wants_agent else None
        if wants_agent and graph_spec != DEFAULT_GRAPH:
            logger.info("--graph %s reuses VoT nodes: running it with %s", graph_spec, DEFAULT_CONTEXT)
    if spec in (None, "none"):
        return None
    factory = import_object(spec, "--context")
    return factory() if callable(factory) else factory


def open_checkpointer(path: Path, timeout_seconds: float = 5.0):
    """A real LangGraph SqliteSaver on `path` (one per process). Several processes may share the
    file (`vot eval --ray`'s workers on one machine: WAL, each write waits up to timeout_seconds
    for the others'); processes on several machines may not (SQLite over a network file system)."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    connection = sqlite3.connect(str(path), check_same_thread=False, timeout=timeout_seconds)
    saver = SqliteSaver(connection)
    saver.setup()
    return saver, connection


# ---------------------------------------------------------------------------------------
# Sharding


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise RunnerError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise RunnerError(f"--shard {text!r}: need 0 <= i < n")
    return index, count


def process_shard(shard: tuple[int, int] | None) -> tuple[int, int]:
    """--shard if given, else accelerate's process index/count when launched by `accelerate launch`."""
    if shard is not None:
        return shard
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or "ACCELERATE_PROCESS_INDEX" in os.environ:
        from accelerate import PartialState

        state = PartialState(cpu=True)
        return state.process_index, state.num_processes
    return 0, 1


def shard_samples(samples: Sequence[Sample], index: int, count: int) -> list[tuple[int, Sample]]:
    # turns of one conversation share a shard (evals/conversations.py)
    return [(position, sample) for position, sample in enumerate(samples)
            if conversations.shard_key(position, sample) % count == index]


# ---------------------------------------------------------------------------------------
# Running


@dataclasses.dataclass
class RunOptions:
    graph: str = DEFAULT_GRAPH
    context: str | None = "auto"
    ablate: tuple[str, ...] = ()
    shard: tuple[int, int] | None = None
    retry_errors: bool = False  # rerun questions whose record is an error
    progress: bool = True
    recursion_limit: int = 100  # LangGraph supersteps per question; retries loop back


def _suffix(index: int, count: int) -> str:
    return "" if count == 1 else f".shard-{index}-of-{count}"


@functools.lru_cache(maxsize=64)
def _load_truth(path: str) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        logger.warning("ground-truth STSG %s unreadable (%s): step metrics skipped", path, error)
        return None


def invoke_resumable(graph, graph_input: dict, config: dict, context) -> tuple[dict, str]:
    """Run one question, continuing from its checkpoint if an earlier process was killed in it.

    Returns (final state, how): "fresh", "continued" (from a mid-graph checkpoint) or
    "recovered" (the graph had finished; the record had not been written).
    """
    kwargs = {"context": context} if context is not None else {}
    how = "fresh"
    if graph.checkpointer is not None:
        snapshot = graph.get_state(config)
        # A step killed after its node's writes were saved but before the step's checkpoint has no
        # `next` (that node is done) yet a task left: only a snapshot with no tasks is finished.
        if snapshot.next or snapshot.tasks:
            how = "continued"
            return graph.invoke(None, config, durability="sync", **kwargs), how
        if snapshot.values:
            return dict(snapshot.values), "recovered"
    return graph.invoke(graph_input, config, durability="sync", **kwargs), how


def _forget_thread(checkpointer, thread_id: str) -> None:
    if checkpointer is not None:
        with contextlib.suppress(Exception):  # housekeeping only: the record is already on disk
            checkpointer.delete_thread(thread_id)


@functools.lru_cache(maxsize=1)
def code_version() -> str | None:
    """The git commit of the code answering (runs resumed across commits mix versions; reports show them)."""
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def make_record(position: int, sample: Sample, state: dict, *, status: str, error: str | None, wall_seconds: float,
                shard: tuple[int, int], how: str, cpu_seconds: float = 0.0) -> dict:
    """One question's JSONL record. wall_seconds and cpu_seconds (this process's CPU time, which a busy
    shared machine inflates less than wall time) are the runner's own timing; reports use the trace's."""
    sample_dict = sample.to_dict()
    truth = _load_truth(sample.stsg_path) if sample.stsg_path else None
    try:
        metrics = run_metrics.question_metrics(sample_dict, state, truth)
    except Exception as failure:  # a malformed prediction must not stop the run; it is recorded
        logger.warning("%s: metrics failed (%s)", sample.key, failure)
        metrics = run_metrics.question_metrics(sample_dict, {k: state.get(k) for k in ("answer_index", "trace")}, None)
        metrics["metrics_error"] = f"{type(failure).__name__}: {failure}"
    if status != "ok":
        metrics["answer_index"], metrics["unparsable"] = None, True
        metrics["correct"] = None if sample.answer_index is None else False
    return {
        "record": "result",
        "format": RECORD_FORMAT,
        "key": sample.key,
        "index": position,
        "status": status,
        "error": error,
        "answer": state.get("answer"),
        "answer_index": metrics["answer_index"],
        "correct": metrics["correct"],
        "sample": sample_dict,
        "prediction": {k: state.get(k) for k in PREDICTION_KEYS if k in state},
        "trace": list(state.get("trace") or []),
        "metrics": metrics,
        "wall_seconds": round(wall_seconds, 4),
        "cpu_seconds": round(cpu_seconds, 4),
        "shard": f"{shard[0]}/{shard[1]}",
        "resumed": how,
        "code": code_version(),
    }


def answer_question(graph, context, long_videos: LongVideoContexts, task_name: str, position: int, sample: Sample,
                    done: dict[str, dict], *, shard: tuple[int, int], recursion_limit: int) -> dict:
    """One question through the graph (continuing its checkpoint, if any) as its scored record.
    `done` holds this run's records so far (a follow-up turn reads its conversation's). A
    question that raises is recorded as an error with where it failed; the run goes on.
    The serial loop below and the Ray workers (evals/ray_eval.py) both answer with this."""
    thread_id = f"{task_name}:{sample.key}"
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": recursion_limit}
    question_started, cpu_started = time.perf_counter(), time.process_time()
    status, error, how = "ok", None, "fresh"
    try:
        question_context = long_videos.context_for(sample, context)
        graph_input = conversations.graph_input(sample, done, question_context)
        state, how = invoke_resumable(graph, graph_input, config, question_context)
    except Exception as failure:  # one bad question must not end the run; it is recorded
        logger.info("question %s failed", sample.key, exc_info=True)
        state, status, error = {}, "error", f"{type(failure).__name__}: {failure}"
        where = traceback.extract_tb(failure.__traceback__)[-1]
        error += f" (at {Path(where.filename).name}:{where.lineno} in {where.name})"
        with contextlib.suppress(Exception):  # keep the steps that did run, for the trace
            state = dict(graph.get_state(config).values)
    return conversations.score_turn(make_record(
        position, sample, state, status=status, error=error, shard=shard, how=how,
        wall_seconds=time.perf_counter() - question_started, cpu_seconds=time.process_time() - cpu_started,
    ))


def run_manifest(task: Task, options: RunOptions) -> dict:
    """run.json: what ran (a rerun with other settings is refused)."""
    return {
        "task": task.name,
        "format": task.format,
        "split": task.split,
        "data_root": str(task.data_root),
        "graph": options.graph,
        "context": options.context,
        "ablate": sorted(options.ablate),
        "questions": len(task.samples),
    }


def todo_samples(selected: list[tuple[int, Sample]], finished: dict[str, dict], retry_errors: bool
                 ) -> list[tuple[int, Sample]]:
    """The selected questions with no record yet (or an error record, with retry_errors)."""
    return [(position, sample) for position, sample in selected
            if sample.key not in finished or (retry_errors and finished[sample.key].get("status") != "ok")]


def run_task(task: Task, run_dir: str | os.PathLike, options: RunOptions | None = None) -> dict:
    """Answer every question of this process's shard that RUN_DIR has no record of. Returns the summary."""
    from tqdm import tqdm

    options = options or RunOptions()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    index, count = process_shard(options.shard)
    launched = options.shard is None and count > 1  # by accelerate launch
    launch_id = os.environ.get("TORCHELASTIC_RUN_ID", "") + ":" + os.environ.get("MASTER_PORT", "")
    if launched:
        with contextlib.suppress(FileNotFoundError):
            (run_dir / f"done{_suffix(index, count)}").unlink()
    write_manifest(run_dir, run_manifest(task, options))
    selected = shard_samples(task.samples, index, count)
    finished = {r["key"]: r for r in read_records(run_dir)}
    todo = todo_samples(selected, finished, options.retry_errors)
    already = len(selected) - len(todo)
    started = time.perf_counter()
    done = {sample.key: finished[sample.key] for _, sample in selected if sample.key in finished}
    if todo:
        checkpointer, connection = open_checkpointer(run_dir / f"checkpoints{_suffix(index, count)}.sqlite")
        try:
            graph = build_graph(options.graph, ablate=options.ablate, checkpointer=checkpointer)
            context = build_context(options.context, options.graph, graph)
            long_videos = LongVideoContexts(run_dir)  # long videos: the library index (evals/long_videos.py)
            bar = tqdm(
                total=len(selected), initial=already, desc=f"{task.name}{'' if count == 1 else f' {index}/{count}'}",
                unit="q", file=sys.stderr, disable=not options.progress, dynamic_ncols=True,
            )
            bar.set_postfix_str(_running_accuracy(done.values()))
            with ResultLog(run_dir / f"results{_suffix(index, count)}.jsonl") as log, bar:
                for position, sample in todo:
                    record = answer_question(graph, context, long_videos, task.name, position, sample, done,
                                             shard=(index, count), recursion_limit=options.recursion_limit)
                    log.append(record)
                    _forget_thread(checkpointer, f"{task.name}:{sample.key}")
                    done[sample.key] = record
                    bar.update(1)
                    bar.set_postfix_str(_running_accuracy(done.values()))
        finally:
            connection.close()
    records = [done[s.key] for _, s in selected if s.key in done]
    summary = summary_of(task.name, run_dir, f"{index}/{count}", records, len(selected), already, len(todo), started)
    if launched:
        # accelerate: every process marks its shard done; the main one waits for all and prints the whole run.
        _write_text(run_dir / f"done{_suffix(index, count)}", launch_id)
        if index != 0:
            return summary | {"main_process": False}
        _wait_for_markers(run_dir, count, launch_id)
        finished = {r["key"]: r for r in read_records(run_dir)}
        everything = [finished[s.key] for s in task.samples if s.key in finished]
        summary = summary_of(task.name, run_dir, f"all/{count}", everything, len(task.samples), already, len(todo), started)
    return summary | {"main_process": True}


def summary_of(name: str, run_dir: Path, shard: str, records: list[dict], questions: int, already: int, ran: int,
             started: float) -> dict:
    summary = run_metrics.summarize(records)
    return {
        "task": name,
        "run_dir": str(run_dir),
        "shard": shard,
        "questions": questions,
        "answered": len(records),
        "already_done": already,
        "ran": ran,
        "errors": len(summary["errors"]),
        "unparsable": len(summary["unparsable"]),
        "correct": summary["correct"],
        "scored": summary["scored"],
        "accuracy": summary["accuracy"],
        "accuracy_by_type": {k: v["accuracy"] for k, v in summary["accuracy_by_type"].items()},
        # optional abstention, apart from accuracy: answer only what the STSG supports (metrics.abstention)
        **({"abstention": {k: summary["abstention"][k] for k in ("coverage", "accuracy_when_answered", "reliability")}}
           if summary["abstention"] else {}),
        "wall_seconds": round(time.perf_counter() - started, 3),
    }


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _wait_for_markers(run_dir: Path, count: int, launch_id: str, poll_seconds: float = 0.5) -> None:
    """Until every shard of this launch has written its done-marker (torchrun ends all workers if one dies)."""
    markers = [run_dir / f"done{_suffix(i, count)}" for i in range(count)]
    while True:
        ready = 0
        for marker in markers:
            with contextlib.suppress(OSError):
                ready += marker.read_text(encoding="utf-8") == launch_id
        if ready == count:
            return
        time.sleep(poll_seconds)


def _running_accuracy(records: Iterable[dict]) -> str:
    scored = [r for r in records if r.get("correct") is not None]
    if not scored:
        return "acc=n/a"
    return f"acc={sum(bool(r['correct']) for r in scored) / len(scored):.3f} ({len(scored)})"
