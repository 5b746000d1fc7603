"""A tiny world folder in the format `vot world generate` writes, drawn here so the training
tests do not depend on the world generator: coloured squares and circles moving over grey."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from videothought.perception.video import write_video

PALETTE = {"red": (220, 30, 30), "blue": (40, 70, 225), "yellow": (240, 225, 40), "green": (40, 180, 60)}


def _draw(frame: np.ndarray, shape: str, colour, cx: float, cy: float, radius: int) -> None:
    height, width = frame.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    if shape == "square":
        mask = (abs(xs - cx) <= radius) & (abs(ys - cy) <= radius)
    else:
        mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    frame[mask] = colour


def write_tiny_world(root: Path, num_videos: int = 6, seed: int = 0, num_frames: int = 12, fps: float = 6.0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    (root / "stsg").mkdir(exist_ok=True)
    captions = []
    labels_all = [(c, s) for c in PALETTE for s in ("square", "circle")]
    for v in range(num_videos):
        name = f"tiny_{v:03d}"
        chosen = [labels_all[i] for i in rng.choice(len(labels_all), size=2, replace=False)]
        starts = rng.uniform(16, 80, size=(2, 2))
        velocity = rng.uniform(-3, 3, size=(2, 2))
        frames = np.full((num_frames, 96, 128, 3), 100, dtype=np.uint8)
        nodes = []
        for t in range(num_frames):
            for track, (colour, shape) in enumerate(chosen):
                cx, cy = np.clip(starts[track] + velocity[track] * t, 12, [116, 84])
                _draw(frames[t], shape, PALETTE[colour], cx, cy, 9)
                nodes.append({
                    "id": f"o:{track}:{t}", "kind": "observation", "track_id": track, "frame_index": t,
                    "time_seconds": t / fps, "box": [cx - 9, cy - 9, cx + 9, cy + 9], "label": f"{colour} {shape}",
                    "score": 1.0, "attributes": {"colour": colour, "shape": shape}, "visible": True,
                })
        write_video(root / "videos" / f"{name}.mp4", frames, fps=fps)
        document = {
            "schema": "videothought.stsg", "version": 1,
            "video": {"path": f"videos/{name}.mp4", "fps": fps, "num_frames": num_frames, "width": 128, "height": 96},
            "graph": {"directed": True, "multigraph": True, "graph": {}, "nodes": nodes, "links": []},
            "tracks": {}, "events": [],
        }
        (root / "stsg" / f"{name}.json").write_text(json.dumps(document))
        (a, b) = [f"{c} {s}" for c, s in chosen]
        half = num_frames // 2
        captions.append({"video": name, "segment": {"start_frame": 0, "end_frame": half - 1}, "caption": f"the {a} moves"})
        captions.append({"video": name, "segment": {"start_frame": half, "end_frame": num_frames - 1}, "caption": f"the {b} moves"})
    (root / "captions.jsonl").write_text("".join(json.dumps(c) + "\n" for c in captions))
    return root
