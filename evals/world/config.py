"""The world's vocabulary and its knobs.

Vocabulary is shared with the tracker's pixel colour/shape namer: keep the names.
Object colours are saturated (or white) and far from the backgrounds, which are
drawn only from low-saturation greys and dark tones, so "the object's colour
dominates inside its box" stays checkable after h264 compression.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# The full colour vocabulary and the shapes: one source, the pixel namer's (the names the tracker may output).
from videothought.perception.attributes import COLOUR_NAMES  # noqa: F401  (re-exported)
from videothought.perception.attributes import SHAPE_NAMES as SHAPES  # noqa: F401  (re-exported)

# Colours objects are painted with (RGB). grey/black/brown are left to backgrounds.
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 225, 40),
    "green": (40, 180, 60),
    "cyan": (40, 210, 220),
    "blue": (40, 70, 225),
    "purple": (140, 60, 200),
    "pink": (245, 130, 190),
    "white": (245, 245, 245),
}

# Radius of the object's bounding circle, in pixels at a 240-pixel frame height
# (scaled with the frame). Collisions use the bounding circle.
SIZES: dict[str, float] = {"small": 10.0, "medium": 14.0, "large": 19.0}

DIFFICULTIES = ("easy", "default", "hard")
BACKGROUND_KINDS = ("plain", "stripes", "checker", "blobs")


@dataclass
class WorldParams:
    """Everything that shapes a generated video; stored verbatim in meta.json.

    Difficulty presets fill the knobs left at None (see `resolved`).
    """

    width: int = 320  # even: h264 yuv420p needs it
    height: int = 240
    fps: float = 12.0  # 10-15 fps: enough for collisions to be seen, cheap to render
    seconds: float = 5.0  # a few seconds: 20 videos render and encode in seconds
    min_objects: int = 3
    max_objects: int = 5
    difficulty: str = "default"
    long: bool = False  # long videos: episodes of `episode_seconds`, needle questions
    episode_seconds: float = 20.0
    questions_per_video: int = 8  # an upper bound: types without a sound instance are skipped
    segment_seconds: float = 2.0  # caption segments
    # Knobs a difficulty preset fills when left as None.
    speed_range: tuple[float, float] | None = None  # pixels per second at 320 wide
    background_kinds: tuple[str, ...] | None = None
    moving_background_probability: float | None = None
    jitter_pixels: int | None = None  # camera shake amplitude
    noise_sigma: float | None = None  # Gaussian pixel noise (0-255 scale)
    floater_probability: float | None = None  # a large object on top that occludes others

    def __post_init__(self):
        if self.width % 2 or self.height % 2 or self.width < 64 or self.height < 48:
            raise ValueError(f"width and height must be even and at least 64x48, got {self.width}x{self.height}")
        if not 1.0 <= self.fps <= 60.0:
            raise ValueError(f"fps must be in [1, 60], got {self.fps!r}")
        if not self.seconds * self.fps >= 8:
            raise ValueError(f"a video needs at least 8 frames: seconds x fps = {self.seconds!r} x {self.fps!r}")
        if not 1 <= self.min_objects <= self.max_objects <= 12:
            raise ValueError(
                f"need 1 <= min_objects <= max_objects <= 12, got {self.min_objects!r} and {self.max_objects!r}"
            )
        if self.difficulty not in DIFFICULTIES:
            raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {self.difficulty!r}")
        if self.long and self.episode_seconds < 3:
            raise ValueError(f"episode_seconds must be at least 3, got {self.episode_seconds!r}")
        if self.questions_per_video < 1:
            raise ValueError(f"questions_per_video must be at least 1, got {self.questions_per_video!r}")
        if self.background_kinds is not None:
            unknown = [k for k in self.background_kinds if k not in BACKGROUND_KINDS]
            if unknown:
                raise ValueError(f"unknown background kinds {unknown!r}; known: {BACKGROUND_KINDS}")
            self.background_kinds = tuple(self.background_kinds)
        if self.speed_range is not None:
            self.speed_range = tuple(float(v) for v in self.speed_range)

    def resolved(self) -> WorldParams:
        """A copy with every None knob filled from the difficulty preset."""
        preset = DIFFICULTY_PRESETS[self.difficulty]
        values = dataclasses.asdict(self)
        for name, value in preset.items():
            if values[name] is None:
                values[name] = value
        return WorldParams(**values)

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        for key, value in record.items():
            if isinstance(value, tuple):
                record[key] = list(value)
        return record

    @classmethod
    def from_dict(cls, record: dict) -> WorldParams:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ValueError(f"unknown world parameters {unknown}; known: {sorted(known)}")
        values = dict(record)
        for key in ("speed_range", "background_kinds"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


DIFFICULTY_PRESETS: dict[str, dict] = {
    "easy": {
        "speed_range": (40.0, 80.0),
        "background_kinds": ("plain",),
        "moving_background_probability": 0.0,
        "jitter_pixels": 0,
        "noise_sigma": 0.0,
        "floater_probability": 0.0,
    },
    "default": {
        "speed_range": (50.0, 110.0),
        "background_kinds": ("plain", "stripes", "checker", "blobs"),
        "moving_background_probability": 0.3,
        "jitter_pixels": 1,
        "noise_sigma": 2.0,
        "floater_probability": 0.4,
    },
    "hard": {
        "speed_range": (70.0, 150.0),
        "background_kinds": ("stripes", "checker", "blobs"),
        "moving_background_probability": 0.7,
        "jitter_pixels": 3,
        "noise_sigma": 6.0,
        "floater_probability": 0.7,
    },
}


def label_of(colour: str, shape: str) -> str:
    return f"{colour} {shape}"
