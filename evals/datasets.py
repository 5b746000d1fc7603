"""Benchmark loaders: every dataset becomes a list of `Sample`s the runner can feed a graph.

Formats (each loader reads the dataset's own files, unchanged):

    world      DIR/qa.csv (NExT-QA columns) + DIR/evidence.jsonl + DIR/stsg/<video>.json
               + DIR/videos/<video>.mp4; the only one with step-wise ground truth
    nextqa     <split>.csv: video,frame_count,width,height,question,answer,qid,type,a0..a4
               (answer: index 0-4; type: CW/CH causal, TN/TC/TP temporal, DC/DL/DO
               descriptive) + map_vid_vidorID.json {video id: "0101/2909445186"}
    videomme   rows of videoID, duration, domain, sub_category, task_type, question_id,
               question, options ["A. ...", ...], answer "A" (.parquet/.json/.jsonl/.csv)
    mvbench    JSON list of {video, question, candidates, answer (the candidate's text)}
    egoschema  JSON list of {q_uid, question, "option 0".."option 4", [answer]} with the
               answers inline or in a {q_uid: index} file
    generic    any rows (.jsonl/.json/.csv/.parquet) described by lmms-eval-style templates
    real       the project's real-footage dev set (evals/real/): questions.jsonl + clips.json
               naming each clip by file name and sha256 (see evals/real/dataset.py)

A task (evals/tasks.py) is one YAML file naming the format, the split and the files.

Security: paths that come from dataset files (video ids, relative paths, maps) are resolved
inside their root with symlinks followed; anything escaping (``../``, an absolute path
elsewhere, a symlink out) raises `DatasetPathError`. Template fields are plain names only,
so a template cannot reach attributes (``{x.__class__}``) of the row.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMATS = ("world", "nextqa", "videomme", "mvbench", "egoschema", "generic", "real")

# NExT-QA's type codes -> the question families the world uses too.
NEXTQA_TYPES = {
    "CW": "causal", "CH": "causal",
    "TN": "temporal", "TC": "temporal", "TP": "temporal",
    "DC": "descriptive", "DL": "descriptive", "DO": "descriptive",
}  # fmt: skip
NEXTQA_COLUMNS = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type")
LETTERS = "ABCDEFGHIJ"


class DatasetError(ValueError):
    """A dataset or task file is malformed. The message names the file, the row and the problem."""


class DatasetPathError(DatasetError):
    """A path from a dataset file resolves outside the dataset root."""


@dataclass
class Sample:
    """One multiple-choice (or open) question about one video.

    `key` is unique within a task (NExT-QA's and the world's qid are unique only per video,
    so their key is "<video>_<qid>"). `answer_index` is None where the split has no answers.
    `question_type` is the normalised family (descriptive/temporal/causal/...), `raw_type`
    the dataset's own code. `evidence` (world only): {"object_ids", "events", "frame_span",
    "subtype"}; `stsg_path`: the ground-truth STSG document of the video.
    """

    key: str
    dataset: str
    qid: str
    video_id: str
    video_path: str
    question: str
    choices: list[str]
    answer_index: int | None
    question_type: str
    raw_type: str = ""
    evidence: dict | None = None
    stsg_path: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.answer_index is not None and not 0 <= self.answer_index < max(len(self.choices), 1):
            raise DatasetError(
                f"question {self.key!r}: answer index {self.answer_index} is outside its {len(self.choices)} choices"
            )

    def graph_input(self) -> dict:
        """The input the VoT graph takes (see videothought.agent.state)."""
        return {
            "question": self.question,
            "choices": list(self.choices),
            "video_path": self.video_path,
            "question_type": self.question_type,
        }

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> Sample:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


# ---------------------------------------------------------------------------------------
# Paths


def resolve_inside(root: str | os.PathLike, path: str | os.PathLike, *, what: str = "path") -> Path:
    """`path` (relative to `root`, or absolute) resolved with symlinks followed; it must stay inside `root`.

    >>> resolve_inside("/data/nextqa", "videos/0101/1.mp4")     # /data/nextqa/videos/0101/1.mp4
    >>> resolve_inside("/data/nextqa", "../../etc/passwd")      # DatasetPathError
    """
    text = os.fspath(path)
    if not text or "\x00" in text:
        raise DatasetPathError(f"{what} {text!r} is empty or contains a NUL byte")
    root_real = Path(root).resolve()
    candidate = Path(text)
    full = candidate if candidate.is_absolute() else root_real / candidate
    real = full.resolve()
    if real != root_real and not real.is_relative_to(root_real):
        raise DatasetPathError(
            f"{what} {text!r} resolves to {real}, outside the dataset root {root_real}; "
            "paths in dataset files must stay inside their root"
        )
    return real


# ---------------------------------------------------------------------------------------
# Reading rows


def read_rows(path: Path) -> list[dict]:
    """Rows of a .csv, .jsonl, .json (a list, or {"data"|"questions": list}) or .parquet file."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    try:
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                return list(csv.DictReader(handle))
        if suffix == ".jsonl":
            rows = []
            with path.open(encoding="utf-8") as handle:
                for line_number, line in enumerate(handle, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as error:
                            raise DatasetError(f"{path}:{line_number}: not JSON ({error.msg})") from None
            return rows
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                for name in ("data", "questions", "rows"):
                    if isinstance(data.get(name), list):
                        return data[name]
            if not isinstance(data, list):
                raise DatasetError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
            return data
        if suffix == ".parquet":
            import pandas as pd

            return pd.read_parquet(path).to_dict(orient="records")
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path}: cannot read rows ({error})") from None
    raise DatasetError(f"{path}: unsupported dataset file type {suffix!r} (use .csv, .jsonl, .json or .parquet)")


def _field(row: dict, name: str, where: str) -> Any:
    if name not in row or row[name] is None:
        raise DatasetError(f"{where}: missing field {name!r} (fields: {sorted(row)})")
    return row[name]


def _as_index(value: Any, num_choices: int, where: str) -> int:
    try:
        index = int(str(value).strip())
    except ValueError:
        raise DatasetError(f"{where}: answer {value!r} is not an index") from None
    if not 0 <= index < num_choices:
        raise DatasetError(f"{where}: answer index {index} is outside its {num_choices} choices")
    return index


def _video_file(video_root: Path, name: str, extension: str, where: str) -> Path:
    name = str(name).strip()
    if extension and not Path(name).suffix:
        name += extension
    return resolve_inside(video_root, name, what=f"{where}: video")


# ---------------------------------------------------------------------------------------
# Loaders


def load_world(root: str | os.PathLike, *, qa_file: str = "qa.csv") -> list[Sample]:
    """The synthetic world (`vot world generate`): NExT-QA-style QA plus step-wise ground truth."""
    root = Path(root).resolve()
    qa_path = resolve_inside(root, qa_file, what="qa file")
    evidence: dict[tuple[str, str], dict] = {}
    evidence_path = root / "evidence.jsonl"
    if evidence_path.is_file():
        for number, row in enumerate(read_rows(evidence_path), 1):
            where = f"{evidence_path}:{number}"
            evidence[(str(_field(row, "video", where)), str(_field(row, "qid", where)))] = row
    else:
        logger.warning("%s has no evidence.jsonl: step-wise metrics will be missing", root)
    samples = []
    for number, row in enumerate(read_rows(qa_path), 2):
        where = f"{qa_path}:{number}"
        video = str(_field(row, "video", where))
        qid = str(_field(row, "qid", where))
        choices = _numbered_choices(row, "a", where)
        raw_type = str(_field(row, "type", where))
        found = evidence.get((video, qid))
        stsg = resolve_inside(root / "stsg", f"{video}.json", what=f"{where}: stsg of video")
        samples.append(
            Sample(
                key=f"{video}_{qid}",
                dataset="world",
                qid=qid,
                video_id=video,
                video_path=str(_video_file(root / "videos", video, ".mp4", where)),
                question=str(_field(row, "question", where)),
                choices=choices,
                answer_index=_as_index(_field(row, "answer", where), len(choices), where),
                question_type=raw_type,
                raw_type=raw_type,
                evidence=None
                if found is None
                else {
                    "object_ids": [int(i) for i in found.get("object_ids", [])],
                    "events": list(found.get("events", [])),
                    "frame_span": found.get("frame_span"),
                    "subtype": found.get("subtype"),
                },
                stsg_path=str(stsg) if stsg.is_file() else None,
                metadata={k: int(row[k]) for k in ("frame_count", "width", "height") if str(row.get(k, "")).isdigit()},
            )
        )
    return samples


def _numbered_choices(row: dict, prefix: str, where: str, separator: str = "") -> list[str]:
    choices = []
    for index in range(len(LETTERS)):
        name = f"{prefix}{separator}{index}"
        if name not in row:
            break
        if row[name] is None or (isinstance(row[name], float) and row[name] != row[name]):
            break  # pandas NaN: fewer choices in this row
        choices.append(str(row[name]).strip())
    if not choices:
        raise DatasetError(f"{where}: no answer choices (expected columns {prefix}{separator}0, {prefix}{separator}1, ...)")
    return choices


def load_nextqa(
    csv_path: str | os.PathLike,
    *,
    video_root: str | os.PathLike,
    video_map: str | os.PathLike | None = None,
    extension: str = ".mp4",
) -> list[Sample]:
    """NExT-QA's official multiple-choice CSV. Videos (VidOR) live at video_root/<map[video]>.mp4.

    The map (map_vid_vidorID.json) gives "0101/2909445186" for video 2909445186; without a
    map the video id itself is the file name. Videos need not exist to load the questions.
    """
    csv_path = Path(csv_path)
    mapping: dict[str, str] = {}
    if video_map is not None:
        try:
            mapping = json.loads(Path(video_map).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise DatasetError(f"{video_map}: cannot read the NExT-QA video map ({error})") from None
        if not isinstance(mapping, dict):
            raise DatasetError(f"{video_map}: expected a JSON object {{video id: relative path}}")
    rows = read_rows(csv_path)
    if rows:
        missing = [c for c in NEXTQA_COLUMNS + ("a0",) if c not in rows[0]]
        if missing:
            raise DatasetError(f"{csv_path}: not NExT-QA's format, missing columns {missing}")
    root = Path(video_root)
    samples = []
    for number, row in enumerate(rows, 2):
        where = f"{csv_path}:{number}"
        video = str(row["video"]).strip()
        if mapping and video not in mapping:
            raise DatasetError(f"{where}: video {video!r} is not in the video map {video_map}")
        choices = _numbered_choices(row, "a", where)
        raw_type = str(row["type"]).strip()
        samples.append(
            Sample(
                key=f"{video}_{row['qid']}",
                dataset="nextqa",
                qid=str(row["qid"]),
                video_id=video,
                video_path=str(_video_file(root, mapping.get(video, video), extension, where)),
                question=str(row["question"]).strip(),
                choices=choices,
                answer_index=_as_index(row["answer"], len(choices), where),
                question_type=NEXTQA_TYPES.get(raw_type, raw_type),
                raw_type=raw_type,
                metadata={"frame_count": int(row["frame_count"]), "width": int(row["width"]), "height": int(row["height"])},
            )
        )
    return samples


def _list_cell(text: str, where: str, column: str) -> list:
    """A CSV cell holding a list: JSON (["a", "b"]) or a Python literal (['a', 'b']), parsed without eval."""
    import ast

    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
    if not isinstance(value, (list, tuple)):
        raise DatasetError(f"{where}: column {column!r} is not a list: {text!r}")
    return list(value)


def _strip_letter(option: str, index: int) -> str:
    """Video-MME options read "A. text"; the choice is the text."""
    text = str(option).strip()
    letter = LETTERS[index]
    for prefix in (f"{letter}. ", f"{letter}.", f"({letter}) ", f"{letter}) "):
        if text.startswith(prefix):
            return text[len(prefix) :].strip()
    return text


def _letter_index(value: Any, num_choices: int, where: str) -> int:
    text = str(value).strip().strip("()").rstrip(".")
    if len(text) != 1 or text.upper() not in LETTERS[:num_choices]:
        raise DatasetError(f"{where}: answer {value!r} is not a letter among {LETTERS[:num_choices]!r}")
    return LETTERS.index(text.upper())


def load_videomme(path: str | os.PathLike, *, video_root: str | os.PathLike, extension: str = ".mp4") -> list[Sample]:
    """Video-MME rows; the video is video_root/<videoID>.mp4; question_type is task_type."""
    path = Path(path)
    samples = []
    for number, row in enumerate(read_rows(path), 1):
        where = f"{path} row {number}"
        options = _field(row, "options", where)
        if isinstance(options, str):
            options = _list_cell(options, where, "options")
        options = [_strip_letter(o, i) for i, o in enumerate(list(options))]
        answer = row.get("answer")
        video = str(_field(row, "videoID", where))
        samples.append(
            Sample(
                key=str(_field(row, "question_id", where)),
                dataset="videomme",
                qid=str(row["question_id"]),
                video_id=video,
                video_path=str(_video_file(Path(video_root), video, extension, where)),
                question=str(_field(row, "question", where)),
                choices=options,
                answer_index=None if answer in (None, "") else _letter_index(answer, len(options), where),
                question_type=str(row.get("task_type", "")),
                raw_type=str(row.get("task_type", "")),
                metadata={k: row[k] for k in ("duration", "domain", "sub_category") if k in row},
            )
        )
    return samples


def load_mvbench(
    path: str | os.PathLike,
    *,
    video_root: str | os.PathLike,
    task_type: str | None = None,
    prefixes: dict[str, str] | None = None,
) -> list[Sample]:
    """An MVBench-style JSON list ({video, question, candidates, answer text}); one file per task type.

    `path` is one JSON file (its stem is the type) or a folder of them. MVBench keeps each task's
    videos in its own folder: `prefixes` {task type: folder under video_root} (the YAML's
    video_prefixes) puts it before the file name; the result must stay inside video_root.
    """
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise DatasetError(f"{path}: no MVBench JSON files")
    samples = []
    for file in files:
        kind = task_type or file.stem
        for number, row in enumerate(read_rows(file)):
            where = f"{file} item {number}"
            candidates = [str(c) for c in _field(row, "candidates", where)]
            answer = row.get("answer")
            if answer is not None and str(answer) not in candidates:
                raise DatasetError(f"{where}: answer {answer!r} is not one of the candidates {candidates}")
            video = str(_field(row, "video", where))
            if prefixes and kind in prefixes:
                video = f"{str(prefixes[kind]).rstrip('/')}/{video}"
            samples.append(
                Sample(
                    key=f"{kind}_{number}",
                    dataset="mvbench",
                    qid=str(number),
                    video_id=video,
                    video_path=str(_video_file(Path(video_root), video, "", where)),
                    question=str(_field(row, "question", where)),
                    choices=candidates,
                    answer_index=None if answer is None else candidates.index(str(answer)),
                    question_type=kind,
                    raw_type=kind,
                )
            )
    return samples


def load_egoschema(
    path: str | os.PathLike,
    *,
    video_root: str | os.PathLike,
    answers: str | os.PathLike | None = None,
    extension: str = ".mp4",
) -> list[Sample]:
    """EgoSchema questions ({q_uid, question, "option 0".."option 4"}); answers inline or in {q_uid: index}."""
    path = Path(path)
    answer_map: dict[str, Any] = {}
    if answers is not None:
        try:
            answer_map = json.loads(Path(answers).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise DatasetError(f"{answers}: cannot read EgoSchema answers ({error})") from None
    samples = []
    for number, row in enumerate(read_rows(path)):
        where = f"{path} item {number}"
        uid = str(_field(row, "q_uid", where))
        choices = _numbered_choices(row, "option", where, separator=" ")
        answer = row.get("answer", answer_map.get(uid))
        samples.append(
            Sample(
                key=uid,
                dataset="egoschema",
                qid=uid,
                video_id=uid,
                video_path=str(_video_file(Path(video_root), uid, extension, where)),
                question=str(_field(row, "question", where)),
                choices=choices,
                answer_index=None if answer is None else _as_index(answer, len(choices), where),
                question_type="egoschema",
                raw_type="",
            )
        )
    return samples


# ---------------------------------------------------------------------------------------
# Templates (lmms-eval style: doc_to_text, doc_to_choice, doc_to_target, ...)


class _PlainFormatter(string.Formatter):
    """str.format with plain field names only: no attribute or index access into rows."""

    def get_field(self, field_name, args, kwargs):
        if not field_name.isidentifier() and not field_name.replace(" ", "_").isidentifier():
            raise DatasetError(f"template field {{{field_name}}} must be a plain column name")
        if field_name not in kwargs:
            raise DatasetError(f"template field {{{field_name}}} is not a column (columns: {sorted(kwargs)})")
        return kwargs[field_name], field_name


def render(template: str, row: dict) -> str:
    """Fill `template`'s {column} fields from a row."""
    try:
        return _PlainFormatter().vformat(str(template), (), row)
    except (ValueError, IndexError) as error:
        raise DatasetError(f"template {template!r}: {error}") from None


def _target_index(value: Any, choices: list[str], where: str) -> int:
    """A target given as an index, a letter, or the choice's text."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return _as_index(text, len(choices), where)
    if len(text.strip("().")) == 1 and text.strip("().").upper() in LETTERS[: len(choices)]:
        return LETTERS.index(text.strip("().").upper())
    if text in choices:
        return choices.index(text)
    raise DatasetError(f"{where}: target {value!r} is neither an index, a letter nor one of the choices {choices}")


def load_generic(
    rows_path: Path,
    *,
    video_root: Path,
    spec: dict,
    name: str,
) -> list[Sample]:
    """Rows described by templates: doc_to_visual, doc_to_text, doc_to_choice, doc_to_target, doc_to_id, doc_to_type;
    doc_to_metadata: row fields copied into Sample.metadata (e.g. a conversation's id and turn)."""
    visual = spec.get("doc_to_visual", "{video}")
    text = spec.get("doc_to_text", "{question}")
    choice = spec.get("doc_to_choice", "choices")
    target = spec.get("doc_to_target", "answer")
    identity = spec.get("doc_to_id")
    kind = spec.get("doc_to_type")
    samples = []
    for number, row in enumerate(read_rows(rows_path)):
        where = f"{rows_path} row {number}"
        if isinstance(choice, list):
            choices = [render(c, row) for c in choice]
        else:
            value = _field(row, choice, where)
            if isinstance(value, str):
                value = _list_cell(value, where, choice)
            choices = [str(c) for c in value]
        video = render(visual, row)
        answer = row.get(target) if target in row else (render(target, row) if "{" in str(target) else None)
        key = render(identity, row) if identity else str(number)
        samples.append(
            Sample(
                key=key,
                dataset=name,
                qid=key,
                video_id=video,
                video_path=str(_video_file(video_root, video, "", where)),
                question=render(text, row),
                choices=choices,
                answer_index=None if answer in (None, "") else _target_index(answer, choices, where),
                question_type=render(kind, row) if kind else name,
                raw_type=render(kind, row) if kind else "",
                metadata={k: row[k] for k in spec.get("doc_to_metadata") or () if k in row},
            )
        )
    return samples


def load_real(root: str | os.PathLike, **kwargs) -> list[Sample]:
    """The real-footage dev set (evals/real/dataset.py; imported here at call time, it builds on this module)."""
    from videothought.evals.real.dataset import load_real as load

    return load(root, **kwargs)


LOADERS: dict[str, Callable[..., list[Sample]]] = {
    "world": load_world,
    "nextqa": load_nextqa,
    "videomme": load_videomme,
    "mvbench": load_mvbench,
    "egoschema": load_egoschema,
    "generic": load_generic,
    "real": load_real,
}
