"""`vot bench tracking --data WORLD_DIR`: tracking and event quality on the synthetic world's
ground truth, and speed. The last line printed is one JSON object:

    idf1, mota, id_switches, event_f1      quality over the world's videos (graph/metrics.py)
    tracker_fps                            the whole pipeline's tracking step (frames/s, proposals excluded)
    tracker_alone_fps_10_objects           the tracker alone on 10 synthetic moving objects (and _cpu:
                                           from process CPU time, less sensitive to a shared machine)
    stsg_build_seconds                     STSG.from_observations for 10,000 frames x 10 objects (and
                                           stsg_build_cpu_seconds)

A world directory holds videos/<name>.mp4 and stsg/<name>.json (the graph/schema.py document
of the truth), as `vot world generate --out DIR` writes it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# The event types the world annotates: it never labels "approach".
WORLD_EVENT_TYPES = ("enter", "exit", "appear", "disappear", "collide", "push", "start", "stop", "turn", "occluded")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=False, help="a world directory (videos/*.mp4 + stsg/*.json)")
    parser.add_argument("--videos", type=int, default=20, help="evaluate the first N videos (sorted by name)")
    parser.add_argument("--tracker", choices=("ours", "roboflow-bytetrack", "roboflow-ocsort", "roboflow-sort"),
                        default="ours", help="roboflow-*: the `trackers` package, for comparison (not installed by default)")
    parser.add_argument("--tolerance-frames", type=int, default=3, help="event span tolerance")
    parser.add_argument("--speed-frames", type=int, default=10_000, help="frames for the STSG build timing")
    parser.add_argument("--tracker-frames", type=int, default=2_000, help="frames for the tracker-alone timing")
    parser.add_argument("--per-video", action="store_true", help="also print one JSON line per video")


def world_videos(data_dir: str | Path, limit: int | None = None) -> list[tuple[Path, Path]]:
    """(video path, truth path) pairs of a world directory, sorted by name."""
    data_dir = Path(data_dir)
    videos_dir, truth_dir = data_dir / "videos", data_dir / "stsg"
    if not videos_dir.is_dir() or not truth_dir.is_dir():
        raise FileNotFoundError(f"{data_dir} is not a world directory: it needs videos/ and stsg/ "
                                "(write one with `vot world generate --out DIR`)")
    pairs = []
    for video in sorted(videos_dir.glob("*.mp4")):
        truth = truth_dir / f"{video.stem}.json"
        if truth.is_file():
            pairs.append((video, truth))
    if not pairs:
        raise FileNotFoundError(f"{data_dir}: no videos/<name>.mp4 with a matching stsg/<name>.json")
    return pairs[:limit] if limit else pairs


def evaluate_world(data_dir, *, limit: int | None = 20, proposer_factory=None, tracker_factory=None,
                   tolerance_frames: int = 3, per_video: list | None = None) -> dict:
    """Run the pipeline on each world video and score it against the truth."""
    from videothought.graph import metrics
    from videothought.graph.stsg import STSG
    from videothought.perception.pipeline import track_frames
    from videothought.perception.video import VideoReader

    accumulators, event_results, names = [], [], []
    tracking_seconds = 0.0
    tracked_frames = 0
    for video_path, truth_path in world_videos(data_dir, limit):
        truth = STSG.load(truth_path)
        with VideoReader(video_path) as reader:
            batch = reader.get_frames(np.arange(reader.metadata.num_frames))
            fps = reader.metadata.fps
        timings: dict = {}
        proposer = proposer_factory() if proposer_factory else None
        tracker = tracker_factory() if tracker_factory else None
        predicted = track_frames(batch.frames, batch.frame_indices, fps, proposer=proposer, tracker=tracker,
                                 video={"path": str(video_path)}, timings=timings)
        tracking_seconds += timings["tracking"]
        tracked_frames += len(batch)
        accumulator = metrics.accumulate_tracking(truth.observations(), predicted.observations())
        id_map = metrics.track_id_map(accumulator)
        events = metrics.event_scores(truth.events, predicted.events, id_map,
                                      tolerance_frames=tolerance_frames, types=WORLD_EVENT_TYPES)
        accumulators.append(accumulator)
        event_results.append(events)
        names.append(video_path.stem)
        if per_video is not None:
            one = metrics.tracking_scores([accumulator], [video_path.stem])
            per_video.append({"video": video_path.stem, "idf1": one["idf1"], "mota": one["mota"],
                              "id_switches": one["id_switches"], "event_f1": events["f1"],
                              "false_positives": one["num_false_positives"], "misses": one["num_misses"]})
    tracking = metrics.tracking_scores(accumulators, names)
    events = metrics.merge_event_counts(event_results)
    return {
        "videos": len(names),
        "idf1": tracking["idf1"],
        "mota": tracking["mota"],
        "id_switches": tracking["id_switches"],
        "false_positives": tracking["num_false_positives"],
        "misses": tracking["num_misses"],
        "ground_truth_boxes": tracking["num_objects"],
        "event_precision": events["precision"],
        "event_recall": events["recall"],
        "event_f1": events["f1"],
        "event_per_type": {k: {"f1": round(v["f1"], 3), "tp": v["true_positives"], "fp": v["false_positives"],
                               "fn": v["false_negatives"]} for k, v in events["per_type"].items()},
        "tracker_fps": tracked_frames / max(tracking_seconds, 1e-9),
    }


def synthetic_detections(num_frames: int, num_objects: int = 10, *, width: int = 640, height: int = 480,
                         seed: int = 0):
    """Detections of `num_objects` boxes bouncing around a frame: input for speed measurements."""
    from videothought.perception.proposals import Detection

    rng = np.random.default_rng(seed)
    position = rng.uniform([40, 40], [width - 40, height - 40], size=(num_objects, 2))
    velocity = rng.uniform(-4, 4, size=(num_objects, 2))
    size = rng.uniform(16, 40, size=num_objects)
    frames = []
    for _ in range(num_frames):
        position += velocity
        for axis, limit in ((0, width), (1, height)):
            out = (position[:, axis] < 20) | (position[:, axis] > limit - 20)
            velocity[out, axis] *= -1
        jitter = rng.normal(0, 0.5, size=(num_objects, 4))
        boxes = np.concatenate([position - size[:, None] / 2, position + size[:, None] / 2], axis=1) + jitter
        frames.append([Detection(box=tuple(b), score=0.9) for b in boxes])
    return frames


def tracker_alone_fps(num_frames: int = 2000, num_objects: int = 10) -> tuple[float, float]:
    """Frames per second of ByteTracker.run on synthetic detections: (wall clock, process CPU time)."""
    from videothought.perception.tracker import ByteTracker

    detections = synthetic_detections(num_frames, num_objects)
    tracker = ByteTracker()
    frames = list(range(num_frames))
    start, cpu = time.perf_counter(), time.process_time()
    tracker.run(detections, frames, [f / 25.0 for f in frames], frame_size=(640, 480))
    return num_frames / (time.perf_counter() - start), num_frames / (time.process_time() - cpu)


def stsg_build_seconds(num_frames: int = 10_000, num_objects: int = 10) -> tuple[float, float, int, int]:
    """Wall and CPU seconds to build the STSG of `num_frames` x `num_objects` observations; nodes, edges."""
    from videothought.graph.schema import Observation
    from videothought.graph.stsg import STSG

    rng = np.random.default_rng(0)
    position = rng.uniform(50, 590, size=(num_objects, 2))
    velocity = rng.uniform(-3, 3, size=(num_objects, 2))
    observations = []
    for frame in range(num_frames):
        position = np.clip(position + velocity, 20, 620)
        velocity[(position <= 20) | (position >= 620)] *= -1
        for track_id, (x, y) in enumerate(position.tolist()):
            observations.append(Observation(track_id, frame, frame / 25.0, (x - 12, y - 12, x + 12, y + 12)))
    start, cpu = time.perf_counter(), time.process_time()
    stsg = STSG.from_observations(observations, video={"fps": 25.0, "num_frames": num_frames})
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu_seconds, stsg.graph.number_of_nodes(), stsg.graph.number_of_edges()


def run(args: argparse.Namespace) -> dict:
    result: dict = {}
    if args.data:
        per_video: list = []
        tracker_factory = None
        if args.tracker != "ours":
            from videothought.perception.tracker import RoboflowTracker

            kind = args.tracker.split("-", 1)[1]
            tracker_factory = lambda: RoboflowTracker(kind)  # noqa: E731
        quality = evaluate_world(args.data, limit=args.videos, tracker_factory=tracker_factory,
                                 tolerance_frames=args.tolerance_frames, per_video=per_video)
        if args.per_video:
            for row in per_video:
                print(json.dumps(row))
        result.update(quality)
    # Wall-clock numbers, and the same from this process's CPU time: on a shared machine the
    # wall clock also counts the time other processes held the cores.
    result["tracker_alone_fps_10_objects"], result["tracker_alone_fps_10_objects_cpu"] = \
        tracker_alone_fps(args.tracker_frames)
    seconds, cpu_seconds, nodes, edges = stsg_build_seconds(args.speed_frames)
    result["stsg_build_seconds"] = seconds
    result["stsg_build_cpu_seconds"] = cpu_seconds
    result["stsg_build_size"] = {"frames": args.speed_frames, "objects": 10, "nodes": nodes, "edges": edges}
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}
