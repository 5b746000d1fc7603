"""`vot eval --ray` on a real local Ray cluster: the same records as a serial run, in the same
results file; a driver killed mid-run resumes; a conversation's turns stay in order."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray  # the [ray] extra, installed by `make test`

from tests.evals.world_fixture import write_tiny_world
from videothought.evals.task import load_task
from videothought.evals.ray_eval import question_groups, run_task_ray
from videothought.evals.runner import RunnerError, RunOptions, read_records, run_task

REPO = Path(__file__).resolve().parents[2]
ORACLE = "tests.evals.oracle_graph:build_oracle_graph"
SLOW_ORACLE = "tests.evals.oracle_graph:build_slow_oracle_graph"
TIMING = ("wall_seconds", "cpu_seconds", "shard")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return write_tiny_world(tmp_path_factory.mktemp("world"), num_videos=3, write_videos=False)


def comparable(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_records(run_dir)]


def test_ray_run_gives_the_serial_records_in_the_same_file(cluster, world, tmp_path):
    serial = tmp_path / "serial"
    run_task(load_task("world", world), serial, RunOptions(graph=ORACLE, progress=False))
    distributed = tmp_path / "ray"
    summary = run_task_ray(load_task("world", world), distributed, RunOptions(graph=ORACLE, progress=False))
    assert summary["workers"] == 2 and summary["answered"] == 12 and summary["lost"] == 0
    assert sorted(p.name for p in distributed.glob("results*.jsonl")) == ["results.jsonl"]
    assert comparable(distributed) == comparable(serial)
    again = run_task_ray(load_task("world", world), distributed, RunOptions(graph=ORACLE, progress=False))
    assert again["already_done"] == 12 and again["ran"] == 0  # a rerun answers nothing twice
    # the serial runner reads the Ray run as its own: nothing left to do
    assert run_task(load_task("world", world), distributed, RunOptions(graph=ORACLE, progress=False))["ran"] == 0
    with pytest.raises(RunnerError, match="--shard and --ray"):
        run_task_ray(load_task("world", world), tmp_path / "x", RunOptions(graph=ORACLE, shard=(0, 2)))


def test_conversations_run_turn_by_turn_on_workers(cluster, tmp_path):
    """A follow-up reads the agent's own earlier answers: the records equal the serial run's."""
    from videothought.evals.world import generate_world
    from videothought.evals.world.followups import write_followups

    world = generate_world(tmp_path / "world", 3, 0, seconds=4.0)
    write_followups(world)
    graph = "tests.evals.test_conversations:build_wrong_first"
    task = load_task("world-followups", world)
    run_task(task, tmp_path / "serial", RunOptions(graph=graph, progress=False))
    summary = run_task_ray(task, tmp_path / "ray", RunOptions(graph=graph, progress=False))
    assert summary["errors"] == 0 and summary["answered"] == len(task.samples) > 3
    assert comparable(tmp_path / "ray") == comparable(tmp_path / "serial")
    assert any(r["sample"]["metadata"]["turn"] > 1 and not r["correct"] for r in read_records(tmp_path / "ray"))


def test_conversation_turns_stay_together_and_in_order():
    class S:
        def __init__(self, key, conversation=None):
            self.key, self.metadata = key, ({"conversation": conversation} if conversation else {})

    todo = [(0, S("a", "c1")), (1, S("b")), (2, S("c", "c1")), (3, S("d", "c2")), (4, S("e", "c2"))]
    groups = [[p for p, _ in group] for group in question_groups(todo)]
    assert groups == [[0, 2], [1], [3, 4]]


@pytest.mark.slow
def test_driver_killed_mid_run_resumes_to_the_same_records(cluster, world, tmp_path):
    reference = tmp_path / "reference"
    run_task(load_task("world", world), reference, RunOptions(graph=ORACLE, progress=False))
    run_dir = tmp_path / "killed"
    command = [sys.executable, "-m", "videothought.cli", "eval", "--task", "world", "--data", str(world),
               "--graph", SLOW_ORACLE, "--out", str(run_dir), "--ray", cluster, "--no-progress"]
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = run_dir / "results.jsonl"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if results.is_file() and len(results.read_text().splitlines()) >= 3:
                break
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        else:
            pytest.fail("the Ray run wrote no 3 records in time")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    written = len(read_records(run_dir))
    assert 3 <= written < 12, written
    summary = run_task_ray(load_task("world", world), run_dir, RunOptions(graph=SLOW_ORACLE, progress=False))
    assert summary["already_done"] == written and summary["answered"] == 12
    keys = [json.loads(line)["key"] for line in results.read_text().splitlines()]
    assert sorted(keys) == sorted(r["key"] for r in read_records(reference))  # each question once
    got = [{k: v for k, v in r.items() if k not in (*TIMING, "resumed")} for r in read_records(run_dir)]
    assert got == [{k: v for k, v in r.items() if k not in (*TIMING, "resumed")} for r in read_records(reference)]
