"""`vot bench grounding`: target grounding precision/recall with and without the encoder's
region-text similarity.

    vot bench grounding --data WORLD_DIR --limit 200 [--reworded WORLD_DIR_REWORDED]

The general graph's first two nodes (identify_targets, track) run on each question twice:
labels and attributes only (`region_grounding=False`), then with region embeddings of every
track matched against the phrases' text embeddings (`region_grounding=True`). The tracks the
targets are grounded to are mapped to ground-truth objects by box IoU (evals.metrics) and
compared with the objects the question's evidence names: precision = grounded tracks that are
evidence objects, recall = evidence objects grounded. The LLM is not needed for this: phrases
come from the question in code; a question where code finds none gets none (no LLM call).
The last line printed (by `vot bench`) is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections import defaultdict

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="a world directory (qa.csv, evidence.jsonl, stsg/, videos/)")
    parser.add_argument("--reworded", default=None, help="the same world reworded (vot world reword); reported beside")
    parser.add_argument("--limit", type=int, default=200, help="questions (the first N)")
    parser.add_argument("--cache-dir", default=None, help="STSG cache directory (tracked videos are reused)")


def _grounding_counts(samples, context) -> dict:
    from langgraph.runtime import Runtime

    from videothought.agent.rules.nodes import identify_targets, track
    from videothought.agent.run import question_input
    from videothought.evals.metrics import match_tracks, target_counts

    totals: dict[str, int] = defaultdict(int)
    truths: dict[str, dict] = {}
    for sample in samples:
        state = question_input(sample.question, sample.video_path, sample.choices)
        runtime = Runtime(context=context)
        state.update(identify_targets(state, runtime))
        state.update(track(state, runtime))
        if sample.stsg_path not in truths:
            with open(sample.stsg_path, encoding="utf-8") as handle:
                truths[sample.stsg_path] = json.load(handle)
        mapping = match_tracks(state["stsg"], truths[sample.stsg_path])
        counts = target_counts(state["targets"], mapping, (sample.evidence or {}).get("object_ids", []))
        for key, value in counts.items():
            if isinstance(value, (int, float)):
                totals[key] += value
        totals["questions"] += 1
    precision = totals["true_positive"] / totals["predicted"] if totals["predicted"] else None
    recall = totals["true_positive"] / totals["relevant"] if totals["relevant"] else None
    return {"precision": precision, "recall": recall, **totals}


def run(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from videothought.agent.context import default_context
    from videothought.agent.llm import FakeLanguageModel
    from videothought.evals.datasets import load_world

    results: dict = {}
    base = default_context(lm=FakeLanguageModel(), cache_dir=args.cache_dir, llm_targets="fallback")
    if base.encoder is None:
        raise SystemExit("vot bench grounding: the AoE encoder did not load; region grounding cannot be compared")
    for name, folder in (("original", args.data), ("reworded", args.reworded)):
        if not folder:
            continue
        samples = [s for s in load_world(folder)[: args.limit] if s.stsg_path]
        for mode in ("labels", "labels+regions"):
            settings = {"region_grounding": mode == "labels+regions"}
            context = base.with_overrides(settings=dataclasses.replace(base.settings, **settings))
            logger.info("%s: %d questions, %s", name, len(samples), mode)
            results[f"{name}/{mode}"] = _grounding_counts(tqdm(samples, desc=f"{name} {mode}"), context)
    print("| set | grounding | precision | recall | questions |")
    print("|---|---|---|---|---|")
    for key, row in results.items():
        name, mode = key.split("/")
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"| {name} | {mode} | {fmt(row['precision'])} | {fmt(row['recall'])} | {row['questions']} |")
    return results
