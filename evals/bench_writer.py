"""`vot bench writer`: how well the LLM writes the world's programs, and what they answer when run.

    vot world generate --out runs/world7 --videos 25 --seed 7
    vot world reword runs/world7 --family heldout --out runs/world7-heldout
    vot bench writer --data runs/world7 --data runs/world7-heldout --limit 200 \\
        --adapter runs/nodes/writer/writer/adapter --cache-dir runs/stsg-cache

Per wording (each --data), on the same questions:

    valid        the reply is a program the language accepts (types, references, option count)
    exact        the program and its option values equal the gold program's (evals/world/programs.py)
    truth        run on the world's true STSG, the program picks the right option alone (a unique
                 best-scored option; ties and "cannot tell" count as wrong: the graph would ask the LLM)
    tracked      the same on the tracked STSG (the perception the agent has)
    gold rows    the gold program on the same STSGs: the ceiling of the writer on this perception

Programs are written in batches (agent/writer.py write_programs: one decode step for a batch of
questions), greedy. The last line is one JSON object; rows go to --rows (JSONL) as they finish.
Only the world's own wording of a question (original_qa.csv of a reworded world) makes the gold
program: a writer is never shown it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from pathlib import Path

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", action="append", required=True,
                        help="a world directory (qa.csv + stsg/ + videos/); repeat for reworded copies")
    parser.add_argument("--limit", type=int, default=200, help="questions per world (its first N)")
    parser.add_argument("--adapter", default=None, help="a trained writer adapter folder (peft); none: untrained")
    parser.add_argument("--style", choices=("compact", "few-shot"), default=None,
                        help="the writer's prompt (default: compact with an adapter, few-shot without)")
    parser.add_argument("--lm", default=None, help="a language model spec (default: the embedded SmolLM2)")
    parser.add_argument("--batch-size", type=int, default=8, help="questions decoded together")
    parser.add_argument("--cache-dir", default=None, help="tracked STSG cache (default: none; the videos are tracked)")
    parser.add_argument("--no-tracked", action="store_true", help="skip the tracked STSG rows (no video decoded)")
    parser.add_argument("--rows", default=None, help="JSONL of per-question rows")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")


def pick(scores: list) -> int | None:
    """The option a program alone picks: the unique best score at or above SUPPORTED, else None."""
    from videothought.agent.program_nodes import decide

    among, status, _ = decide(scores)
    return among[0] if status == "supported" else None


def run_program(program, doc: dict) -> int | None:
    from videothought.graph.execute import Executor

    executor = Executor.from_document(doc)
    execution = executor.run(program)
    return pick(executor.score_options(execution, program.options or []))


def load_lm(spec: str | None, adapter: str | None):
    from videothought.agent.llm import EMBEDDED_SPEC, load_language_model
    from videothought.agent.llm.local import LocalLanguageModel

    if adapter:
        if spec not in (None, EMBEDDED_SPEC):
            raise SystemExit("vot bench writer: --adapter goes with the embedded model only")
        return LocalLanguageModel.embedded(dtype="float32", adapters={"writer": adapter})
    return load_language_model(spec or EMBEDDED_SPEC, **({"dtype": "float32"} if spec in (None, EMBEDDED_SPEC) else {}))


def run(args) -> dict:
    import csv

    import torch

    from videothought.agent.writer import Request, write_programs
    from videothought.evals.world.programs import GoldError, gold_program
    from videothought.evals.world.reword import ORIGINAL_QA
    from videothought.graph.ground import SceneNames
    from videothought.graph.query import SceneQuery

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    lm = load_lm(args.lm, args.adapter)
    tracked_context = None
    if not args.no_tracked:
        from videothought.training.nodes.data import perception_context

        tracked_context = perception_context(args.cache_dir or Path(args.rows or ".").parent / "stsg-cache", encoder=None)
    rows_out = open(args.rows, "w", encoding="utf-8") if args.rows else None
    summary: dict = {"adapter": args.adapter, "style": args.style, "worlds": {}}
    try:
        for data in args.data:
            root = Path(data).resolve()
            with open(root / "qa.csv", newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))[: args.limit]
            originals = {}
            if (root / ORIGINAL_QA).is_file():
                with open(root / ORIGINAL_QA, newline="", encoding="utf-8") as handle:
                    originals = {r["qid"]: r for r in csv.DictReader(handle)}
            evidence = {json.loads(line)["qid"]: json.loads(line) for line in open(root / "evidence.jsonl")}
            truths, tracked, names = {}, {}, {}
            requests, golds = [], []
            for row in rows:
                video = row["video"]
                if video not in truths:
                    truths[video] = json.loads((root / "stsg" / f"{video}.json").read_text())
                    if tracked_context is not None:
                        from videothought.agent.perceive import build_stsg

                        path = (root / "videos" / f"{video}.mp4").resolve()
                        if root / "videos" not in path.parents:
                            raise SystemExit(f"vot bench writer: video {video!r} escapes {root}")
                        tracked[video] = build_stsg(str(path), tracked_context)[0]
                    names[video] = SceneNames.from_query(SceneQuery.from_document(tracked.get(video) or truths[video])).text()
                choices = [row[f"a{i}"] for i in range(5) if row.get(f"a{i}")]
                world = originals.get(row["qid"], row)
                try:
                    gold = gold_program(world["question"], [world[f"a{i}"] for i in range(len(choices))])
                except GoldError as error:
                    logger.warning("%s: no gold program (%s)", row["qid"], error)
                    gold = None
                golds.append(gold)
                requests.append(Request(row["question"], choices, names[video]))
            t0 = time.perf_counter()
            written = write_programs(lm, requests, style=args.style, batch_size=args.batch_size)
            write_seconds = time.perf_counter() - t0
            totals = defaultdict(lambda: defaultdict(int))
            for row, request, gold, w in zip(rows, requests, golds, written):
                answer = int(row["answer"])
                kind = evidence.get(row["qid"], {}).get("type", row.get("type", "?"))
                record = {"qid": row["qid"], "type": kind, "question": row["question"], "answer": answer,
                          "valid": w.program is not None, "error": w.error, "text": w.text,
                          "exact": bool(w.program is not None and gold is not None
                                        and w.program.writer_json() == gold.writer_json())}
                for name, doc in (("truth", truths[row["video"]]), ("tracked", tracked.get(row["video"]))):
                    if doc is None:
                        continue
                    record[name] = w.program is not None and run_program(w.program, doc) == answer
                    record[f"gold_{name}"] = gold is not None and run_program(gold, doc) == answer
                for key in ("valid", "exact", "truth", "tracked", "gold_truth", "gold_tracked"):
                    if key in record:
                        totals["all"][key] += bool(record[key])
                        totals[kind][key] += bool(record[key])
                totals["all"]["n"] += 1
                totals[kind]["n"] += 1
                if rows_out:
                    rows_out.write(json.dumps(record) + "\n")
                    rows_out.flush()
            table = {kind: {key: round(value / counts["n"], 4) if key != "n" else value
                            for key, value in counts.items()} for kind, counts in totals.items()}
            table["all"]["seconds_per_question"] = round(write_seconds / max(1, len(rows)), 3)
            table["all"]["completion_tokens"] = round(sum(w.completion_tokens for w in written) / max(1, len(rows)), 1)
            summary["worlds"][str(data)] = table
            _print_table(str(data), table)
    finally:
        if rows_out:
            rows_out.close()
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def _print_table(name: str, table: dict) -> None:
    keys = ("n", "valid", "exact", "truth", "tracked", "gold_truth", "gold_tracked")
    print(f"\n{name}")
    print("| type | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for kind in ["all"] + sorted(k for k in table if k != "all"):
        print(f"| {kind} | " + " | ".join(str(table[kind].get(k, "")) for k in keys) + " |")
