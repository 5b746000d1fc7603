import math

import numpy as np
import pytest

from tests.conftest import shared_clip
from tests.graph.scenes import Mover, render
from videothought.perception.proposals import (
    AutoProposer,
    BackgroundSubtractionProposer,
    ColourSegmentationProposer,
    Detection,
    HOGPeopleProposer,
    MotionProposer,
    Proposer,
    box_iou,
    non_max_suppression,
    palette_scene_fraction,
    sanitize_detections,
)


def scene():
    movers = [Mover("red", "circle", (30, 40), (3, 0)), Mover("blue", "square", (120, 80), (-2, 0)),
              Mover("yellow", "star", (80, 20), (0, 0), radius=10)]
    return render(movers, 8)


def best_iou(detections, box):
    if not detections:
        return 0.0
    return float(box_iou(np.array([box]), np.array([d.box for d in detections])).max())


def test_colour_segmentation_finds_each_object_with_its_attributes():
    frames, truth = scene()
    proposer = ColourSegmentationProposer()
    assert isinstance(proposer, Proposer)
    detections = proposer.propose(frames)
    assert len(detections) == 8
    for t, frame_detections in enumerate(detections):
        assert len(frame_detections) == 3
        for obs in (o for o in truth if o.frame_index == t):
            match = max(frame_detections, key=lambda d: best_iou([d], obs.box))
            assert best_iou([match], obs.box) > 0.8
            assert match.attributes == obs.attributes
            assert match.label == obs.label
            assert 0.0 <= match.score <= 1.0


def test_touching_objects_of_different_colours_stay_apart():
    movers = [Mover("green", "square", (60, 60), (0, 0)), Mover("pink", "square", (78.8, 60), (0, 0))]
    frames, truth = render(movers, 1)
    detections = ColourSegmentationProposer().propose(frames)[0]
    assert sorted(d.attributes["colour"] for d in detections) == ["green", "pink"]


def test_background_subtraction_and_motion_find_a_moving_object_on_texture():
    rng = np.random.default_rng(0)
    texture = rng.integers(40, 120, size=(1, 120, 160, 1), dtype=np.uint8).repeat(3, axis=-1)
    frames = np.repeat(texture, 12, axis=0)
    for t in range(12):
        frames[t, 40:70, 10 + 8 * t : 30 + 8 * t] = (200, 200, 60)
    for proposer in (BackgroundSubtractionProposer(), MotionProposer()):
        detections = proposer.propose(frames)
        for t in (3, 5, 8):  # frames with a neighbour gap_frames away on both sides
            assert best_iou(detections[t], (10 + 8 * t, 40, 30 + 8 * t, 70)) > 0.5, type(proposer).__name__


def test_empty_scene_gives_no_detections():
    frames = np.full((3, 48, 64, 3), 80, dtype=np.uint8)
    for proposer in (ColourSegmentationProposer(), BackgroundSubtractionProposer(), MotionProposer(), AutoProposer()):
        assert proposer.propose(frames) == [[], [], []]


def test_bad_frames_are_rejected_clearly():
    proposer = ColourSegmentationProposer()
    with pytest.raises(ValueError, match="must be uint8"):
        proposer.propose(np.zeros((2, 8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        proposer.propose(np.zeros((2, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="unknown colour names"):
        ColourSegmentationProposer(colours=("red", "mauve"))


def test_sanitize_repairs_or_drops_bad_detections():
    detections = [
        Detection((10, 10, 20, 20), 0.9),
        Detection((float("nan"), 0, 5, 5), 0.9),  # NaN box: dropped
        Detection((0, 0, 5, 5), float("nan")),  # NaN score: dropped
        Detection((-10, -5, 30, 200), 0.5),  # outside: clipped to the frame
        Detection((70, 70, 90, 90), 0.5),  # wholly outside: dropped
        Detection((5, 5, 5, 9), 0.5),  # zero width: dropped
        Detection((30, 30, 20, 20), 1.7),  # corners swapped, score above 1: repaired
    ]
    clean = sanitize_detections(detections, width=64, height=48)
    assert [d.box for d in clean] == [(10, 10, 20, 20), (0, 0, 30, 48), (20, 20, 30, 30)]
    assert [d.score for d in clean] == [0.9, 0.5, 1.0]


def test_non_max_suppression_keeps_the_best_of_overlapping_boxes():
    kept = non_max_suppression([Detection((0, 0, 10, 10), 0.6), Detection((1, 1, 11, 11), 0.9),
                                Detection((50, 50, 60, 60), 0.3)], 0.4)
    assert [d.score for d in kept] == [0.9, 0.3]


def test_auto_proposer_chooses_by_scene():
    frames, _ = scene()
    auto = AutoProposer()
    auto.propose(frames)
    assert auto.last_choice == "colour"
    assert palette_scene_fraction(frames) > 0.97
    from videothought.perception.video import VideoReader

    with VideoReader(shared_clip("vtest.avi"), max_side=320) as reader:
        real = reader.get_frames(np.arange(0, 40, 4)).frames
    assert palette_scene_fraction(real) < 0.9
    detections = auto.propose(real)
    assert auto.last_choice == "real"
    assert sum(len(d) for d in detections) > 0
    labels = {d.label for frame in detections for d in frame}
    assert "person" in labels, labels  # pedestrians are named, not only "object"
    assert auto.vocabulary()["label"][:1] == ["person"] and "red circle" not in auto.vocabulary()["label"]


def test_hog_finds_pedestrians_in_vtest():
    from videothought.perception.video import VideoReader

    with VideoReader(shared_clip("vtest.avi")) as reader:
        frame = reader.get_frames([100]).frames
    detections = HOGPeopleProposer(min_person_height=96).propose(frame)[0]
    assert len(detections) >= 1
    for d in detections:
        width, height = d.box[2] - d.box[0], d.box[3] - d.box[1]
        assert height > width  # people are taller than wide
        assert d.label == "person" and 0 < d.score < 1 and not math.isnan(d.score)


def test_side_by_side_people_in_one_blob_are_cut_apart():
    from videothought.perception.proposals import split_columns

    blob = np.zeros((60, 50), dtype=bool)
    blob[:, 2:20] = True  # one body
    blob[5:, 28:46] = True  # another, a little shorter
    blob[30:34, 18:30] = True  # joined by touching arms
    (left, middle), (start, end) = split_columns(blob, 0.55)
    assert left == 0 and end == 50 and 20 <= middle == start <= 28
    # One walker with arms out and a bag: wide, but no valley between two bodies.
    walker = np.zeros((60, 40), dtype=bool)
    walker[:, 12:28] = True
    walker[15:30, 2:38] = True  # arms
    walker[35:45, 30:38] = True  # a bag
    assert split_columns(walker, 0.55) == [(0, 40)]
    # Narrow blobs are never cut.
    assert split_columns(blob[:, :20], 0.55) == [(0, 20)]


def test_background_subtraction_can_split_wide_blobs():
    frames = np.full((6, 80, 120, 3), 100, dtype=np.uint8)
    for t in range(6):
        frames[t, 10:70, 20 + t : 38 + t] = (200, 40, 40)  # two people walking side by side
        frames[t, 12:70, 40 + t : 58 + t] = (40, 40, 200)
        frames[t, 40:44, 36 + t : 42 + t] = (200, 40, 40)  # hands held
    # The background is the scene without them (the median would keep them: they are always there).
    background = np.full((80, 120, 3), 100, dtype=np.uint8)
    whole = BackgroundSubtractionProposer(close_pixels=0).propose(frames, background=background)
    split = BackgroundSubtractionProposer(close_pixels=0, split_aspect=0.55).propose(frames, background=background)
    assert [len(d) for d in whole] == [1] * 6
    assert [len(d) for d in split] == [2] * 6
    with pytest.raises(ValueError, match="split_aspect"):
        BackgroundSubtractionProposer(split_aspect=0)


def _person(top, trousers, background=(128, 128, 128)):
    """A 120 x 60 box: background at the sides, a top over the upper half, trousers below."""
    frame = np.zeros((120, 60, 3), np.uint8)
    frame[:] = background
    frame[10:60, 12:48] = top
    frame[60:110, 12:48] = trousers
    return frame


def test_appearance_tells_black_from_white_and_top_from_trousers():
    from videothought.perception.proposals import _hsv_histogram

    box = (0, 0, 60, 120)
    black_white = _hsv_histogram(_person((10, 10, 10), (240, 240, 240)), box)
    white_black = _hsv_histogram(_person((240, 240, 240), (10, 10, 10)), box)
    black_white_again = _hsv_histogram(_person((20, 20, 20), (230, 230, 230), background=(90, 100, 110)), box)
    red_blue = _hsv_histogram(_person((200, 30, 30), (30, 30, 200)), box)
    assert abs(float(np.linalg.norm(black_white)) - 1) < 1e-5
    # Grey clothes differ by brightness, and which half wears which colour counts; the background
    # at the box's sides barely does.
    assert float(black_white @ black_white_again) > 0.9
    assert float(black_white @ white_black) < 0.2
    assert float(black_white @ red_blue) < 0.2
    assert float(red_blue @ _hsv_histogram(_person((30, 30, 200), (200, 30, 30)), box)) < 0.2
    # A box of one pixel, or one past the frame, still gives a unit vector.
    tiny = _hsv_histogram(_person((10, 10, 10), (240, 240, 240)), (59, 119, 70, 130))
    assert np.isfinite(tiny).all() and abs(float(np.linalg.norm(tiny)) - 1) < 1e-5
