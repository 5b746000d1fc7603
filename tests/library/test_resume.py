"""A real indexing process killed with SIGKILL halfway: the rerun continues and loses nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.library.conftest import FakeText
from videothought.library import IndexSettings, Library

SETTINGS = IndexSettings(segment_seconds=2.0, index_fps=5.0)
ROOT = Path(__file__).resolve().parents[2]

# The child indexes with the default proposer slowed down, so the parent can kill it between segments.
CHILD = """
import sys, time
from tests.library.conftest import FakeText
from videothought.library import IndexSettings, Library
from videothought.perception.proposals import default_proposer

class Slow:
    def __init__(self):
        self.inner = default_proposer()
    def propose(self, frames):
        time.sleep(1.5)
        return self.inner.propose(frames)
    def __getattr__(self, name):  # the rest (its vocabulary, ...) is the default proposer's
        return getattr(self.inner, name)

library = Library(sys.argv[1], text_model=FakeText())
library.add(sys.argv[2], settings=IndexSettings(segment_seconds=2.0, index_fps=5.0), proposer=Slow())
print("finished", flush=True)
"""


def committed(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT segment, stsg, summary, build_seconds FROM segments ORDER BY segment").fetchall()


@pytest.mark.slow
def test_sigkill_mid_index_then_rerun_continues(tmp_path, parts_video):
    path = tmp_path / "killed.sqlite"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(parts_video)], cwd=ROOT,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if path.is_file():
                try:
                    if len(committed(path)) >= 2:
                        break
                except sqlite3.OperationalError:  # the child is creating the schema
                    pass
            assert child.poll() is None, child.stderr.read().decode()
            time.sleep(0.2)
        else:
            pytest.fail("the child committed no 2 segments in time")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    before = committed(path)
    assert 2 <= len(before) < 4, [row[0] for row in before]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT status FROM videos").fetchone()[0] == "indexing"

    library = Library(path, text_model=FakeText())
    record = library.add(parts_video, settings=SETTINGS)
    assert record.status == "complete" and record.segments_done == 4
    after = committed(path)
    assert after[: len(before)] == before, "segments committed before the kill are kept, not redone"

    fresh = Library(tmp_path / "fresh.sqlite", text_model=FakeText())
    fresh.add(parts_video, settings=SETTINGS)
    uninterrupted = committed(fresh.path)
    assert [row[:3] for row in after] == [row[:3] for row in uninterrupted]  # same STSGs and summaries
    assert library.retrieve("the yellow circle", ["yellow circle"], k=1)[1] == [3]
