"""`vot track`, `vot bench tracking` and the pictures, on small drawn scenes."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.graph.scenes import Mover, render
from videothought.cli import main
from videothought.graph.draw import draw_observations, plot_timeline, track_colour
from videothought.perception.pipeline import track_frames, write_overlay_video
from videothought.graph.stsg import STSG
from videothought.perception.video import VideoReader, write_video


def scene(num_frames=20):
    return render([Mover("red", "circle", (20, 40), (4, 0)), Mover("blue", "square", (140, 85), (-3, 0))],
                  num_frames)


@pytest.fixture(scope="module")
def tracked():
    frames, truth = scene()
    return frames, truth, track_frames(frames, np.arange(len(frames)), fps=10.0)


def test_draw_observations_draws_each_box_in_its_track_colour(tracked):
    frames, _, stsg = tracked
    drawn = draw_observations(frames[5], stsg, 5, show_labels=False, events=False)
    assert drawn.shape == frames[5].shape and not np.array_equal(drawn, frames[5])
    for obs in stsg.observations_at(5):
        x1, y1, x2, y2 = (int(round(v)) for v in obs.box)
        assert tuple(drawn[(y1 + y2) // 2, x1]) == track_colour(obs.track_id)  # left edge
    assert np.array_equal(frames[5], scene()[0][5])  # the input is not modified


def test_overlay_video_and_timeline(tracked, tmp_path):
    frames, _, stsg = tracked
    path = write_overlay_video(tmp_path / "overlay.mp4", frames, np.arange(len(frames)), stsg, fps=10.0)
    with VideoReader(path) as reader:
        assert reader.metadata.num_frames == len(frames)
        assert (reader.metadata.width, reader.metadata.height) == (160, 120)
    png = plot_timeline(stsg, tmp_path / "timeline.png")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] >= 600


def test_vot_track_writes_its_outputs(tmp_path, capsys):
    frames, _ = scene()
    video = write_video(tmp_path / "scene.mp4", frames, fps=10.0)
    out = tmp_path / "out"
    assert main(["track", str(video), "--out", str(out), "--graphml", "--png-frames", "5", "99"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["tracks"] == 2 and summary["frames"] == 20
    assert "frame 99 was not among the tracked frames" in captured.err
    for name in ("stsg.json", "overlay.mp4", "timeline.png", "stsg.graphml", "overlay_5.png"):
        assert (out / name).is_file(), name
    stsg = STSG.load(out / "stsg.json")
    assert sorted(stsg.track_info[t]["label"] for t in stsg.track_ids) == ["blue square", "red circle"]


def test_vot_track_bad_video(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    assert main(["track", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.mp4" in capsys.readouterr().err
    assert main(["track", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")]) == 2


def test_vot_bench_tracking_on_a_small_world(tmp_path, capsys):
    world = tmp_path / "world"
    for k in range(2):
        frames, truth = render([Mover("green", "star", (20 + 10 * k, 60), (5, 0)),
                                Mover("pink", "diamond", (140, 30 + 20 * k), (-4, 2))], 16)
        write_video(world / "videos" / f"v{k}.mp4", frames, fps=10.0)
        doc = STSG.from_observations(truth, video={"fps": 10.0, "num_frames": 16, "width": 160, "height": 120})
        doc.save(world / "stsg" / f"v{k}.json")
    assert main(["bench", "tracking", "--data", str(world), "--speed-frames", "200", "--tracker-frames", "100"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["videos"] == 2
    assert result["idf1"] > 0.95 and result["mota"] > 0.9 and result["id_switches"] == 0
    for key in ("event_f1", "tracker_fps", "stsg_build_seconds", "tracker_alone_fps_10_objects"):
        assert result[key] >= 0
    assert result["stsg_build_size"]["nodes"] == 2000


def test_bench_rejects_a_folder_that_is_not_a_world(tmp_path):
    from videothought.perception.bench_tracking import world_videos

    with pytest.raises(FileNotFoundError, match="is not a world directory"):
        world_videos(tmp_path)


def test_every_named_proposer_is_built():
    from videothought.perception.cli_track import PROPOSERS, make_proposer

    for name in PROPOSERS:
        assert callable(make_proposer(name).propose), name
    assert make_proposer("real").vocabulary()["label"][0] == "person"
