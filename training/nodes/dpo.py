"""Stage 6, preference RL with trl's DPOTrainer on the cold-start trace (and any rewarded node).

Pairs per training question, each checked by the rewards (a pair whose corruption the rewards
cannot see is dropped):

    kind           chosen                                   rejected
    wrong_answer   the reference trace (right answer,       the same trace with Step 4 on a wrong option
                   every step true: passes every reward)
    false_claims   the reference trace                      a right answer reached through false claims:
                                                            Step 3's events reordered (time-reversed), or a
                                                            participant swapped for another object of the video

The reference model is explicit. trl's default reference for a peft model is "the adapter
disabled" (the bare base), or a copy of the policy adapter made inside the trainer; after stages
1-5 the policy starts from the previous stage's adapter, so the reference here is a separate
frozen model: base + the previous stage's adapter, loaded from that stage's files. Policy and
reference agree at step 0 (DPO's log-ratios start at 0); the bare base is never the reference.

    policy     base + previous <node>/adapter   (trainable LoRA: the same weights, then trained)
    reference  base + previous <node>/adapter, merged (frozen, eval; passed as DPOTrainer(ref_model=...))
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from pathlib import Path

from videothought.training.nodes import rewards
from videothought.training.nodes.data import TRACE_NODE, answer_text, completion_after_start
from videothought.training.nodes.grpo import (
    common_args,
    finished_summary,
    load_policy,
    previous_adapter,
    render_prompt,
    reward_config,
    rl_rows,
    run_rl_stage,
)
from videothought.training.nodes.models import base_identity, load_base, write_adapter_card, writer_card
from videothought.training.nodes.recipe import NodeRecipe
from videothought.training.nodes.sft import latest_checkpoint, training_completion

logger = logging.getLogger(__name__)


OPPOSITE = {"verify": {False: " no", True: " yes"},  # keyed by "chosen says no"; verify is read as its first word
            "rank_answers": {False: " 2 - the facts do not show it.", True: " 9 - the facts support it."}}


# ---- pairs -------------------------------------------------------------------------------------------------
def with_step(trace: str, number: int, text: str) -> str:
    """`trace` with step `number`'s text replaced (header kept)."""
    pattern = re.compile(rf"(Step\s*{number}\s*(?:\([a-z]+\))?\s*:)(.*?)(?=\n?Step\s*{number + 1}\b|\Z)", re.DOTALL)
    return pattern.sub(lambda m: m.group(1) + " " + text, trace, count=1)


def wrong_answer(trace: str, truth: dict, rng: random.Random) -> str:
    wrong = rng.choice([i for i in range(len(truth["choices"])) if i != int(truth["answer"])])
    return with_step(trace, 4, answer_text(wrong, truth["choices"]))


def false_claims(trace: str, truth: dict, rng: random.Random) -> str | None:
    """Step 3 made false with the answer kept: its event sentences time-reversed when there are two
    or more, else a participant replaced by another object of the video. None when neither applies."""
    actions = rewards.trace_steps(trace).get(3, "")
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", actions.strip()) if s]
    labels = sorted({label for e in truth.get("scene_events") or [] for label in e.get("labels") or []})
    claimed = [s for s in sentences if rewards.event_claims(s, labels)]
    if len(claimed) >= 2:
        return with_step(trace, 3, " ".join(reversed(sentences)))
    for sentence in claimed:
        named = [label for label in labels if label in sentence]
        others = [label for label in labels if label not in named]
        if named and others:
            return with_step(trace, 3, actions.replace(named[0], rng.choice(others), 1))
    return None


def preference_pairs(rows: list[dict], node: str, seed: int) -> list[dict]:
    """{"prompt" (messages), "chosen", "rejected", "kind", "qid"} for every row whose reference passes
    every reward; a rejected trace must lose the answer (wrong_answer) or keep it and lose the events
    reward (false_claims)."""
    rng = random.Random(seed)
    pairs = []
    for row in rows:
        chosen, truth = training_completion(node, row["completion"]), row["truth"]  # what the node is read for
        if not rewards.passes_every_step(node, chosen, truth):
            continue
        if node == TRACE_NODE:
            candidates = [("wrong_answer", wrong_answer(chosen, truth, rng)),
                          ("false_claims", false_claims(chosen, truth, rng))]
        else:  # verify / rating: the opposite verdict
            candidates = [("wrong_answer", OPPOSITE[node][chosen.split()[0].strip(" -") not in ("yes", "9")])]
        for kind, rejected in candidates:
            if rejected is None:
                continue
            scores = rewards.score(node, rejected, truth)
            if kind == "wrong_answer" and scores[rewards.ACCURACY_REWARD[node]] != 0:
                continue
            if kind == "false_claims" and not (scores["answer"] == 1 and scores["events"] < 1):
                continue
            pairs.append({"prompt": row["prompt"], "chosen": chosen, "rejected": rejected, "kind": kind,
                          "qid": row["qid"]})
    return pairs


def writer_pairs(recipe: NodeRecipe, rows: list[dict], out: Path, *, resume: bool = True) -> list[dict]:
    """The writer's preference pairs, from its own samples (no program labels): for each answer-only
    question, N programs sampled from the previous adapter (rejection.writer_sampler), judged by running
    them (writer_rewards); chosen = one that runs to the right answer, rejected = one that runs to a
    wrong one (a valid program, so the pair differs in what it asks, not in its JSON). The samples are
    written once (samples.jsonl) and reused by a restarted run."""
    from videothought.training.nodes.rejection import judge, writer_sampler

    samples_path = out / "samples.jsonl"
    if resume and samples_path.is_file():
        records = [json.loads(line) for line in samples_path.read_text().splitlines() if line.strip()]
    else:
        sampler = writer_sampler(recipe, "writer")
        records = judge("writer", rows, sampler(rows, recipe.rl.samples_per_question), reward_config(recipe))
        out.mkdir(parents=True, exist_ok=True)
        samples_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    rng = random.Random(recipe.train.seed)
    pairs = []
    for index, row in enumerate(rows):
        mine = [r for r in records if r["row"] == index]
        right = [r["completion"] for r in mine if r["rewards"]["answer"] >= 1 and r["rewards"]["format"] >= 1]
        wrong = [r["completion"] for r in mine if r["rewards"]["answer"] < 1 and r["rewards"]["format"] >= 1]
        if right and wrong:
            pairs.append({"prompt": row["prompt"], "chosen": rng.choice(right), "rejected": rng.choice(wrong),
                          "kind": "wrong_answer", "qid": row["qid"]})
    return pairs


# ---- the trainer ---------------------------------------------------------------------------------------------
def load_reference(recipe: NodeRecipe, node: str):
    """The frozen reference: base + the previous stage's adapter of `node` (merged), in eval mode."""
    from peft import PeftModel

    model, _ = load_base(recipe.base_model, seed=recipe.train.seed)
    # merged into the base weights: a plain causal LM, which trl's fused log-prob head patches as it does any
    # reference (its patch does not reach through a peft wrapper); numerically base + the adapter's delta
    reference = PeftModel.from_pretrained(model, str(previous_adapter(recipe, node))).merge_and_unload().eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def dpo_trainer(recipe: NodeRecipe, node: str, pairs: list[dict], output: Path, max_steps: int):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    model, tokenizer, _ = load_policy(recipe, node)
    reference = load_reference(recipe, node)
    dataset = Dataset.from_list([{"prompt": render_prompt(tokenizer, p["prompt"], node),  # primed for the trace
                                  "chosen": completion_after_start(node, p["chosen"]),
                                  "rejected": completion_after_start(node, p["rejected"])} for p in pairs])
    config = DPOConfig(**common_args(recipe, output, max_steps), beta=float(recipe.rl.dpo_beta),
                       max_length=recipe.train.max_length,  # prompt (~350 tokens) + trace (~120) fit 640
                       precompute_ref_log_probs=False, disable_dropout=True)
    return DPOTrainer(model=model, ref_model=reference, args=config, train_dataset=dataset, processing_class=tokenizer)


def dpo_history(log_history: list[dict]) -> list[dict]:
    keep = ("loss", "rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected")
    return [{"step": r.get("step"), **{k: r[k] for k in keep if k in r}} for r in log_history if "loss" in r]


def train_node_dpo(recipe: NodeRecipe, node: str, examples: list[dict], *, resume: bool = True) -> dict:
    out = Path(recipe.output_dir) / node
    done = finished_summary(out, resume)
    if done is not None:
        return done
    started = time.perf_counter()
    rows = rl_rows(examples, node, recipe.rl.questions, recipe.train.seed, paired=recipe.rl.paired)
    pairs = writer_pairs(recipe, rows, out, resume=resume) if node == "writer" else \
        preference_pairs(rows, node, recipe.train.seed)
    if not pairs:
        raise ValueError(f"{node}: no preference pairs from {len(rows)} questions (no reference trace passes every reward)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    steps = recipe.node_steps.get(node, recipe.train.max_steps)
    trainer = dpo_trainer(recipe, node, pairs, out / "checkpoints", steps)
    last = latest_checkpoint(out / "checkpoints") if resume else None
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    history = dpo_history(trainer.state.log_history)
    kinds = {k: sum(p["kind"] == k for p in pairs) for k in ("wrong_answer", "false_claims")}
    summary = {"node": node, "pairs": len(pairs), "pair_kinds": kinds, "steps": trainer.state.global_step,
               "first": history[0] if history else None, "last": history[-1] if history else None,
               "reference": str(previous_adapter(recipe, node)), "seconds": round(time.perf_counter() - started, 1),
               "resumed_from": str(last) if last else None}
    if trainer.is_world_process_zero():
        final = out / "adapter"
        final.mkdir(parents=True, exist_ok=True)
        trainer.model.save_pretrained(str(final), safe_serialization=True)
        write_adapter_card(final, base_identity(trainer.model, recipe.base_model), stage=recipe.stage, node=node,
                           recipe=recipe.source, command=recipe.command, steps=steps, pairs=len(pairs),
                           init_from=summary["reference"], reference=summary["reference"],
                           **writer_card(node, Path(summary["reference"])))
        (out / "history.json").write_text(json.dumps({"summary": summary, "history": history}, indent=1))
    trainer.accelerator.wait_for_everyone()
    logger.info("%s: %s", node, summary)
    return summary


def run_dpo(recipe: NodeRecipe, *, resume: bool = True, examples: list[dict] | None = None) -> dict:
    return run_rl_stage(recipe, lambda node, rows: train_node_dpo(recipe, node, rows, resume=resume), examples)
