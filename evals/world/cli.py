"""`vot world generate|check|reword|chained|followups`: write a synthetic world dataset (see dataset.py for the layout),
check it against the oracle, or write a copy with its questions in other words (reword.py).

    vot world reword runs/world --family heldout --out runs/world-heldout
"""

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
    check = sub.add_parser("check", help="oracle accuracy, answer-position balance and the blind baseline")
    check.add_argument("world", help="a directory written by `vot world generate`")
    check.add_argument("--train", help="another world (other seed) to fit the question-blind baseline on")
    reword = sub.add_parser("reword", help="a copy of a world with every question and option in other words")
    reword.add_argument("world", help="a directory written by `vot world generate`")
    reword.add_argument("--family", choices=("train", "heldout"), required=True,
                        help="heldout: wordings never used for training or tuning (testing only)")
    reword.add_argument("--out", required=True, help="the reworded world directory (videos hard-linked or copied)")
    reword.add_argument("--seed", type=int, default=0, help="which wording each question gets")
    chained = sub.add_parser("chained", help="a world of questions that chain two or three operations (same videos)")
    chained.add_argument("world", help="a directory written by `vot world generate`")
    chained.add_argument("--out", required=True, help="the chained world directory (videos hard-linked or copied)")
    chained.add_argument("--per-video", type=int, default=8, help="most questions per video")
    chained.add_argument("--seed", type=int, default=0, help="which questions and options are drawn")
    followups = sub.add_parser("followups", help="write WORLD/followups.jsonl: multi-turn conversations with truth per turn")
    followups.add_argument("world", help="a directory written by `vot world generate`")
    followups.add_argument("--per-video", type=int, default=4, help="most conversations per video")


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        return _check(args)
    if args.action == "reword":
        return _reword(args)
    if args.action == "chained":
        from .chained import write_chained_world

        try:
            print(json.dumps(write_chained_world(args.world, args.out, per_video=args.per_video, seed=args.seed)))
        except (ValueError, OSError) as error:
            raise SystemExit(f"vot world chained: {error}") from None
        return 0
    if args.action == "followups":
        from .followups import main as followups_main

        return followups_main([args.world, "--per-video", str(args.per_video)])
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
    except (ValueError, OSError) as error:  # bad parameters, an unwritable --out
        raise SystemExit(f"vot world generate: {error}") from None
    meta = json.loads((out / "meta.json").read_text())
    print(json.dumps({"out": str(out), "videos": meta["num_videos"], "questions": meta["num_questions"],
                      "frames": meta["num_frames"], "seconds": meta["seconds_to_generate"]}))
    return 0


def _check(args: argparse.Namespace) -> int:
    """One JSON object: per-type counts, oracle accuracy, answer positions, blind baseline."""
    from collections import Counter

    from .dataset import WorldFormatError, load_world
    from .oracle import OracleError, oracle_answer, prior_baseline

    try:
        videos = load_world(args.world)
        train = load_world(args.train) if args.train else None
    except (OSError, WorldFormatError) as error:
        raise SystemExit(f"vot world check: {error}") from None
    questions = [q for v in videos for q in v.questions]
    correct, unanswerable = Counter(), 0
    for video in videos:
        for question in video.questions:
            try:
                answer = oracle_answer(question.question, question.options, video.stsg)
            except OracleError:
                answer = None
            unanswerable += answer is None
            correct[question.type] += answer == question.answer
    per_type = Counter(q.type for q in questions)
    report = {
        "videos": len(videos),
        "questions": len(questions),
        "per_type": dict(sorted(per_type.items())),
        "oracle_accuracy": round(sum(correct.values()) / max(1, len(questions)), 4),
        "oracle_accuracy_per_type": {t: round(correct[t] / n, 4) for t, n in sorted(per_type.items())},
        "oracle_no_single_answer": unanswerable,
        "answer_positions": [sum(q.answer == p for q in questions) for p in range(5)],
    }
    if train is not None:
        train_questions = [q for v in train for q in v.questions]
        report["blind_baseline_accuracy"] = round(prior_baseline(train_questions, questions), 4)
        report["blind_baseline_per_type"] = {
            t: round(prior_baseline(train_questions, [q for q in questions if q.type == t]), 4)
            for t in sorted(per_type)}
    print(json.dumps(report))
    return 0


def _reword(args: argparse.Namespace) -> int:
    from .dataset import WorldFormatError
    from .reword import reword_world

    try:
        summary = reword_world(args.world, args.out, family=args.family, seed=args.seed)
    except (OSError, ValueError, WorldFormatError) as error:
        raise SystemExit(f"vot world reword: {error}") from None
    print(json.dumps(summary))
    return 0
