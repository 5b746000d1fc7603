"""`vot bench events`: event precision and recall of one detector (graph/events.py) on real
footage, against the hand labels of vtest.avi's first minute, and on the synthetic world,
against its ground-truth STSGs. The last line printed is one JSON object.

    vot bench events                                       # vtest 0-60 s, 5 frames/s, 384 px
    vot bench events --world /tmp/w --videos 6             # and six world videos
    vot bench events --cache /tmp/ev-cache                 # keep tracked STSGs: reruns only detect events
    vot bench events --event-config '{"min_event_seconds": 0}'   # an EventConfig override

Hand labels (evals/real/vtest_events.json) name a moment and a place, not a track:

    label  {"type": "stop", "frame": 393, "point": [300, 225]}        (pixels of the 768x576 video)
    event  stop, track 7, frames 390-392  ─┐
           track 7's box centre at frame 392 (the observation nearest the label's frame),
           scaled to the video's pixels, within `radius_px` of the point, and the event's span
           within `tolerance_frames` of the frame  ─►  a match

A "meet" label has one point per person and matches an "approach" event whose two tracks
are at the two points (either order). Matching is one-to-one, nearest in time first.
Labels marked optional absorb a match without counting it either way: a detection there is
no false positive, a miss no false negative. Event types the labels do not cover (appear,
disappear, occluded, collide, push) are counted and reported, not scored.

World: the pipeline tracks each video; predicted track ids map to the truth ids they overlap
most (graph/metrics.py), and events of the types the world annotates are scored as
`vot bench tracking` scores them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections import Counter
from dataclasses import fields
from pathlib import Path

import numpy as np

from videothought.evals.real.dataset import HERE

logger = logging.getLogger(__name__)

LABELS = HERE / "vtest_events.json"
# Predicted event type that answers each labelled type.
PREDICTED_TYPE = {"enter": "enter", "exit": "exit", "start": "start", "stop": "stop", "turn": "turn", "meet": "approach"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", default=str(LABELS), help="hand labels (default: vtest's first minute)")
    parser.add_argument("--video", help="the labelled video (default: found by name + sha256 like the dev set)")
    parser.add_argument("--fps", type=float, default=5.0, help="frames tracked per second of video")
    parser.add_argument("--max-side", type=int, default=384, help="frames are decoded at this size")
    parser.add_argument("--tolerance-frames", type=int, default=15, help="a label and an event this close in time match")
    parser.add_argument("--radius-px", type=float, default=80.0, help="... and this close in space (video pixels)")
    parser.add_argument("--world", help="a world directory (videos/ + stsg/) to score too")
    parser.add_argument("--videos", type=int, default=6, help="the first N world videos")
    parser.add_argument("--world-tolerance-frames", type=int, default=3, help="event span tolerance on the world")
    parser.add_argument("--cache", help="folder for tracked STSGs (reused when the same tracking was done before)")
    parser.add_argument("--event-config", default="{}", help="JSON object of EventConfig fields to override")
    parser.add_argument("--details", action="store_true", help="also list unmatched labels and events")


def load_labels(path: str | Path) -> dict:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    for i, label in enumerate(doc.get("events", [])):
        if label.get("type") not in PREDICTED_TYPE:
            raise ValueError(f"{path}: events[{i}] type {label.get('type')!r} is not one of {sorted(PREDICTED_TYPE)}")
        if label["type"] == "meet" and len(label.get("points", [])) != 2:
            raise ValueError(f"{path}: events[{i}] (meet) needs two points")
        if label["type"] != "meet" and len(label.get("point", [])) != 2:
            raise ValueError(f"{path}: events[{i}] needs a point [x, y]")
    return doc


def _centre_near(stsg, track_id: int, frame: int, scale: float) -> tuple[np.ndarray, int] | None:
    """(centre in video pixels, frame) of the track's observation nearest `frame`."""
    trajectory = stsg.trajectory(track_id)
    if not trajectory:
        return None
    best = min(trajectory, key=lambda o: abs(o["frame_index"] - frame))
    return np.asarray(best["centre"], dtype=float) * scale, int(best["frame_index"])


def score_labels(labels: dict, stsg, *, tolerance_frames: int = 15, radius_px: float = 80.0) -> dict:
    """Precision/recall of `stsg.events` against hand labels (see the module docstring)."""
    first, last = labels["window_frames"]
    width = float(labels["video"]["width"])
    scale = width / float(stsg.video.get("width") or width)  # STSG pixels -> video pixels
    wanted = {PREDICTED_TYPE[t] for t in labels["types"]}
    predicted = [e for e in stsg.events if e.type in wanted and e.end_frame >= first and e.start_frame <= last]
    others = Counter(e.type for e in stsg.events if e.type not in wanted and e.end_frame >= first and e.start_frame <= last)
    candidates = []
    for i, event in enumerate(predicted):
        for j, label in enumerate(labels["events"]):
            if PREDICTED_TYPE[label["type"]] != event.type:
                continue
            gap = max(0, event.start_frame - label["frame"], label["frame"] - event.end_frame)
            if gap > tolerance_frames:
                continue
            if label["type"] == "meet":
                if len(event.track_ids) < 2:
                    continue
                places = [_centre_near(stsg, t, label["frame"], scale) for t in event.track_ids[:2]]
                if None in places:
                    continue
                points = [np.asarray(p, float) for p in label["points"]]
                distance = min(max(np.hypot(*(places[0][0] - points[0])), np.hypot(*(places[1][0] - points[1]))),
                               max(np.hypot(*(places[0][0] - points[1])), np.hypot(*(places[1][0] - points[0]))))
            else:
                place = _centre_near(stsg, event.track_ids[0], label["frame"], scale)
                if place is None:
                    continue
                distance = float(np.hypot(*(place[0] - np.asarray(label["point"], float))))
            if distance <= radius_px:
                candidates.append((gap, distance, i, j))
    candidates.sort()
    used_events, used_labels = {}, set()
    for gap, distance, i, j in candidates:
        if i in used_events or j in used_labels:
            continue
        used_events[i] = j
        used_labels.add(j)
    per_type = {}
    for kind in labels["types"]:
        label_ids = [j for j, label in enumerate(labels["events"]) if label["type"] == kind]
        required = [j for j in label_ids if not labels["events"][j].get("optional")]
        event_ids = [i for i, e in enumerate(predicted) if e.type == PREDICTED_TYPE[kind]]
        tp = sum(1 for j in required if j in used_labels)
        absorbed = sum(1 for i in event_ids if i in used_events and labels["events"][used_events[i]].get("optional"))
        fp = sum(1 for i in event_ids if i not in used_events)
        per_type[kind] = _prf(tp, fp, len(required) - tp) | {"optional_matched": absorbed}
    tp = sum(v["true_positives"] for v in per_type.values())
    fp = sum(v["false_positives"] for v in per_type.values())
    fn = sum(v["false_negatives"] for v in per_type.values())
    result = {**_prf(tp, fp, fn), "per_type": per_type, "events_in_window": len(predicted),
              "other_events_in_window": dict(sorted(others.items())), "tracks": len(stsg.track_ids)}
    result["unmatched_labels"] = [{k: labels["events"][j].get(k) for k in ("type", "frame", "note")}
                                  for j in range(len(labels["events"]))
                                  if j not in used_labels and not labels["events"][j].get("optional")]
    result["unmatched_events"] = [e.to_dict() for i, e in enumerate(predicted) if i not in used_events]
    return result


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_positives": tp, "false_positives": fp,
            "false_negatives": fn}


def _cached(cache: str | None, key: dict, build):
    """The STSG `build()` makes, kept in `cache` under a hash of `key`."""
    from videothought.graph.stsg import STSG

    if not cache:
        return build()
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache) / f"{name}.json"
    if path.is_file():
        return STSG.load(path)
    stsg = build()
    stsg.save(path)
    return stsg


def track_labelled_video(video: str | Path, labels: dict, *, fps: float, max_side: int, cache: str | None = None):
    """The pipeline's STSG of the labelled window of `video`."""
    from videothought.perception.pipeline import track_video

    first, last = labels["window_frames"]
    rate = float(labels["video"]["fps"])
    window = (first / rate, (last + 1) / rate)
    key = {"video": labels["video"]["sha256"], "window": window, "fps": fps, "max_side": max_side, "what": "real"}
    return _cached(cache, key, lambda: track_video(video, fps=fps, max_side=max_side, start_seconds=window[0],
                                                   end_seconds=window[1]))


def world_event_scores(data_dir: str | Path, *, videos: int, config, tolerance_frames: int = 3,
                       cache: str | None = None) -> dict:
    """Event precision/recall on world videos (their truth STSGs), tracking every frame."""
    from videothought.graph import metrics
    from videothought.graph.stsg import STSG
    from videothought.perception.bench_tracking import WORLD_EVENT_TYPES, world_videos
    from videothought.perception.pipeline import track_frames
    from videothought.perception.video import VideoReader

    results = []
    for video_path, truth_path in world_videos(data_dir, videos):
        truth = STSG.load(truth_path)

        def build(video_path=video_path):
            with VideoReader(video_path) as reader:
                batch = reader.get_frames(np.arange(reader.metadata.num_frames))
                fps = reader.metadata.fps
            return track_frames(batch.frames, batch.frame_indices, fps, video={"path": str(video_path)})

        digest = hashlib.sha256(Path(video_path).read_bytes()).hexdigest()
        predicted = _cached(cache, {"video": digest, "what": "world"}, build)
        predicted.detect_events(config)
        accumulator = metrics.accumulate_tracking(truth.observations(), predicted.observations())
        results.append(metrics.event_scores(truth.events, predicted.events, metrics.track_id_map(accumulator),
                                            tolerance_frames=tolerance_frames, types=WORLD_EVENT_TYPES))
    merged = metrics.merge_event_counts(results)
    return {"videos": len(results), "precision": merged["precision"], "recall": merged["recall"], "f1": merged["f1"],
            "per_type": {k: {"precision": round(v["precision"], 3), "recall": round(v["recall"], 3),
                             "tp": v["true_positives"], "fp": v["false_positives"], "fn": v["false_negatives"]}
                         for k, v in merged["per_type"].items()}}


def event_config(overrides: str):
    from videothought.graph.events import EventConfig

    values = json.loads(overrides or "{}")
    known = {f.name for f in fields(EventConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SystemExit(f"vot bench events: unknown EventConfig fields {unknown}; known: {sorted(known)}")
    return EventConfig(**values)


def run(args: argparse.Namespace) -> dict:
    config = event_config(args.event_config)
    labels = load_labels(args.labels)
    video = args.video
    if video is None:
        from videothought.evals.real.dataset import Clip, clip_roots, find_clip, read_manifest

        manifest = read_manifest(HERE / "clips.json")
        video = find_clip(Clip(labels["video"]["file"], labels["video"]["sha256"]), clip_roots(manifest, HERE),
                          manifest.get("roots", []))
    stsg = track_labelled_video(video, labels, fps=args.fps, max_side=args.max_side, cache=args.cache)
    stsg.detect_events(config)
    real = score_labels(labels, stsg, tolerance_frames=args.tolerance_frames, radius_px=args.radius_px)
    if not args.details:
        real.pop("unmatched_labels")
        real.pop("unmatched_events")
    result = {"labels": str(args.labels), "fps": args.fps, "max_side": args.max_side, "real": real}
    if args.world:
        result["world"] = world_event_scores(args.world, videos=args.videos, config=config,
                                             tolerance_frames=args.world_tolerance_frames, cache=args.cache)
    return result
