"""Indexing on a real local Ray cluster (2 CPUs, one per module): the library equals a serial
build row for row; a driver killed mid-build resumes; a corrupt video is named and the others
are indexed."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray  # the [ray] extra, installed by `make test`: a missing install fails, never skips

from tests.library.conftest import FakeText
from tests.library.ray_helpers import LOADS_ENV
from videothought.library import IndexSettings, Library
from videothought.library.distributed import WorkerSpec, add_videos_ray


ROOT = Path(__file__).resolve().parents[2]
SETTINGS = IndexSettings(segment_seconds=2.0, index_fps=5.0)
FAKE_TEXT = "tests.library.conftest:FakeText"
TIMINGS = {"build_seconds", "added_at"}  # what two builds of the same videos may differ in


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A real 2-CPU Ray cluster on this machine, for the whole module (starting one costs ~4 s)."""
    os.environ[LOADS_ENV] = str(tmp_path_factory.mktemp("loads"))  # before init: workers inherit it
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def videos(parts_video, tmp_path_factory):
    """The 8-second parts video and two 6-second world clips (4 + 3 + 3 segments of 2 s)."""
    from videothought.evals.world import generate_world

    world = generate_world(tmp_path_factory.mktemp("world"), 2, 31, seconds=6.0)
    return [str(parts_video)] + sorted(str(p) for p in (world / "videos").glob("*.mp4"))


def rows(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows, timings left out, in key order."""
    out = {}
    with sqlite3.connect(path) as db:
        for table in ("videos", "segments", "tracks", "events"):
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[1] not in TIMINGS]
            out[table] = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1, 2, 3").fetchall()
    return out


def serial_build(path: Path, videos: list[str], **library_options) -> Path:
    with Library(path, **library_options) as library:
        for video in videos:
            library.add(video, settings=SETTINGS)
    return path


def test_ray_build_equals_serial_row_for_row_with_the_default_models(cluster, videos, tmp_path):
    """The embedded stack (AoE encoder, MiniLM, the default proposer) on both sides. The encoder's
    floats depend on torch's thread count, so the serial side runs with one thread, as a worker does."""
    import torch

    from videothought.perception.encoder import load_default_encoder

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = serial_build(tmp_path / "serial.sqlite", videos, encoder=load_default_encoder())
    finally:
        torch.set_num_threads(threads)
    with Library(tmp_path / "ray.sqlite") as library:
        report = add_videos_ray(library, videos, settings=SETTINGS, spec=WorkerSpec(), segments_per_task=2)
    assert report.failures == [] and report.workers == 2
    assert [r.status for r in report.records] == ["complete"] * 3
    assert report.segments_committed == 10 and len(report.record_bytes) == 10
    expected, got = rows(serial), rows(tmp_path / "ray.sqlite")
    assert len(expected["segments"]) == 10 and all(r[7] is not None for r in expected["segments"])  # clip vectors
    assert len(expected["tracks"]) > 10 and len(expected["events"]) > 0
    for table in expected:
        assert len(got[table]) == len(expected[table]), table
        differing = [(row[:2], [i for i, (a, b) in enumerate(zip(row, other)) if a != b])
                     for row, other in zip(expected[table], got[table]) if row != other]
        assert not differing, (table, differing)  # (key, column positions) of rows that differ


def test_models_load_once_per_worker_not_per_task(cluster, videos, tmp_path):
    loads = Path(os.environ[LOADS_ENV])
    for stale in loads.iterdir():
        stale.unlink()
    spec = WorkerSpec(encoder=None, text_model="tests.library.ray_helpers:CountingText")
    with Library(tmp_path / "once.sqlite") as library:
        report = add_videos_ray(library, videos, settings=SETTINGS, spec=spec, segments_per_task=1)
    assert report.segments_committed == 10  # 10 index tasks (and 3 plan tasks) on 2 workers
    per_process = {p.name: p.read_text().count("loaded") for p in loads.iterdir()}
    assert len(per_process) == 2 and set(per_process.values()) == {1}, per_process
    assert rows(tmp_path / "once.sqlite") == rows(serial_build(tmp_path / "fake.sqlite", videos,
                                                               text_model=FakeText()))


def committed(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT video_id, segment, stsg, summary FROM segments ORDER BY 1, 2").fetchall()


@pytest.mark.slow
def test_driver_killed_mid_build_then_rerun_completes(cluster, videos, tmp_path):
    path = tmp_path / "killed.sqlite"
    command = [sys.executable, "-m", "videothought.library.cli", str(path), *videos, "--ray", cluster,
               "--segment-seconds", "2", "--index-fps", "5", "--segments-per-task", "1", "--no-encoder",
               "--text-model", FAKE_TEXT, "--proposer", "tests.library.ray_helpers:SlowProposer", "--no-progress"]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if path.is_file() and len(committed(path)) >= 3:
                    break
            except sqlite3.OperationalError:  # the child is creating the schema
                pass
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            time.sleep(0.2)
        else:
            pytest.fail("the Ray build committed no 3 segments in time")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    before = committed(path)
    assert 3 <= len(before) < 10, len(before)
    with sqlite3.connect(path) as db:
        assert "indexing" in {r[0] for r in db.execute("SELECT status FROM videos")}

    spec = WorkerSpec(encoder=None, text_model=FAKE_TEXT)
    with Library(path) as library:  # the killed driver's workers die with it; the rerun gets the CPUs
        report = add_videos_ray(library, videos, settings=SETTINGS, spec=spec, segments_per_task=2)
    assert report.failures == [] and [r.status for r in report.records] == ["complete"] * 3
    assert report.segments_committed == 10 - len(before)  # only what was missing
    after = committed(path)
    assert [row for row in after if row[:2] in {r[:2] for r in before}] == before  # kept, not redone
    assert rows(path) == rows(serial_build(tmp_path / "serial.sqlite", videos, text_model=FakeText()))


def test_corrupt_video_is_named_and_the_others_are_indexed(cluster, videos, tmp_path, capsys):
    from videothought.library.cli import main

    cut = tmp_path / "cut.mp4"  # a world clip with its second half (and the mp4 index) gone
    data = Path(videos[1]).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    bad = [str(cut)]
    tree = ROOT.parent / "shared" / "data" / "tree.avi"  # a truncated real video (opencv-doc's)
    if tree.is_file():
        bad.append(str(shutil.copy(tree, tmp_path / "tree.avi")))
    order = [videos[0], bad[0], videos[2], *bad[1:]]
    library_path = tmp_path / "mixed.sqlite"
    status = main([str(library_path), *order, "--ray", cluster, "--segment-seconds", "2", "--index-fps", "5",
                   "--no-encoder", "--text-model", FAKE_TEXT, "--no-progress"])
    out, err = capsys.readouterr()
    assert status == 1
    for path in bad:
        assert f"not indexed: {path}" in err, err
    assert "cut.mp4: cannot open as video" in err
    if len(bad) > 1:
        assert "tree.avi: truncated" in err
    with Library(library_path) as library:
        indexed = library.videos()
        assert [v.name for v in indexed] == ["parts", Path(videos[2]).stem]
        assert [v.status for v in indexed] == ["complete", "complete"]
        assert [v.segments_done for v in indexed] == [4, 3]
    assert len(out.strip().splitlines()) == 2


def test_ray_address_and_thread_settings_are_checked(monkeypatch):
    from videothought.library.cluster import THREADS_ENV, check_address, worker_threads

    assert [check_address(a) for a in (None, "local", "auto", "10.0.0.5:6379")] == [None, "local", "auto",
                                                                                     "10.0.0.5:6379"]
    with pytest.raises(ValueError, match="put --ray after the file arguments"):
        check_address("videos.sqlite")
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert worker_threads() == 1
    monkeypatch.setenv(THREADS_ENV, "3")
    assert worker_threads() == 3
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match="VIDEOTHOUGHT_THREADS must be a whole number"):
        worker_threads()
