"""The real-footage dev set (evals/real/): it loads as `--task real`, every clip is the file its
sha256 names, every evidence frame decodes, and bad manifests and names fail with clear errors."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from videothought.evals.datasets import DatasetError
from videothought.evals.task import load_task
from videothought.evals.real.dataset import HERE, QUESTION_TYPES, Clip, ClipRoot, find_clip, load_real, read_manifest

QUESTIONS = [json.loads(line) for line in (HERE / "questions.jsonl").read_text().splitlines() if line.strip()]
MANIFEST = read_manifest(HERE / "clips.json")


def _dev_set_or_skip():
    try:
        return load_task("real").samples
    except DatasetError as error:
        pytest.skip(f"real clips not on this machine: {error}")


def test_the_dev_set_is_what_the_issue_asks_for():
    assert len(QUESTIONS) >= 40
    assert all(len(q["options"]) == 5 and len(set(q["options"])) == 5 for q in QUESTIONS)
    kinds = Counter(q["type"] for q in QUESTIONS)
    for kind in ("direction", "counting", "enter_exit", "order", "meeting", "stopping", "clothing_colour", "text",
                 "static_object"):
        assert kinds[kind] >= 2, f"too few {kind} questions: {kinds}"
    assert set(kinds) <= set(QUESTION_TYPES)
    # Answers are spread over the option positions (a position bias would be a free lunch).
    positions = Counter(q["answer"] for q in QUESTIONS)
    assert max(positions.values()) <= 0.4 * len(QUESTIONS), positions
    assert {q["video"] for q in QUESTIONS} == {c["file"] for c in MANIFEST["clips"]}


def test_task_real_loads_with_types_and_evidence():
    samples = _dev_set_or_skip()
    assert [s.qid for s in samples] == [q["qid"] for q in QUESTIONS]
    first = samples[0]
    assert first.dataset == "real" and first.question_type == QUESTIONS[0]["type"]
    assert first.choices[first.answer_index] == QUESTIONS[0]["options"][QUESTIONS[0]["answer"]]
    assert first.metadata["evidence_frames"] == QUESTIONS[0]["evidence_frames"]
    assert Path(first.video_path).name == QUESTIONS[0]["video"]


@pytest.mark.slow
def test_every_evidence_frame_decodes():
    """The frames each answer was checked in exist in the clip as this project decodes it
    (tree.avi is truncated: its questions only cite frames that decode)."""
    from videothought.perception.video import VideoReader

    samples = _dev_set_or_skip()
    by_video: dict[str, set[int]] = {}
    paths = {}
    for sample in samples:
        by_video.setdefault(sample.video_id, set()).update(sample.metadata["evidence_frames"])
        paths[sample.video_id] = sample.video_path
    for video, frames in by_video.items():
        truncated = any(c.get("truncated") for c in MANIFEST["clips"] if c["file"] == video)
        with VideoReader(paths[video], allow_truncated=truncated, max_side=64) as reader:
            assert max(frames) < reader.metadata.num_frames, (video, max(frames), reader.metadata.num_frames)
            batch = reader.get_frames(sorted(frames))
            assert len(batch.frames) == len(frames)


def _copy_set(tmp_path: Path, clip_file: str, content: bytes) -> Path:
    """A one-question dev set in tmp_path whose clip lives in tmp_path/clips."""
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / clip_file).write_bytes(content)
    import hashlib

    manifest = {"roots": [{"name": "here", "path": "clips", "relative_to": "dataset", "how": "copy it"}],
                "clips": [{"file": clip_file, "sha256": hashlib.sha256(b"the real bytes").hexdigest()}]}
    (tmp_path / "clips.json").write_text(json.dumps(manifest))
    question = {**QUESTIONS[0], "video": clip_file}
    (tmp_path / "questions.jsonl").write_text(json.dumps(question) + "\n")
    return tmp_path


def test_a_file_with_the_right_name_but_other_bytes_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("VOT_REAL_CLIPS", raising=False)
    root = _copy_set(tmp_path, "clip.avi", b"other bytes")
    with pytest.raises(DatasetError, match="another sha256"):
        load_real(root)
    (root / "clips" / "clip.avi").write_bytes(b"the real bytes")
    assert load_real(root)[0].video_path == str((root / "clips" / "clip.avi").resolve())


def test_a_missing_clip_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("VOT_REAL_CLIPS", raising=False)
    root = _copy_set(tmp_path, "clip.avi", b"x")
    (root / "clips" / "clip.avi").unlink()
    with pytest.raises(DatasetError, match=r"not found\. Looked in .*clips.*copy it"):
        load_real(root)


def test_the_environment_root_is_searched_first(tmp_path, monkeypatch):
    root = _copy_set(tmp_path, "clip.avi", b"other bytes")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "clip.avi").write_bytes(b"the real bytes")
    monkeypatch.setenv("VOT_REAL_CLIPS", str(elsewhere))
    assert load_real(root)[0].video_path == str((elsewhere / "clip.avi").resolve())


def test_clip_names_cannot_escape_their_root(tmp_path):
    secret = tmp_path / "secret.avi"
    secret.write_bytes(b"the real bytes")
    inner = tmp_path / "inner"
    inner.mkdir()
    import hashlib

    clip = Clip("../secret.avi", hashlib.sha256(b"the real bytes").hexdigest())
    with pytest.raises(DatasetError, match="plain file names"):
        find_clip(clip, [ClipRoot("inner", inner, "")])
    (inner / "link.avi").symlink_to(secret)
    with pytest.raises(DatasetError, match="plain file names"):
        find_clip(Clip("link.avi", clip.sha256), [ClipRoot("inner", inner, "")])


@pytest.mark.parametrize("change, message", [
    ({"answer": 5}, "answer must be an index"),
    ({"type": "vibes"}, "type 'vibes' is not one of"),
    ({"evidence_frames": []}, "evidence_frames must be"),
    ({"video": "nope.avi"}, "not in the clips manifest"),
    ({"options": ["a", "a", "b", "c", "d"]}, "distinct"),
])
def test_malformed_questions_name_the_line_and_field(tmp_path, monkeypatch, change, message):
    monkeypatch.delenv("VOT_REAL_CLIPS", raising=False)
    root = _copy_set(tmp_path, "clip.avi", b"the real bytes")
    question = {**QUESTIONS[0], "video": "clip.avi", **change}
    (root / "questions.jsonl").write_text(json.dumps(question) + "\n")
    with pytest.raises(DatasetError, match=message) as error:
        load_real(root)
    assert "questions.jsonl:1" in str(error.value)


def test_a_manifest_without_hashes_is_refused(tmp_path):
    (tmp_path / "clips.json").write_text(json.dumps({"clips": [{"file": "a.avi", "sha256": "abc"}]}))
    with pytest.raises(DatasetError, match="64 lower-case hex"):
        read_manifest(tmp_path / "clips.json")


def test_the_task_file_points_at_the_dev_set_when_copied_elsewhere(tmp_path, monkeypatch):
    """`--data DIR` overrides the YAML's dataset_path: a user's copy of the set loads from there."""
    monkeypatch.delenv("VOT_REAL_CLIPS", raising=False)
    for name in ("questions.jsonl", "clips.json"):
        shutil.copy(HERE / name, tmp_path / name)
    manifest = json.loads((tmp_path / "clips.json").read_text())
    manifest["roots"] = [{"name": "none", "path": str(tmp_path / "no-such-folder")}]
    (tmp_path / "clips.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="real clip 'vtest.avi'"):
        load_task("real", tmp_path)
