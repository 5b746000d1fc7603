"""The bundle the agent calls: exact shapes and values against the model's own heads, determinism,
errors; and the shipped checkpoint's quality on a synthetic scene and a freshly rendered world
scene (seed not used in training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videothought.perception.encoder import EncoderCheckpointError, load_default_encoder, load_encoder
from videothought.perception.encoder.loading import (
    DEFAULT_CHECKPOINT,
    TRAIN_COMMAND,
    region_pairs,
    spread_positions,
)
from videothought.perception.encoder.modeling_aoe import AoEVideoEncoder, EncoderInputError, pack_frames

from .test_modeling import random_frames, tiny_config

D = 32  # tiny_config's embedding_size

needs_shipped_checkpoint = pytest.mark.skipif(
    not (DEFAULT_CHECKPOINT / "model.safetensors").is_file(),
    reason=f"the shipped encoder checkpoint is absent from {DEFAULT_CHECKPOINT}",
)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("encoder")
    AoEVideoEncoder(tiny_config(text_embedding_size=384)).save_pretrained(path)
    return load_encoder(path)


def _unit_rows(tensor: torch.Tensor) -> bool:
    return torch.allclose(tensor.norm(dim=-1), torch.ones(tensor.shape[0]), atol=1e-5)


def _two_pass_regions(bundle, frames, pairs) -> torch.Tensor:
    """The model's reference path: frames forward, then a second forward for the crops."""
    with torch.inference_mode():
        output = bundle.model(pack_frames(frames, bundle.config.patch_size, bundle.max_side))
        return bundle.model.region_embeddings(output, pairs)


def test_frames_clips_and_text_have_shape_d_and_unit_norm(tiny_bundle):
    assert tiny_bundle.dimension == D
    frames = random_frames([(64, 96), (120, 80), (48, 48)])
    embedded = tiny_bundle.encode_frames(frames)
    assert embedded.shape == (3, D) and _unit_rows(embedded)
    clip = np.stack(random_frames([(64, 96)] * 4))
    video = tiny_bundle.clip_embedding(clip)
    assert video.shape == (D,) and abs(float(video.norm()) - 1) < 1e-5
    assert torch.equal(video, tiny_bundle.encode_video(clip))  # the earlier name, same function
    texts = tiny_bundle.encode_text(["a red circle", "a blue square"])
    assert texts.shape == (2, D) and _unit_rows(texts)


def test_encode_regions_is_one_forward_equal_to_the_two_pass_reference(tiny_bundle):
    frames = random_frames([(64, 96), (120, 80), (48, 48)])
    pairs = [(0, [0, 0, 40, 30]), (2, [10, 10, 30, 30]), (0, [50, 20, 90, 60])]
    calls = []
    hook = tiny_bundle.model.register_forward_hook(lambda module, inputs, output: calls.append(1))
    try:
        regions = tiny_bundle.encode_regions(frames, pairs)
    finally:
        hook.remove()
    assert len(calls) == 1
    assert regions.shape == (3, D) and _unit_rows(regions)
    torch.testing.assert_close(regions, _two_pass_regions(tiny_bundle, frames, pairs), rtol=0, atol=1e-5)


def test_boxes_per_frame_give_the_rows_of_the_matching_pairs(tiny_bundle):
    frames = random_frames([(64, 96), (120, 80), (48, 48)])
    per_frame = [[[0, 0, 40, 30], [50, 20, 90, 60]], [], np.array([[10.0, 10.0, 30.0, 30.0]])]
    pairs = [(0, [0, 0, 40, 30]), (0, [50, 20, 90, 60]), (2, [10, 10, 30, 30])]
    assert region_pairs(per_frame, 3) == [(p, [float(v) for v in b]) for p, b in pairs]
    torch.testing.assert_close(
        tiny_bundle.encode_regions(frames, per_frame), tiny_bundle.encode_regions(frames, pairs), rtol=0, atol=1e-6
    )
    # Frames without boxes are not encoded, and that changes nothing (frames are independent).
    alone = tiny_bundle.encode_regions([frames[2]], [(0, [10, 10, 30, 30])])
    torch.testing.assert_close(alone[0], tiny_bundle.encode_regions(frames, pairs)[2], rtol=0, atol=1e-5)
    assert tiny_bundle.encode_regions(frames, [[], [], []]).shape == (0, D)


def test_the_bundle_is_deterministic(tiny_bundle):
    frames = random_frames([(64, 96), (48, 48)])
    pairs = [(0, [0, 0, 40, 30]), (1, [5, 5, 40, 40])]
    assert torch.equal(tiny_bundle.encode_regions(frames, pairs), tiny_bundle.encode_regions(frames, pairs))
    clip = np.stack(random_frames([(64, 96)] * 3))
    assert torch.equal(tiny_bundle.clip_embedding(clip), tiny_bundle.clip_embedding(clip))
    observations = {3: [(10, [0, 0, 40, 30]), (20, [5, 5, 40, 40])]}
    first = tiny_bundle.track_embeddings(frames, [10, 20], observations)
    second = tiny_bundle.track_embeddings(frames, [10, 20], observations)
    assert torch.equal(first[3], second[3])


def test_spread_positions_cover_the_track_life():
    assert spread_positions(10, 4) == [0, 3, 6, 9]
    assert spread_positions(3, 4) == [0, 1, 2]
    assert spread_positions(9, 1) == [4]
    assert spread_positions(100, 2) == [0, 99]


def test_track_embeddings_average_unit_region_embeddings_of_k_spread_observations(tiny_bundle):
    from videothought.graph.schema import Observation

    frames = random_frames([(64, 96)] * 5, seed=1)
    frame_indices = [0, 10, 20, 30, 40]
    box_a = [5.0, 5.0, 40.0, 30.0]
    box_b = [50.0, 20.0, 90.0, 60.0]
    observations = {
        1: [(index, box_a) for index in (0, 10, 20, 30, 40)],  # 5 usable: k=3 takes 0, 20, 40
        2: [
            Observation(track_id=2, frame_index=10, time_seconds=1.0, box=box_b),
            {"frame_index": 30, "box": box_b, "visible": True},
            Observation(track_id=2, frame_index=20, time_seconds=2.0, box=box_b, visible=False),  # skipped
            (15, box_b),  # not a given frame: skipped
        ],
        3: [(15, box_a)],  # nothing usable: absent from the result
    }
    calls = []
    hook = tiny_bundle.model.register_forward_hook(lambda module, inputs, output: calls.append(1))
    try:
        tracks = tiny_bundle.track_embeddings(frames, frame_indices, observations, k=3)
    finally:
        hook.remove()
    assert len(calls) == 1  # every track in one forward
    assert sorted(tracks) == [1, 2]
    reference = tiny_bundle.encode_regions(
        frames, [(0, box_a), (2, box_a), (4, box_a), (1, box_b), (3, box_b)]
    )  # (5, D)
    expected_1 = torch.nn.functional.normalize(reference[:3].mean(0), dim=0)
    expected_2 = torch.nn.functional.normalize(reference[3:].mean(0), dim=0)
    torch.testing.assert_close(tracks[1], expected_1, rtol=0, atol=1e-5)
    torch.testing.assert_close(tracks[2], expected_2, rtol=0, atol=1e-5)
    assert tracks[1].shape == (D,) and abs(float(tracks[1].norm()) - 1) < 1e-5
    assert tiny_bundle.track_embeddings(frames, frame_indices, {}) == {}


def test_label_regions_returns_the_argmax_and_its_softmax_probability(tiny_bundle):
    frames = random_frames([(64, 96), (120, 80)])
    boxes = [(1, [5, 5, 50, 60]), (0, [0, 0, 40, 30])]
    vocabulary = ["red circle", "blue square", "green triangle"]
    labels = tiny_bundle.label_regions(frames, boxes, vocabulary)
    scale = tiny_bundle.model.logit_scale.exp().item()
    logits = scale * tiny_bundle.encode_regions(frames, boxes) @ tiny_bundle.encode_text(vocabulary).T  # (2, 3)
    probabilities = logits.softmax(dim=-1)
    assert [label for label, _ in labels] == [vocabulary[i] for i in probabilities.argmax(dim=-1).tolist()]
    assert [p for _, p in labels] == pytest.approx(probabilities.max(dim=-1).values.tolist(), abs=1e-6)


def test_bundle_errors_name_the_problem(tiny_bundle):
    frames = random_frames([(64, 64), (64, 64)])
    with pytest.raises(EncoderInputError, match="share one size"):
        tiny_bundle.clip_embedding(random_frames([(64, 96), (96, 64)]))
    with pytest.raises(EncoderInputError, match="vocabulary"):
        tiny_bundle.label_regions(frames, [(0, [0, 0, 9, 9])], [])
    with pytest.raises(TypeError, match="list of strings"):
        tiny_bundle.encode_text("a red circle")
    with pytest.raises(EncoderInputError, match="3 entries for 2 frames"):
        tiny_bundle.encode_regions(frames, [[[0, 0, 9, 9]], [], []])
    with pytest.raises(EncoderInputError, match="frame position 5"):
        tiny_bundle.encode_regions(frames, [(5, [0, 0, 9, 9])])
    with pytest.raises(EncoderInputError, match="x1, y1, x2, y2"):
        tiny_bundle.encode_regions(frames, [[[0, 0, 9]], []])
    with pytest.raises(EncoderInputError, match="2 frame_indices for 1 frames"):
        tiny_bundle.track_embeddings(frames[:1], [0, 1], {1: [(0, [0, 0, 9, 9])]})
    with pytest.raises(EncoderInputError, match="positive integer"):
        tiny_bundle.track_embeddings(frames, [0, 1], {1: [(0, [0, 0, 9, 9])]}, k=0)


def test_a_missing_checkpoint_names_the_command_that_trains_it(tmp_path, monkeypatch):
    with pytest.raises(EncoderCheckpointError, match="vot train encoder --config"):
        load_encoder(tmp_path / "nothing")
    with pytest.raises(EncoderCheckpointError, match="nothing"):
        load_default_encoder(tmp_path / "nothing")
    monkeypatch.setenv("VIDEOTHOUGHT_ENCODER", str(tmp_path / "nothing"))
    with pytest.raises(EncoderCheckpointError) as error:
        load_default_encoder()
    assert TRAIN_COMMAND in str(error.value)


def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path):
    AoEVideoEncoder(tiny_config()).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(EncoderCheckpointError, match="safetensors"):
        load_encoder(tmp_path)


def test_load_default_encoder_takes_a_folder_and_caches_it(tmp_path, monkeypatch):
    torch.manual_seed(5)
    model = AoEVideoEncoder(tiny_config(text_embedding_size=384))
    model.save_pretrained(tmp_path / "mine")
    bundle = load_default_encoder(tmp_path / "mine")
    assert bundle is load_default_encoder(str(tmp_path / "mine")) is load_default_encoder(tmp_path / "mine", device="cpu")
    assert torch.equal(bundle.model.region_projection.weight, model.region_projection.weight)
    # The environment variable names the default folder; an explicit path wins over it.
    monkeypatch.setenv("VIDEOTHOUGHT_ENCODER", str(tmp_path / "mine"))
    assert load_default_encoder() is bundle
    # The old signature, a device as the only argument, still means the default folder on that device.
    assert load_default_encoder("cpu") is bundle


@needs_shipped_checkpoint
def test_default_encoder_is_the_shipped_checkpoint_and_is_cached(monkeypatch):
    monkeypatch.delenv("VIDEOTHOUGHT_ENCODER", raising=False)
    encoder = load_default_encoder()
    assert encoder is load_default_encoder() is load_default_encoder(DEFAULT_CHECKPOINT)
    assert encoder.dimension == 128


def _disc_and_square_scene() -> np.ndarray:
    """(240, 320, 3): a red disc (centre (90, 120), radius 30) and a blue 60 px square at (200..260, 100..160) on grey."""
    frame = np.full((240, 320, 3), 128, dtype=np.uint8)
    rows, columns = np.mgrid[:240, :320]
    frame[(rows - 120) ** 2 + (columns - 90) ** 2 <= 30**2] = (220, 30, 30)
    frame[100:160, 200:260] = (30, 60, 220)
    return frame


@needs_shipped_checkpoint
def test_shipped_encoder_grounds_a_red_disc_and_a_blue_square_by_text(monkeypatch):
    monkeypatch.delenv("VIDEOTHOUGHT_ENCODER", raising=False)
    encoder = load_default_encoder()
    frame = _disc_and_square_scene()
    disc, square = encoder.encode_regions([frame], [[[60, 90, 120, 150], [200, 100, 260, 160]]])
    red_circle, blue_square = encoder.encode_text(["red circle", "blue square"])
    assert float(disc @ red_circle) > float(disc @ blue_square)
    assert float(square @ blue_square) > float(square @ red_circle)
    # The same through track embeddings, over a short clip of the still scene.
    frames = np.stack([frame] * 6)
    tracks = encoder.track_embeddings(
        frames, range(0, 60, 10), {1: [(i, [60, 90, 120, 150]) for i in range(0, 60, 10)], 2: [(0, [200, 100, 260, 160])]}
    )
    assert float(tracks[1] @ red_circle) > float(tracks[1] @ blue_square)
    assert float(tracks[2] @ blue_square) > float(tracks[2] @ red_circle)


@needs_shipped_checkpoint
def test_shipped_encoder_labels_objects_of_an_unseen_world_scene(monkeypatch):
    """Colour + shape of the mostly visible objects in a scene rendered now (seed 4242, never trained on)."""
    from videothought.evals.world import dataset as world
    from videothought.evals.world.config import WorldParams
    from videothought.training.encoder.data import VOCABULARY

    monkeypatch.delenv("VIDEOTHOUGHT_ENCODER", raising=False)
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
