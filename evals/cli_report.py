"""`vot report RUN_DIR [RUN_DIR ...] --out DIR`: markdown tables and PNG plots across runs.

    vot report runs/eval-world runs/eval-no-actions --out reports/ablation

The first run is the reference the others' traces are compared against (first divergent node).
"""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories written by `vot eval`")
    parser.add_argument("--out", required=True, help="where report.md, report.json and the PNGs go")
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    parser.add_argument("--common-only", action="store_true",
                        help="score every run on the questions all runs answered (e.g. a partial ablation run)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from videothought.evals.report import write_report
    from videothought.evals.runner import RunnerError

    missing = [r for r in args.runs if not Path(r).is_dir()]
    if missing:
        print(f"vot report: not a directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        path = write_report(args.runs, args.out, plots=not args.no_plots, common_only=args.common_only)
    except RunnerError as error:
        print(f"vot report: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"report": str(path), "runs": len(args.runs)}))
    return 0
