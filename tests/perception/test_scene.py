"""What the CPU default sees in real footage: perception/scene.py."""

import numpy as np
import pytest

from tests.conftest import shared_clip
from videothought.perception.proposals import Detection
from videothought.perception.scene import LABELS, RealSceneProposer, TextProposer, ocr_available


class Fixed:
    """A proposer returning the same boxes, with one label, in every frame it is given."""

    def __init__(self, boxes, label="object"):
        self.boxes, self.label, self.calls = boxes, label, []

    def propose(self, frames):
        self.calls.append(len(frames))
        return [[Detection(box, score, self.label) for box, score in self.boxes] for _ in frames]


def test_a_person_box_claims_its_blob_and_the_name_carries_between_detector_frames():
    frames = np.zeros((5, 60, 80, 3), dtype=np.uint8)
    walker, stander, thing = (10, 10, 20, 40), (50, 5, 70, 55), (60, 50, 66, 56)
    unsure = (30, 0, 45, 30)  # HOG at 0.65 where nothing moves: a door or a window, dropped
    people = Fixed([((6, 6, 24, 44), 0.9), (stander, 0.9), (unsure, 0.65)], "person")
    proposer = RealSceneProposer(motion=Fixed([(walker, 0.9), (thing, 0.9)]), people=people, faces=None, text=None,
                                 detect_every=2)
    out = proposer.propose(frames)
    assert people.calls == [3]  # frames 0, 2 and the last (4)
    for t, detections in enumerate(out):
        named = {d.box: d.label for d in detections}
        assert named[walker] == "person", t  # the blob's tight box, named by HOG or carried from t - 1
        assert named[thing] == "object", t  # a blob no person box holds stays "object"
        standing = [d for d in detections if d.label == "person" and d.box != walker]
        assert len(standing) == 1 and standing[0].box[0] > 50, t  # shrunk HOG box, held in frame 1 and 3
    assert proposer.vocabulary() == {"label": ["person", "object"]}


def test_the_light_preset_detects_less_often():
    light = RealSceneProposer.light()
    assert light.detect_every == 6 and light.text.text_frames == 1
    people = Fixed([((6, 6, 24, 44), 0.9)], "person")
    light.people, light.faces, light.text, light.motion = people, None, None, Fixed([((10, 10, 20, 40), 0.9)])
    out = light.propose(np.zeros((13, 60, 80, 3), dtype=np.uint8))
    assert people.calls == [3]  # frames 0, 6, 12
    assert all([d.label for d in frame] == ["person"] for frame in out)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="detect_every must be >= 1"):
        RealSceneProposer(detect_every=0, text=None)
    with pytest.raises(ValueError, match="min_person_score <= min_still_person_score"):
        RealSceneProposer(min_person_score=0.9, min_still_person_score=0.8, text=None)


def test_faces_are_found_in_megamind():
    """OpenCV's frontal-face cascade on a close-up (frames 40-55 of Megamind.avi, a face ~110 px wide)."""
    from videothought.perception.scene import FaceProposer
    from videothought.perception.video import VideoReader

    with VideoReader(shared_clip("Megamind.avi"), max_side=480) as reader:
        frames = reader.get_frames([40, 45, 50, 55]).frames
    for detections in FaceProposer().propose(frames):
        assert len(detections) == 1 and detections[0].label == "face"
        x1, y1, x2, y2 = detections[0].box
        assert 130 < x1 < 160 and 240 < x2 < 280 and 100 < y1 < 130  # her face, left of centre
        assert 0.75 <= detections[0].score <= 1.0


@pytest.mark.slow
def test_text_is_read_and_held_where_it_stays():
    if not ocr_available():
        pytest.skip("OCR is not installed: pip install 'videothought[ocr]' && "
                    "pip install --no-deps rapidocr-onnxruntime==1.4.4")
    import cv2

    frames = np.full((6, 120, 320, 3), 235, dtype=np.uint8)
    for t in range(6):
        cv2.putText(frames[t], "EXIT", (20, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (10, 10, 10), 3)
    frames[5, :, :160] = 235  # the sign is gone in the last frame
    out = TextProposer(text_frames=1).propose(frames)  # one read, on frame 0
    assert [d.attributes["text"] for d in out[0]] == ["EXIT"] and out[0][0].label == "text"
    assert all(len(out[t]) == 1 for t in range(5))  # repeated while the patch looks the same
    assert out[5] == []


@pytest.mark.slow
def test_vtest_pedestrians_are_labelled_person():
    """40 frames (4 s) of OpenCV's vtest.avi through the default pipeline: most tracks are people."""
    from videothought.perception.pipeline import track_frames
    from videothought.perception.video import VideoReader

    with VideoReader(shared_clip("vtest.avi"), max_side=480) as reader:
        batch = reader.get_frames(np.arange(40))
        fps = reader.metadata.fps
    stsg = track_frames(batch.frames, batch.frame_indices, fps)
    labels = [stsg.track_info[t]["label"] for t in stsg.track_ids]
    assert len(labels) >= 3, labels
    assert labels.count("person") / len(labels) >= 0.6, labels
    assert set(labels) <= set(LABELS)
    assert stsg.vocabulary["label"][:1] == ["person"] and "red circle" not in stsg.vocabulary["label"]
    # Every observation of a track carries its label (one thing, one name).
    assert all(o.label == stsg.track_info[o.track_id]["label"] for o in stsg.observations())


def test_a_detector_box_over_two_side_by_side_blobs_gives_two_people():
    from videothought.perception.proposals import Detection
    from videothought.perception.scene import RealSceneProposer

    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    person = Detection(box=(10, 10, 70, 90), score=0.9, label="person")  # HOG's window spans both
    blobs = [Detection(box=(14, 12, 32, 88)), Detection(box=(40, 15, 60, 88)),  # two bodies
             Detection(box=(16, 60, 30, 88))]  # a leg of the first, cut off by a thin gap
    found, free = RealSceneProposer(text=None)._claim(frame, [person], blobs)
    assert sorted(d.box for d in found) == [(14.0, 12.0, 32.0, 88.0), (40.0, 15.0, 60.0, 88.0)]
    assert all(d.label == "person" for d in found) and free == []
