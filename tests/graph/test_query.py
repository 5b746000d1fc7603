"""The STSG query layer on a hand-written scene."""

from __future__ import annotations

import pytest

from tests.agent.graph.helpers import scene_document
from videothought.graph.query import SceneQuery, TrackFacts


def test_tracks_events_and_happenings():
    scene = SceneQuery.from_document(scene_document())
    assert {t: f.name for t, f in scene.tracks.items()} == {1: "red circle", 2: "blue square", 3: "green triangle"}
    assert [e.type for e in scene.events()] == ["collide", "enter", "stop"]
    assert [(h.frame, h.kind, h.partner) for h in scene.happenings(1)] == [(12, "collide", 2)]
    assert scene.first_frame_of(3, "stop") == 26 and scene.first_frame_of(1, "stop") is None
    assert [h.partner for h in scene.interactions_near(2, 13)] == [1]


def test_a_track_is_named_by_what_describes_it_not_by_its_motion():
    """A described person is named by the clothes' colours; the motion and size facts perception
    adds (walking_direction, crossed, relative_size) and the finer shades stay out of the name
    (they made "grey none right black black slate grey ... person" on real footage)."""
    person = {"colour": "grey", "upper_colour": "blue", "lower_colour": "black", "upper_shade": "ugly blue",
              "walking_direction": "left", "lateral_direction": "left", "crossed": "right_to_left",
              "relative_size": "medium"}
    assert TrackFacts(4, "person", person).name == "person in blue and black"
    assert TrackFacts(4, "person", {**person, "lower_colour": "blue"}).name == "person in blue"
    assert TrackFacts(2, "circle", {"colour": "red", "shape": "circle", "walking_direction": "left"}).name == "red circle"
    assert TrackFacts(7, "object", {"relative_size": "small"}).name == "object 7"


def test_until_forgets_the_future_and_counts_together():
    scene = SceneQuery.from_document(scene_document())
    early = scene.until(20)
    assert 3 not in early.tracks and [e.type for e in early.events()] == ["collide"]
    assert scene.count_together([1, 2, 3]) == 3 and early.count_together([1, 2, 3]) == 2


def test_motion_border_and_extrapolation():
    scene = SceneQuery.from_document(scene_document())  # 128 x 48 frame; the red circle moves right 4 px a frame
    assert scene.velocity(1) == (4.0, 0.0)
    assert scene.border_contact(1, 28, margin_fraction=0.07) == "right"  # 8 px from the right edge
    assert scene.border_contact(1, 28) is None and scene.border_contact(2, 28, margin_fraction=0.07) is None
    prediction = scene.until(8).extrapolate(1)
    assert prediction["kind"] == "contact" and prediction["track"] == 2 and prediction["resting"]  # the square is still
    assert scene.until(20).extrapolate(2) == {"kind": "still"}


def test_the_likeliest_moment_of_a_change_the_detector_missed():
    doc = scene_document()  # the red circle moves right at 4 px a frame, observed every 2 frames
    for node in doc["graph"]["nodes"]:
        if node.get("track_id") == 1 and node["frame_index"] > 16:
            node["box"] = [64.0, 10.0, 72.0, 18.0]  # halts at frame 16; no stop event was written
    scene = SceneQuery.from_document(doc)
    assert scene.first_frame_of(1, "stop") is None
    assert abs(scene.likeliest_change(1, "stop") - 16) <= 2
    assert scene.likeliest_change(2, "start") is None  # the blue square never moves
    assert scene.likeliest_change(1, "stop", around=26, within_frames=3) is None  # nothing changes near frame 26
    with pytest.raises(ValueError, match="stop, start or turn"):
        scene.likeliest_change(1, "collide")
