"""Fixtures of the web app's tests: a served app on a free loopback port, eval run folders,
and a fast run context (fake LLM, a fixed STSG document instead of the tracker)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.agent.graph.helpers import DocumentBuilder


class FlakyFakeLanguageModel:
    """FakeLanguageModel that raises BackendUnavailableError from generate/score while `failing`."""

    def __init__(self):
        from videothought.agent.llm import FakeLanguageModel

        self.inner = FakeLanguageModel(replies=["The red circle moves right and collides with the blue square."])
        self.name = "flaky-fake"
        self.failing = False

    def _check(self):
        from videothought.agent.llm import BackendUnavailableError

        if self.failing:
            raise BackendUnavailableError("the test backend went away mid-run (connection refused)")

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None, on_text=None):
        self._check()
        return self.inner.generate(messages, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop,
                                   on_text=on_text)

    def score(self, prompt, continuations):
        self._check()
        return self.inner.score(prompt, continuations)

    def count_tokens(self, text):
        return self.inner.count_tokens(text)


class FlakyDocumentBuilder(DocumentBuilder):
    """The fixed STSG document, or a crash of the perception step while `failing` (it escapes the graph)."""

    failing = False

    def __call__(self, frames, frame_indices, fps, **kwargs) -> dict:
        if self.failing:
            self.calls += 1
            raise RuntimeError("the tracker crashed on this clip (test)")
        return super().__call__(frames, frame_indices, fps, **kwargs)


def fast_context(lm, builder: DocumentBuilder):
    from videothought.agent.context import default_context

    return default_context(lm=lm, encoder=None, proposer=None, stsg_builder=builder, num_frames=8)


@pytest.fixture(scope="session")
def eval_runs(tmp_path_factory) -> Path:
    """Three real `vot eval` folders (the evals tests' oracle graphs on a tiny world, no videos):
    runs/full, runs/no-actions (analyze_actions ablated: traces diverge there), runs/other."""
    from tests.evals.world_fixture import write_tiny_world
    from videothought.evals.task import load_task
    from videothought.evals.runner import RunOptions, run_task

    base = tmp_path_factory.mktemp("evalruns")
    world = write_tiny_world(base / "world", num_videos=3, write_videos=False)
    graphs = {"full": ("tests.evals.oracle_graph:build_oracle_graph", ()),
              "no-actions": ("tests.evals.oracle_graph:build_oracle_graph", ("analyze_actions",)),
              "other": ("tests.evals.oracle_graph:build_other_oracle_graph", ())}
    for name, (graph, ablate) in graphs.items():
        run_task(load_task("world", world), base / "runs" / name, RunOptions(graph=graph, ablate=ablate, progress=False))
    return base / "runs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """uvicorn serving the app on a thread; `url` is its root."""

    def __init__(self, app, port: int):
        import uvicorn

        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.app.state.service.stopping.set()  # as `vot serve` does on Ctrl-C
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive(), "the server did not stop within 15 s (an open event stream held it?)"


@pytest.fixture
def media_dir(tmp_path, clip_path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(clip_path, folder / "square.mp4")
    return folder
