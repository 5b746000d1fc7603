"""The AoE video encoder: configuration_aoe.py (the config), modeling_aoe.py (the model),
text.py (frozen all-MiniLM-L6-v2), loading.py (the bundle the agent calls), bench.py.

Names are exported lazily so importing the package does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AoEConfig": "configuration_aoe",
    "EncoderConfigError": "configuration_aoe",
    "AoEVideoEncoder": "modeling_aoe",
    "EncoderInputError": "modeling_aoe",
    "EncoderOutput": "modeling_aoe",
    "PackedFrames": "modeling_aoe",
    "pack_frames": "modeling_aoe",
    "VideoEncoderBundle": "loading",
    "EncoderCheckpointError": "loading",
    "load_encoder": "loading",
    "load_default_encoder": "loading",
    "FrozenTextEncoder": "text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
