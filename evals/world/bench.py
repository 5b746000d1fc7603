"""`vot bench world`: how fast the synthetic world renders, encodes and generates.

All numbers come from one run in this process, so their ratios compare like with like
on a shared machine: rendering alone (simulation + drawing + visibility truth), rendering
plus h264 encoding, and the whole `generate_world` (questions, captions, STSG documents,
counterfactual re-renders) per difficulty.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--videos", type=int, default=20, help="videos per measurement")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per video")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulties", default="easy,default,hard")
    parser.add_argument("--long-seconds", type=float, default=0.0,
                        help="also generate one long video this many seconds long (0: skip)")


def run(args: argparse.Namespace) -> dict:
    import numpy as np

    from videothought.perception.video import write_video

    from .config import WorldParams
    from .dataset import generate_world
    from .render import render_video
    from .simulate import sample_spec

    result: dict = {"videos": args.videos, "seconds_per_video": args.seconds}
    for difficulty in args.difficulties.split(","):
        params = WorldParams(seconds=args.seconds, difficulty=difficulty)
        specs = [sample_spec(np.random.default_rng([args.seed, i]), params, video_id=f"w{args.seed}_{i:06d}")
                 for i in range(args.videos)]
        frames_total = sum(s.num_frames for s in specs)
        start = time.perf_counter()
        rendered = [render_video(spec)[0] for spec in specs]
        render_seconds = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            for spec, frames in zip(specs, rendered):
                write_video(Path(tmp) / f"{spec.video_id}.mp4", frames, spec.fps)
            encode_seconds = time.perf_counter() - start
            start = time.perf_counter()
            generate_world(Path(tmp) / "world", args.videos, args.seed, seconds=args.seconds, difficulty=difficulty)
            generate_seconds = time.perf_counter() - start
        result[difficulty] = {
            "frames": frames_total,
            "frames_per_second": round(frames_total / render_seconds, 1),
            "encode_frames_per_second": round(frames_total / encode_seconds, 1),
            "generate_seconds": round(generate_seconds, 2),
            "generate_frames_per_second": round(frames_total / generate_seconds, 1),
            "render_share_of_generate": round(render_seconds / generate_seconds, 3),
        }
    if args.long_seconds > 0:
        import json
        import resource

        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            out = generate_world(Path(tmp) / "long", 1, args.seed, long=True, seconds=args.long_seconds,
                                 questions_per_video=12)
            seconds = time.perf_counter() - start
            meta = json.loads((out / "meta.json").read_text())
            stsg_bytes = sum(p.stat().st_size for p in (out / "stsg").iterdir())
        result["long"] = {
            "video_seconds": args.long_seconds,
            "frames": meta["num_frames"],
            "questions": meta["num_questions"],
            "generate_seconds": round(seconds, 1),
            "generate_frames_per_second": round(meta["num_frames"] / seconds, 1),
            "stsg_megabytes": round(stsg_bytes / 1e6, 1),
            "peak_rss_megabytes": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    first = args.difficulties.split(",")[0]
    result["frames_per_second"] = result[first]["frames_per_second"]
    return result
