"""Loaders: the official formats parse exactly, and paths never escape the dataset root."""

from __future__ import annotations

import collections
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.evals.world_fixture import write_tiny_world
from videothought.evals.datasets import (
    DatasetError,
    DatasetPathError,
    load_egoschema,
    load_mvbench,
    load_nextqa,
    load_videomme,
    render,
    resolve_inside,
)
from videothought.evals.task import load_task

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nextqa"
SHARED_NEXTQA = Path(__file__).resolve().parents[3] / "shared" / "data" / "nextqa"


@pytest.fixture()
def nextqa_root(tmp_path) -> Path:
    root = tmp_path / "nextqa"
    shutil.copytree(FIXTURE, root)
    return root


def test_nextqa_fixture_in_the_official_format(nextqa_root):
    task = load_task("nextqa", nextqa_root)
    assert task.format == "nextqa" and task.split == "val"
    assert len(task.samples) == 8
    first = task.samples[0]
    assert first.key == "5111111111_0"
    assert first.video_path == str(nextqa_root.resolve() / "videos" / "1001" / "5111111111.mp4")
    assert first.choices == ["to sleep", "to eat", "to play with ball", "someone knocked", "chase cat"]
    assert first.answer_index == 3
    assert (first.raw_type, first.question_type) == ("CW", "causal")
    assert first.metadata == {"frame_count": 450, "width": 640, "height": 480}
    assert [s.question_type for s in task.samples] == [
        "causal", "causal", "temporal", "temporal", "temporal", "descriptive", "descriptive", "descriptive"
    ]  # fmt: skip
    assert [s.answer_index for s in task.samples] == [3, 1, 0, 2, 4, 1, 0, 2]
    assert task.samples[-1].key == "8444444444_3"
    assert load_task("nextqa", nextqa_root, limit=3).samples == task.samples[:3]


def test_nextqa_video_root_outside_the_data_is_allowed_when_the_user_names_it(nextqa_root, tmp_path):
    videos = tmp_path / "vidor"
    task = load_task("nextqa", nextqa_root, video_root=videos)
    assert task.samples[0].video_path == str(videos.resolve() / "1001" / "5111111111.mp4")


def test_real_nextqa_annotations(tmp_path):
    if not (SHARED_NEXTQA / "val.csv").is_file():
        pytest.skip(f"NExT-QA annotations not at {SHARED_NEXTQA}")
    samples = load_nextqa(SHARED_NEXTQA / "val.csv", video_root=tmp_path, video_map=SHARED_NEXTQA / "map_vid_vidorID.json")
    assert len(samples) == 4996
    assert collections.Counter(s.raw_type for s in samples) == {
        "CW": 1924, "TN": 895, "CH": 683, "TC": 663, "DO": 305, "DL": 295, "DC": 177, "TP": 54
    }  # fmt: skip
    assert {s.question_type for s in samples} == {"causal", "temporal", "descriptive"}
    assert all(len(s.choices) == 5 for s in samples)
    # the answer column of the official val.csv, counted by hand: the loader keeps every index
    assert collections.Counter(s.answer_index for s in samples) == {0: 1013, 1: 1013, 2: 991, 3: 967, 4: 1012}
    assert len({s.key for s in samples}) == 4996
    assert samples[0].question == "how do the two man play the instrument"
    assert samples[0].choices[samples[0].answer_index] == "roll the handle"
    assert samples[0].video_path.startswith(str(tmp_path.resolve()))
    test = load_nextqa(SHARED_NEXTQA / "test.csv", video_root=tmp_path, video_map=SHARED_NEXTQA / "map_vid_vidorID.json")
    assert len(test) == 8564


@pytest.mark.parametrize("escape", ["../../../etc/passwd", "/etc/passwd", "1001/../../../outside"])
def test_a_video_path_escaping_the_root_is_rejected(nextqa_root, escape):
    mapping = json.loads((nextqa_root / "map_vid_vidorID.json").read_text())
    mapping["5111111111"] = escape
    (nextqa_root / "map_vid_vidorID.json").write_text(json.dumps(mapping))
    with pytest.raises(DatasetPathError, match="outside the dataset root"):
        load_task("nextqa", nextqa_root)


def test_a_symlink_out_of_the_root_is_rejected_and_one_inside_is_followed(nextqa_root, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    videos = nextqa_root / "videos"
    videos.mkdir()
    os.symlink(outside, videos / "1001")
    with pytest.raises(DatasetPathError, match="elsewhere"):
        load_task("nextqa", nextqa_root)
    (videos / "1001").unlink()
    (videos / "real").mkdir()
    os.symlink(videos / "real", videos / "1001")
    task = load_task("nextqa", nextqa_root)
    assert task.samples[0].video_path == str((videos / "real" / "5111111111.mp4").resolve())


def test_task_files_escaping_the_root_are_rejected(tmp_path, nextqa_root):
    (tmp_path / "task.yaml").write_text("task: mine\nformat: nextqa\nfiles:\n  annotations: ../secret.csv\n")
    with pytest.raises(DatasetPathError, match="files.annotations"):
        load_task(str(tmp_path / "task.yaml"), nextqa_root)
    (tmp_path / "task2.yaml").write_text("task: mine\nformat: nextqa\nsplit: val\nvideo_root: /tmp\n")
    with pytest.raises(DatasetPathError, match="video_root"):
        load_task(str(tmp_path / "task2.yaml"), nextqa_root)


def test_resolve_inside():
    assert resolve_inside("/data/x", "a/b.mp4") == Path("/data/x/a/b.mp4")
    assert resolve_inside("/data/x", "/data/x/a.mp4") == Path("/data/x/a.mp4")
    for bad in ("../y/a.mp4", "/data/xy/a.mp4", "", "a\x00b"):
        with pytest.raises(DatasetPathError):
            resolve_inside("/data/x", bad)


def test_malformed_nextqa_gives_clear_errors(nextqa_root):
    csv_path = nextqa_root / "val.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join([lines[0], lines[1].replace(",3,0,CW,", ",7,0,CW,")]) + "\n")
    with pytest.raises(DatasetError, match=r"val.csv:2: answer index 7 is outside its 5 choices"):
        load_task("nextqa", nextqa_root)
    csv_path.write_text("video,question,answer\n1,q,0\n")
    with pytest.raises(DatasetError, match="missing columns"):
        load_task("nextqa", nextqa_root)
    with pytest.raises(DatasetError, match="unknown task 'nope'"):
        load_task("nope", nextqa_root)


def test_world_loader_joins_evidence_and_ground_truth(tmp_path):
    root = write_tiny_world(tmp_path / "world", num_videos=2, write_videos=False)
    task = load_task("world", root)
    assert len(task.samples) == 8
    temporal = task.samples[1]
    assert temporal.key == "video000_1" and temporal.question_type == "temporal"
    assert temporal.answer_index == 2 and temporal.choices[2] == "the green triangle"
    assert temporal.evidence["object_ids"] == [3]
    assert temporal.evidence["events"] == [{"type": "enter", "track_ids": [3], "start_frame": 5, "end_frame": 5}]
    assert temporal.stsg_path == str((root / "stsg" / "video000.json").resolve())
    assert temporal.video_path == str((root / "videos" / "video000.mp4").resolve())
    assert temporal.graph_input() == {
        "question": "what enters after the start",
        "choices": ["the red circle", "the blue square", "the green triangle", "nothing"],
        "video_path": temporal.video_path,
        "question_type": "temporal",
    }


def test_world_video_names_cannot_escape(tmp_path):
    root = write_tiny_world(tmp_path / "world", num_videos=1, write_videos=False)
    qa = (root / "qa.csv").read_text().replace("video000,", "../../video000,", 1)
    (root / "qa.csv").write_text(qa)
    with pytest.raises(DatasetPathError, match="outside the dataset root"):
        load_task("world", root)


def test_videomme_rows_json_and_parquet(tmp_path):
    rows = [
        {"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History",
         "url": "https://example.invalid/x", "videoID": "fFjv93ACGo8", "question_id": "001-1",
         "task_type": "Counting Problem", "question": "How many people appear?",
         "options": ["A. One.", "B. Two.", "C. Three.", "D. Four."], "answer": "C"},
        {"video_id": "002", "duration": "long", "domain": "Sports", "sub_category": "Football", "url": "",
         "videoID": "abc", "question_id": "002-3", "task_type": "Action Reasoning",
         "question": "Why does he stop?", "options": ["A. Tired", "B. Whistle", "C. Rain", "D. Injury"], "answer": "B"},
    ]  # fmt: skip
    (tmp_path / "videomme.json").write_text(json.dumps(rows))
    samples = load_videomme(tmp_path / "videomme.json", video_root=tmp_path / "data")
    assert [s.key for s in samples] == ["001-1", "002-3"]
    assert samples[0].choices == ["One.", "Two.", "Three.", "Four."]
    assert [s.answer_index for s in samples] == [2, 1]
    assert samples[0].question_type == "Counting Problem"
    assert samples[0].video_path == str((tmp_path / "data" / "fFjv93ACGo8.mp4").resolve())
    assert samples[1].metadata == {"duration": "long", "domain": "Sports", "sub_category": "Football"}
    import pandas as pd

    pd.DataFrame(rows).to_parquet(tmp_path / "test.parquet")
    assert [s.to_dict() for s in load_videomme(tmp_path / "test.parquet", video_root=tmp_path / "data")] == [
        s.to_dict() for s in samples
    ]
    pd.DataFrame(rows).assign(options=lambda f: f["options"].map(str)).to_csv(tmp_path / "test.csv", index=False)
    from_csv = load_videomme(tmp_path / "test.csv", video_root=tmp_path / "data")
    assert [s.choices for s in from_csv] == [s.choices for s in samples]  # "['A. One.', ...]" cells
    rows[0]["answer"] = "E"
    (tmp_path / "bad.json").write_text(json.dumps(rows))
    with pytest.raises(DatasetError, match="answer 'E' is not a letter among 'ABCD'"):
        load_videomme(tmp_path / "bad.json", video_root=tmp_path)


def test_mvbench_json(tmp_path):
    (tmp_path / "json").mkdir()
    items = [
        {"video": "clips/a.mp4", "question": "What happens?", "candidates": ["x", "y", "z"], "answer": "z"},
        {"video": "clips/b.mp4", "question": "Then?", "candidates": ["p", "q"], "answer": "p"},
    ]
    (tmp_path / "json" / "action_sequence.json").write_text(json.dumps(items))
    samples = load_mvbench(tmp_path / "json", video_root=tmp_path / "video")
    assert [(s.key, s.answer_index, s.question_type) for s in samples] == [
        ("action_sequence_0", 2, "action_sequence"), ("action_sequence_1", 0, "action_sequence")
    ]  # fmt: skip
    assert samples[0].video_path == str((tmp_path / "video" / "clips" / "a.mp4").resolve())
    prefixed = load_mvbench(tmp_path / "json", video_root=tmp_path / "video", prefixes={"action_sequence": "star/"})
    assert prefixed[1].video_path == str((tmp_path / "video" / "star" / "clips" / "b.mp4").resolve())
    with pytest.raises(DatasetPathError):
        load_mvbench(tmp_path / "json", video_root=tmp_path / "video", prefixes={"action_sequence": "../.."})
    items[1]["answer"] = "r"
    (tmp_path / "json" / "action_sequence.json").write_text(json.dumps(items))
    with pytest.raises(DatasetError, match="answer 'r' is not one of the candidates"):
        load_mvbench(tmp_path / "json", video_root=tmp_path / "video")
    items[1] = {"video": "../../x.mp4", "question": "q", "candidates": ["a"], "answer": "a"}
    (tmp_path / "json" / "action_sequence.json").write_text(json.dumps(items))
    with pytest.raises(DatasetPathError):
        load_mvbench(tmp_path / "json", video_root=tmp_path / "video")


def test_egoschema_with_answers_file_and_task_yaml(tmp_path):
    questions = [
        {"q_uid": "uid-1", "question": "What is c doing?", **{f"option {i}": f"thing {i}" for i in range(5)}},
        {"q_uid": "uid-2", "question": "Why?", **{f"option {i}": f"reason {i}" for i in range(5)}},
    ]
    (tmp_path / "questions.json").write_text(json.dumps(questions))
    (tmp_path / "subset_answers.json").write_text(json.dumps({"uid-2": 4}))
    samples = load_egoschema(tmp_path / "questions.json", video_root=tmp_path / "videos",
                             answers=tmp_path / "subset_answers.json")
    assert [(s.key, s.answer_index) for s in samples] == [("uid-1", None), ("uid-2", 4)]
    assert samples[1].choices == [f"reason {i}" for i in range(5)]
    task = load_task("egoschema", tmp_path)
    assert [s.to_dict() for s in task.samples] == [s.to_dict() for s in samples]


def test_user_yaml_task_with_templates(tmp_path):
    data = tmp_path / "mydata"
    data.mkdir()
    rows = [
        {"id": 7, "clip": "c7", "q": "what falls", "opts": ["cup", "ball"], "gold": "B", "cat": "physics"},
        {"id": 8, "clip": "c8", "q": "who waves", "opts": ["man", "woman"], "gold": "man", "cat": "social"},
    ]
    (data / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task_file = tmp_path / "mytask.yaml"
    task_file.write_text(
        "# vot eval --task mytask.yaml --out runs/mine\n"
        "task: mytask\nformat: generic\ndataset_path: mydata\nsplit: dev\n"
        "data_files: {dev: dev.jsonl}\nvideo_root: videos\n"
        "doc_to_visual: '{clip}.mp4'\ndoc_to_text: 'Q: {q}?'\ndoc_to_choice: opts\ndoc_to_target: gold\n"
        "doc_to_id: 'item-{id}'\ndoc_to_type: '{cat}'\n"
        "prompt: {pre_prompt: 'Watch carefully. ', post_prompt: ' Answer with the option.'}\n"
    )
    task = load_task(str(task_file))
    assert task.name == "mytask" and task.split == "dev"
    assert [s.key for s in task.samples] == ["item-7", "item-8"]
    assert task.samples[0].question == "Watch carefully. Q: what falls? Answer with the option."
    assert task.samples[0].metadata["raw_question"] == "Q: what falls?"
    assert [s.answer_index for s in task.samples] == [1, 0]
    assert [s.question_type for s in task.samples] == ["physics", "social"]
    assert task.samples[0].video_path == str((data / "videos" / "c7.mp4").resolve())


def test_templates_reach_only_plain_columns():
    assert render("{a} and {b}", {"a": 1, "b": "x"}) == "1 and x"
    with pytest.raises(DatasetError, match="plain column name"):
        render("{a.__class__}", {"a": 1})
    with pytest.raises(DatasetError, match="plain column name"):
        render("{a[0]}", {"a": [1]})
    with pytest.raises(DatasetError, match=r"\{c\} is not a column"):
        render("{c}", {"a": 1})


def test_duplicate_keys_are_rejected(tmp_path):
    root = write_tiny_world(tmp_path / "world", num_videos=1, write_videos=False)
    qa = (root / "qa.csv").read_text().splitlines()
    (root / "qa.csv").write_text("\n".join(qa + [qa[1]]) + "\n")
    with pytest.raises(DatasetError, match="appears twice"):
        load_task("world", root)
