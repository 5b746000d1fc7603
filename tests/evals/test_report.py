"""Reports: tables side by side, plots that render and carry the tables' numbers, `vot report`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.evals.world_fixture import write_tiny_world
from videothought.evals.task import load_task
from videothought.evals.report import write_report
from videothought.evals.runner import RunOptions, read_records, run_task

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    world = write_tiny_world(base / "world", num_videos=3, write_videos=False)
    graphs = {
        "full": ("tests.evals.oracle_graph:build_oracle_graph", ()),
        "other": ("tests.evals.oracle_graph:build_other_oracle_graph", ()),
        "no-actions": ("tests.evals.oracle_graph:build_oracle_graph", ("analyze_actions",)),
        "failing": ("tests.evals.oracle_graph:build_failing_graph", ()),
    }
    paths = {}
    for name, (graph, ablate) in graphs.items():
        paths[name] = base / name
        run_task(load_task("world", world), paths[name], RunOptions(graph=graph, ablate=ablate, progress=False))
    return paths


def accuracy(run_dir: Path) -> tuple[int, int]:
    records = read_records(run_dir)
    return sum(bool(r["correct"]) for r in records), len(records)


def test_tables_side_by_side(runs, tmp_path):
    order = ["full", "other", "no-actions", "failing"]
    report = write_report([runs[n] for n in order], tmp_path / "report").read_text()
    assert "| type | full | other | no-actions | failing |" in report
    cells = [f"{c / n:.3f} ({c}/{n})" for c, n in (accuracy(runs[name]) for name in order)]
    assert "| **all** | " + " | ".join(cells) + " |" in report
    # Ablating analyze_actions: every trace first diverges there; its event mentions drop to 0.
    assert "| no-actions | 12 | 0 | analyze_actions: 12 |" in report
    row = next(line for line in report.splitlines() if line.startswith("|   mentioned in analysis |"))
    assert row.split("|")[4].strip() == "0.000"
    # Errors are listed with their message, and count as wrong.
    assert report.count("detector exploded on a square") == 3
    assert "| failing | world | - | `tests.evals.oracle_graph:build_failing_graph` | - | 12/12 | 3 | 3 | " in report
    for name in ("accuracy_by_type.png", "node_metrics.png", "latency_per_node.png"):
        assert f"]({name})" in report


def test_plots_render_and_show_the_tables_numbers(runs, tmp_path):
    write_report([runs["full"], runs["other"]], tmp_path / "report")
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    summaries = {run["name"]: run["summary"] for run in data["runs"]}
    plots = data["plots"]
    accuracy_plot = plots["accuracy_by_type.png"]
    for name, summary in summaries.items():
        expected = [summary["accuracy_by_type"][k]["accuracy"] for k in accuracy_plot["labels"][:-1]] + [summary["accuracy"]]
        assert accuracy_plot["series"][name] == expected
        assert plots["node_metrics.png"]["series"][name][0] == summary["targets"]["precision"]
        assert plots["latency_per_node.png"]["series"][name] == [
            summary["nodes"][n]["mean_latency_seconds"] for n in plots["latency_per_node.png"]["labels"]
        ]
    assert plots["latency_per_node.png"]["labels"] == ["identify_targets", "track", "analyze_actions", "rank_answers", "verify"]
    for name in plots:
        with Image.open(tmp_path / "report" / name) as image:
            image.load()
            pixels = np.asarray(image.convert("RGB"))  # (H, W, 3)
        assert pixels.shape[0] >= 300 and pixels.shape[1] >= 500
        # Bars in the first two default colours (matplotlib's C0 blue, C1 orange) are drawn.
        for colour in ((31, 119, 180), (255, 127, 14)):
            assert (np.abs(pixels.astype(int) - colour).sum(axis=2) < 10).sum() > 200, (name, colour)


def test_vot_report_command(runs, tmp_path):
    done = subprocess.run([sys.executable, "-m", "videothought.cli", "report", str(runs["full"]),
                           str(runs["no-actions"]), "--out", str(tmp_path / "out")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"report": str(tmp_path / "out" / "report.md"), "runs": 2}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "accuracy_by_type.png", "latency_per_node.png", "node_metrics.png", "report.json", "report.md"
    ]  # fmt: skip
    (tmp_path / "empty").mkdir()
    bad = subprocess.run([sys.executable, "-m", "videothought.cli", "report", str(tmp_path / "empty"),
                          "--out", str(tmp_path / "o2")], cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "not a run directory" in bad.stderr and "Traceback" not in bad.stderr


def test_common_only_scores_runs_on_shared_questions(runs, tmp_path):
    partial = tmp_path / "partial"
    world = runs["full"].parent / "world"
    run_task(load_task("world", world, limit=5), partial,
             RunOptions(graph="tests.evals.oracle_graph:build_other_oracle_graph", progress=False))  # fmt: skip
    report = write_report([runs["full"], partial], tmp_path / "common", common_only=True).read_text()
    assert "scored on the 5 questions all runs answered" in report
    full_first5 = read_records(runs["full"])[:5]
    correct = sum(bool(r["correct"]) for r in full_first5)
    assert f"| **all** | {correct / 5:.3f} ({correct}/5) |" in report
    assert "| partial | 5 | " in report  # the divergence table compares the 5 shared questions
