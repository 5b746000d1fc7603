"""Stages 2 (per-node LoRA SFT) and 4 (cold-start VoT SFT): one peft LoRA adapter per node,
trained with trl's SFTTrainer on the node's (prompt, completion) pairs, loss on the completion only.

    output_dir/
      <node>/checkpoints/checkpoint-<step>/   trl/transformers checkpoints (a killed run resumes here)
      <node>/adapter/                         the final adapter: adapter_config.json,
                                              adapter_model.safetensors, videothought-adapter.json
      <node>/history.json                     the loss log
      summary.json                            per node: steps, first/last loss, seconds

One base model carries one adapter per node (chain-of-LoRA): the agent switches them with
`adapter_scope(lm, node)`. Each node is trained on its own, in turn; a node whose adapter is
finished is skipped when the run restarts, an unfinished one resumes from its last checkpoint
(transformers restores the optimiser, scheduler, RNG states and the data position, so the
result equals an uninterrupted run; LoRA dropout is 0 by default for that).

Prompts are the agent's own chat messages rendered with the base model's chat template and
its generation prompt, so training sees exactly the text a node's call sends; completions are
what the node must write (or the candidate a score call must rank first), with the
tokenizer's end-of-turn token appended by trl.

CPU settings (trl defaults assume a bf16 GPU): use_cpu without CUDA, bf16=False, no gradient
checkpointing, no dataloader workers. Under `accelerate launch` the same code runs data-parallel.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from pathlib import Path

from videothought.training.nodes.data import completion_after_start, read_jsonl, render_node_prompt
from videothought.training.nodes.models import (base_identity, check_adapter_fits, load_base, write_adapter_card,
                                              writer_card)
from videothought.training.nodes.recipe import NodeRecipe

logger = logging.getLogger(__name__)


def latest_checkpoint(folder: Path) -> Path | None:
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()
             and (p / "trainer_state.json").is_file()]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


# Nodes whose reply the agent reads only up to its first N words: the verify node generates 4 tokens and
# parses "yes"/"no". Its examples' "no - the video shows: <the analysis>" reason is cut from the
# completion: copying it took ~93 % of the loss, and 40 steps on the full text left the verdict at chance.
COMPLETION_WORDS = {"verify": 1}


def training_completion(node: str, completion: str) -> str:
    """The part of an example's completion the node is trained on (see COMPLETION_WORDS)."""
    words = COMPLETION_WORDS.get(node)
    if words is None:
        return completion
    return " " + " ".join(completion.split()[:words])


def node_dataset(examples: list[dict], node: str, tokenizer, limit: int, seed: int):
    """The node's examples as a datasets.Dataset of {"prompt": text, "completion": text}."""
    from datasets import Dataset

    rows = [e for e in examples if e["node"] == node]
    if not rows:
        raise ValueError(f"no training examples for node {node!r}")
    random.Random(seed).shuffle(rows)
    rows = rows[:limit]
    return Dataset.from_list([{  # the trace node's prompt ends with its first header (data.render_node_prompt)
        "prompt": render_node_prompt(tokenizer, node, e["prompt"]),
        "completion": training_completion(node, completion_after_start(node, e["completion"])),
    } for e in rows])


def sft_config(recipe: NodeRecipe, output: Path, max_steps: int):
    import torch
    from trl import SFTConfig

    train = recipe.train
    return SFTConfig(
        output_dir=str(output), max_steps=max_steps, per_device_train_batch_size=train.batch_size,
        gradient_accumulation_steps=1, learning_rate=float(train.learning_rate), warmup_steps=train.warmup_steps,
        lr_scheduler_type="linear", logging_steps=train.logging_steps, save_steps=train.save_steps,
        save_total_limit=2, seed=train.seed, data_seed=train.seed, max_length=train.max_length,
        completion_only_loss=True, packing=False,
        use_cpu=not torch.cuda.is_available(), bf16=False, fp16=False,  # trl's defaults assume a bf16 GPU
        gradient_checkpointing=False, dataloader_num_workers=0, report_to=[], disable_tqdm=False,
        logging_first_step=True, save_only_model=False, dataset_num_proc=None,
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
    )


def train_node(recipe: NodeRecipe, node: str, examples: list[dict], *, resume: bool = True) -> dict:
    """Train (or finish, or skip) one node's adapter; returns its summary."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from trl import SFTTrainer

    out = Path(recipe.output_dir) / node
    final = out / "adapter"
    if resume and (final / "adapter_model.safetensors").is_file() and (out / "history.json").is_file():
        logger.info("%s: finished adapter found in %s; skipping", node, final)
        return json.loads((out / "history.json").read_text())["summary"]
    if not resume and out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    model, tokenizer = load_base(recipe.base_model, seed=recipe.train.seed, dtype=recipe.train.base_dtype)
    source_name = recipe.init_adapters.get(node, node)
    source = Path(recipe.init_from) / source_name / "adapter" if recipe.init_from else None
    if source is not None and (source / "adapter_config.json").is_file():
        check_adapter_fits(source, model, expected_node=source_name)
        model = PeftModel.from_pretrained(model, str(source), is_trainable=True)
        logger.info("%s: starting from %s (the previous stage)", node, source)
    else:
        if source is not None and node in recipe.init_adapters:
            raise FileNotFoundError(f"init_adapters asks {node!r} to start from {source}, which holds no adapter")
        lora = recipe.lora
        layers = None
        if lora.top_layers:
            total = int(model.config.num_hidden_layers)
            layers = list(range(max(0, total - lora.top_layers), total))
        model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                 target_modules=list(lora.target_modules), layers_to_transform=layers,
                                                 task_type="CAUSAL_LM"))
    dataset = node_dataset(examples, node, tokenizer, recipe.data.max_examples_per_node, recipe.train.seed)
    checkpoints = out / "checkpoints"
    steps = recipe.node_steps.get(node, recipe.train.max_steps)
    trainer = SFTTrainer(model=model, args=sft_config(recipe, checkpoints, steps), train_dataset=dataset,
                         processing_class=tokenizer)
    last = latest_checkpoint(checkpoints) if resume else None
    if last is not None:
        logger.info("%s: resuming from %s", node, last)
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    history = [{"step": r["step"], "loss": r["loss"]} for r in trainer.state.log_history if "loss" in r]
    main_process = trainer.is_world_process_zero()  # under `accelerate launch`, one process writes
    if main_process:
        final.mkdir(parents=True, exist_ok=True)
        trainer.model.save_pretrained(str(final), safe_serialization=True)
        write_adapter_card(final, base_identity(trainer.model, recipe.base_model), stage=recipe.stage, node=node,
                           recipe=recipe.source, command=recipe.command, steps=steps,
                           examples=len(dataset), init_from=str(source) if source and source.is_dir() else None,
                           **writer_card(node, source, option_reads=bool(recipe.data.option_reads)))
    summary = {"node": node, "examples": len(dataset), "steps": trainer.state.global_step,
               "first_loss": history[0]["loss"] if history else None,
               "last_loss": history[-1]["loss"] if history else None,
               "seconds": round(time.perf_counter() - started, 1), "resumed_from": str(last) if last else None}
    if main_process:
        (out / "history.json").write_text(json.dumps({"summary": summary, "history": history}, indent=1))
    trainer.accelerator.wait_for_everyone()
    logger.info("%s: %s", node, summary)
    return summary


def carry_forward(recipe: NodeRecipe) -> list[str]:
    """Copy the previous stage's other adapters (and its projector) into this stage's output, so
    each stage's output is a complete stack the next stage (and the agent) starts from."""
    if not recipe.init_from:
        return []
    source, target = Path(recipe.init_from), Path(recipe.output_dir)
    if not source.is_dir():
        raise FileNotFoundError(f"init_from {source} does not exist: run the previous stage first")
    copied = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        if folder.name in recipe.nodes or not ((folder / "adapter").is_dir() or folder.name == "projector"):
            continue
        destination = target / folder.name
        if not destination.exists():
            shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("checkpoints"))
        copied.append(folder.name)
    return copied


def run_sft(recipe: NodeRecipe, *, resume: bool = True, examples: list[dict] | None = None) -> dict:
    """Every node of the recipe in turn; the summary is also written to output_dir/summary.json."""
    if examples is None:
        examples = read_jsonl(Path(recipe.data.examples))
    Path(recipe.output_dir).mkdir(parents=True, exist_ok=True)
    if recipe.init_from and not Path(recipe.init_from).is_dir():
        raise FileNotFoundError(f"init_from {recipe.init_from} does not exist: run the previous stage first")
    summary = {"stage": recipe.stage, "recipe": recipe.source, "nodes": {}}
    for node in recipe.nodes:
        summary["nodes"][node] = train_node(recipe, node, examples, resume=resume)
    summary["carried"] = carry_forward(recipe)  # after training: the previous stage's final files
    (Path(recipe.output_dir) / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
