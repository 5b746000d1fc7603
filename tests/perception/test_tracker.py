import numpy as np
import pytest

from videothought.perception.proposals import Detection
from videothought.perception.tracker import ByteTracker, Tracker, TrackerConfig


def box_at(x, y, size=20):
    return (x - size / 2, y - size / 2, x + size / 2, y + size / 2)


def run(detections, tracker=None, fps=10.0):
    tracker = tracker or ByteTracker()
    frames = list(range(len(detections)))
    return tracker.run(detections, frames, [f / fps for f in frames], frame_size=(320, 240))


def by_track(observations):
    tracks = {}
    for o in observations:
        tracks.setdefault(o.track_id, []).append(o)
    return tracks


def test_two_objects_crossing_keep_their_ids():
    # Same appearance, crossing paths: only motion tells them apart where they overlap.
    detections = [[Detection(box_at(40 + 8 * t, 100), 0.9), Detection(box_at(240 - 8 * t, 104), 0.9)]
                  for t in range(26)]
    tracks = by_track(run(detections))
    assert sorted(tracks) == [1, 2]
    first = tracks[1] if tracks[1][0].box[0] < 100 else tracks[2]
    assert len(first) == 26
    xs = [(o.box[0] + o.box[2]) / 2 for o in first]
    assert xs == pytest.approx([40 + 8 * t for t in range(26)], abs=0.01)  # followed left to right throughout


def test_occlusion_keeps_the_id_and_fills_hidden_frames():
    detections = []
    for t in range(30):
        frame = [Detection(box_at(50 + 5 * t, 120), 0.9)]
        if 10 <= t < 16:
            frame = []  # hidden for 6 frames (0.6 s)
        detections.append(frame)
    observations = run(detections)
    assert {o.track_id for o in observations} == {1}
    hidden = [o for o in observations if not o.visible]
    assert [o.frame_index for o in hidden] == list(range(10, 16))
    for o in hidden:  # interpolated between where it was lost and where it came back
        assert (o.box[0] + o.box[2]) / 2 == pytest.approx(50 + 5 * o.frame_index, abs=0.5)
        assert o.score == 0.0


def test_lost_too_long_starts_a_new_track():
    detections = [[Detection(box_at(100, 100), 0.9)] if t < 5 or t >= 40 else [] for t in range(45)]
    observations = run(detections, ByteTracker(TrackerConfig(max_lost_seconds=1.0)))
    assert sorted({o.track_id for o in observations}) == [1, 2]


def test_new_object_blips_and_low_scores():
    detections = []
    for t in range(20):
        frame = [Detection(box_at(100, 100), 0.9)]
        if t == 7:
            frame.append(Detection(box_at(250, 50), 0.9))  # a one-frame blip: never a track
        if t >= 10:
            frame.append(Detection(box_at(200, 180), 0.9))  # a new object from frame 10
        detections.append(frame)
    tracks = by_track(run(detections))
    assert sorted(tracks) == [1, 2]
    assert [o.frame_index for o in tracks[2]] == list(range(10, 20))
    # A weak detection continues a track (round 2) but never starts one.
    weak = [[Detection(box_at(100 + t, 100), 0.9 if t < 5 else 0.3)] + [Detection(box_at(250, 50), 0.3)]
            for t in range(10)]
    tracks = by_track(run(weak))
    assert list(tracks) == [1] and len(tracks[1]) == 10


def test_appearance_separates_objects_that_swap_places():
    red, blue = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    detections = []
    for t in range(16):
        a, b = Detection(box_at(100, 100), 0.9, appearance=red), Detection(box_at(130, 100), 0.9, appearance=blue)
        if t >= 8:  # they jump to each other's place: motion says swap, appearance says not
            a.box, b.box = box_at(124, 100), box_at(106, 100)
        detections.append([a, b])
    tracks = by_track(run(detections, ByteTracker(TrackerConfig(appearance_weight=0.6))))
    assert len(tracks) == 2
    red_track = next(t for t in tracks.values() if t[0].box[0] < 100)
    assert [round((o.box[0] + o.box[2]) / 2) for o in red_track][8:] == [124] * 8


def test_bad_detections_and_input():
    detections = [[Detection(box_at(100, 100), 0.9), Detection((np.nan, 0, 1, 1), 0.9),
                   Detection(box_at(50, 50), float("nan")), Detection((400, 400, 420, 420), 0.9)]
                  for _ in range(5)]
    observations = run(detections)
    assert {o.track_id for o in observations} == {1}
    assert run([[] for _ in range(5)]) == []
    assert isinstance(ByteTracker(), Tracker)
    with pytest.raises(ValueError, match="strictly increasing"):
        ByteTracker().run([[], []], [3, 3], [0.0, 0.1])
    with pytest.raises(ValueError, match="one detection list"):
        ByteTracker().run([[]], [0, 1], [0.0, 0.1])
    with pytest.raises(ValueError, match="low_score"):
        TrackerConfig(low_score=0.8, high_score=0.5)


def test_online_update_predicts_with_constant_velocity():
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    for t in range(10):
        out = tracker.update([Detection(box_at(20 + 10 * t, 50), 0.9)], t, t / 10)
        assert [track_id for track_id, _, _ in out] == [1]
    tracker.update([], 10, 1.0)  # missed: the track is predicted on
    predicted = tracker.active[0].box
    assert (predicted[0] + predicted[2]) / 2 == pytest.approx(120, abs=1)  # last seen at 110, 10 px a step


def test_a_face_never_joins_a_person_track_but_a_person_may_be_unrecognised():
    from videothought.perception.tracker import track_label

    person = (100, 40, 140, 160)
    face = (110, 42, 130, 62)  # inside the person's box: near enough to be matched by distance
    detections = [[Detection(person, 0.9, "person" if t % 3 == 0 else "object"), Detection(face, 0.9, "face")]
                  for t in range(12)]
    tracks = by_track(run(detections))
    assert sorted("+".join(sorted({o.label for o in obs})) for obs in tracks.values()) == ["face", "person"]
    assert len(tracks) == 2  # no extra tracks from the alternating labels
    assert track_label(["object", "person", "object", "object"]) == "person"  # 1 in 4 is enough
    assert track_label(["object"] * 9 + ["person"]) == "object"  # 1 in 10 is not
    assert track_label(["red circle", "red object", "red circle"]) == "red circle"
