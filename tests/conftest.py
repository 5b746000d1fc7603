"""Shared fixtures: small real videos written with PyAV, and the real sample clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from videothought.perception.video import write_video


def moving_square_frames(num_frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A red square moving right over grey, one pixel column per frame: each frame is unique."""
    frames = np.full((num_frames, height, width, 3), 90, dtype=np.uint8)  # (T, H, W, 3)
    for t in range(num_frames):
        x = (t * 2) % (width - 12)
        frames[t, 16:28, x : x + 12] = (220, 30, 30)
    return frames


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory) -> Path:
    """3 seconds at 10 fps, 64x48: 30 frames."""
    path = tmp_path_factory.mktemp("clips") / "square.mp4"
    return write_video(path, moving_square_frames(30), fps=10.0)


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    from videothought.perception.samples import SampleNotFoundError, sample_video

    try:
        return sample_video("bikes.mp4")
    except SampleNotFoundError as error:
        pytest.skip(str(error))


def shared_clip(name: str) -> Path:
    from videothought.perception.samples import SampleNotFoundError, sample_video

    try:
        return sample_video(name)
    except SampleNotFoundError as error:
        pytest.skip(f"{name} is not available: {error}")
