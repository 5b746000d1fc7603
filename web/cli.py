"""`vot serve`: chat with a video and browse evaluation runs in a browser.

    vot serve                                       # http://127.0.0.1:7860, embedded stack, ./media, ./runs
    vot serve --lm http://127.0.0.1:8000/v1 --media ~/videos --runs runs --port 8080
"""

from __future__ import annotations

import argparse
import logging
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--lm", default=None, help="language model spec, as `vot ask --lm` (default: embedded)")
    parser.add_argument("--media", default="media", help="folder of videos to pick from; uploads go to its uploads/ "
                        "(default ./media, created)")
    parser.add_argument("--runs", default="runs", help="folder holding `vot eval --out` run folders (default ./runs)")
    parser.add_argument("--state", default=None, help="where threads, checkpoints and pictures are kept "
                        "(default MEDIA/.vot-web)")
    parser.add_argument("--max-upload-mb", type=float, default=512, help="largest upload in MiB (default 512)")
    parser.add_argument("--num-frames", type=int, default=None, help="frames handed to the tracker")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="a host name the app answers to besides localhost, 127.0.0.1, ::1 and --host "
                        "(a reverse proxy's or this machine's DNS name); repeatable. Requests under other names are "
                        "refused (DNS rebinding)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")


def run(args: argparse.Namespace, *, run_browser=None) -> int:
    """Serve until interrupted; `run_browser` serves the evaluation-run pages (see create_app)."""
    from videothought.web.app import serve
    from videothought.web.config import WebConfig

    if args.verbose:
        logging.getLogger("videothought").setLevel(logging.INFO)
    try:
        config = WebConfig(media_dir=args.media, runs_dir=args.runs, state_dir=args.state, lm=args.lm, host=args.host,
                           port=args.port, max_upload_bytes=int(args.max_upload_mb * 2**20), num_frames=args.num_frames,
                           allowed_hosts=tuple(args.allow_host))
    except ValueError as error:
        print(f"vot serve: {error}", file=sys.stderr)
        return 2
    print(f"vot serve: http://{config.host}:{config.port}/  (media {config.media_dir}, runs {config.runs_dir}; "
          "Ctrl-C stops)", flush=True)
    serve(config, run_browser=run_browser)
    return 0
