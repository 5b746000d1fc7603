"""Open-vocabulary detectors from transformers as `Proposer`s: OWLv2 and Grounding DINO.

    detector = OpenVocabularyDetector.from_pretrained("google/owlv2-base-patch16-ensemble",
                                                      queries=["a person", "a bicycle"])
    detections = detector.propose(frames)          # frames (T, H, W, 3) uint8 RGB
    stsg = track_frames(frames, indices, fps, proposer=detector)

Real weights need a model hub or a local copy; the adapter is tested offline on tiny randomly
initialised configs built in code. Preprocessing is done here with numpy/OpenCV (this
machine has no torchvision, which transformers' fast image processors need):

    OWLv2           pad to a square at the bottom/right (grey), resize to the vision tower's
                    image_size, CLIP mean/std. Boxes come back as (cx, cy, w, h) in [0, 1] of
                    the padded square.
    Grounding DINO  resize so the shorter side is `image_size` (longer side capped), ImageNet
                    mean/std. Boxes are (cx, cy, w, h) in [0, 1] of the image; a query's score
                    is the best of its tokens' scores. The text is "q1 . q2 . q3 ." as the
                    model was trained (it separates phrases at the "." token).

Models load from safetensors only, never with trust_remote_code.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from videothought.graph.optional import require
from videothought.perception.proposals import Detection, check_frames, non_max_suppression, sanitize_detections

logger = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SUPPORTED = ("owlv2", "owlvit", "grounding-dino")


def _import_torch():
    return require("torch", feature="open-vocabulary detectors")


def cxcywh_to_xyxy_pixels(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """(N, 4) normalised (cx, cy, w, h) -> (N, 4) pixel (x1, y1, x2, y2) in a width x height canvas."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx, cy, w, h = boxes.T
    return np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], axis=1)


def preprocess_owl(frames: np.ndarray, image_size: int) -> tuple[np.ndarray, int]:
    """(T, H, W, 3) uint8 -> (T, 3, S, S) float32 and the padded square's side in input pixels."""
    import cv2

    count, height, width = frames.shape[:3]
    side = max(height, width)
    out = np.empty((count, 3, image_size, image_size), dtype=np.float32)
    mean, std = np.array(CLIP_MEAN, np.float32), np.array(CLIP_STD, np.float32)
    for t, frame in enumerate(frames):
        square = np.full((side, side, 3), 127, dtype=np.uint8)  # OWLv2 pads with grey (0.5)
        square[:height, :width] = frame
        resized = cv2.resize(square, (image_size, image_size), interpolation=cv2.INTER_AREA)
        out[t] = ((resized.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)  # (3, S, S)
    return out, side


def preprocess_dino(frames: np.ndarray, shortest: int, longest: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, 3, H', W') float32 with min(H', W') = shortest (max side <= longest)."""
    import cv2

    count, height, width = frames.shape[:3]
    scale = min(shortest / min(height, width), longest / max(height, width))
    new_h, new_w = max(1, int(round(height * scale))), max(1, int(round(width * scale)))
    out = np.empty((count, 3, new_h, new_w), dtype=np.float32)
    mean, std = np.array(IMAGENET_MEAN, np.float32), np.array(IMAGENET_STD, np.float32)
    for t, frame in enumerate(frames):
        resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        out[t] = ((resized.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)
    return out


@dataclass
class DetectorSettings:
    score_threshold: float = 0.1  # OWLv2's own demos use 0.1; Grounding DINO's box threshold is 0.35
    nms_iou: float = 0.5  # overlapping boxes of the same query: keep the best
    max_detections: int = 100  # per frame, best first
    batch_size: int = 4  # frames per forward pass
    image_size: int | None = None  # OWL: the model's; Grounding DINO: shortest side (default 800)
    max_size: int = 1333  # Grounding DINO: longest side cap

    def __post_init__(self):
        if not 0 <= self.score_threshold <= 1:
            raise ValueError(f"score_threshold must be in [0, 1], got {self.score_threshold!r}")
        if self.batch_size < 1 or self.max_detections < 1:
            raise ValueError(f"batch_size and max_detections must be >= 1, got {self.batch_size!r}, "
                             f"{self.max_detections!r}")


class OpenVocabularyDetector:
    """A transformers OWLv2/OWL-ViT or Grounding DINO model as a `Proposer` for text queries."""

    def __init__(self, model, tokenizer, queries: list[str], settings: DetectorSettings | None = None):
        queries = [q.strip() for q in queries if q and q.strip()]
        if not queries:
            raise ValueError("an open-vocabulary detector needs at least one non-empty text query")
        kind = getattr(model.config, "model_type", None)
        if kind not in SUPPORTED:
            raise ValueError(f"unsupported detector model type {kind!r}; supported: {SUPPORTED}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.queries = queries
        self.kind = kind
        self.settings = settings or DetectorSettings()
        self._text_inputs = self._encode_queries()

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, queries: list[str], *, settings: DetectorSettings | None = None,
                        **kwargs) -> OpenVocabularyDetector:
        """Load a model and its tokenizer saved with save_pretrained (safetensors only)."""
        from transformers import AutoModelForZeroShotObjectDetection, AutoTokenizer

        model = AutoModelForZeroShotObjectDetection.from_pretrained(
            path, use_safetensors=True, trust_remote_code=False, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        return cls(model, tokenizer, queries, settings)

    # ---- text ----------------------------------------------------------------------
    def _encode_queries(self) -> dict:
        torch = _import_torch()
        if self.kind in ("owlv2", "owlvit"):
            max_length = getattr(self.model.config.text_config, "max_position_embeddings", 16)
            encoded = self.tokenizer(self.queries, padding="max_length", truncation=True, max_length=max_length,
                                     return_tensors="pt")
            return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        # Grounding DINO: "[CLS] q1 . q2 . [SEP]", remembering which tokens belong to which query.
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        dot_id = self.tokenizer.convert_tokens_to_ids(".")
        if cls_id is None or sep_id is None or dot_id is None or dot_id == self.tokenizer.unk_token_id:
            raise ValueError("Grounding DINO needs a BERT-style tokenizer with [CLS], [SEP] and '.' tokens")
        ids, spans = [cls_id], []
        for query in self.queries:
            tokens = self.tokenizer(query, add_special_tokens=False)["input_ids"]
            spans.append((len(ids), len(ids) + len(tokens)))
            ids += tokens + [dot_id]
        ids.append(sep_id)
        max_len = self.model.config.max_text_len
        if len(ids) > max_len:
            raise ValueError(f"the queries take {len(ids)} tokens; this model reads at most {max_len}: use fewer")
        self._spans = spans
        input_ids = torch.tensor([ids])
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
                "token_type_ids": torch.zeros_like(input_ids)}

    def vocabulary(self) -> dict:
        """The text queries are the labels (graph/schema.py's "vocabulary")."""
        return {"label": list(self.queries), "query": list(self.queries)}

    # ---- images --------------------------------------------------------------------
    def propose(self, frames: np.ndarray) -> list[list[Detection]]:
        torch = _import_torch()
        frames = check_frames(frames)
        height, width = frames.shape[1:3]
        out: list[list[Detection]] = []
        for start in range(0, len(frames), self.settings.batch_size):
            chunk = frames[start : start + self.settings.batch_size]
            with torch.no_grad():
                if self.kind in ("owlv2", "owlvit"):
                    out += self._owl(chunk, width, height)
                else:
                    out += self._dino(chunk, width, height)
        return out

    def _owl(self, chunk, width, height) -> list[list[Detection]]:
        torch = _import_torch()
        size = self.settings.image_size or self.model.config.vision_config.image_size
        pixels, side = preprocess_owl(chunk, size)
        batch = len(chunk)
        text = {k: v.repeat(batch, 1) for k, v in self._text_inputs.items()}  # (B * Q, L)
        outputs = self.model(pixel_values=torch.from_numpy(pixels), **text)
        scores = torch.sigmoid(outputs.logits).numpy()  # (B, P, Q)
        boxes = outputs.pred_boxes.numpy()  # (B, P, 4) normalised to the padded square
        embeds = outputs.class_embeds.numpy() if getattr(outputs, "class_embeds", None) is not None else None
        return [self._select(scores[b], cxcywh_to_xyxy_pixels(boxes[b], side, side),
                             None if embeds is None else embeds[b], width, height) for b in range(batch)]

    def _dino(self, chunk, width, height) -> list[list[Detection]]:
        torch = _import_torch()
        pixels = preprocess_dino(chunk, self.settings.image_size or 800, self.settings.max_size)
        batch = len(chunk)
        text = {k: v.repeat(batch, 1) for k, v in self._text_inputs.items()}  # (B, L)
        outputs = self.model(pixel_values=torch.from_numpy(pixels), pixel_mask=torch.ones(
            (batch, pixels.shape[2], pixels.shape[3]), dtype=torch.long), **text)
        token_scores = torch.sigmoid(outputs.logits).numpy()  # (B, queries, max_text_len)
        scores = np.stack([token_scores[..., a:b].max(-1) for a, b in self._spans], axis=-1)  # (B, N, Q)
        boxes = outputs.pred_boxes.numpy()  # (B, N, 4) normalised to the image
        embeds = outputs.last_hidden_state.numpy() if getattr(outputs, "last_hidden_state", None) is not None else None
        return [self._select(scores[b], cxcywh_to_xyxy_pixels(boxes[b], width, height),
                             None if embeds is None else embeds[b], width, height) for b in range(batch)]

    def _select(self, scores: np.ndarray, boxes: np.ndarray, embeds, width: int, height: int) -> list[Detection]:
        """scores (N, Q), boxes (N, 4) pixels -> thresholded, per-query NMS, best first."""
        best = scores.argmax(-1)  # (N,)
        best_score = scores[np.arange(len(scores)), best]
        order = np.argsort(-best_score)[: 4 * self.settings.max_detections]
        detections = []
        for i in order:
            if best_score[i] < self.settings.score_threshold:
                break
            appearance = None
            if embeds is not None:
                vector = np.asarray(embeds[i], dtype=np.float32)
                appearance = vector / max(1e-9, float(np.linalg.norm(vector)))
            query = self.queries[int(best[i])]
            detections.append(Detection(box=tuple(float(v) for v in boxes[i]), score=float(best_score[i]),
                                        label=query, attributes={"query": query}, appearance=appearance))
        detections = sanitize_detections(detections, width, height)
        kept = []
        for query in self.queries:
            kept += non_max_suppression([d for d in detections if d.label == query], self.settings.nms_iou)
        kept.sort(key=lambda d: -d.score)
        return kept[: self.settings.max_detections]
