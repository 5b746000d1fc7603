import numpy as np
import pytest

from tests.graph.scenes import Mover, render
from videothought.graph import metrics
from videothought.perception.pipeline import track_frames, track_video
from videothought.graph.stsg import STSG
from videothought.perception.video import VideoNotFoundError, write_video


def movers():
    return [
        Mover("red", "circle", (20, 40), (4, 0)),
        Mover("blue", "square", (140, 85), (-3, 0)),
        Mover("yellow", "triangle", (80, 25), (0, 0), radius=11, first_frame=8),
    ]


def test_track_frames_finds_labels_and_keeps_ids():
    frames, truth = render(movers(), 30)
    stsg = track_frames(frames, np.arange(30), fps=10.0)
    assert isinstance(stsg, STSG)
    assert sorted(stsg.track_info[t]["label"] for t in stsg.track_ids) == ["blue square", "red circle",
                                                                           "yellow triangle"]
    accumulator = metrics.accumulate_tracking(truth, stsg.observations())
    scores = metrics.tracking_scores([accumulator])
    assert scores["mota"] == 1.0 and scores["idf1"] == 1.0 and scores["id_switches"] == 0
    (yellow,) = stsg.tracks("triangle", colour="yellow")
    assert stsg.track_summary(yellow)["first_frame"] == 8
    assert ("appear", [yellow]) in [(e.type, e.track_ids) for e in stsg.events]
    assert stsg.video["width"] == 160 and stsg.video["height"] == 120 and stsg.video["fps"] == 10.0
    STSG.from_dict(stsg.to_dict())  # a valid document


def test_occlusion_behind_a_floating_object():
    scene = [Mover("green", "square", (80, 60), (0, 0), radius=10),
             Mover("white", "circle", (20, 60), (5, 0), radius=24, layer=1)]
    frames, truth = render(scene, 26)
    stsg = track_frames(frames, np.arange(26), fps=10.0)
    (green,) = stsg.tracks("green square")
    summary = stsg.track_summary(green)
    assert summary["first_frame"] == 0 and summary["last_frame"] == 25  # one track throughout
    assert summary["hidden_spans"], "the covered frames are kept as hidden observations"
    occluded = stsg.events_in(type="occluded")
    assert occluded and occluded[0].track_ids[0] == green
    assert not stsg.events_in(type="collide")


def test_no_detections_gives_an_empty_graph():
    frames = np.full((5, 48, 64, 3), 70, dtype=np.uint8)
    stsg = track_frames(frames, np.arange(5), fps=5.0)
    assert stsg.track_ids == [] and stsg.events == []
    assert "video: " in stsg.verbalize()
    assert STSG.from_dict(stsg.to_dict()).track_ids == []


def test_bad_input():
    frames, _ = render(movers(), 4)
    with pytest.raises(ValueError, match="4 frames but 3 frame indices"):
        track_frames(frames, [0, 1, 2], fps=10.0)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        track_frames(frames, np.arange(4), fps=float("nan"))
    with pytest.raises(ValueError, match="uint8"):
        track_frames(frames.astype(np.float32), np.arange(4), fps=10.0)
    with pytest.raises(VideoNotFoundError):
        track_video("/nonexistent/clip.mp4")


def test_track_video_reads_and_samples(tmp_path):
    frames, _ = render(movers(), 30)
    path = write_video(tmp_path / "scene.mp4", frames, fps=10.0)
    stsg = track_video(path)
    assert len(stsg.track_ids) == 3
    assert stsg.video["path"] == str(path) and stsg.video["num_frames"] == 30
    sampled = track_video(path, fps=5.0)
    assert sampled.frame_indices == list(range(0, 30, 2))
    assert len(sampled.track_ids) == 3


def test_the_document_records_what_the_proposer_can_name():
    frames, _ = render(movers(), 12)
    stsg = track_frames(frames, np.arange(12), fps=10.0)
    vocabulary = stsg.to_dict()["vocabulary"]
    assert "red circle" in vocabulary["label"] and "pink object" in vocabulary["label"]
    assert "person" not in vocabulary["label"]  # the colour branch ran: it names no people
    assert set(vocabulary["shape"]) == {"circle", "square", "triangle", "star", "hexagon", "diamond"}
    assert "black" not in vocabulary["colour"]  # what it can name, not every colour word
    assert len(vocabulary["label"]) > len(stsg.track_ids)  # not the values seen


def test_a_proposer_without_a_vocabulary_leaves_it_unknown():
    class Nothing:
        def propose(self, frames):
            return [[] for _ in frames]

    frames, _ = render(movers(), 4)
    assert track_frames(frames, np.arange(4), fps=10.0, proposer=Nothing()).vocabulary is None
