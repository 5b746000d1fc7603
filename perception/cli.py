"""`vot info VIDEO` and `vot frames VIDEO --num N --out DIR`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="path to a video file")
    parser.add_argument("--allow-truncated", action="store_true", help="read the decodable part of a truncated file")


def run_info(args: argparse.Namespace) -> int:
    from .video import VideoError, VideoReader

    try:
        with VideoReader(args.video, allow_truncated=args.allow_truncated) as video:
            print(json.dumps(video.metadata.to_dict()))
    except VideoError as error:
        print(f"vot info: {error}", file=sys.stderr)
        return 1
    return 0


def configure_frames(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="path to a video file")
    parser.add_argument("--num", type=int, default=8, help="number of frames, spread uniformly (default 8)")
    parser.add_argument("--out", required=True, help="folder for the PNG files")
    parser.add_argument("--max-side", type=int, default=None, help="resize so the longer side is at most this")


def run_frames(args: argparse.Namespace) -> int:
    from PIL import Image

    from .video import VideoError, VideoReader

    try:
        with VideoReader(args.video, max_side=args.max_side) as video:
            batch = video.sample_uniform(args.num)
    except VideoError as error:
        print(f"vot frames: {error}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for frame, frame_index, seconds in zip(batch.frames, batch.frame_indices, batch.timestamps_seconds):
        path = out / f"frame_{frame_index:06d}.png"
        Image.fromarray(frame).save(path)
        print(json.dumps({"frame_index": int(frame_index), "seconds": round(float(seconds), 3), "path": str(path)}))
    return 0
