"""`vot world generate` end to end, difficulty knobs, captions, and long videos with needle questions."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from videothought.cli import main
from videothought.evals.world import generate_world, iter_world, load_world, sample_spec
from videothought.evals.world.oracle import oracle_answer
from videothought.perception.video import VideoReader


def test_vot_world_generate(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["world", "generate", "--out", str(out), "--videos", "2", "--seed", "3", "--seconds", "3",
                 "--max-objects", "4", "--difficulty", "easy", "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["videos"] == 2 and summary["frames"] == 2 * 36
    meta = json.loads((out / "meta.json").read_text())
    assert meta["params"]["max_objects"] == 4 and meta["params"]["difficulty"] == "easy"
    assert meta["resolved_params"]["noise_sigma"] == 0.0
    videos = load_world(out)
    assert [v.video_id for v in videos] == ["w3_000000", "w3_000001"]
    assert all(len(v.stsg["tracks"]) <= 4 + 1 for v in videos)  # + a possible floater (none when easy)


def test_vot_world_check(tmp_path, capsys, small_world):
    out, videos = small_world
    other = generate_world(tmp_path / "other", 3, 1, seconds=4.0)
    assert main(["world", "check", str(other), "--train", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["videos"] == 3 and report["oracle_accuracy"] == 1.0 and report["oracle_no_single_answer"] == 0
    assert sum(report["answer_positions"]) == report["questions"]
    # The blind baseline, recomputed by hand: pick the option text most often right in the train world.
    right_in_train = Counter(q.options[q.answer] for q in (q for v in videos for q in v.questions))
    test_questions = [q for v in load_world(other) for q in v.questions]
    picks = [max(range(5), key=lambda i: (right_in_train[q.options[i]], -i)) for q in test_questions]
    expected = sum(p == q.answer for p, q in zip(picks, test_questions)) / len(test_questions)
    assert report["blind_baseline_accuracy"] == round(expected, 4)
    assert report["blind_baseline_accuracy"] < 0.4  # options are dealt so that priors stay near chance (20%)
    assert set(report["blind_baseline_per_type"]) == set(report["per_type"])
    with pytest.raises(SystemExit, match="vot world check: .*no such world directory"):
        main(["world", "check", str(tmp_path / "nothing")])


def test_vot_world_generate_bad_input_is_one_clear_line(tmp_path):
    with pytest.raises(SystemExit, match="vot world generate: num_videos must be at least 1"):
        main(["world", "generate", "--out", str(tmp_path), "--videos", "0", "--no-progress"])
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(SystemExit, match="exists and is not a directory"):
        main(["world", "generate", "--out", str(tmp_path / "a_file"), "--videos", "1", "--no-progress"])
    with pytest.raises(SystemExit, match="width and height must be even"):
        main(["world", "generate", "--out", str(tmp_path), "--videos", "1", "--width", "99", "--no-progress"])


def test_difficulty_changes_the_scene():
    easy = [sample_spec(np.random.default_rng([0, i]), difficulty="easy") for i in range(10)]
    hard = [sample_spec(np.random.default_rng([0, i]), difficulty="hard") for i in range(10)]
    assert all(s.background.kind == "plain" and s.noise_sigma == 0 and s.jitter_pixels == 0 for s in easy)
    assert all(s.background.kind != "plain" and s.noise_sigma > 0 for s in hard)
    assert any(s.jitter_pixels > 0 for s in hard) and any(any(s.background.velocity) for s in hard)
    assert not any(o.layer == 1 for s in easy for o in s.objects)


def test_captions_cover_segments_and_name_what_happens():
    spec, frames, truth, captions = next(iter_world(1, 2, seconds=4.0))
    segments = [c["segment"] for c in captions if c["segment"] is not None]
    assert segments[0][0] == 0 and segments[-1][1] == spec.num_frames - 1
    assert all(b[0] == a[1] + 1 for a, b in zip(segments, segments[1:]))
    whole = [c["caption"] for c in captions if c["segment"] is None]
    assert len(whole) == 1
    for label in (t["label"] for t in truth.tracks.values()):
        assert label in whole[0]
    for event in truth.events:
        if event["type"] == "collide":
            segment = next(c for c in captions if c["segment"] and c["segment"][0] <= event["start_frame"] <= c["segment"][1])
            labels = [truth.tracks[t]["label"] for t in event["track_ids"]]
            assert all(label in segment["caption"] for label in labels)
            assert any(verb in segment["caption"] for verb in ("collided with", "bumped into", "hit the"))
    # The in-memory scenes are the ones generate_world writes: same ids and truth.
    assert spec.video_id == "w2_000000"


@pytest.mark.slow
def test_long_video_with_needle_questions(tmp_path):
    """5 minutes at 8 fps, 160x120, 30-second episodes: needles answered from the STSG alone."""
    out = generate_world(tmp_path / "long", 1, 4, long=True, seconds=300.0, episode_seconds=30.0, fps=8.0,
                         width=160, height=120, questions_per_video=12)
    (video,) = load_world(out)
    assert video.num_frames == 2400
    with VideoReader(video.path) as reader:
        assert reader.metadata.num_frames == 2400
    assert video.spec["episode_starts"] == list(range(0, 2400, 240))
    assert {q.type for q in video.questions} == {"needle"}
    assert {"when", "colour"} <= {q.subtype for q in video.questions}
    assert len({q.question for q in video.questions}) == len(video.questions)
    for question in video.questions:
        assert oracle_answer(question.question, question.options, video.stsg) == question.answer, question
        start, end = question.frame_span
        assert end - start < 240  # the evidence sits inside one episode's span
    # Object ids are unique across episodes; their observations stay inside their episode.
    starts = video.spec["episode_starts"] + [video.num_frames]
    episode_of = {}
    for node in video.stsg["graph"]["nodes"]:
        episode = int(np.searchsorted(starts, node["frame_index"], side="right") - 1)
        assert episode_of.setdefault(node["track_id"], episode) == episode
    assert sum(1 for c in video.captions if c["segment"] is not None) == 300 // 2
