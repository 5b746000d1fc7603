"""The bundle the agent calls: shapes, normalisation, errors; and the shipped checkpoint's quality
on a freshly rendered world scene (seed not used in training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videothought.perception.encoder import EncoderCheckpointError, load_default_encoder, load_encoder
from videothought.perception.encoder.loading import DEFAULT_CHECKPOINT, TRAIN_COMMAND
from videothought.perception.encoder.modeling_aoe import AoEVideoEncoder, EncoderInputError

from .test_modeling import random_frames, tiny_config


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("encoder")
    AoEVideoEncoder(tiny_config(text_embedding_size=384)).save_pretrained(path)
    return load_encoder(path)


def _unit_rows(tensor: torch.Tensor) -> bool:
    return torch.allclose(tensor.norm(dim=-1), torch.ones(tensor.shape[0]), atol=1e-5)


def test_bundle_encodes_frames_videos_regions_and_text(tiny_bundle):
    frames = random_frames([(64, 96), (120, 80), (48, 48)])
    embedded = tiny_bundle.encode_frames(frames)
    assert embedded.shape == (3, 32) and _unit_rows(embedded)
    clip = np.stack(random_frames([(64, 96)] * 4))
    video = tiny_bundle.encode_video(clip)
    assert video.shape == (32,) and abs(float(video.norm()) - 1) < 1e-5
    regions = tiny_bundle.encode_regions(frames, [(0, [0, 0, 40, 30]), (2, [10, 10, 30, 30])])
    assert regions.shape == (2, 32) and _unit_rows(regions)
    texts = tiny_bundle.encode_text(["a red circle", "a blue square"])
    assert texts.shape == (2, 32) and _unit_rows(texts)
    labels = tiny_bundle.label_regions(frames, [(1, [5, 5, 50, 60])], ["red circle", "blue square"])
    assert len(labels) == 1 and labels[0][0] in ("red circle", "blue square") and 0.5 <= labels[0][1] <= 1.0


def test_bundle_errors_name_the_problem(tiny_bundle):
    with pytest.raises(EncoderInputError, match="share one size"):
        tiny_bundle.encode_video(random_frames([(64, 96), (96, 64)]))
    with pytest.raises(EncoderInputError, match="vocabulary"):
        tiny_bundle.label_regions(random_frames([(64, 64)]), [(0, [0, 0, 9, 9])], [])
    with pytest.raises(TypeError, match="list of strings"):
        tiny_bundle.encode_text("a red circle")


def test_a_missing_checkpoint_names_the_command_that_trains_it(tmp_path, monkeypatch):
    with pytest.raises(EncoderCheckpointError, match="vot train encoder --config"):
        load_encoder(tmp_path / "nothing")
    monkeypatch.setenv("VIDEOTHOUGHT_ENCODER", str(tmp_path / "nothing"))
    with pytest.raises(EncoderCheckpointError) as error:
        load_default_encoder()
    assert TRAIN_COMMAND in str(error.value)


def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path):
    AoEVideoEncoder(tiny_config()).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(EncoderCheckpointError, match="safetensors"):
        load_encoder(tmp_path)


def test_default_encoder_is_cached(monkeypatch):
    if not (DEFAULT_CHECKPOINT / "model.safetensors").is_file():
        pytest.fail(f"the shipped checkpoint is missing from {DEFAULT_CHECKPOINT}")
    monkeypatch.delenv("VIDEOTHOUGHT_ENCODER", raising=False)
    assert load_default_encoder() is load_default_encoder()


def test_shipped_encoder_labels_objects_of_an_unseen_world_scene():
    """Colour + shape of the mostly visible objects in a scene rendered now (seed 4242, never trained on)."""
    world = pytest.importorskip("videothought.evals.world.dataset")
    from videothought.evals.world.config import WorldParams
    from videothought.training.encoder.data import VOCABULARY

    spec, frames, truth, _, _ = world.generate_video(4242, 0, WorldParams())
    frames = np.asarray(list(frames) if not isinstance(frames, np.ndarray) else frames)
    positions = np.linspace(0, len(frames) - 1, 6).round().astype(int).tolist()
    boxes, labels = [], []
    for k, frame_index in enumerate(positions):
        for observation in truth.per_frame[frame_index].values():
            fractions = observation.attributes
            if observation.visible and min(fractions.get("visible_fraction", 1), fractions.get("in_frame_fraction", 1)) >= 0.75:
                boxes.append((k, list(observation.box)))
                labels.append(observation.label)
    assert len(boxes) >= 10
    encoder = load_default_encoder()
    predicted = encoder.label_regions(frames[positions], boxes, list(VOCABULARY))
    accuracy = np.mean([guess == label for (guess, _), label in zip(predicted, labels)])
    assert accuracy >= 0.8, list(zip(predicted, labels))
