"""The encoder snippet (docs/perception.md) runs as written, on a small written video, with the shipped checkpoint."""

from __future__ import annotations


import pytest
import torch

from tests.conftest import moving_square_frames
from videothought.perception.encoder.loading import DEFAULT_CHECKPOINT
from tests.readme import snippet_file
from tests.readme import snippet as readme_snippet
from videothought.perception.video import write_video

def snippet() -> str:
    return readme_snippet("encoder")


def test_snippet_calls_the_documented_signatures():
    code = snippet()
    assert "load_default_encoder()" in code and 'load_default_encoder("my/ckpt")' in code
    for call in ("encode_text(", "clip_embedding(", "encode_regions(", "track_embeddings("):
        assert call in code, call


@pytest.mark.skipif(
    not (DEFAULT_CHECKPOINT / "model.safetensors").is_file(),
    reason=f"the shipped encoder checkpoint is absent from {DEFAULT_CHECKPOINT}",
)
def test_snippet_runs_and_gives_the_documented_shapes(tmp_path, monkeypatch):
    monkeypatch.delenv("VIDEOTHOUGHT_ENCODER", raising=False)
    video = write_video(tmp_path / "clip.mp4", moving_square_frames(20), fps=10.0)  # 64x48, a red square
    code = snippet().replace('"clip.mp4"', repr(str(video)))
    namespace: dict = {}
    exec(compile(code, str(snippet_file('encoder')), "exec"), namespace)
    encoder = namespace["encoder"]
    d = encoder.dimension
    assert d == 128
    assert namespace["texts"].shape == (2, d)
    assert namespace["clip"].shape == (d,)
    assert namespace["regions"].shape == (8, d)
    assert set(namespace["tracks"]) == {1} and namespace["tracks"][1].shape == (d,)
    assert torch.allclose(namespace["regions"].norm(dim=-1), torch.ones(8), atol=1e-5)
    # The documented path form loads the same checkpoint (the same cached bundle).
    from videothought.perception.encoder import load_default_encoder

    assert load_default_encoder(DEFAULT_CHECKPOINT) is encoder
