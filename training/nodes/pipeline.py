"""`vot train nodes --config R.yaml`: data (built once), the stage, the export of its adapters.

    stage 1 projector   training/recipes/nodes/projector.yaml  -> runs/nodes/projector/projector/
    stage 2 lora        training/recipes/nodes/lora.yaml       -> runs/nodes/lora/<node>/adapter/
    stage 4 coldstart   training/recipes/nodes/coldstart.yaml  -> runs/nodes/coldstart/vot/adapter/
    stage 3 grpo        training/recipes/nodes/grpo.yaml       -> runs/nodes/grpo/<node>/adapter/ (from coldstart)
    stage 5 rejection   training/recipes/nodes/rejection.yaml  -> runs/nodes/rejection/vot/ (samples, kept, adapter)
    stage 6 dpo         training/recipes/nodes/dpo.yaml        -> runs/nodes/dpo/vot/adapter/ (pairs, reference)

Execution order 1, 2, 4, 3, 5, 6: stage 3 trains the cold-start trace too, so it runs after stage 4.

Each stage's output holds the whole stack so far (the previous stage's adapters are carried
forward), and `export_to` copies the finished adapters into the shipped folder
(agent/adapters/<node>/), which the embedded default loads.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from videothought.training.nodes.recipe import NodeRecipe

logger = logging.getLogger(__name__)
SHIPPED_FILES = ("adapter_config.json", "adapter_model.safetensors", "videothought-adapter.json")


def ensure_examples(recipe: NodeRecipe, *, progress: bool = True) -> Path:
    """The recipe's node examples (JSONL), built from its training worlds when missing."""
    from videothought.training.nodes.data import (
        build_examples,
        ensure_worlds,
        perception_context,
        worded_questions,
        write_jsonl,
    )

    path = Path(recipe.data.examples)
    if path.is_file():
        return path
    started = time.perf_counter()
    if recipe.nodes == ["writer"] and recipe.stage in ("grpo", "rejection", "dpo"):  # answers only, tracked STSGs
        from videothought.training.nodes.writer_data import writer_rl_examples

        worlds = [(Path(recipe.data.worlds_dir) / f"w{seed}", seed) for seed in recipe.data.seeds]
        rows = writer_rl_examples(ensure_worlds(worlds, recipe.data.videos_per_seed), cache_dir=recipe.data.cache_dir,
                                  family=recipe.data.rl_family, wordings=max(1, recipe.data.paraphrases),
                                  chained_per_video=recipe.data.chained_per_video, seed=recipe.train.seed)
        write_jsonl(path, rows)
        logger.info("wrote %d answer-only writer questions to %s in %.0f s", len(rows), path, time.perf_counter() - started)
        return path
    if recipe.nodes == ["writer"]:  # question -> program: text only, no video is tracked
        from videothought.training.nodes.writer_data import writer_examples

        worlds = [(Path(recipe.data.worlds_dir) / f"w{seed}", seed) for seed in recipe.data.seeds]
        data = recipe.data
        rows = writer_examples(ensure_worlds(worlds, data.videos_per_seed), rewordings=data.rewordings,
                               paraphrases=data.paraphrases, families=tuple(data.paraphrase_families),
                               seed=recipe.train.seed,
                               chained_per_video=data.chained_per_video, followups=data.followups, people=data.people,
                               option_reads=data.option_reads)
        write_jsonl(path, rows)
        logger.info("wrote %d writer examples to %s in %.0f s", len(rows), path, time.perf_counter() - started)
        return path
    items = []
    # $VIDEOTHOUGHT_RAY set: worlds render and videos are tracked on Ray (training/nodes/data_ray.py)
    worlds = [(Path(recipe.data.worlds_dir) / f"w{seed}", seed) for seed in recipe.data.seeds]
    for root in ensure_worlds(worlds, recipe.data.videos_per_seed):
        items += worded_questions(root, family="train", rewordings=recipe.data.rewordings, include_original=True)
    rows = build_examples(items, perception_context(recipe.data.cache_dir), seed=recipe.train.seed, progress=progress)
    write_jsonl(path, rows)
    logger.info("wrote %d node examples (%d worded questions) to %s in %.0f s", len(rows), len(items), path,
                time.perf_counter() - started)
    return path


def export(recipe: NodeRecipe) -> list[str]:
    """Copy the stage's adapters (and projector) into `export_to`, one folder per node."""
    if not recipe.export_to:
        return []
    source, target = Path(recipe.output_dir), Path(recipe.export_to)
    target.mkdir(parents=True, exist_ok=True)
    exported = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        adapter = folder / "adapter"
        if recipe.export_nodes and folder.name not in recipe.export_nodes and folder.name != "projector":
            logger.info("not exporting %s (not in export_nodes)", folder.name)
            continue
        if (adapter / "adapter_model.safetensors").is_file():
            destination = target / folder.name
            destination.mkdir(exist_ok=True)
            for name in SHIPPED_FILES:
                shutil.copyfile(adapter / name, destination / name)
            exported.append(folder.name)
        elif folder.name == "projector" and (folder / "projector.safetensors").is_file():
            destination = target / "projector"
            destination.mkdir(exist_ok=True)
            for name in ("projector.safetensors", "config.json"):
                shutil.copyfile(folder / name, destination / name)
            exported.append("projector")
    logger.info("exported %s to %s", exported, target)
    return exported


def run_stage(recipe: NodeRecipe, *, resume: bool = True, progress: bool = True) -> dict:
    started = time.perf_counter()
    if recipe.stage == "projector":
        from videothought.training.nodes.projector import train_projector

        summary = train_projector(recipe, resume=resume, progress=progress)
    elif recipe.stage in ("grpo", "rejection", "dpo"):
        ensure_examples(recipe, progress=progress)
        if recipe.stage == "grpo":
            from videothought.training.nodes.grpo import run_grpo as run
        elif recipe.stage == "rejection":
            from videothought.training.nodes.rejection import run_rejection as run
        else:
            from videothought.training.nodes.dpo import run_dpo as run
        summary = run(recipe, resume=resume)
    else:
        from videothought.training.nodes.sft import run_sft

        ensure_examples(recipe, progress=progress)
        summary = run_sft(recipe, resume=resume)
    if recipe.data.calibration_seeds:  # before the export: the threshold travels in the adapter's card
        from videothought.training.nodes.calibrate import calibrate_stage

        summary["verdict"] = calibrate_stage(recipe, progress=progress)
    summary["exported"] = export(recipe)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary
