"""Contrastive pretraining of the AoE encoder on the synthetic world, in two stages.

Stage "image": frames and regions against their texts (frame text from what is visible,
region labels against the whole colour x shape vocabulary), optionally distilling a
teacher's frame features. Stage "video": clips (frames packed, temporal layers on)
against their captions, keeping the region loss so labelling is not forgotten.
Every sample gets its own random resolution (random scaling), which is why packing exists.

The loop runs under accelerate: `vot train encoder --config R.yaml` on one CPU, or
`accelerate launch -m videothought.training.cli encoder --config R.yaml` on several GPUs
(each process samples its own batches from seed + process index; gradients are averaged).

Checkpoints (resumable, no pickle): OUTPUT/checkpoint-STEP/ holds config.json +
model.safetensors (the encoder), trainer.safetensors (distillation head, optimiser moments,
torch RNG) and state.json (step, optimiser hyper-parameters, numpy RNG state).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from videothought.perception.encoder.configuration_aoe import AoEConfig
from videothought.perception.encoder.modeling_aoe import AoEVideoEncoder, pack_frames

from .data import VOCABULARY, frame_text, load_world_examples, sample_clip_batch, sample_image_batch
from .objectives import distillation_loss, region_label_loss, symmetric_info_nce

logger = logging.getLogger(__name__)


class RecipeError(ValueError):
    """A bad training recipe; the message names the key."""


@dataclass
class WorldSpec:
    dir: str  # a world folder; generated with `vot world generate` when missing
    videos: int = 200
    seed: int = 1
    frames_per_video: int = 12


@dataclass
class StageSpec:
    name: str  # "image" or "video"
    steps: int
    batch_size: int = 16  # frames (image stage) or clips (video stage)
    learning_rate: float = 1e-3
    region_weight: float = 1.0
    text_weight: float = 1.0
    side_range: tuple[int, int] | None = None  # this stage's random-scaling range; None = the recipe's
    fresh_fraction: float = 0.0  # image stage: share of frames rendered from brand-new scenes each step


@dataclass
class Recipe:
    world: WorldSpec
    stages: list[StageSpec]
    output_dir: str
    export_dir: str | None = None  # the shipped checkpoint folder, written in float16 at the end
    model: dict = field(default_factory=dict)  # AoEConfig overrides
    init_from: str | None = None  # start from this checkpoint's encoder weights (its config must equal `model`)
    side_range: tuple[int, int] = (160, 320)  # random-scaling augmentation: long side in pixels per sample
    weight_decay: float = 0.05
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1  # torch threads on CPU: on an oversubscribed shared machine 2 threads ran 13x slower than 1
    save_every: int = 200
    keep_checkpoints: int = 2
    teacher: str | None = None  # a transformers vision model folder or an AoE checkpoint
    distill_weight: float = 0.5
    eval_world: WorldSpec | None = None  # held out (a different seed): evaluated after training
    eval_frames_per_clip: int = 8

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)

    @classmethod
    def from_dict(cls, record: dict) -> Recipe:
        record = dict(record)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise RecipeError(f"unknown recipe keys {unknown}; known: {sorted(known)}")
        for required in ("world", "stages", "output_dir"):
            if required not in record:
                raise RecipeError(f"recipe is missing {required!r}")
        try:
            record["world"] = WorldSpec(**record["world"])
            if record.get("eval_world"):
                record["eval_world"] = WorldSpec(**record["eval_world"])
            record["stages"] = [StageSpec(**stage) for stage in record["stages"]]
        except TypeError as error:
            raise RecipeError(f"bad world/stage entry: {error}") from None
        for stage in record["stages"]:
            if stage.name not in ("image", "video"):
                raise RecipeError(f"stage name must be 'image' or 'video', got {stage.name!r}")
            if not 0.0 <= stage.fresh_fraction <= 1.0:
                raise RecipeError(f"stage {stage.name!r}: fresh_fraction must be in [0, 1], got {stage.fresh_fraction!r}")
            if stage.steps < 0 or stage.batch_size < 2:
                raise RecipeError(f"stage {stage.name!r} needs steps >= 0 and batch_size >= 2, got {stage.steps}, {stage.batch_size}")
        if "side_range" in record:
            record["side_range"] = _side_range(record["side_range"])
        for stage in record["stages"]:
            if stage.side_range is not None:
                stage.side_range = _side_range(stage.side_range)
        recipe = cls(**record)
        AoEConfig(**recipe.model)  # reject bad model overrides now, with the config's message
        return recipe

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recipe:
        import yaml

        path = Path(path)
        try:
            record = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise RecipeError(f"{path}: no such recipe") from None
        except yaml.YAMLError as error:
            raise RecipeError(f"{path}: not valid YAML ({error})") from None
        if not isinstance(record, dict):
            raise RecipeError(f"{path}: a recipe is a YAML mapping")
        return cls.from_dict(record)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _side_range(value) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in value)
    except (TypeError, ValueError):
        raise RecipeError(f"side_range must be [low, high] pixels, got {value!r}") from None
    if not 16 <= low <= high:
        raise RecipeError(f"side_range must be [low, high] with 16 <= low <= high, got {value!r}")
    return low, high


class PretrainingModel(nn.Module):
    """The encoder plus training-only parts, so one forward computes every loss (what DDP needs)."""

    def __init__(self, encoder: AoEVideoEncoder, teacher_dim: int | None):
        super().__init__()
        self.encoder = encoder
        self.distill_head = nn.Linear(encoder.config.embedding_size, teacher_dim) if teacher_dim else None

    def forward(self, batch, stage: str, text_embed, vocabulary_embeddings, teacher_features=None) -> dict:
        config = self.encoder.config
        clip_lengths = batch.clip_lengths if stage == "video" else None
        packed = pack_frames(batch.frames, config.patch_size, batch.max_sides, clip_lengths=clip_lengths)
        output = self.encoder(packed)
        scale = self.encoder.logit_scale
        losses = {"balance": output.balance_loss * config.balance_loss_weight}
        if stage == "image":
            texts = self.encoder.text_embeddings(text_embed(batch.frame_texts))
            losses["text"] = symmetric_info_nce(output.frame_embeddings, texts, batch.frame_texts, scale)
        else:
            texts = self.encoder.text_embeddings(text_embed(batch.captions))
            losses["text"] = symmetric_info_nce(output.clip_embeddings, texts, batch.captions, scale)
        if batch.boxes:
            regions = self.encoder.region_embeddings(output, batch.boxes)
            vocabulary = self.encoder.text_embeddings(vocabulary_embeddings)
            losses["region"] = region_label_loss(regions, batch.region_labels, VOCABULARY, vocabulary, scale)
        if teacher_features is not None and self.distill_head is not None:
            losses["distill"] = distillation_loss(output.frame_embeddings, teacher_features, self.distill_head)
        return {"losses": losses, "expert_load": output.expert_load}


def ensure_world(spec: WorldSpec) -> Path:
    """The world folder, generated with `vot world generate` if it is not there yet."""
    import subprocess
    import sys

    root = Path(spec.dir)
    if (root / "captions.jsonl").is_file() and (root / "videos").is_dir():
        return root
    logger.warning("generating the world %s (%d videos, seed %d)", root, spec.videos, spec.seed)
    command = [
        sys.executable, "-m", "videothought.cli", "world", "generate",
        "--out", str(root), "--videos", str(spec.videos), "--seed", str(spec.seed),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command[2:])}` failed: {result.stderr.strip()[-2000:]}")
    return root


def learning_rate_at(step_in_stage: int, stage: StageSpec, warmup_steps: int) -> float:
    """Linear warm-up, then cosine decay to 5% within each stage."""
    if step_in_stage < warmup_steps:
        return stage.learning_rate * (step_in_stage + 1) / warmup_steps
    progress = (step_in_stage - warmup_steps) / max(1, stage.steps - warmup_steps)
    return stage.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def stage_at(recipe: Recipe, step: int) -> tuple[StageSpec, int]:
    for stage in recipe.stages:
        if step < stage.steps:
            return stage, step
        step -= stage.steps
    raise IndexError(step)


# --- checkpoints ---------------------------------------------------------------------


def save_checkpoint(directory: Path, model: PretrainingModel, optimizer, step: int, rng: np.random.Generator, history) -> Path:
    from safetensors.torch import save_file

    tmp = directory.with_name(directory.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.encoder.save_pretrained(tmp)
    tensors = {"torch_rng": torch.get_rng_state()}
    if model.distill_head is not None:
        tensors.update({f"distill_head.{k}": v.detach().contiguous() for k, v in model.distill_head.state_dict().items()})
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for key, value in optimizer.state.get(parameter, {}).items():
                if torch.is_tensor(value):
                    tensors[f"optimizer.{names[id(parameter)]}.{key}"] = value.detach().contiguous()
    save_file(tensors, str(tmp / "trainer.safetensors"))
    state = {
        "step": step,
        "param_groups": [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups],
        "numpy_rng": rng.bit_generator.state,
        "python_rng": list(random.getstate()[1]),
        "history": history[-50:],
    }
    (tmp / "state.json").write_text(json.dumps(state, default=int))
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
    return directory


def load_checkpoint(directory: Path, model: PretrainingModel, optimizer, rng: np.random.Generator) -> int:
    from safetensors.torch import load_file

    encoder = AoEVideoEncoder.from_pretrained(directory)
    model.encoder.load_state_dict(encoder.state_dict())
    tensors = load_file(str(directory / "trainer.safetensors"))
    state = json.loads((directory / "state.json").read_text())
    torch.set_rng_state(tensors["torch_rng"])
    if model.distill_head is not None:
        model.distill_head.load_state_dict(
            {k.removeprefix("distill_head."): v for k, v in tensors.items() if k.startswith("distill_head.")}
        )
    parameters = dict(model.named_parameters())
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            parameter_name, key = name.removeprefix("optimizer.").rsplit(".", 1)
            optimizer.state[parameters[parameter_name]][key] = value
    for group, saved in zip(optimizer.param_groups, state["param_groups"]):
        group.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    rng.bit_generator.state = state["numpy_rng"]
    random.setstate((3, tuple(state["python_rng"]), None))
    return int(state["step"])


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = [(int(p.name.split("-")[1]), p) for p in output_dir.glob("checkpoint-*") if p.name.split("-")[1].isdigit()]
    return max(found)[1] if found else None


# --- the loop -----------------------------------------------------------------------------


def train_encoder(recipe: Recipe, resume: bool = True, progress: bool = True, examples=None) -> dict:
    """Run (or resume) a recipe; returns a summary with the loss history and where things were written."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs
    from tqdm import tqdm

    from videothought.perception.encoder.text import shared_text_encoder

    accelerator = Accelerator(kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    if accelerator.device.type == "cpu":
        torch.set_num_threads(recipe.threads)
    torch.manual_seed(recipe.seed)
    random.seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed + accelerator.process_index)
    output_dir = Path(recipe.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    if examples is None:
        with accelerator.main_process_first():
            world = ensure_world(recipe.world)
        examples = load_world_examples(world, recipe.world.frames_per_video, recipe.world.videos, progress=progress)
    if not examples:
        raise RecipeError("the world has no usable videos")
    text_encoder = shared_text_encoder()
    every_text = list(VOCABULARY) + [s.caption for e in examples for s in e.segments] + [e.caption for e in examples]
    every_text += [frame_text(regions) for e in examples for regions in e.regions]
    text_encoder(list(dict.fromkeys(every_text)))  # every text once, cached: the text model is frozen

    def text_embed(texts):
        return text_encoder(texts).to(accelerator.device)

    teacher = None
    if recipe.teacher:
        from .teacher import Teacher

        teacher = Teacher(recipe.teacher)
    encoder = AoEVideoEncoder(AoEConfig(**recipe.model))
    if recipe.init_from:
        start = AoEVideoEncoder.from_pretrained(recipe.init_from)
        if start.config != encoder.config:
            raise RecipeError(f"init_from {recipe.init_from}: its config differs from the recipe's model section")
        encoder.load_state_dict(start.state_dict())
    model = PretrainingModel(encoder, teacher.dim if teacher else None)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "dense_weights" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "dense_weights" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.stages[0].learning_rate if recipe.stages else 1e-3,
    )
    step = 0
    checkpoint = latest_checkpoint(output_dir) if resume else None
    if checkpoint is not None:
        step = load_checkpoint(checkpoint, model, optimizer, rng)
        logger.warning("resumed from %s at step %d", checkpoint, step)
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped: PretrainingModel = accelerator.unwrap_model(model)
    vocabulary_embeddings = text_embed(VOCABULARY)

    history: list[dict] = []
    bar = tqdm(total=recipe.total_steps, initial=step, desc="encoder", disable=not (progress and accelerator.is_main_process))
    started = time.perf_counter()
    model.train()
    while step < recipe.total_steps:
        stage, step_in_stage = stage_at(recipe, step)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step_in_stage, stage, recipe.warmup_steps)
        sides = stage.side_range or recipe.side_range
        if stage.name == "image":
            batch = sample_image_batch(examples, rng, stage.batch_size, sides, stage.fresh_fraction)
        else:
            batch = sample_clip_batch(examples, rng, stage.batch_size, sides)
        teacher_features = teacher(batch.frames).to(accelerator.device) if teacher and stage.name == "image" else None
        result = model(batch, stage.name, text_embed, vocabulary_embeddings, teacher_features)
        losses = result["losses"]
        weights = {"text": stage.text_weight, "region": stage.region_weight, "distill": recipe.distill_weight, "balance": 1.0}
        loss = sum(weights[name] * value for name, value in losses.items())
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        if recipe.grad_clip:
            accelerator.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()
        step += 1
        record = {"step": step, "stage": stage.name, "loss": float(loss.detach())} | {k: float(v.detach()) for k, v in losses.items()}
        if result["expert_load"] is not None:
            record["expert_load_max"] = float(result["expert_load"].max())
        history.append(record)
        bar.update(1)
        bar.set_postfix(stage=stage.name, loss=f"{record['loss']:.3f}")
        if accelerator.is_main_process:
            with open(output_dir / "train_log.jsonl", "a") as log:
                log.write(json.dumps(record) + "\n")
            if recipe.save_every and (step % recipe.save_every == 0 or step == recipe.total_steps):
                save_checkpoint(output_dir / f"checkpoint-{step}", unwrapped, optimizer, step, rng, history)
                _prune(output_dir, recipe.keep_checkpoints)
    bar.close()
    accelerator.wait_for_everyone()
    summary = {
        "steps": step,
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
        "output_dir": str(output_dir),
        "parameters": unwrapped.encoder.num_parameters(),
    }
    if accelerator.is_main_process and recipe.export_dir:
        unwrapped.encoder.eval()
        unwrapped.encoder.save_pretrained(recipe.export_dir, dtype=torch.float16)
        summary["export_dir"] = recipe.export_dir
    summary["encoder"] = unwrapped.encoder
    return summary


def _prune(output_dir: Path, keep: int) -> None:
    found = sorted((int(p.name.split("-")[1]), p) for p in output_dir.glob("checkpoint-*") if p.name.split("-")[1].isdigit())
    for _, path in found[:-keep] if keep > 0 else []:
        shutil.rmtree(path, ignore_errors=True)
