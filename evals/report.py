"""Reports across runs: markdown tables side by side, and PNG plots of the same numbers.

    write_report(["runs/full", "runs/no-actions"], "reports/ablation")
      reports/ablation/report.md              tables: runs, accuracy by type, step metrics,
                                              node latency and LLM cost, retries, first
                                              divergence vs the first run, unparsable answers
      reports/ablation/report.json            the same numbers, machine-readable
      reports/ablation/accuracy_by_type.png
      reports/ablation/node_metrics.png
      reports/ablation/latency_per_node.png

Everything in the report comes from the runs' JSONL records (trace latencies, not wall
clock), so two runs that made the same decisions give the same report.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from videothought.evals.metrics import divergence_summary, summarize
from videothought.evals.runner import read_manifest, read_records

# (label, summary section, key): the step-wise metrics, in the graph's order.
STEP_METRICS = (
    ("target precision", "targets", "precision"),
    ("target recall", "targets", "recall"),
    ("tracking IDF1", "tracking", "idf1"),
    ("tracking MOTA", "tracking", "mota"),
    ("event recall", "events", "recall"),
    ("  detected in STSG", "events", "detected_recall"),
    ("  mentioned in analysis", "events", "mentioned_recall"),
    ("verify: wrong rejected (recall)", "verification", "rejection_recall"),
    ("verify: rejection precision", "verification", "rejection_precision"),
    ("verify: right kept", "verification", "right_kept"),
    ("mean retries", "retries", "mean"),
)
PLOTTED_METRICS = tuple(m for m in STEP_METRICS if not m[0].startswith(" ") and m[1] != "retries")


@dataclass
class Run:
    name: str
    path: Path
    manifest: dict
    records: list[dict]
    summary: dict


def load_run(run_dir: str | os.PathLike, name: str | None = None) -> Run:
    path = Path(run_dir)
    manifest = read_manifest(path)
    records = read_records(path)
    return Run(name=name or path.name, path=path, manifest=manifest, records=records, summary=summarize(records))


def _names(paths: list[Path]) -> list[str]:
    """Run names: folder names, with the parent added where two runs share one."""
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.name}" for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return names


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table's lines: the header, its rule, one line per row. A `|` inside a row's cell
    is escaped; an empty cell stays empty (`| skipped: no adapters | | |`)."""

    def line(cells) -> str:
        return "|" + "".join(f" {cell} |" if cell else " |" for cell in cells)

    return [line(header), "|" + "---|" * len(header)] + [line(cell.replace("|", "\\|") for cell in row) for row in rows]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A table and the blank line that ends its section of the report."""
    return markdown_table(header, rows) + [""]


def _metric(summary: dict, section: str, key: str):
    return (summary.get(section) or {}).get(key)


def question_types(runs: list[Run]) -> list[str]:
    return sorted({kind for run in runs for kind in run.summary["accuracy_by_type"]})


def node_order(runs: list[Run]) -> list[str]:
    """Nodes in the order they first run in the traces."""
    order: list[str] = []
    for run in runs:
        for record in run.records:
            for step in record.get("trace") or []:
                if step.get("node") not in order:
                    order.append(step.get("node"))
    return [str(n) for n in order]


def markdown(runs: list[Run], figures: list[str], common_only: bool = False) -> str:
    names = [run.name for run in runs]
    lines = ["# Evaluation report", ""]
    if common_only:
        lines += [f"Every run is scored on the {len(runs[0].records)} questions all runs answered.", ""]
    lines += ["## Runs", ""]
    lines += _table(
        ["run", "task", "split", "graph", "ablated", "questions", "errors", "unparsable", "code"],
        [
            [
                run.name,
                str(run.manifest.get("task")),
                str(run.manifest.get("split") or "-"),
                f"`{run.manifest.get('graph')}`",
                ", ".join(run.manifest.get("ablate") or []) or "-",
                f"{len(run.records)}/{run.manifest.get('questions', '?')}",
                str(len(run.summary["errors"])),
                str(len(run.summary["unparsable"])),
                ", ".join(sorted({str(r.get("code")) for r in run.records if r.get("code")})) or "?",
            ]
            for run in runs
        ],
    )
    lines += ["## Answer accuracy by question type", "", "Unparsable answers and errors count as wrong.", ""]
    rows = []
    for kind in question_types(runs) + ["all"]:
        row = [kind if kind != "all" else "**all**"]
        for run in runs:
            entry = (
                {"correct": run.summary["correct"], "total": run.summary["scored"], "accuracy": run.summary["accuracy"]}
                if kind == "all"
                else run.summary["accuracy_by_type"].get(kind)
            )
            row.append("-" if not entry else f"{_number(entry['accuracy'])} ({entry['correct']}/{entry['total']})")
        rows.append(row)
    lines += _table(["type"] + names, rows)
    lines += ["## Step-wise metrics", "", "Against the dataset's ground truth (n/a: the dataset or the run has none).", ""]
    lines += _table(
        ["metric"] + names,
        [[label] + [_number(_metric(run.summary, section, key)) for run in runs] for label, section, key in STEP_METRICS],
    )
    lines += ["Counts behind them:", ""]
    count_rows = []
    for label, section, keys in (
        ("targets TP / predicted / relevant", "targets", ("true_positive", "predicted", "relevant")),
        ("tracking objects / misses / FP / switches", "tracking", ("num_objects", "num_misses", "num_false_positives", "num_switches")),
        ("events recalled / detected / mentioned / total", "events", ("recalled", "detected", "mentioned", "events")),
        ("verify rejected wrong / rejected right / kept wrong / kept right", "verification",
         ("rejected_wrong", "rejected_right", "kept_wrong", "kept_right")),
    ):
        count_rows.append(
            [label]
            + [
                "n/a" if not run.summary.get(section) else " / ".join(str(run.summary[section].get(k, 0)) for k in keys)
                for run in runs
            ]
        )
    count_rows.append(
        ["retries histogram"]
        + [", ".join(f"{k}: {v}" for k, v in run.summary["retries"]["histogram"].items()) or "-" for run in runs]
    )
    lines += _table(["count"] + names, count_rows)
    lines += ["## Nodes: mean latency per call (seconds), calls, LLM calls and tokens per question", ""]
    node_rows = []
    for node in node_order(runs):
        row = [node]
        for run in runs:
            cost = run.summary["nodes"].get(node)
            if not cost:
                row.append("-")
                continue
            questions = max(len(run.records), 1)
            row.append(
                f"{cost['mean_latency_seconds']:.3f} s x {cost['calls']}; "
                f"{cost['llm_calls'] / questions:.2f} LLM, "
                f"{(cost['prompt_tokens'] + cost['completion_tokens']) / questions:.0f} tok"
            )
        node_rows.append(row)
    lines += _table(["node"] + names, node_rows)
    if len(runs) > 1:
        lines += [f"## Where traces first diverge from {runs[0].name}", ""]
        divergence_rows = []
        for run in runs[1:]:
            divergence = divergence_summary(runs[0].records, run.records)
            nodes = ", ".join(f"{n}: {c}" for n, c in divergence["first_divergence_node"].items()) or "-"
            divergence_rows.append([run.name, str(divergence["compared"]), str(divergence["identical"]), nodes])
        lines += _table(["run", "questions compared", "identical traces", "first divergent node: questions"], divergence_rows)
    lines += ["## Unparsable answers and errors", ""]
    for run in runs:
        lines += [f"### {run.name}", ""]
        if not run.summary["unparsable"]:
            lines += ["None.", ""]
            continue
        errors = {e["key"]: e["error"] for e in run.summary["errors"]}
        lines += _table(
            ["question", "answer given", "status"],
            [
                [str(item["key"]), repr(item.get("answer")), str(item.get("status")) + (f": {errors[item['key']]}" if item["key"] in errors else "")]
                for item in run.summary["unparsable"]
            ],
        )
    if figures:
        lines += ["## Plots", ""]
        lines += [f"![{Path(f).stem}]({f})" for f in figures] + [""]
    return "\n".join(lines)


def _grouped_bars(axis, labels: list[str], series: dict[str, list], *, ylabel: str, digits: int = 2, ylim=None):
    """One group of bars per label, one bar per run; each bar is annotated with its value (n/a when missing)."""
    import numpy as np

    count = max(len(series), 1)
    width = 0.8 / count
    positions = np.arange(len(labels))
    for offset, (name, values) in enumerate(series.items()):
        heights = [0.0 if v is None else float(v) for v in values]
        bars = axis.bar(positions - 0.4 + width * (offset + 0.5), heights, width, label=name)
        for bar, value in zip(bars, values, strict=True):
            text = "n/a" if value is None else f"{value:.{digits}f}"
            axis.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                          fontsize=7, xytext=(0, 2), textcoords="offset points", rotation=90 if count > 1 else 0)
    axis.set_xticks(positions, labels, rotation=20, ha="right")
    axis.set_ylabel(ylabel)
    if ylim:
        axis.set_ylim(*ylim)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axis.margins(y=0.15)  # room for the value labels above the tallest bar
    axis.grid(axis="y", alpha=0.3)


def plot(runs: list[Run], out_dir: Path) -> dict[str, dict]:
    """The three PNGs. Returns {file name: {"labels": x labels, "series": {run: values}}}: what each shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: dict[str, dict] = {}
    kinds = question_types(runs)
    series = {
        run.name: [(run.summary["accuracy_by_type"].get(k) or {}).get("accuracy") for k in kinds] + [run.summary["accuracy"]]
        for run in runs
    }
    figure, axis = plt.subplots(figsize=(max(7, 1.4 * (len(kinds) + 1) * max(1, len(runs) / 2)), 4.5))
    _grouped_bars(axis, kinds + ["all"], series, ylabel="accuracy", ylim=(0, 1.2))
    axis.set_title("Answer accuracy by question type")
    figure.tight_layout()
    figure.savefig(out_dir / "accuracy_by_type.png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    plt.close(figure)
    files["accuracy_by_type.png"] = {"labels": kinds + ["all"], "series": series}

    labels = [label for label, _, _ in PLOTTED_METRICS]
    series = {run.name: [_metric(run.summary, s, k) for _, s, k in PLOTTED_METRICS] for run in runs}
    figure, axis = plt.subplots(figsize=(max(8, 1.1 * len(labels) * max(1, len(runs) / 2)), 4.5))
    lowest = min([0.0] + [v for values in series.values() for v in values if v is not None])  # MOTA can be < 0
    _grouped_bars(axis, labels, series, ylabel="score", ylim=(min(lowest * 1.1, 0), 1.2))
    axis.set_title("Step-wise metrics per node")
    figure.tight_layout()
    figure.savefig(out_dir / "node_metrics.png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    plt.close(figure)
    files["node_metrics.png"] = {"labels": labels, "series": series}

    nodes = node_order(runs)
    series = {
        run.name: [(run.summary["nodes"].get(n) or {}).get("mean_latency_seconds") for n in nodes] for run in runs
    }
    figure, axis = plt.subplots(figsize=(max(7, 1.6 * max(len(nodes), 1) * max(1, len(runs) / 2)), 4.5))
    _grouped_bars(axis, nodes, series, ylabel="seconds per call", digits=3)
    axis.set_title("Mean latency per node call")
    figure.tight_layout()
    figure.savefig(out_dir / "latency_per_node.png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    plt.close(figure)
    files["latency_per_node.png"] = {"labels": nodes, "series": series}
    return files


def write_report(
    run_dirs: list[str | os.PathLike], out_dir: str | os.PathLike, *, plots: bool = True, common_only: bool = False
) -> Path:
    """Write report.md, report.json and the PNGs for the runs (the first is the reference for divergence).

    common_only: score every run on the questions all of them answered (an ablation run on the
    first N questions against a full run), so the columns compare like with like.
    """
    paths = [Path(p) for p in run_dirs]
    if not paths:
        raise ValueError("no run directories given")
    runs = [load_run(path, name) for path, name in zip(paths, _names(paths), strict=True)]
    if common_only:
        shared = set.intersection(*({r["key"] for r in run.records} for run in runs))
        for run in runs:
            run.records = [r for r in run.records if r["key"] in shared]
            run.summary = summarize(run.records)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = plot(runs, out) if plots else {}
    (out / "report.md").write_text(markdown(runs, list(figures), common_only), encoding="utf-8")
    data = {
        "runs": [
            {"name": run.name, "manifest": {k: v for k, v in run.manifest.items() if k != "data_root"}, "summary": run.summary}
            for run in runs
        ],
        "divergence": {run.name: divergence_summary(runs[0].records, run.records) for run in runs[1:]},
        "plots": figures,
    }
    (out / "report.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return out / "report.md"
