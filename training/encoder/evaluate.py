"""Held-out evaluation of an encoder on world clips: region labelling and text-to-video retrieval.

Region labelling: every visible object (box >= 4 px a side, at least a quarter of it
visible and in frame) in `frames_per_video` uniform frames of each clip is labelled
against the full 72-entry colour x shape vocabulary, as `label_regions` does; correct
means colour and shape both right. Also reported on the objects at least 75% visible.

Retrieval: each clip's caption (its segment captions joined) queries the clip
embeddings of all evaluated clips; R@K is the fraction whose own clip ranks in the top K.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .data import VOCABULARY, VideoExample


def evaluate_encoder(bundle, examples: Sequence[VideoExample], progress: bool = False) -> dict:
    """bundle: a `VideoEncoderBundle`. Returns accuracies and recalls in [0, 1] with counts."""
    from tqdm import tqdm

    correct = colour_correct = shape_correct = total = 0
    clear_correct = clear_total = 0
    clip_embeddings = []
    captions = []
    vocabulary_text = bundle.encode_text(list(VOCABULARY))  # (V, E)
    scale = bundle.model.logit_scale.exp().item()
    for example in tqdm(examples, desc="evaluating", unit="clip", disable=not progress):
        frames = list(example.frames)
        boxes = [(k, region.box) for k, regions in enumerate(example.regions) for region in regions]
        truth = [region.label for regions in example.regions for region in regions]
        fractions = [region.visible_fraction for regions in example.regions for region in regions]
        output = bundle._run(frames, clip=True)
        clip_embeddings.append(output.clip_embeddings[0].cpu())
        captions.append(example.caption)
        if boxes:
            # The clip's frames are encoded as images for labelling (as label_regions does).
            image_output = bundle._run(frames)
            with torch.inference_mode():
                regions = bundle.model.region_embeddings(image_output, boxes).cpu()
            predicted = (scale * regions @ vocabulary_text.T).argmax(dim=-1).tolist()
            for guess, label, fraction in zip(predicted, truth, fractions):
                guess_label = VOCABULARY[guess]
                if fraction >= 0.75:
                    clear_total += 1
                    clear_correct += guess_label == label
                total += 1
                correct += guess_label == label
                colour_correct += guess_label.split()[0] == label.split()[0]
                shape_correct += guess_label.split()[1] == label.split()[1]
    videos = torch.stack(clip_embeddings)  # (N, E)
    texts = bundle.encode_text(captions)  # (N, E)
    similarity = texts @ videos.T  # (N queries, N clips)
    own = similarity.diagonal()[:, None]
    rank = (similarity > own).sum(dim=1)  # 0 = the own clip is first
    n = len(examples)
    return {
        "clips": n,
        "regions": total,
        "region_accuracy": correct / max(1, total),
        "colour_accuracy": colour_correct / max(1, total),
        "shape_accuracy": shape_correct / max(1, total),
        "regions_mostly_visible": clear_total,
        "region_accuracy_mostly_visible": clear_correct / max(1, clear_total),
        "retrieval_r1": float((rank < 1).float().mean()),
        "retrieval_r5": float((rank < 5).float().mean()),
        "retrieval_r10": float((rank < 10).float().mean()),
        "distinct_captions": len(set(captions)),
    }
