"""What the CPU default sees in real footage: people, faces, text and moving things.

    proposer = RealSceneProposer()                  # AutoProposer uses it on non-palette clips
    detections = proposer.propose(frames)           # frames (T, H, W, 3) uint8 RGB

Four sources, fused per frame; everything ships with the default install (OCR with the
`ocr` extra) and runs offline on a CPU:

    motion   BackgroundSubtractionProposer: blobs that differ from the clip's median frame
             (a static camera). Tight boxes on anything that moves; label "object".
    people   HOGPeopleProposer (OpenCV's HOG + linear SVM, Dalal-Triggs) on every
             `detect_every`-th frame. A person box claims the motion blobs inside it: the
             blob keeps its tight box and becomes a "person". A person with no blob (standing
             still) is kept with the HOG box shrunk to the body.
    faces    OpenCV's Haar cascade (haarcascade_frontalface_default.xml, shipped inside
             opencv-python-headless) on the same frames; label "face". Frontal faces of at
             least `min_face_pixels`: pedestrians seen from afar have none.
    text     PP-OCR (rapidocr-onnxruntime: detection + recognition ONNX models in the wheel)
             on `text_frames` frames spread over the clip; label "text", the read string in
             attributes["text"]. Text is assumed to stay put (signs, captions): a box is
             repeated in the frames around its keyframe while the patch still looks the same.

Between frames where the detectors ran, a blob overlapping last frame's person stays a
person; the tracker's label vote (tracker.TrackerConfig.min_label_share) then names a
whole track from the frames where it was recognised. Anything else stays "object".
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import numpy as np

from videothought.graph.optional import available, require
from videothought.graph.schema import box_coverage, box_iou
from videothought.perception.proposals import (
    BackgroundSubtractionProposer,
    Detection,
    HOGPeopleProposer,
    _hsv_histogram,
    check_frames,
    non_max_suppression,
    sanitize_detections,
)

logger = logging.getLogger(__name__)

LABELS = ("person", "face", "text", "object")


@dataclass
class FaceProposer:
    """Frontal faces with OpenCV's Haar cascade (Viola-Jones); label "face"."""

    min_face_pixels: int = 16  # smaller faces are mostly false alarms in textured scenes
    min_neighbors: int = 5  # OpenCV's recommended 3-6; 5 keeps false positives rare
    scale_step: float = 1.2  # pyramid step: half the time of OpenCV's 1.1, faces still found

    def propose(self, frames: np.ndarray) -> list[list[Detection]]:
        import cv2

        frames = check_frames(frames)
        cascade = _face_cascade()
        height, width = frames.shape[1:3]
        out = []
        for frame in frames:
            gray = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
            # detectMultiScale2 also counts each face's neighbours (overlapping hits): the
            # cascade's confidence, at no cost (detectMultiScale3's reject levels are ~10x slower).
            rects, neighbours = cascade.detectMultiScale2(
                gray, scaleFactor=self.scale_step, minNeighbors=self.min_neighbors,
                minSize=(self.min_face_pixels, self.min_face_pixels))
            detections = []
            for (x, y, w, h), count in zip(rects, np.asarray(neighbours, dtype=np.float64).reshape(-1)):
                score = float(min(1.0, 0.5 + 0.05 * count))  # min_neighbors 5 -> 0.75
                box = (float(x), float(y), float(x + w), float(y + h))
                detections.append(Detection(box=box, score=score, label="face",
                                            appearance=_hsv_histogram(frame, box)))
            out.append(sanitize_detections(detections, width, height))
        return out

    def vocabulary(self) -> dict:
        return {"label": ["face"]}


@functools.lru_cache(maxsize=1)
def _face_cascade():
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"could not load OpenCV's face cascade from {path}; opencv-python-headless<5 ships it")
    return cascade


@functools.lru_cache(maxsize=1)
def _ocr_engine():
    """PP-OCR through rapidocr-onnxruntime, loaded once per process (~1 s)."""
    ocr = require("rapidocr_onnxruntime", extra="ocr", feature="reading text in frames")
    # One thread per ONNX session: the machine is shared and the clip loop is ours.
    return ocr.RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)


def ocr_available() -> bool:
    return available("rapidocr_onnxruntime") and available("onnxruntime")


@dataclass
class TextProposer:
    """Text read with PP-OCR on a few keyframes, repeated in the frames around each keyframe
    while the text's patch still correlates with it (static text: signs, captions, labels)."""

    text_frames: int = 3  # keyframes read per clip; OCR costs ~1 s a frame on one core
    min_confidence: float = 0.6  # recognition confidence below this is noise on textures
    min_chars: int = 2  # single characters are mostly false reads
    still_correlation: float = 0.7  # normalised correlation of the patch with its keyframe's

    def keyframes(self, count: int) -> list[int]:
        if count <= 0:
            return []
        return sorted({int(round(v)) for v in np.linspace(0, count - 1, min(self.text_frames, count))})

    def read(self, frame: np.ndarray) -> list[tuple[tuple[float, float, float, float], str, float]]:
        """(box, text, confidence) of the text lines in one RGB frame."""
        engine = _ocr_engine()
        result, _ = engine(np.ascontiguousarray(frame[..., ::-1]))  # RapidOCR reads BGR, as cv2 loads
        lines = []
        for points, text, confidence in result or []:
            text = " ".join(str(text).split())
            if float(confidence) < self.min_confidence or len(text.replace(" ", "")) < self.min_chars:
                continue
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            lines.append(((float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))), text, float(confidence)))
        return lines

    def propose(self, frames: np.ndarray) -> list[list[Detection]]:
        frames = check_frames(frames)
        count, height, width = frames.shape[:3]
        out: list[list[Detection]] = [[] for _ in range(count)]
        keys = self.keyframes(count)
        # Each keyframe speaks for the frames nearer to it than to any other keyframe.
        bounds = [0] + [(a + b) // 2 + 1 for a, b in zip(keys, keys[1:])] + [count]
        for k, key in enumerate(keys):
            for box, text, confidence in self.read(frames[key]):
                reference = _gray_patch(frames[key], box)
                if reference is None:
                    continue
                for t in range(bounds[k], bounds[k + 1]):
                    if t != key and _correlation(reference, _gray_patch(frames[t], box)) < self.still_correlation:
                        continue
                    out[t].append(Detection(box=box, score=confidence, label="text", attributes={"text": text},
                                            appearance=_hsv_histogram(frames[t], box)))
        return [sanitize_detections(d, width, height) for d in out]

    def vocabulary(self) -> dict:
        return {"label": ["text"], "text": None}


def _gray_patch(frame: np.ndarray, box) -> np.ndarray | None:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    patch = frame[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)]
    if patch.size == 0:
        return None
    return patch.astype(np.float32).mean(-1)  # (h, w)


def _correlation(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None or a.shape != b.shape:
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    energy_a, energy_b = float((a * a).sum()), float((b * b).sum())
    flat = 1e-6 * a.size
    if energy_a < flat or energy_b < flat:
        return 1.0 if energy_a < flat and energy_b < flat else 0.0  # flat vs flat: the same; flat vs not: gone
    return float((a * b).sum() / np.sqrt(energy_a * energy_b))


@dataclass
class RealSceneProposer:
    """People, faces, text and moving things in real footage (see the module docstring)."""

    # Blobs wider than 0.55 x their height are cut into upright parts where a valley separates
    # them: two people side by side (one walking person is 0.3-0.5 as wide as tall).
    motion: BackgroundSubtractionProposer = field(default_factory=lambda: BackgroundSubtractionProposer(split_aspect=0.55))
    people: HOGPeopleProposer = field(default_factory=lambda: HOGPeopleProposer(scale_step=1.1))
    faces: FaceProposer | None = field(default_factory=FaceProposer)
    text: TextProposer | None = field(default_factory=TextProposer)  # None, or skipped when OCR is not installed
    detect_every: int = 2  # HOG and Haar run on every n-th frame (HOG ~0.17 s a 480x360 frame)
    min_person_score: float = 0.6  # HOG's SVM margin through a sigmoid: 0.6 = margin 0.4
    # A person box with no motion blob (standing still) needs a surer detection: on vtest the
    # HOG false alarms (doors, windows, lamp posts) score 0.6-0.75 and never move.
    min_still_person_score: float = 0.8
    claim_coverage: float = 0.6  # a blob with this share inside a person box belongs to that person
    carry_iou: float = 0.3  # between detector frames, a blob this close to a person box stays a person

    def __post_init__(self):
        if not 0 <= self.min_person_score <= self.min_still_person_score <= 1:
            raise ValueError(f"need 0 <= min_person_score <= min_still_person_score <= 1, got "
                             f"{self.min_person_score!r}, {self.min_still_person_score!r}")
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every!r}")
        if not 0 < self.claim_coverage <= 1 or not 0 < self.carry_iou <= 1:
            raise ValueError(f"claim_coverage and carry_iou must be in (0, 1], got {self.claim_coverage!r}, "
                             f"{self.carry_iou!r}")

    @classmethod
    def light(cls) -> RealSceneProposer:
        """About a quarter of the default's cost, for indexing long videos: HOG and Haar on every
        6th frame (labels carried along motion blobs in between), text read on one frame a clip."""
        return cls(detect_every=6, text=TextProposer(text_frames=1))

    def _reads_text(self) -> bool:
        if self.text is None:
            return False
        if not ocr_available():
            logger.info("OCR is not installed: text is not read (%s)", "pip install 'videothought[ocr]'")
            return False
        return True

    def propose(self, frames: np.ndarray) -> list[list[Detection]]:
        frames = check_frames(frames)
        count = len(frames)
        blobs = self.motion.propose(frames)
        detect = sorted({*range(0, count, self.detect_every), count - 1})
        people = dict(zip(detect, self.people.propose(frames[detect])))
        faces = dict(zip(detect, self.faces.propose(frames[detect]))) if self.faces is not None else {}
        texts = self.text.propose(frames) if self._reads_text() else [[] for _ in range(count)]
        out = []
        previous: list[Detection] = []  # last frame's people
        for t in range(count):
            frame_blobs = [b for b in blobs[t] if not _inside_any(b, texts[t])]  # a caption is not a mover
            if t in people:
                persons = [p for p in people[t] if p.score >= self.min_person_score]
                found, others = self._claim(frames[t], persons, frame_blobs)
            else:
                found, others = self._carry(previous, frame_blobs)
            out.append(found + others + faces.get(t, []) + texts[t])
            previous = found
        return out

    def _claim(self, frame, persons: list[Detection], blobs: list[Detection]):
        """People of a detector frame: each person box takes the blobs mostly inside it."""
        found, free = [], list(blobs)
        for person in sorted(persons, key=lambda d: -d.score):
            if free:
                inside = box_coverage(np.array([b.box for b in free]), np.array([person.box]))[:, 0]  # (B,)
                mine = [b for b, share in zip(free, inside) if share >= self.claim_coverage]
            else:
                mine = []
            height = person.box[3] - person.box[1]
            bodies = [box for box in _column_groups([b.box for b in mine]) if box[3] - box[1] >= 0.4 * height]
            if bodies:
                free = [b for b in free if all(b is not m for m in mine)]
                # Side-by-side blobs under one detector box are several people (the detector's
                # window spans both); stacked fragments of one person were joined above.
                for box in bodies:
                    found.append(Detection(box=box, score=person.score, label="person",
                                           appearance=_hsv_histogram(frame, box)))
                continue
            if person.score < self.min_still_person_score:
                continue  # nothing moves there and HOG is unsure: most likely background texture
            else:  # standing still (no blob), or only a fragment moves: the detector's box, shrunk to the body
                x1, y1, x2, y2 = person.box
                dx, dy = 0.2 * (x2 - x1), 0.08 * (y2 - y1)  # HOG's 64x128 window holds a ~40x110 person
                box = (x1 + dx, y1 + dy, x2 - dx, y2 - dy)
            found.append(Detection(box=box, score=person.score, label="person",
                                   appearance=_hsv_histogram(frame, box)))
        found = non_max_suppression(found, 0.5)
        return found, free

    def _carry(self, previous: list[Detection], blobs: list[Detection]):
        """Between detector frames: blobs over last frame's people stay people."""
        if not previous:
            return [], blobs
        if not blobs:
            return list(previous), []
        iou = box_iou(np.array([b.box for b in blobs]), np.array([p.box for p in previous]))  # (B, P)
        found, others = [], []
        for blob, overlaps in zip(blobs, iou):
            if overlaps.max() >= self.carry_iou:
                found.append(Detection(box=blob.box, score=blob.score, label="person", attributes=dict(blob.attributes),
                                       appearance=blob.appearance))
            else:
                others.append(blob)
        # A person with no blob here (standing still) is held where it was, so its track
        # is not dropped between two detector frames.
        found += [p for p, overlaps in zip(previous, iou.T) if overlaps.max() < self.carry_iou]
        return found, others

    def vocabulary(self) -> dict:
        vocabulary = {"label": ["person", "object"]}
        if self.faces is not None:
            vocabulary["label"].insert(1, "face")
        if self.text is not None and ocr_available():
            vocabulary["label"].insert(-1, "text")
            vocabulary["text"] = None
        return vocabulary


def _column_groups(boxes: list, min_overlap: float = 0.5) -> list[tuple[float, float, float, float]]:
    """Union boxes of blobs that share columns (a person cut into head, body and legs): blobs
    whose x-ranges overlap by `min_overlap` of the narrower one join; side-by-side ones do not."""
    groups: list[list[float]] = []
    for x1, y1, x2, y2 in sorted(boxes, key=lambda b: b[0]):
        for group in groups:
            overlap = min(x2, group[2]) - max(x1, group[0])
            if overlap >= min_overlap * min(x2 - x1, group[2] - group[0]):
                group[:] = [min(x1, group[0]), min(y1, group[1]), max(x2, group[2]), max(y2, group[3])]
                break
        else:
            groups.append([x1, y1, x2, y2])
    return [tuple(float(v) for v in g) for g in groups]


def _inside_any(detection: Detection, regions: list[Detection], share: float = 0.7) -> bool:
    if not regions:
        return False
    return bool(box_coverage(np.array([detection.box]), np.array([r.box for r in regions])).max() >= share)
