"""Stage 3, GRPO (trl's GRPOTrainer) on the nodes that decide: the cold-start VoT trace (`vot`),
the verification (`verify`) and the answer rating (`rank_answers` on rate_candidate prompts).

    previous stage's <node>/adapter ──► policy (the same LoRA, trainable)
                                           │ G sampled completions per training question
    question truth (world) ──► rewards.py: format, answer, targets, events, verdict (x hacking gate)
                                           │ group-normalised advantages (trl)
                                           ▼
    output_dir/<node>/adapter/  history.json (reward and accuracy per logged step, collapse flag)

Each reward is one trl reward function (logged by trl as `rewards/<node>_<name>/mean`), so the
answer reward's mean is the node's training accuracy, logged next to the total reward at every
logged step. A collapse is a total reward that rises while accuracy falls over `rl.collapse_window`
logged points (the policy found a way to score without answering better): it is logged as a
warning and recorded in history.json; the run is not stopped (the record is what one acts on).

The stage runs after stage 4 (it trains the cold-start trace too), from runs/nodes/coldstart:
stages 1, 2, 4, 3, 5, 6 in execution order; the numbering is the issue's (KunLunBaize-VoT-R1's).

Resumable like the SFT stages: trl/transformers checkpoints hold optimiser, scheduler and RNG
states, so the sampled rollouts after a resume are those of an uninterrupted run. CPU settings:
fp32, no vLLM (transformers' generate), beta 0 by default (no reference forward), no gradient
checkpointing, no dataloader workers.

The KL reference (beta > 0) is the stage's starting adapter, not the bare base: trl (1.16) copies a
pretrained peft policy's adapter into a frozen one named "ref" and reads the reference through it
(tested: the first step's KL is 0). Only the policy adapter is saved.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from pathlib import Path

from videothought.training.nodes import rewards
from videothought.training.nodes.data import read_jsonl, render_node_prompt, whole_trace
from videothought.training.nodes.models import (base_identity, check_adapter_fits, load_base, write_adapter_card,
                                              writer_card)
from videothought.training.nodes.recipe import NodeRecipe
from videothought.training.nodes.sft import carry_forward, latest_checkpoint

logger = logging.getLogger(__name__)


# ---- shared by the RL stages (3, 5, 6) -------------------------------------------------------------------
def ensure_truth(recipe: NodeRecipe, examples: list[dict]) -> list[dict]:
    """Node examples built before rows carried `truth` get it from the recipe's training worlds
    (no tracking needed: the truth is the world's)."""
    if all("truth" in e for e in examples if e["node"] in rewards.NODE_REWARDS and e.get("kind") != "score"):
        return examples
    from videothought.training.nodes.data import attach_truth, worded_questions

    items = []
    for seed in recipe.data.seeds:
        root = Path(recipe.data.worlds_dir) / f"w{seed}"
        if (root / "qa.csv").is_file():
            items += worded_questions(root, family="train", rewordings=recipe.data.rewordings, include_original=True)
    added = attach_truth(examples, items)
    logger.info("attached the world's truth to %d node examples", added)
    return examples


def rl_rows(examples: list[dict], node: str, limit: int, seed: int, *, paired: bool = False) -> list[dict]:
    """The node's examples that rewards can judge (with truth; rank_answers: its rating prompts),
    shuffled with `seed`, the first `limit` of them.

    paired: rows come as (right option, wrong option) of one question in one wording, side by side,
    the pairs shuffled; a question without both kinds is left out, and `limit` rounds down to pairs."""
    rows = [e for e in examples if e["node"] == node and "truth" in e and e.get("kind") != "score"]
    if not rows:
        raise ValueError(f"no training examples with truth for node {node!r}: rebuild the node data "
                         f"(vot train nodes --data-only) or check data.seeds")
    if not paired:
        random.Random(seed).shuffle(rows)
        return rows[:limit]
    by_question: dict[tuple, dict[bool, dict]] = {}
    for row in rows:
        by_question.setdefault((row.get("qid"), row.get("wording")), {}).setdefault(bool(row["truth"].get("correct")), row)
    pairs = [(kinds[True], kinds[False]) for kinds in by_question.values() if len(kinds) == 2]
    if not pairs:
        raise ValueError(f"rl.paired: no question of node {node!r} has both a right-option and a wrong-option row")
    random.Random(seed).shuffle(pairs)
    return [row for pair in pairs[:limit // 2] for row in pair]


def render_prompt(tokenizer, messages: list[dict], node: str) -> str:
    """The node's chat messages as the text a node call sends (chat template, generation prompt, and
    the trace node's primed first header: data.render_node_prompt)."""
    return render_node_prompt(tokenizer, node, messages)


def previous_adapter(recipe: NodeRecipe, node: str) -> Path:
    source = Path(recipe.init_from) / node / "adapter"
    if not (source / "adapter_config.json").is_file():
        raise FileNotFoundError(f"stage {recipe.stage!r} starts from {source}, which holds no adapter: run the "
                                f"previous stage first")
    return source


def load_policy(recipe: NodeRecipe, node: str):
    """(base + the previous stage's adapter of `node`, trainable; tokenizer; the adapter folder)."""
    from peft import PeftModel

    model, tokenizer = load_base(recipe.base_model, seed=recipe.train.seed, dtype=recipe.train.base_dtype)
    source = previous_adapter(recipe, node)
    check_adapter_fits(source, model, expected_node=node)
    model = PeftModel.from_pretrained(model, str(source), is_trainable=True)
    return model, tokenizer, source


def finished_summary(out: Path, resume: bool) -> dict | None:
    if resume and (out / "adapter" / "adapter_model.safetensors").is_file() and (out / "history.json").is_file():
        logger.info("%s: finished adapter found; skipping", out)
        return json.loads((out / "history.json").read_text())["summary"]
    if not resume and out.exists():
        shutil.rmtree(out)
    return None


def common_args(recipe: NodeRecipe, output: Path, max_steps: int) -> dict:
    """TrainingArguments shared by the RL trainers: CPU-safe (trl's defaults assume a bf16 GPU)."""
    import torch

    train = recipe.train
    return dict(output_dir=str(output), max_steps=max_steps, per_device_train_batch_size=train.batch_size,
                gradient_accumulation_steps=1, learning_rate=float(train.learning_rate),
                warmup_steps=train.warmup_steps, lr_scheduler_type="linear", logging_steps=train.logging_steps,
                save_steps=train.save_steps, save_total_limit=2, seed=train.seed, data_seed=train.seed,
                use_cpu=not torch.cuda.is_available(), bf16=False, fp16=False, gradient_checkpointing=False,
                dataloader_num_workers=0, report_to=[], disable_tqdm=False, logging_first_step=True,
                save_only_model=False)


# ---- reward functions as trl calls them ----------------------------------------------------------------------
def trl_reward(node: str, name: str, config: rewards.RewardConfig):
    """One reward of `node` as a trl reward function: completions (text) and the dataset's `truth`
    column (JSON) in, one float per completion out (already times the hacking gate). A trace completion
    is judged whole: the primed header + the rollout, ended at Step 5's line (data.whole_trace)."""

    def reward(completions, truth, **_):
        return [rewards.score(node, whole_trace(node, completion), json.loads(record), config, names=[name])[name]
                for completion, record in zip(completions, truth)]

    reward.__name__ = f"{node}_{name}"
    return reward


def reward_config(recipe: NodeRecipe) -> rewards.RewardConfig:
    """The rewards' settings a recipe chooses (GRPO's and rejection sampling's judge alike)."""
    return rewards.RewardConfig(length_budget_words=recipe.rl.length_budget_words,
                                steps_need_format=recipe.rl.step_rewards_need_format)


def reward_names(recipe: NodeRecipe, node: str) -> list[str]:
    names = list(rewards.NODE_REWARDS[node])
    if recipe.rl.rewards:
        names = [n for n in names if n in recipe.rl.rewards]
    return names


def detect_collapse(history: list[dict], window: int) -> dict | None:
    """The first stretch of `window` logged points where the reward rose and the accuracy fell
    (both by more than 0.05): the policy scores more while answering worse."""
    for start in range(0, max(0, len(history) - window + 1)):
        first, last = history[start], history[start + window - 1]
        if last["reward"] - first["reward"] > 0.05 and first["accuracy"] - last["accuracy"] > 0.05:
            return {"from_step": first["step"], "to_step": last["step"], "reward": [first["reward"], last["reward"]],
                    "accuracy": [first["accuracy"], last["accuracy"]]}
    return None


def reward_history(log_history: list[dict], node: str) -> list[dict]:
    """(step, total reward, accuracy, loss) per logged step from trl's log."""
    accuracy_key = f"rewards/{node}_{rewards.ACCURACY_REWARD[node]}/mean"
    rows = []
    for record in log_history:
        if "reward" in record:
            rows.append({"step": record.get("step"), "reward": record["reward"], "reward_std": record.get("reward_std"),
                         "accuracy": record.get(accuracy_key), "loss": record.get("loss"),
                         "grad_norm": record.get("grad_norm"), "kl": record.get("kl"), "entropy": record.get("entropy"),
                         **{k.split("/")[1]: v for k, v in record.items() if k.startswith("rewards/") and k.endswith("/mean")}})
    return rows


def reward_weights(recipe: NodeRecipe, names: list[str]) -> list[float]:
    """The weight of each reward in `names` (rl.reward_weights; 1.0 where it names none)."""
    weights = recipe.rl.reward_weights or {}
    return [float(weights.get(name, 1.0)) for name in names]


def grpo_config(recipe: NodeRecipe, output: Path, max_steps: int, weights: list[float] | None = None):
    from trl import GRPOConfig

    rl = recipe.rl
    return GRPOConfig(**common_args(recipe, output, max_steps), num_generations=rl.num_generations,
                      reward_weights=weights,
                      max_completion_length=rl.max_completion_length, temperature=float(rl.temperature),
                      beta=float(rl.beta), use_vllm=False, log_completions=False, disable_dropout=True,
                      shuffle_dataset=not rl.paired)  # paired rows keep their order: the pairs are pre-shuffled


def constrained_rollouts(recipe: NodeRecipe, tokenizer):
    """trl's `rollout_func` for the writer: each prompt's completion decoded under the program language's
    JSON Schema (agent/llm/constrained.py decode_batch) from the current policy, sampled at rl.temperature
    with seeds drawn from the step, so every rollout is a well-formed document and GRPO's groups differ in
    what their programs ask, not in whether they parse. trl recomputes the policy's log-probabilities of
    the sampled tokens itself (the masked sampling distribution is not passed: logprobs None)."""
    import re

    import torch

    from videothought.agent.llm.constrained import SchemaDecoder
    from videothought.graph.program import writer_schema

    decoder = SchemaDecoder.for_tokenizer(tokenizer, len(tokenizer))
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    eos = eos if isinstance(eos, int) and eos != tokenizer.unk_token_id else tokenizer.eos_token_id

    def options_in(prompt: str) -> int:
        block = prompt.rsplit("Options:", 1)[1] if "Options:" in prompt else ""
        return len(re.findall(r"(?m)^\d+\. ", block.split("<|im_end|>")[0]))

    def rollout(prompts: list, trainer) -> dict:
        model = trainer.accelerator.unwrap_model(trainer.model)
        was_training = model.training
        model.eval()
        prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        completions: list[list[int]] = [[] for _ in prompts]
        by_count: dict[int, list[int]] = {}
        for position, prompt in enumerate(prompts):
            by_count.setdefault(options_in(prompt), []).append(position)
        step = int(trainer.state.global_step)
        try:
            with torch.no_grad():
                for count, positions in by_count.items():
                    replies = decoder.decode_batch(
                        model, [prompt_ids[p] for p in positions], writer_schema(count),
                        max_new_tokens=recipe.rl.max_completion_length, temperature=float(recipe.rl.temperature),
                        seeds=[recipe.train.seed * 1_000_003 + step * 1009 + p for p in positions],
                        pad_token_id=tokenizer.pad_token_id)
                    for position, reply in zip(positions, replies):
                        completions[position] = list(reply.token_ids) + ([eos] if reply.complete else [])
        finally:
            model.train(was_training)
        return {"prompt_ids": prompt_ids, "completion_ids": completions, "logprobs": None}

    return rollout


def grpo_trainer(recipe: NodeRecipe, node: str, examples: list[dict]):
    """trl's GRPOTrainer for one node, from the previous stage's adapter: (trainer, its prompts, the
    adapter it starts from, the rewards' names, steps)."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    model, tokenizer, source = load_policy(recipe, node)
    rows = rl_rows(examples, node, recipe.rl.questions, recipe.train.seed, paired=recipe.rl.paired)
    dataset = Dataset.from_list([{"prompt": render_prompt(tokenizer, r["prompt"], node), "truth": json.dumps(r["truth"])}
                                 for r in rows])
    config = reward_config(recipe)
    names = reward_names(recipe, node)
    steps = recipe.node_steps.get(node, recipe.train.max_steps)

    class WatchCollapse(TrainerCallback):
        """Reward and accuracy read together at every log; a collapse is named when it shows."""

        def __init__(self):
            self.warned = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            found = detect_collapse(reward_history(state.log_history, node), recipe.rl.collapse_window)
            if found and not self.warned:
                logger.warning("%s: reward rose while accuracy fell (collapse?): %s", node, found)
                self.warned = True

    out = Path(recipe.output_dir) / node
    rollout = constrained_rollouts(recipe, tokenizer) if recipe.rl.constrained and node == "writer" else None
    trainer = GRPOTrainer(model=model, reward_funcs=[trl_reward(node, n, config) for n in names],
                          args=grpo_config(recipe, out / "checkpoints", steps, reward_weights(recipe, names)),
                          train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[WatchCollapse()], rollout_func=rollout)
    return trainer, dataset, source, names, steps


def train_node_grpo(recipe: NodeRecipe, node: str, examples: list[dict], *, resume: bool = True) -> dict:
    """GRPO on one node, from the previous stage's adapter; returns its summary."""
    out = Path(recipe.output_dir) / node
    done = finished_summary(out, resume)
    if done is not None:
        return done
    started = time.perf_counter()
    trainer, dataset, source, names, steps = grpo_trainer(recipe, node, examples)
    last = latest_checkpoint(out / "checkpoints") if resume else None
    if last is not None:
        logger.info("%s: resuming from %s", node, last)
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    history = reward_history(trainer.state.log_history, node)
    summary = {"node": node, "questions": len(dataset), "steps": trainer.state.global_step, "rewards": names,
               "reward_weights": reward_weights(recipe, names),
               "first": history[0] if history else None, "last": history[-1] if history else None,
               "collapse": detect_collapse(history, recipe.rl.collapse_window),
               "seconds": round(time.perf_counter() - started, 1), "resumed_from": str(last) if last else None}
    if trainer.is_world_process_zero():  # under `accelerate launch`, one process writes
        final = out / "adapter"
        final.mkdir(parents=True, exist_ok=True)
        # beta > 0: trl holds the reference as a frozen copy of the starting adapter, named "ref"; only the policy ships
        trainer.model.save_pretrained(str(final), safe_serialization=True, selected_adapters=["default"])
        write_adapter_card(final, base_identity(trainer.model, recipe.base_model), stage=recipe.stage, node=node,
                           recipe=recipe.source, command=recipe.command, steps=steps, questions=len(dataset),
                           rewards=names, init_from=str(source), **writer_card(node, source))
        (out / "history.json").write_text(json.dumps({"summary": summary, "history": history}, indent=1))
    trainer.accelerator.wait_for_everyone()
    logger.info("%s: %s", node, summary)
    return summary


def run_rl_stage(recipe: NodeRecipe, train_one, examples: list[dict] | None = None) -> dict:
    """An RL stage (3, 5, 6): `train_one(node, examples)` for every node of the recipe in turn, on
    the examples with their world truth; the previous stage's other adapters are carried forward;
    the summary is written to output_dir/summary.json."""
    if examples is None:
        examples = read_jsonl(Path(recipe.data.examples))
    examples = ensure_truth(recipe, examples)
    Path(recipe.output_dir).mkdir(parents=True, exist_ok=True)
    summary = {"stage": recipe.stage, "recipe": recipe.source, "nodes": {}}
    for node in recipe.nodes:
        summary["nodes"][node] = train_one(node, examples)
    summary["carried"] = carry_forward(recipe)
    (Path(recipe.output_dir) / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def run_grpo(recipe: NodeRecipe, *, resume: bool = True, examples: list[dict] | None = None) -> dict:
    """Every node of the recipe in turn; the previous stage's other adapters are carried forward."""
    return run_rl_stage(recipe, lambda node, rows: train_node_grpo(recipe, node, rows, resume=resume), examples)
