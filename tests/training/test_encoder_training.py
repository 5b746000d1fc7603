"""Encoder pretraining on a tiny world: the loss falls, checkpoints resume exactly, recipes are checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from videothought.training.encoder.data import (
    VOCABULARY,
    frame_text,
    load_world_examples,
    sample_clip_batch,
    sample_image_batch,
)
from videothought.training.encoder.train import (
    PretrainingModel,
    Recipe,
    RecipeError,
    latest_checkpoint,
    train_encoder,
)

from .tiny_world import write_tiny_world

TINY_MODEL = dict(
    hidden_size=48, num_layers=2, num_heads=4, linear_per_softmax=1, temporal_every=2, num_experts=4, top_k=2,
    expert_intermediate_size=64, aoe_low_rank=16, embedding_size=32, max_grid_side=8, image_max_side=96,
)  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return write_tiny_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def examples(world):
    return load_world_examples(world, frames_per_video=6)


def tiny_recipe(tmp_path: Path, world: Path, stages, **overrides) -> Recipe:
    record = {
        "world": {"dir": str(world), "videos": 6, "frames_per_video": 6},
        "stages": stages,
        "output_dir": str(tmp_path / "run"),
        "model": TINY_MODEL,
        "side_range": [64, 128],
        "warmup_steps": 2,
        "save_every": 10,
        "threads": 1,
    }
    record.update(overrides)
    return Recipe.from_dict(record)


def test_world_examples_carry_frames_regions_and_captions(examples):
    assert len(examples) == 6
    example = examples[0]
    assert example.frames.shape == (6, 96, 128, 3) and example.frames.dtype == np.uint8
    assert all(len(regions) == 2 for regions in example.regions)
    assert all(region.label in VOCABULARY for regions in example.regions for region in regions)
    assert [len(s.frame_positions) for s in example.segments] == [3, 3]
    assert example.caption.startswith("the ") and " moves the " in example.caption
    assert frame_text(example.regions[0]).startswith("a ") and " and a " in frame_text(example.regions[0])


def test_batches_use_a_random_resolution_per_sample(examples):
    rng = np.random.default_rng(0)
    images = sample_image_batch(examples, rng, 8, (64, 128))
    assert len(images.frames) == 8 and len(set(images.max_sides)) > 1
    assert len(images.boxes) == len(images.region_labels) == 16
    clips = sample_clip_batch(examples, rng, 4, (64, 128))
    assert sum(clips.clip_lengths) == len(clips.frames) == len(clips.max_sides)
    assert len(clips.captions) == 4


def _fixed_loss(model: PretrainingModel, batch) -> float:
    from videothought.perception.encoder.text import shared_text_encoder

    text = shared_text_encoder()
    torch.manual_seed(0)
    with torch.no_grad():
        losses = model(batch, "image", text, text(VOCABULARY))["losses"]
    return float(losses["text"] + losses["region"])


def test_twenty_cpu_training_steps_lower_the_loss(tmp_path, world, examples):
    recipe = tiny_recipe(tmp_path, world, [{"name": "image", "steps": 20, "batch_size": 8, "learning_rate": 3e-3}])
    torch.manual_seed(recipe.seed)
    from videothought.perception.encoder.configuration_aoe import AoEConfig
    from videothought.perception.encoder.modeling_aoe import AoEVideoEncoder

    initial = PretrainingModel(AoEVideoEncoder(AoEConfig(**recipe.model)), None).eval()  # the seed train_encoder uses
    held_batch = sample_image_batch(examples, np.random.default_rng(123), 12, (128, 128))
    before = _fixed_loss(initial, held_batch)
    summary = train_encoder(recipe, progress=False, examples=examples)
    trained = PretrainingModel(summary["encoder"].eval(), None).eval()
    after = _fixed_loss(trained, held_batch)
    assert summary["steps"] == 20
    assert after < 0.8 * before, (before, after)
    log = [json.loads(line) for line in (Path(recipe.output_dir) / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 21))


def test_resumed_training_equals_uninterrupted_training(tmp_path, world, examples):
    stages = [{"name": "image", "steps": 6, "batch_size": 4}, {"name": "video", "steps": 4, "batch_size": 3}]
    straight = train_encoder(
        tiny_recipe(tmp_path / "a", world, stages, save_every=5), progress=False, examples=examples
    )
    half = tiny_recipe(tmp_path / "b", world, [stages[0], {**stages[1], "steps": 0}], save_every=5)
    train_encoder(half, progress=False, examples=examples)
    assert latest_checkpoint(Path(half.output_dir)).name == "checkpoint-6"
    resumed = train_encoder(tiny_recipe(tmp_path / "b", world, stages, save_every=5), progress=False, examples=examples)
    assert resumed["steps"] == 10 and len(resumed["history"]) == 4  # only the video stage ran
    for name, tensor in straight["encoder"].state_dict().items():
        assert torch.equal(tensor, resumed["encoder"].state_dict()[name]), name


def test_distillation_from_a_tiny_random_transformers_teacher(tmp_path, world, examples):
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    teacher_dir = tmp_path / "teacher"
    ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                       image_size=32, patch_size=8)).save_pretrained(teacher_dir)  # fmt: skip
    recipe = tiny_recipe(
        tmp_path, world, [{"name": "image", "steps": 3, "batch_size": 4}], teacher=str(teacher_dir), distill_weight=1.0
    )
    summary = train_encoder(recipe, progress=False, examples=examples)
    distill = [record["distill"] for record in summary["history"]]
    assert len(distill) == 3 and all(0.0 < d < 2.0 for d in distill)
    saved = sorted(p.name for p in latest_checkpoint(Path(recipe.output_dir)).iterdir())
    assert saved == ["config.json", "model.safetensors", "state.json", "trainer.safetensors"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"stages": [{"name": "audio", "steps": 3}]}, "'audio'"),
        ({"model": {"hidden_size": 30}}, "divisible"),
        ({"learning_rate": 1.0}, "unknown recipe keys"),
        ({"side_range": [8, 4]}, "side_range"),
    ],
)
def test_bad_recipes_are_rejected_by_name(tmp_path, world, change, message):
    values = {"stages": [{"name": "image", "steps": 1}]} | change
    with pytest.raises(ValueError, match=message):  # RecipeError, or the config's EncoderConfigError
        tiny_recipe(tmp_path, world, **values)


def test_shipped_recipes_parse_and_start_with_their_command():
    recipes = sorted(Path(__file__).resolve().parents[2].joinpath("training/recipes/encoder").glob("*.yaml"))
    assert recipes
    for path in recipes:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# vot train encoder --config training/recipes/encoder/" + path.name), first
        Recipe.load(path)


def test_fresh_frames_come_from_new_world_scenes_with_their_regions(examples):
    import videothought.evals.world.render  # noqa: F401  (fresh scenes are rendered by it: a broken import fails)
    batch = sample_image_batch(examples, np.random.default_rng(5), 4, (64, 128), fresh_fraction=0.5)
    assert len(batch.frames) == 4
    fresh = batch.frames[2:]
    assert all(frame.shape == (240, 320, 3) for frame in fresh)  # the world's default size, not the tiny world's
    fresh_labels = [label for (position, _), label in zip(batch.boxes, batch.region_labels) if position >= 2]
    assert fresh_labels and all(label in VOCABULARY for label in fresh_labels)


def test_init_from_starts_at_the_given_weights_and_checks_the_config(tmp_path, world, examples):
    from videothought.perception.encoder.configuration_aoe import AoEConfig
    from videothought.perception.encoder.modeling_aoe import AoEVideoEncoder

    torch.manual_seed(11)
    start = AoEVideoEncoder(AoEConfig(**TINY_MODEL))
    start.save_pretrained(tmp_path / "start")
    recipe = tiny_recipe(tmp_path, world, [{"name": "image", "steps": 0}], init_from=str(tmp_path / "start"))
    summary = train_encoder(recipe, progress=False, examples=examples)
    for name, tensor in start.state_dict().items():
        assert torch.equal(tensor, summary["encoder"].state_dict()[name]), name
    other = tiny_recipe(tmp_path / "x", world, [{"name": "image", "steps": 0}], init_from=str(tmp_path / "start"),
                        model=TINY_MODEL | {"embedding_size": 16})  # fmt: skip
    with pytest.raises(RecipeError, match="config differs"):
        train_encoder(other, progress=False, examples=examples)
