"""Small real videos for the library tests: one coloured shape per 2-second part, on grey."""

from __future__ import annotations

import numpy as np
import pytest

from videothought.perception.video import write_video

# (colour RGB, shape) of each 2-second part, in order
PARTS = [((220, 30, 30), "square"), ((40, 70, 225), "circle"), ((40, 200, 60), "square"), ((230, 220, 40), "circle")]


def parts_frames(fps: int = 10, seconds: int = 2) -> np.ndarray:
    """Each part: its shape crosses the frame left to right (the next part's goes right to left)."""
    n = fps * seconds
    frames = np.full((n * len(PARTS), 120, 160, 3), 90, dtype=np.uint8)  # (T, H, W, 3)
    yy, xx = np.mgrid[0:120, 0:160]
    for part, (colour, shape) in enumerate(PARTS):
        for t in range(n):
            # enters at one side, crosses, leaves at the other: the tracker sees enter and exit events
            x = -6 + t * 9 if part % 2 == 0 else 166 - t * 9
            if shape == "square":
                mask = (abs(xx - x) <= 10) & (abs(yy - 60) <= 10)
            else:
                mask = (xx - x) ** 2 + (yy - 60) ** 2 <= 100
            frames[part * n + t][mask] = colour
    return frames


class FakeText:
    """A deterministic stand-in for MiniLM: bag of hashed words, unit length."""

    def __init__(self):
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, sum(map(ord, word)) % 64] += 1.0
        return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-8)


@pytest.fixture(scope="session")
def parts_video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("library") / "parts.mp4", parts_frames(), fps=10.0)
