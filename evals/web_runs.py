"""The evaluation-run browser of the web app: `vot eval` folders, their questions and traces,
two runs compared.

It lives in evals, not in web/: the web app knows no benchmark and takes this module as
its `run_browser` (`create_app(config, run_browser=web_runs)`; `vot serve` plugs it in through
videothought.evals.serve). Run folders are read with evals.runner.read_records / read_manifest,
summaries are evals.metrics.summarize, comparisons evals.metrics.first_divergence and
divergence_summary, so the page shows exactly the numbers `vot report` prints.

Run names are paths relative to the runs folder, checked as text before use (web/media.py's
resolve_inside, its refusals naming the runs folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from videothought.web.media import MediaError, resolve_inside


def find_runs(root: Path, max_depth: int = 3) -> list[dict]:
    """Run folders (holding run.json) under root, at most max_depth levels down:
    [{"name": relative path, "task", "split", "questions"}], sorted by name."""
    from videothought.evals.runner import read_manifest, result_files

    if not root.is_dir():
        return []
    runs = []
    root = root.resolve()
    for folder, subfolders, files in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".")) if depth < max_depth else []
        if "run.json" not in files:
            continue
        try:
            manifest = read_manifest(folder)
        except (OSError, ValueError, RuntimeError) as error:  # RunnerError, bad JSON
            runs.append({"name": Path(folder).relative_to(root).as_posix(), "error": str(error)})
            continue
        lines = 0
        for path in result_files(folder):
            with path.open("rb") as handle:
                lines += sum(1 for _ in handle)
        runs.append({"name": Path(folder).relative_to(root).as_posix() or ".", "task": _task_name(manifest),
                     "split": manifest.get("split"), "ablate": manifest.get("ablate") or [], "records": lines})
    return sorted(runs, key=lambda r: r["name"])


def _task_name(manifest: dict) -> str | None:
    task = manifest.get("task")
    return task.get("name") if isinstance(task, dict) else task


def run_folder(root: Path, name: str) -> Path:
    path = root.resolve() if name == "." else resolve_inside(root, name, folder="the runs folder")
    if not (path / "run.json").is_file():
        raise MediaError(f"{name!r} is not a run folder under the runs folder (no run.json)", status=404)
    return path


def question_row(record: dict) -> dict:
    """What the question list shows of one record."""
    sample = record.get("sample") or {}
    metrics = record.get("metrics") or {}
    return {"key": record.get("key"), "index": record.get("index"), "question": sample.get("question"),
            "question_type": sample.get("question_type") or "?", "status": record.get("status"),
            "answer": record.get("answer"), "correct": metrics.get("correct", record.get("correct")),
            "retries": metrics.get("retries"), "steps": len(record.get("trace") or [])}


def run_overview(root: Path, name: str) -> dict:
    """A run's manifest, its summary (evals.metrics.summarize, as `vot report`) and its questions."""
    from videothought.evals.report import load_run

    run = load_run(run_folder(root, name), name=name)
    summary = dict(run.summary)
    return {"name": name, "manifest": run.manifest, "summary": summary,
            "questions": [question_row(r) for r in run.records]}


def question_record(root: Path, name: str, key: str) -> dict:
    """One question's whole record (sample, prediction, trace with each step as `vot ask` prints it)."""
    from videothought.evals.runner import read_records

    for record in read_records(run_folder(root, name)):
        if record.get("key") == key:
            return _with_text(record)
    raise MediaError(f"run {name!r} has no question {key!r}", status=404)


def _with_text(record: dict) -> dict:
    from videothought.agent.trace import format_trace

    record = dict(record)
    record["trace_text"] = [format_trace([step]) for step in record.get("trace") or []]
    return record


def compare_runs(root: Path, name_a: str, name_b: str) -> dict:
    """Both runs' summaries, the divergence summary, and per question: right/wrong in each run
    and the first step where the traces differ (evals.metrics.first_divergence)."""
    from videothought.evals.metrics import divergence_summary, first_divergence
    from videothought.evals.report import load_run

    run_a = load_run(run_folder(root, name_a), name=name_a)
    run_b = load_run(run_folder(root, name_b), name=name_b)
    by_key_b = {r["key"]: r for r in run_b.records}
    rows = []
    for record in run_a.records:
        other = by_key_b.get(record["key"])
        if other is None:
            continue
        row_a, row_b = question_row(record), question_row(other)
        rows.append({**row_a, "answer_b": row_b["answer"], "correct_b": row_b["correct"],
                     "divergence": first_divergence(record.get("trace") or [], other.get("trace") or [])})
    return {"a": {"name": name_a, "summary": run_a.summary}, "b": {"name": name_b, "summary": run_b.summary},
            "divergence": divergence_summary(run_a.records, run_b.records), "questions": rows}


def compare_question(root: Path, name_a: str, name_b: str, key: str) -> dict:
    from videothought.evals.metrics import first_divergence

    a, b = question_record(root, name_a, key), question_record(root, name_b, key)
    return {"key": key, "a": a, "b": b, "divergence": first_divergence(a.get("trace") or [], b.get("trace") or [])}
