"""A tiny world dataset written by hand in the world's file format (qa.csv, evidence.jsonl,
stsg/<video>.json, videos/<video>.mp4), so the eval tests do not depend on the generator.

Every video: 20 frames of 64x48 at 10 fps with three tracks
    1 "red circle"     moves right 2 px a frame, collides with 2 at frames 8-10
    2 "blue square"    still
    3 "green triangle" enters at frame 5
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import networkx as nx
import numpy as np

from videothought.graph.schema import SCHEMA_NAME, SCHEMA_VERSION, observation_id
from videothought.perception.video import write_video

NUM_FRAMES, WIDTH, HEIGHT, FPS = 20, 64, 48, 10.0
LABELS = {1: "red circle", 2: "blue square", 3: "green triangle"}
COLOURS = {1: (220, 30, 30), 2: (30, 30, 220), 3: (30, 200, 30)}
QUESTIONS = [
    ("descriptive", "what colour is the square", ["red", "blue", "green", "yellow"], 1, [2], []),
    ("temporal", "what enters after the start", ["the red circle", "the blue square", "the green triangle", "nothing"],
     2, [3], [{"type": "enter", "track_ids": [3], "start_frame": 5, "end_frame": 5}]),
    ("causal", "why does the red circle stop", ["it hits the blue square", "it turns", "it exits", "it is pushed"],
     0, [1, 2], [{"type": "collide", "track_ids": [1, 2], "start_frame": 8, "end_frame": 10}]),
    ("counterfactual", "what if the square were gone", ["the circle keeps moving", "it stops", "it turns", "nothing"],
     0, [1, 2], [{"type": "collide", "track_ids": [1, 2], "start_frame": 8, "end_frame": 10}]),
]


def box_at(track_id: int, frame: int, shift: int = 0) -> list[float] | None:
    if track_id == 1:
        x = min(4 + 2 * frame, 22) + shift
        return [float(x), 10.0, float(x + 10), 20.0]
    if track_id == 2:
        return [float(32 + shift), 10.0, float(42 + shift), 20.0]
    if track_id == 3:
        return None if frame < 5 else [float(10 + shift), 30.0, float(20 + shift), 40.0]
    raise ValueError(track_id)


def stsg_document(video_path: str, shift: int = 0) -> dict:
    graph = nx.MultiDiGraph()
    for track_id in LABELS:
        previous = None
        for frame in range(NUM_FRAMES):
            box = box_at(track_id, frame, shift)
            if box is None:
                continue
            node = observation_id(track_id, frame)
            graph.add_node(node, kind="observation", track_id=track_id, frame_index=frame, time_seconds=frame / FPS,
                           box=box, label=LABELS[track_id], score=1.0, attributes={}, visible=True, embedding_ref=None)
            if previous is not None:
                graph.add_edge(previous, node, kind="temporal", gap_frames=1)
            previous = node
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "video": {"path": video_path, "fps": FPS, "num_frames": NUM_FRAMES, "width": WIDTH, "height": HEIGHT},
        "graph": nx.node_link_data(graph, edges="links"),
        "tracks": {str(t): {"label": label, "attributes": {}} for t, label in LABELS.items()},
        "events": [
            {"type": "enter", "track_ids": [3], "start_frame": 5, "end_frame": 5, "attributes": {}},
            {"type": "collide", "track_ids": [1, 2], "start_frame": 8, "end_frame": 10, "attributes": {}},
        ],
    }


def write_tiny_world(root: str | Path, num_videos: int = 2, write_videos: bool = True) -> Path:
    root = Path(root)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    (root / "stsg").mkdir(exist_ok=True)
    rows, evidence = [], []
    for v in range(num_videos):
        video = f"video{v:03d}"
        path = root / "videos" / f"{video}.mp4"
        if write_videos:
            frames = np.full((NUM_FRAMES, HEIGHT, WIDTH, 3), 90, dtype=np.uint8)  # (T, H, W, 3)
            for frame in range(NUM_FRAMES):
                for track_id, colour in COLOURS.items():
                    box = box_at(track_id, frame)
                    if box is not None:
                        x1, y1, x2, y2 = (int(c) for c in box)
                        frames[frame, y1:y2, x1:x2] = colour
            write_video(path, frames, fps=FPS)
        (root / "stsg" / f"{video}.json").write_text(json.dumps(stsg_document(f"videos/{video}.mp4")))
        for qid, (kind, question, choices, answer, objects, events) in enumerate(QUESTIONS):
            rows.append({"video": video, "frame_count": NUM_FRAMES, "width": WIDTH, "height": HEIGHT,
                         "question": question, "answer": answer, "qid": qid, "type": kind,
                         **{f"a{i}": c for i, c in enumerate(choices)}})
            evidence.append({"qid": qid, "video": video, "type": kind, "subtype": kind, "object_ids": objects,
                             "events": events, "frame_span": [0, NUM_FRAMES - 1]})
    with (root / "qa.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (root / "evidence.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evidence))
    (root / "meta.json").write_text(json.dumps({"videos": num_videos, "seed": 0}))
    return root
