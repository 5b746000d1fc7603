"""`vot chat VIDEO`: chat about a (long) video; the video is indexed once (with a progress bar).

    $ vot chat hour.mp4
    indexing: 100%|██████████| 360/360 [03:10<00:00]
    > Which person walks in first?
    the man in red
    > What does she do right after that?      (she = the previous answer's person)
    ...
    > Why does the car stop? a person crosses | the light is red
    (choices after the question mark, separated by |)

    $ vot chat --library videos.sqlite        # ask across every video indexed in a library
    $ vot chat hour.mp4 --library videos.sqlite   # add (or find) the video there, then chat

Commands: /trace prints the last answer's step-wise trace, /quit (or end of input) leaves.
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", nargs="?", default=None, help="the video file (optional with --library)")
    parser.add_argument("--library", default=None,
                        help="the SQLite library file (default: <cache-dir>/library.sqlite)")
    parser.add_argument("--lm", default=None, help="language model spec: embedded (default), fake, a folder, http://.../v1")
    parser.add_argument("--cache-dir", default=None, help="where the library is kept (default: ~/.cache/videothought/sessions)")
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument("--index-fps", type=float, default=12.0, help="frames per second the index tracks")
    parser.add_argument("--trace", default=None, help="append every turn's step-wise trace to this JSONL file")


def run(args: argparse.Namespace) -> int:
    from videothought.agent.context import default_context, load_lm
    from videothought.agent.llm import LanguageModelError
    from videothought.library import LibraryError
    from videothought.agent.session import Session, split_choices
    from videothought.agent.trace import format_trace
    from videothought.perception.video import VideoError

    if args.video is None and args.library is None:
        print("vot chat: give a video, a --library, or both", file=sys.stderr)
        return 2
    try:
        context = default_context(lm=load_lm(args.lm))
        session = Session(args.video, context=context, library=args.library, cache_dir=args.cache_dir,
                          segment_seconds=args.segment_seconds, index_fps=args.index_fps, progress=True)
    except (VideoError, LanguageModelError, LibraryError, ValueError) as error:
        print(f"vot chat: {error}", file=sys.stderr)
        return 1
    interactive = sys.stdin.isatty()
    if session.index is not None:
        record = session.index.record
        where = f"{args.video}: {record.segments_done} segments indexed"
    else:
        where = f"{session.library.path}: {len(session.library.videos())} videos"
    print(f"{where}. Ask a question (/quit to leave).", file=sys.stderr)
    last = None
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        message = line.strip()
        if not message:
            continue
        if message in ("/quit", "/exit"):
            break
        if message == "/trace":
            print(format_trace(last.trace) if last else "(no answer yet)")
            continue
        question, choices = split_choices(message)
        try:
            last = session.ask(question, choices, remember=True, trace_path=args.trace)
        except (VideoError, LanguageModelError, LibraryError, ValueError) as error:
            print(f"vot chat: {error}", file=sys.stderr)
            continue
        print(last.answer, flush=True)
    return 0
