"""Losses of encoder pretraining: symmetric InfoNCE with shared positives, region labelling, distillation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

MAX_LOGIT_SCALE = 4.6052  # log(100), CLIP's clamp on the learned temperature


def _soft_cross_entropy(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a uniform distribution over each row's positives (bool (N, M))."""
    targets = positives.float() / positives.float().sum(dim=1, keepdim=True)
    return -(targets * logits.log_softmax(dim=1)).sum(dim=1).mean()


def symmetric_info_nce(
    left: torch.Tensor, right: torch.Tensor, right_keys: Sequence[str], logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE between matched rows of left (N, E) and right (N, E), both L2-normalised.

    Rows whose right_keys (e.g. caption texts) are equal are all positives of each other, so
    two frames with the same caption are never pushed apart.
    """
    keys = list(right_keys)
    index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    ids = torch.tensor([index[key] for key in keys], device=left.device)
    positives = ids[:, None] == ids[None, :]  # (N, N)
    logits = logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * left @ right.T  # (N, N)
    return 0.5 * (_soft_cross_entropy(logits, positives) + _soft_cross_entropy(logits.T, positives.T))


def region_label_loss(
    regions: torch.Tensor, labels: Sequence[str], vocabulary: Sequence[str], vocabulary_embeddings: torch.Tensor,
    logit_scale: torch.Tensor,
) -> torch.Tensor:
    """Region-text InfoNCE: regions against the whole label vocabulary (what labelling does at
    inference), plus each present label against the batch's regions (the text-to-region side).

    regions (R, E), vocabulary_embeddings (V, E), both L2-normalised.
    """
    position = {label: i for i, label in enumerate(vocabulary)}
    targets = torch.tensor([position[label] for label in labels], device=regions.device)  # (R,)
    logits = logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * regions @ vocabulary_embeddings.T  # (R, V)
    region_to_text = F.cross_entropy(logits, targets)
    present = torch.unique(targets)  # (P,)
    text_to_region = _soft_cross_entropy(logits[:, present].T, (targets[None, :] == present[:, None]))
    return 0.5 * (region_to_text + text_to_region)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, head: nn.Module) -> torch.Tensor:
    """1 - cosine between the projected student frame embeddings (F, E) and teacher features (F, T)."""
    return (1 - F.cosine_similarity(head(student), teacher.to(student), dim=-1)).mean()
