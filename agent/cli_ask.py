"""`vot ask VIDEO "question" [--choice TEXT]... [--json]`: answer with a step-wise trace.

    vot ask clip.mp4 "What does the red circle do?" --choice "it stops" --choice "it turns"
    vot ask clip.mp4 "What happens?" --json            # one JSON object: answer, answer_index, trace
    vot ask clip.mp4 "..." --db runs.sqlite --trace t.jsonl   # checkpointed: rerun to resume a killed run
"""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="the video file")
    parser.add_argument("question")
    parser.add_argument("--choice", action="append", default=[], help="a candidate answer (repeat; none = open-ended)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the readable trace")
    parser.add_argument("--lm", default=None, help="language model spec: embedded (default), fake, a folder, http://.../v1")
    parser.add_argument("--stsg", default=None, help="use this STSG document (JSON) instead of running the tracker")
    parser.add_argument("--db", default=None, help="SQLite checkpoint file: a killed run resumes when rerun")
    parser.add_argument("--thread", default=None, help="thread id (default: derived from video, question, choices)")
    parser.add_argument("--trace", default=None, help="append the step-wise trace to this JSONL file")
    parser.add_argument("--max-retries", type=int, default=2, help="verification retries (default 2)")
    parser.add_argument("--num-frames", type=int, default=None, help="frames handed to the tracker")
    parser.add_argument("--ablate", action="append", default=[], help="remove a node (repeatable)")
    parser.add_argument("--reader", choices=("program", "rules"), default=None,
                        help="program: the LLM writes a program the STSG runs; rules: the frozen rules reader "
                             "(default: $VIDEOTHOUGHT_READER, else the project's default)")


def build_context(args: argparse.Namespace):
    """The run context from CLI flags (shared by `vot ask` and `vot chat`)."""
    from videothought.agent.context import default_context, load_lm

    overrides = {"lm": load_lm(args.lm)}
    if getattr(args, "num_frames", None):
        overrides["num_frames"] = args.num_frames
    if getattr(args, "stsg", None):
        overrides["stsg_builder"] = document_builder(args.stsg)
    return default_context(**overrides)


def document_builder(path: str):
    """An stsg_builder that reads a saved STSG document (from `vot track`, or a world's ground truth)."""
    from pathlib import Path

    from videothought.graph.schema import STSGFormatError

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such STSG file") from None
    except json.JSONDecodeError as error:
        raise SystemExit(f"{path}: not JSON ({error})") from None
    if not isinstance(document, dict) or "graph" not in document:
        raise STSGFormatError(f"{path}: not an STSG document (no 'graph' field)")

    def build(frames, frame_indices, fps, **_) -> dict:
        return document

    return build


def run(args: argparse.Namespace) -> int:
    from videothought.agent.llm import LanguageModelError
    from videothought.agent.run import run_question
    from videothought.agent.trace import format_trace
    from videothought.graph.schema import STSGFormatError
    from videothought.perception.video import VideoError

    try:
        context = build_context(args)
        result = run_question(
            args.question, video_path=args.video, choices=args.choice, context=context, db_path=args.db,
            thread_id=args.thread, trace_path=args.trace, max_retries=args.max_retries, ablate=args.ablate,
            reader=args.reader,
        )
    except (VideoError, LanguageModelError, STSGFormatError, ValueError) as error:
        print(f"vot ask: {error}", file=sys.stderr)
        return 1
    except SystemExit as error:
        print(f"vot ask: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(format_trace(result.trace))
    index = f" (choice {result.answer_index + 1})" if args.choice and result.answer_index >= 0 else ""
    from videothought.agent.state import verdict

    said = verdict(result.verification)
    status = {"supported": "supported by the scene graph", "refuted": "refuted by the scene graph",
              "unchecked": "unchecked"}[said["status"]]
    source = f", from the {said['source']}" if said["source"] else ""
    print(f"\nAnswer{index}: {result.answer}   [{status}{source}, {result.llm_calls} LLM calls, "
          f"{result.latency_seconds:.1f} s]")
    if said["reason"]:
        print(f"  ({said['reason']})")
    return 0
