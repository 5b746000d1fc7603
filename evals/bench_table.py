"""The agent bench's rows summarised and printed: per condition, accuracy on the original and the
reworded questions (overall and by question type), unparsable answers, median LLM calls and
seconds per question, and for the graph's conditions what their runs did (program facts, node
seconds, verification, tracking time); then the markdown table `vot bench agent` prints, one row
per condition. Rows are the dicts evals/bench_agent.py writes to --rows.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from videothought.evals.bench_latency import median_p90
from videothought.evals.bench_programs import PROGRAM_CONDITIONS
from videothought.evals.metrics import abstention
from videothought.evals.report import markdown_table
from videothought.evals.world.questions import QUESTION_TYPES

LABELS = {  # condition -> the name of its row in the table
    "blind": "LLM blind (question only)",
    "frames": "uniform frames + LLM (same evidence budget)",
    "graph": "rules reader (frozen baseline), untrained LLM",
    "graph+adapters": "rules reader (frozen baseline) + its node adapters",
    "program-few-shot": "program writer, untrained LLM, few-shot from the schema",
    "program": "program writer, shipped adapter",
    "gold-program": "gold programs on the tracked STSG (perception ceiling)",
    "world-solver": "world-grammar solver (knows the benchmark; reference only)",
    "oracle": "world oracle on ground truth (ceiling)",
}


def summarise(rows: list[dict], conditions: list[str], labels: dict[str, str] | None = None) -> dict:
    """Per condition: accuracy on each dataset, by type, median LLM calls and seconds per question
    (`labels`: a condition's label when not LABELS', e.g. the writer adapter a run was given)."""
    by = defaultdict(list)
    for row in rows:
        by[row["condition"]].append(row)
    out: dict = {"questions": {d: len({r["qid"] for r in rows if r.get("data", "original") == d})
                               for d in sorted({r.get("data", "original") for r in rows})}}
    for condition in conditions:
        mine = by.get(condition, [])
        if not mine:
            continue
        summary: dict = {"label": (labels or {}).get(condition, LABELS[condition]), "n": len(mine)}
        for data in ("original", "reworded"):
            part = [r for r in mine if r.get("data", "original") == data]
            if not part:
                continue
            per_type = defaultdict(list)
            for row in part:
                per_type[row["type"]].append(row["correct"])
            summary[data] = {
                "n": len(part),
                "accuracy": round(sum(r["correct"] for r in part) / len(part), 4),
                "by_type": {t: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for t, v in sorted(per_type.items())},
                "unparsable": sum(bool(r.get("unparsable")) for r in part),
            }
        summary["median_llm_calls"] = statistics.median(r["llm_calls"] for r in mine)
        summary["median_seconds"] = round(statistics.median(r["seconds"] for r in mine), 3)
        summary["p90_seconds"] = median_p90([r["seconds"] for r in mine])["p90"]
        if condition in ("graph", "graph+adapters", *PROGRAM_CONDITIONS):
            for key in ("program_valid", "program_exact", "program_correct"):
                marked = [r for r in mine if key in r]
                for data in ("original", "reworded"):
                    part = [r for r in marked if r.get("data", "original") == data]
                    if part:
                        summary.setdefault(data, {})[key] = round(sum(bool(r[key]) for r in part) / len(part), 4)
            per_node: dict[str, list[float]] = {}
            for row in mine:
                for node, seconds in (row.get("node_seconds") or {}).items():
                    per_node.setdefault(node, []).append(seconds)
            if per_node:
                summary["node_seconds"] = {node: median_p90(v) for node, v in per_node.items()}
            statuses = [r.get("status") for r in mine if r.get("status")]
            if statuses:
                summary["status_share"] = {s: round(statuses.count(s) / len(statuses), 4)
                                           for s in ("supported", "refuted", "unchecked")}
                supported = [r for r in mine if r.get("status") == "supported"]
                if supported:
                    summary["accuracy_when_supported"] = round(sum(r["correct"] for r in supported) / len(supported), 4)
                for data in ("original", "reworded"):
                    by_status: dict[str, list[int]] = {}
                    for row in (r for r in mine if r.get("status") and r.get("data", "original") == data):
                        counts = by_status.setdefault(row["status"], [0, 0])
                        counts[0] += bool(row["correct"])
                        counts[1] += 1
                    if by_status:  # optional abstention, apart from accuracy (evals/metrics.py abstention)
                        scores = abstention(by_status, sum(n for _, n in by_status.values()))
                        summary.setdefault(data, {})["abstention"] = {
                            k: round(scores[k], 4) if scores[k] is not None else None
                            for k in ("coverage", "accuracy_when_answered", "reliability")}
            summary["median_seconds_after_tracking"] = round(
                statistics.median(r["seconds"] - r.get("track_seconds", 0.0) for r in mine), 3)
            firsts = [r["track_seconds"] for r in mine if r.get("first_on_video")]
            if firsts:
                summary["median_tracking_seconds_per_video"] = round(statistics.median(firsts), 3)
            summary["max_llm_calls"] = max(r["llm_calls"] for r in mine)
            summary["verified_fraction"] = round(sum(bool(r.get("verified")) for r in mine) / len(mine), 4)
        out[condition] = summary
    return out


def table(summary: dict, conditions: list[str], notes: dict[str, str] | None = None) -> str:
    """The markdown table: rows = conditions; columns = accuracy original / reworded, by type, cost."""
    notes = notes or {}
    present = [c for c in conditions if c in summary or c in notes]
    types = [t for t in QUESTION_TYPES if any(t in summary[c].get(d, {}).get("by_type", {})
                                                for c in present if c in summary for d in ("original", "reworded"))]
    header = ["condition", "original", "reworded"] + [f"{t} (orig / rew)" for t in types] + \
        ["median LLM calls", "s / question"]
    rows = []

    def accuracy(part: dict | None) -> str:
        return "—" if not part else f"{part['accuracy']:.1%} ({part['n']})"

    for condition in present:
        if condition not in summary:
            rows.append([LABELS[condition], notes[condition]] + [""] * (len(header) - 2))
            continue
        entry = summary[condition]
        cells = [entry.get("label", LABELS[condition]), accuracy(entry.get("original")), accuracy(entry.get("reworded"))]
        for t in types:
            pair = []
            for data in ("original", "reworded"):
                found = entry.get(data, {}).get("by_type", {}).get(t)
                pair.append("—" if found is None else f"{found['accuracy']:.0%}")
            cells.append(" / ".join(pair))
        cells += [f"{entry['median_llm_calls']:g}", f"{entry['median_seconds']:.2f}"]
        rows.append(cells)
    return "\n".join(markdown_table(header, rows))
