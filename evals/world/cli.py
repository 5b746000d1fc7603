"""`vot world generate`: write a synthetic world dataset (see dataset.py for the layout)."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    generate = sub.add_parser("generate", help="render videos with ground truth, questions and captions")
    generate.add_argument("--out", required=True, help="output directory")
    generate.add_argument("--videos", type=int, required=True, help="how many videos")
    generate.add_argument("--seed", type=int, default=0, help="dataset seed (video ids are w<seed>_<index>)")
    generate.add_argument("--seconds", type=float, default=None,
                          help="seconds per video (default 5; with --long, 600)")
    generate.add_argument("--max-objects", type=int, default=None, help="most objects per scene (episode)")
    generate.add_argument("--difficulty", choices=("easy", "default", "hard"), default="default")
    generate.add_argument("--long", action="store_true", help="long videos made of episodes, with needle questions")
    generate.add_argument("--episode-seconds", type=float, default=20.0, help="with --long: seconds per episode")
    generate.add_argument("--fps", type=float, default=12.0)
    generate.add_argument("--width", type=int, default=320)
    generate.add_argument("--height", type=int, default=240)
    generate.add_argument("--questions-per-video", type=int, default=None)
    generate.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from .dataset import generate_world

    params = {"difficulty": args.difficulty, "long": args.long, "fps": args.fps, "width": args.width,
              "height": args.height, "episode_seconds": args.episode_seconds}
    if args.seconds is not None:
        params["seconds"] = args.seconds
    elif args.long:
        params["seconds"] = 600.0
    if args.max_objects is not None:
        params["max_objects"] = args.max_objects
        params["min_objects"] = min(3, args.max_objects)
    if args.questions_per_video is not None:
        params["questions_per_video"] = args.questions_per_video
    elif args.long:
        params["questions_per_video"] = 12
    try:
        out = generate_world(args.out, args.videos, args.seed, progress=not args.no_progress, **params)
    except ValueError as error:
        raise SystemExit(f"vot world generate: {error}") from None
    meta = json.loads((out / "meta.json").read_text())
    print(json.dumps({"out": str(out), "videos": meta["num_videos"], "questions": meta["num_questions"],
                      "frames": meta["num_frames"], "seconds": meta["seconds_to_generate"]}))
    return 0
