"""`vot index`: index videos into a SQLite library for long-video chat (resumable).

    vot index videos.sqlite hour.mp4 other.mp4                 # in this process, one video after another
    vot index videos.sqlite videos/*.mp4 --ray                 # a local Ray cluster, one worker per CPU
    vot index videos.sqlite videos/*.mp4 --ray auto            # the cluster `ray start --head` runs here
    vot index videos.sqlite videos/*.mp4 --ray 10.0.0.5:6379 --workers 16

One JSON line per video on stdout (its library record). A video that cannot be indexed is
named on stderr and the others go on; the exit status is then 1. Rerunning the same command
continues an interrupted build and skips finished videos (only their hash is read).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from videothought.library.cluster import LOCAL


def configure(parser: argparse.ArgumentParser) -> None:
    from videothought.perception.indexing import IndexSettings

    parser.add_argument("library", help="the SQLite library file (created)")
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--ray", nargs="?", const=LOCAL, default=None, metavar="ADDRESS",
                        help="index on Ray: no value starts a local cluster; 'auto' joins the one running here; "
                             "HOST:PORT joins that one")
    parser.add_argument("--workers", type=int, default=None,
                        help="with --ray: worker processes (default: the cluster's CPUs)")
    parser.add_argument("--segments-per-task", type=int, default=3,
                        help="with --ray: consecutive segments one task decodes after one seek")
    parser.add_argument("--segment-seconds", type=float, default=IndexSettings.segment_seconds)
    parser.add_argument("--index-fps", type=float, default=IndexSettings.index_fps)
    parser.add_argument("--no-encoder", action="store_true", help="no clip embeddings (facts and text only)")
    parser.add_argument("--text-model", default="default",
                        help="'default' (MiniLM), 'none', or module:function returning texts -> (N, D) vectors")
    parser.add_argument("--proposer", default="default", help="'default' or module:function returning a proposer")
    parser.add_argument("--rebuild", action="store_true", help="start afresh when the library file is unreadable")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from videothought.library.cluster import check_address
    from videothought.library.distributed import WorkerSpec, add_videos_ray
    from videothought.library.store import Library, LibraryError
    from videothought.perception.indexing import Embedders, IndexSettings
    from videothought.perception.video import VideoError

    try:
        check_address(args.ray)
        settings = IndexSettings(segment_seconds=args.segment_seconds, index_fps=args.index_fps)
        spec = WorkerSpec(encoder=None if args.no_encoder else "default",
                          text_model=None if args.text_model == "none" else args.text_model,
                          proposer=args.proposer)
        library = Library(args.library, rebuild=args.rebuild)
    except (ValueError, LibraryError) as error:
        print(f"vot index: {error}", file=sys.stderr)
        return 2
    failures = []
    with library:
        if args.ray is not None:
            try:
                report = add_videos_ray(library, args.videos, settings=settings, spec=spec, address=args.ray,
                                        workers=args.workers, segments_per_task=args.segments_per_task,
                                        progress=not args.no_progress)
            except ValueError as error:
                print(f"vot index: {error}", file=sys.stderr)
                return 2
            records, failures = report.records, report.failures
            for record in records:
                print(json.dumps(record.to_dict()), flush=True)
        else:
            encoder, text_model, proposer = spec.build()
            library.embedders = Embedders(encoder, text_model, use_text=spec.text_model is not None)
            for path in args.videos:
                try:
                    record = library.add(path, settings=settings, proposer=proposer, progress=not args.no_progress)
                except VideoError as error:
                    failures.append((path, str(error)))
                    continue
                print(json.dumps(record.to_dict()), flush=True)
    for _, message in failures:
        print(f"vot index: not indexed: {message}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """python -m videothought.library.cli LIBRARY VIDEO... (the same as `vot index`)."""
    parser = argparse.ArgumentParser(prog="vot index", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
