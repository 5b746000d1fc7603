"""A small generated world shared by the world tests (generated once per session)."""

from __future__ import annotations

import pytest

from videothought.evals.world import generate_world, load_world


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """6 short videos, seed 0: (directory, loaded videos)."""
    out = tmp_path_factory.mktemp("world") / "seed0"
    generate_world(out, 6, 0, seconds=4.0)
    return out, load_world(out)
