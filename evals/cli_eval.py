"""`vot eval`: run a benchmark through a graph, resumably, with step-wise traces.

    vot eval --task world --data runs/world --limit 100 --out runs/eval-world
    vot eval --task world --data runs/world --ablate analyze_actions --out runs/eval-no-actions
    vot eval --task my_task.yaml --graph mypkg.graphs:build --context mypkg.graphs:context --out runs/mine
    accelerate launch --num_processes 2 -m videothought.cli eval --task world ... (or --shard i/n)
    vot eval --task world --data runs/world --out runs/eval-world --ray [auto|HOST:PORT] [--workers N]

Rerunning the same command skips finished questions. The last stdout line is one JSON
summary object; the progress bar (with running accuracy) goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from videothought.evals.runner import DEFAULT_GRAPH


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="built-in task name (world, nextqa, videomme, mvbench, "
                        "egoschema) or a path to a task YAML")
    parser.add_argument("--data", help="the dataset root (default: the task YAML's dataset_path)")
    parser.add_argument("--split", help="the split (default: the task's)")
    parser.add_argument("--video-root", help="where the videos are, when not inside the dataset root")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--graph", default=DEFAULT_GRAPH,
                        help="module:function returning a StateGraph or a compiled graph (default: the VoT agent)")
    parser.add_argument("--context", default="auto",
                        help="module:function returning the run context; 'auto' = the agent's default_context "
                             "for the default graph and for any graph reusing VoT nodes, none otherwise; "
                             "'none' = no context")
    parser.add_argument("--ablate", action="append", default=[], metavar="NODE",
                        help="run the graph without NODE (repeatable); the factory must take ablate=")
    parser.add_argument("--shard", help="i/n: this process answers questions i, i+n, ... (default: accelerate's "
                        "process index when launched with accelerate, else all)")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="answer on Ray workers (evals/ray_eval.py): no value starts a local cluster; 'auto' "
                             "joins the one running here; HOST:PORT joins that one. Same run directory and records")
    parser.add_argument("--workers", type=int, default=None, help="with --ray: workers (default: the cluster's CPUs)")
    parser.add_argument("--retry-errors", action="store_true", help="rerun questions whose record is an error")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--out", required=True, help="the run directory (created; a rerun resumes it)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")


def run(args: argparse.Namespace) -> int:
    from videothought.evals.datasets import DatasetError
    from videothought.evals.task import load_task
    from videothought.evals.runner import RunnerError, RunOptions, parse_shard, run_task

    if args.verbose:
        logging.getLogger("videothought").setLevel(logging.INFO)
    if args.limit is not None and args.limit < 0:
        print(f"vot eval: --limit must be >= 0, got {args.limit}", file=sys.stderr)
        return 2
    try:
        task = load_task(args.task, args.data, split=args.split, video_root=args.video_root, limit=args.limit)
        options = RunOptions(
            graph=args.graph,
            context=args.context,
            ablate=tuple(args.ablate),
            shard=parse_shard(args.shard),
            retry_errors=args.retry_errors,
            progress=not args.no_progress,
        )
        if args.ray is not None:
            from videothought.evals.ray_eval import run_task_ray
            from videothought.library.cluster import check_address

            try:
                check_address(args.ray)
            except ValueError as error:
                raise RunnerError(str(error)) from None

            summary = run_task_ray(task, args.out, options, address=args.ray, workers=args.workers)
        else:
            summary = run_task(task, args.out, options)
    except (DatasetError, RunnerError) as error:
        print(f"vot eval: {error}", file=sys.stderr)
        return 2
    if summary.pop("main_process", True):
        print(json.dumps(summary))
    return 0
