"""Model factories the Ray tests name by "module:function" (workers import them by that name)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.library.conftest import FakeText

LOADS_ENV = "VIDEOTHOUGHT_TEST_LOADS"  # a folder: each model construction leaves a file named by its pid


class CountingText(FakeText):
    """FakeText that records every construction (which process, how many times)."""

    def __init__(self):
        super().__init__()
        folder = Path(os.environ[LOADS_ENV])
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{os.getpid()}", "a") as handle:
            handle.write("loaded\n")


class SlowProposer:
    """The default proposer, 1.5 s slower per segment: a driver can be killed between commits."""

    def __init__(self):
        from videothought.perception.proposals import default_proposer

        self.inner = default_proposer()

    def propose(self, frames):
        time.sleep(1.5)
        return self.inner.propose(frames)

    def __getattr__(self, name):  # the rest (its vocabulary, ...) is the default proposer's
        return getattr(self.inner, name)
