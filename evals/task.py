"""A task: a benchmark described by one YAML file (evals/tasks/<name>.yaml, or a user's own path)
naming the format, the split and the files; `load_task("nextqa", "/data/nextqa")` reads it and
its data with the format's loader (evals/datasets.py), resolving every file inside the dataset
root.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from videothought.evals.datasets import (
    FORMATS,
    DatasetError,
    Sample,
    load_egoschema,
    load_generic,
    load_mvbench,
    load_nextqa,
    load_real,
    load_videomme,
    load_world,
    resolve_inside,
)

TASKS_DIR = Path(__file__).resolve().parent / "tasks"


@dataclass
class Task:
    """A benchmark described by a YAML file. `samples` are loaded in the file's order."""

    name: str
    format: str
    data_root: Path
    split: str | None
    spec: dict
    samples: list[Sample]


def find_task_file(task: str) -> Path:
    """A built-in task name (evals/tasks/<name>.yaml) or a path to a user's YAML."""
    candidate = Path(task)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise DatasetError(f"task file {task!r} does not exist")
        return candidate.resolve()
    builtin = TASKS_DIR / f"{task}.yaml"
    if builtin.is_file():
        return builtin
    known = sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))
    raise DatasetError(f"unknown task {task!r}; built-in tasks: {known}, or pass a path to a .yaml task file")


def read_task_spec(task: str) -> tuple[Path, dict]:
    import yaml

    path = find_task_file(task)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise DatasetError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(spec, dict):
        raise DatasetError(f"{path}: a task file is a YAML mapping (task:, format:, ...)")
    fmt = spec.get("format", "generic")
    if fmt not in FORMATS:
        raise DatasetError(f"{path}: format {fmt!r} is not one of {FORMATS}")
    return path, spec


def load_task(
    task: str,
    data: str | os.PathLike | None = None,
    *,
    split: str | None = None,
    video_root: str | os.PathLike | None = None,
    limit: int | None = None,
) -> Task:
    """Read a task's YAML and its data.

    `data` is the dataset root (overrides the YAML's dataset_path, which is relative to the
    YAML's folder). Files named in the YAML resolve inside the root; `{split}` in a file
    name is the split. `video_root` (a user's own location) overrides the YAML's, which
    must lie inside the root.
    """
    path, spec = read_task_spec(task)
    fmt = spec.get("format", "generic")
    name = str(spec.get("task", path.stem))
    if data is None:
        if "dataset_path" not in spec:
            raise DatasetError(f"task {name!r} needs --data DIR (its YAML has no dataset_path)")
        data = path.parent / str(spec["dataset_path"])
    root = Path(data).resolve()
    if not root.exists():
        raise DatasetError(f"dataset root {root} does not exist")
    split = split or spec.get("split") or spec.get("test_split")
    files = {k: str(v).format(split=split) for k, v in (spec.get("files") or {}).items()}

    def inside(key: str, default: str | None = None, *, required: bool = True) -> Path | None:
        value = files.get(key, default)
        if value is None:
            if required:
                raise DatasetError(f"{path}: files.{key} is required for format {fmt!r}")
            return None
        return resolve_inside(root, value, what=f"{path.name} files.{key}")

    videos = Path(video_root).resolve() if video_root else resolve_inside(
        root, str(spec.get("video_root", ".")), what=f"{path.name} video_root"
    )
    extension = str(spec.get("video_extension", ".mp4"))
    if fmt == "world":
        samples = load_world(root, qa_file=files.get("qa", "qa.csv"))
    elif fmt == "nextqa":
        video_map = inside("video_map", required=False)
        samples = load_nextqa(
            inside("annotations", f"{split}.csv"),
            video_root=videos,
            video_map=video_map if video_map is not None and video_map.is_file() else None,
            extension=extension,
        )
    elif fmt == "videomme":
        samples = load_videomme(inside("annotations"), video_root=videos, extension=extension)
    elif fmt == "mvbench":
        samples = load_mvbench(
            inside("annotations"), video_root=videos, task_type=spec.get("task_type"), prefixes=spec.get("video_prefixes")
        )
    elif fmt == "egoschema":
        answers = inside("answers", required=False)
        samples = load_egoschema(
            inside("annotations"),
            video_root=videos,
            answers=answers if answers is not None and answers.is_file() else None,
            extension=extension,
        )
    elif fmt == "real":
        samples = load_real(root, questions=files.get("questions", "questions.jsonl"),
                            clips=files.get("clips", "clips.json"))
    else:
        data_files = spec.get("data_files") or {}
        rows_name = data_files.get(split) if isinstance(data_files, dict) else None
        rows_name = rows_name or files.get("annotations") or f"{split}.jsonl"
        samples = load_generic(
            resolve_inside(root, str(rows_name).format(split=split), what=f"{path.name} data file"),
            video_root=videos,
            spec=spec,
            name=name,
        )
    samples = _apply_prompt(samples, spec)
    _check_unique(samples, name)
    if limit is not None:
        samples = samples[: max(int(limit), 0)]
    return Task(name=name, format=fmt, data_root=root, split=split, spec=spec, samples=samples)


def _apply_prompt(samples: list[Sample], spec: dict) -> list[Sample]:
    """pre_prompt / post_prompt (lmms-eval's lmms_eval_specific_kwargs.default) around every question."""
    prompt = spec.get("prompt") or {}
    pre, post = str(prompt.get("pre_prompt", "")), str(prompt.get("post_prompt", ""))
    if not pre and not post:
        return samples
    for sample in samples:
        sample.metadata.setdefault("raw_question", sample.question)
        sample.question = f"{pre}{sample.question}{post}"
    return samples


def _check_unique(samples: Iterable[Sample], name: str) -> None:
    seen: set[str] = set()
    for sample in samples:
        if sample.key in seen:
            raise DatasetError(f"task {name!r}: question key {sample.key!r} appears twice; keys must be unique")
        seen.add(sample.key)
