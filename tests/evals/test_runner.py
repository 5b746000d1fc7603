"""The runner with real LangGraph graphs and a real SqliteSaver: records, resume, shards, errors."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.evals.world_fixture import write_tiny_world
from videothought.evals.task import load_task
from videothought.evals.report import write_report
from videothought.evals.runner import (
    ResultLog,
    RunnerError,
    RunOptions,
    build_graph,
    open_checkpointer,
    parse_shard,
    read_records,
    run_task,
)

REPO = Path(__file__).resolve().parents[2]
ORACLE = "tests.evals.oracle_graph:build_oracle_graph"
SLOW_ORACLE = "tests.evals.oracle_graph:build_slow_oracle_graph"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return write_tiny_world(tmp_path_factory.mktemp("world"), num_videos=3, write_videos=False)


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory) -> Path:
    """An uninterrupted run of the oracle graph over the 12 questions."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    run_task(load_task("world", world), run_dir, RunOptions(graph=ORACLE, progress=False))
    return run_dir


def vot(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "videothought.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, **kwargs)  # fmt: skip


def comparable(report_dir: Path) -> dict[str, bytes]:
    """A report's files; the runs table's code column (git commits, which others may move mid-test) masked."""
    files = {p.name: p.read_bytes() for p in sorted(report_dir.iterdir())}
    files["report.md"] = re.sub(rb"\| (\?|[0-9a-f]{10}(, [0-9a-f]{10})*) \|\n", b"| CODE |\n", files["report.md"])
    return files


def test_records_hold_result_trace_and_metrics(reference, world):
    records = read_records(reference)
    task = load_task("world", world)
    assert [r["key"] for r in records] == [s.key for s in task.samples]
    for record, sample in zip(records, task.samples, strict=True):
        assert record["status"] == "ok" and record["sample"] == sample.to_dict()
        assert record["correct"] == (record["answer_index"] == sample.answer_index)
        nodes = [step["node"] for step in record["trace"]]
        assert nodes[:4] == ["identify_targets", "track", "analyze_actions", "rank_answers"] and nodes[-1] == "verify"
        assert record["metrics"]["tracking"]["frames"] == 10  # even frames of 20
        assert record["prediction"]["stsg"]["schema"] == "videothought.stsg"
    # The oracle's -1 answers are unparsable: recorded as such and wrong.
    unparsable = [r for r in records if r["metrics"]["unparsable"]]
    assert all(r["answer_index"] is None and r["correct"] is False for r in unparsable)
    manifest = json.loads((reference / "run.json").read_text())
    assert manifest["graph"] == ORACLE and manifest["questions"] == 12


def test_a_rerun_skips_finished_questions(reference, world):
    before = (reference / "results.jsonl").read_bytes()
    summary = run_task(load_task("world", world), reference, RunOptions(graph=ORACLE, progress=False))
    assert (summary["already_done"], summary["ran"], summary["answered"]) == (12, 0, 12)
    assert (reference / "results.jsonl").read_bytes() == before


def test_limit_then_more_continues(world, reference, tmp_path):
    run_dir = tmp_path / "run"
    first = run_task(load_task("world", world, limit=5), run_dir, RunOptions(graph=ORACLE, progress=False))
    assert (first["questions"], first["ran"]) == (5, 5)
    second = run_task(load_task("world", world), run_dir, RunOptions(graph=ORACLE, progress=False))
    assert (second["already_done"], second["ran"]) == (5, 7)
    write_report([reference], tmp_path / "a")
    write_report([run_dir], tmp_path / "b")
    summary_a = json.loads((tmp_path / "a" / "report.json").read_text())["runs"][0]["summary"]
    summary_b = json.loads((tmp_path / "b" / "report.json").read_text())["runs"][0]["summary"]
    assert summary_a == summary_b


def test_shards_split_the_work_and_add_up_to_the_whole_run(world, reference, tmp_path):
    run_dir = tmp_path / "run"
    parts = [run_task(load_task("world", world), run_dir, RunOptions(graph=ORACLE, shard=(i, 3), progress=False))
             for i in range(3)]  # fmt: skip
    assert [p["questions"] for p in parts] == [4, 4, 4]
    assert sorted(p.name for p in run_dir.glob("results*.jsonl")) == [f"results.shard-{i}-of-3.jsonl" for i in range(3)]
    keys = [json.loads(line)["key"] for line in (run_dir / "results.shard-1-of-3.jsonl").read_text().splitlines()]
    assert keys == [s.key for s in load_task("world", world).samples[1::3]]
    shard_records = [{k: v for k, v in r.items() if k not in ("wall_seconds", "cpu_seconds", "shard")} for r in read_records(run_dir)]
    whole = [{k: v for k, v in r.items() if k not in ("wall_seconds", "cpu_seconds", "shard")} for r in read_records(reference)]
    assert shard_records == whole


def test_a_question_killed_mid_graph_continues_from_its_checkpoint(world, reference, tmp_path):
    task = load_task("world", world)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    saver, connection = open_checkpointer(run_dir / "checkpoints.sqlite")
    graph = build_graph(ORACLE, checkpointer=saver)
    first, second = task.samples[0], task.samples[1]
    # Question 0 stops after `track` (as if killed there); question 1's graph finished but no record was written.
    graph.invoke(first.graph_input(), {"configurable": {"thread_id": f"world:{first.key}"}}, interrupt_after=["track"])
    graph.invoke(second.graph_input(), {"configurable": {"thread_id": f"world:{second.key}"}})
    connection.close()
    run_task(task, run_dir, RunOptions(graph=ORACLE, progress=False))
    records, expected = read_records(run_dir), read_records(reference)
    assert [r["resumed"] for r in records[:3]] == ["continued", "recovered", "fresh"]
    for record, reference_record in zip(records, expected, strict=True):
        assert record["trace"] == reference_record["trace"]
        assert record["metrics"] == reference_record["metrics"]
    # Finished questions leave no checkpoints behind.
    with sqlite3.connect(run_dir / "checkpoints.sqlite") as db:
        assert db.execute("select count(*) from checkpoints").fetchone()[0] == 0


def test_a_torn_last_line_is_ignored_then_cut(world, reference, tmp_path):
    run_dir = tmp_path / "run"
    run_task(load_task("world", world, limit=4), run_dir, RunOptions(graph=ORACLE, progress=False))
    results = run_dir / "results.jsonl"
    complete = results.read_bytes()
    results.write_bytes(complete + b'{"record": "result", "key": "video001_0", "sta')
    assert len(read_records(run_dir)) == 4
    ResultLog(results).close()
    assert results.read_bytes() == complete
    results.write_bytes(complete + b'{"record": "result", "key": "vid')
    run_task(load_task("world", world), run_dir, RunOptions(graph=ORACLE, progress=False))
    assert [json.loads(line)["key"] for line in results.read_text().splitlines()] == [
        s.key for s in load_task("world", world).samples
    ]


def test_a_failing_question_is_recorded_as_an_error_and_the_run_goes_on(world, tmp_path):
    summary = run_task(load_task("world", world), tmp_path / "run",
                       RunOptions(graph="tests.evals.oracle_graph:build_failing_graph", progress=False))  # fmt: skip
    records = read_records(tmp_path / "run")
    failed = [r for r in records if r["status"] == "error"]
    assert [r["sample"]["question"] for r in failed] == ["what colour is the square"] * 3
    assert failed[0]["error"].startswith("RuntimeError: detector exploded on a square (at oracle_graph.py:")
    assert all(r["correct"] is False and r["metrics"]["unparsable"] for r in failed)
    # The steps before the failing node are kept.
    assert all([s["node"] for s in r["trace"]] == ["identify_targets", "track"] for r in failed)
    assert all(r["answer_index"] is None and "in analyze_actions)" in r["error"] for r in failed)
    assert summary["errors"] == 3 and summary["ran"] == 12
    again = run_task(load_task("world", world), tmp_path / "run",
                     RunOptions(graph="tests.evals.oracle_graph:build_failing_graph", retry_errors=True, progress=False))
    assert again["ran"] == 3 and again["errors"] == 3


def test_graph_factories_and_their_errors(world, tmp_path):
    compiled = run_task(load_task("world", world, limit=2), tmp_path / "compiled",
                        RunOptions(graph="tests.evals.oracle_graph:build_compiled_oracle_graph", progress=False))
    assert compiled["answered"] == 2
    ablated = run_task(load_task("world", world, limit=2), tmp_path / "ablated",
                       RunOptions(graph=ORACLE, ablate=("analyze_actions",), progress=False))  # fmt: skip
    assert ablated["answered"] == 2
    nodes = {step["node"] for r in read_records(tmp_path / "ablated") for step in r["trace"]}
    assert "analyze_actions" not in nodes and "track" in nodes
    with pytest.raises(RunnerError, match="takes no ablate"):
        run_task(load_task("world", world, limit=1), tmp_path / "x",
                 RunOptions(graph="tests.evals.oracle_graph:build_compiled_oracle_graph", ablate=("track",)))
    with pytest.raises(RunnerError, match="refused to build: cannot ablate"):
        run_task(load_task("world", world, limit=1), tmp_path / "y", RunOptions(graph=ORACLE, ablate=("nope",)))
    with pytest.raises(RunnerError, match="cannot import"):
        run_task(load_task("world", world, limit=1), tmp_path / "z", RunOptions(graph="no.such.module:f"))
    with pytest.raises(RunnerError, match="holds a different run"):
        run_task(load_task("world", world, limit=1), tmp_path / "compiled", RunOptions(graph=ORACLE))


def test_parse_shard():
    assert parse_shard("1/4") == (1, 4) and parse_shard(None) is None
    for bad in ("4/4", "a/b", "1", "-1/2"):
        with pytest.raises(RunnerError):
            parse_shard(bad)


def test_vot_eval_prints_a_json_summary_last_and_rejects_bad_input(world, tmp_path):
    done = vot("eval", "--task", "world", "--data", str(world), "--limit", "3", "--graph", ORACLE,
               "--out", str(tmp_path / "run"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["questions"], summary["ran"], summary["task"]) == (3, 3, "world")
    assert "acc=" in done.stderr  # the progress bar with running accuracy
    bad = vot("eval", "--task", "world", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r2"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
    bad = vot("eval", "--task", "world", "--data", str(world), "--shard", "3/2", "--out", str(tmp_path / "r3"))
    assert bad.returncode == 2 and "need 0 <= i < n" in bad.stderr


@pytest.mark.slow
def test_killing_the_runner_at_random_points_and_resuming_gives_the_same_report(world, reference, tmp_path):
    """SIGKILL a real `vot eval` process at random moments (seeded), rerun until it finishes by itself."""
    run_dir = tmp_path / "killed" / "run"
    command = [sys.executable, "-m", "videothought.cli", "eval", "--task", "world", "--data", str(world),
               "--limit", "8", "--graph", SLOW_ORACLE, "--no-progress", "--out", str(run_dir)]  # fmt: skip
    rng = random.Random(1234)
    kills, progress = 0, []

    def lines() -> int:
        results = run_dir / "results.jsonl"
        return results.read_bytes().count(b"\n") if results.exists() else 0

    for attempt in range(30):
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        before = lines()
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.2, 2.0))  # anywhere, start-up included
        else:
            # Timing on a shared machine is unpredictable, so kills follow progress: after the next record
            # lands, 0-0.3 s more (inside the next question's nodes, or its write).
            deadline = time.monotonic() + 300
            while lines() == before and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.communicate()
            kills += 1
            progress.append(len(read_records(run_dir)))
            continue
        process.communicate()
        assert process.returncode == 0
        break
    summary = vot("eval", "--task", "world", "--data", str(world), "--limit", "8", "--graph", SLOW_ORACLE,
                  "--out", str(run_dir))  # fmt: skip
    assert json.loads(summary.stdout.splitlines()[-1])["answered"] == 8
    assert kills >= 3 and len(set(progress)) >= 3, (kills, progress)  # killed at several different points
    uninterrupted = tmp_path / "uninterrupted" / "run"
    run_task(load_task("world", world, limit=8), uninterrupted, RunOptions(graph=ORACLE, progress=False))
    volatile = ("wall_seconds", "cpu_seconds", "resumed", "code")
    for killed, clean in zip(read_records(run_dir), read_records(uninterrupted), strict=True):
        how = killed["resumed"]
        killed = {k: v for k, v in killed.items() if k not in volatile}
        clean = {k: v for k, v in clean.items() if k not in volatile}
        assert killed["trace"] == clean["trace"], (killed["key"], how, [s["node"] for s in killed["trace"]])
        assert killed == clean, killed["key"]
    write_report([uninterrupted], tmp_path / "report-a")
    write_report([run_dir], tmp_path / "report-b")
    # The slow graph decides exactly as the fast one; its trace latencies are fixed numbers.
    manifest_graph = b"build_slow_oracle_graph"
    a, b = comparable(tmp_path / "report-a"), comparable(tmp_path / "report-b")
    assert set(a) == set(b)
    for name in a:
        assert a[name].replace(b"build_oracle_graph", manifest_graph) == b[name], name


@pytest.mark.slow
def test_accelerate_launch_splits_the_work(world, reference, tmp_path):
    accelerate = Path(sys.executable).parent / "accelerate"
    if not accelerate.exists():
        pytest.skip("accelerate's launcher is not installed")
    port = str(29500 + os.getpid() % 1000)
    done = subprocess.run(
        [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", port,
         "-m", "videothought.cli", "eval", "--task", "world", "--data", str(world), "--graph", ORACLE,
         "--no-progress", "--out", str(tmp_path / "run")],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "run").glob("results*.jsonl")) == [
        "results.shard-0-of-2.jsonl", "results.shard-1-of-2.jsonl"
    ]  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # only the main process prints, after every shard is done
    summary = json.loads(lines[0])
    assert (summary["shard"], summary["answered"]) == ("all/2", 12)
    assert summary["correct"] == sum(bool(r["correct"]) for r in read_records(reference))
