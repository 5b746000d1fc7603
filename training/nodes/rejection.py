"""Stage 5, rejection sampling: N traces per training question from the current graph's node
(the previous stage's adapter), keep the traces whose EVERY step passes the rewards (format,
answer, targets, events, verdict, and the hacking gate), not only those with a right answer;
SFT on the kept traces (stage 2's trainer, sft.train_node, from the same adapter).

    output_dir/<node>/samples.jsonl     every sampled trace with its rewards (written once: a
                                        restarted run reuses it, so it keeps the same traces)
    output_dir/<node>/kept.jsonl        the accepted ones, as SFT examples
    output_dir/<node>/acceptance.json   sampled, kept, acceptance rate, answer-only rate, per-reward pass rates
    output_dir/<node>/adapter/          SFT on the kept traces (or, when none passed, the previous
                                        stage's adapter unchanged, and the summary says so)

The answer-only rate (traces with a right answer) is reported next to the acceptance rate: their
difference is the traces that reached the right option through false or missing steps.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from videothought.training.nodes import rewards
from videothought.training.nodes.data import read_jsonl, whole_trace, write_jsonl
from videothought.training.nodes.grpo import (load_policy, previous_adapter, render_prompt, reward_config, rl_rows,
                                              run_rl_stage)
from videothought.training.nodes.recipe import NodeRecipe
from videothought.training.nodes.sft import train_node

logger = logging.getLogger(__name__)

Sampler = Callable[[list[dict], int], list[list[str]]]  # (rows, N) -> N completions per row


def model_sampler(recipe: NodeRecipe, node: str) -> Sampler:
    """Samples from base + the previous stage's adapter of `node` (temperature rl.temperature,
    rl.max_completion_length new tokens), seeded with train.seed: the same traces on every run."""
    import torch

    model, tokenizer, _ = load_policy(recipe, node)
    model.eval()

    def sample(rows: list[dict], count: int) -> list[list[str]]:
        from tqdm.auto import tqdm

        torch.manual_seed(recipe.train.seed)
        out = []
        for row in tqdm(rows, desc=f"sampling {node}", unit="question"):
            ids = tokenizer(render_prompt(tokenizer, row["prompt"], node), return_tensors="pt", add_special_tokens=False)
            with torch.no_grad():
                generated = model.generate(**ids, do_sample=True, temperature=float(recipe.rl.temperature), top_k=0,
                                           top_p=1.0, max_new_tokens=recipe.rl.max_completion_length,
                                           num_return_sequences=count, pad_token_id=tokenizer.pad_token_id)
            out.append(tokenizer.batch_decode(generated[:, ids["input_ids"].shape[1]:], skip_special_tokens=True))
        return out

    return sample


def writer_sampler(recipe: NodeRecipe, node: str) -> Sampler:
    """The writer's samples: N programs per question from base + the previous stage's adapter, decoded
    under the language's grammar in batches (agent/writer.py write_programs; temperature rl.temperature,
    seeds from train.seed), so every sample is a JSON document of the language's shape."""
    from videothought.agent.llm.local import LocalLanguageModel
    from videothought.agent.writer import Request, write_programs

    model, tokenizer, _ = load_policy(recipe, node)
    lm = LocalLanguageModel(model.eval(), tokenizer, name=f"{node}-policy")

    def sample(rows: list[dict], count: int) -> list[list[str]]:
        from tqdm.auto import tqdm

        out = []
        for index, row in enumerate(tqdm(rows, desc=f"sampling {node}", unit="question")):
            question = row["prompt"][-1]["content"]
            requests = [Request(question, row["truth"]["choices"], "")] * count
            seeds = [recipe.train.seed * 100003 + index * count + k for k in range(count)]
            written = write_programs(lm, requests, style="raw", temperature=float(recipe.rl.temperature), seeds=seeds,
                                     max_new_tokens=recipe.rl.max_completion_length, batch_size=count,
                                     messages=[row["prompt"]] * count)
            out.append([w.text for w in written])
        return out

    return sample


def judge(node: str, rows: list[dict], completions: list[list[str]], config: rewards.RewardConfig) -> list[dict]:
    """Every sampled completion with its rewards and whether every step passes. Samples are what the
    model wrote after the primed prompt; records hold them whole (data.whole_trace), as node data does."""
    records = []
    for index, (row, generated) in enumerate(zip(rows, completions)):
        for text in (whole_trace(node, g) for g in generated):
            scores = rewards.score(node, text, row["truth"], config)
            records.append({"row": index, "qid": row["qid"], "wording": row.get("wording"), "completion": text,
                            "rewards": scores,
                            "accepted": rewards.passes_every_step(node, text, row["truth"], config)})
    return records


def acceptance(node: str, records: list[dict]) -> dict:
    total = len(records)
    accuracy_name = rewards.ACCURACY_REWARD[node]
    names = list(rewards.NODE_REWARDS[node])
    return {"sampled": total, "kept": sum(r["accepted"] for r in records),
            "acceptance_rate": sum(r["accepted"] for r in records) / total if total else 0.0,
            "answer_right_rate": sum(r["rewards"][accuracy_name] >= 1 for r in records) / total if total else 0.0,
            "pass_rate": {n: sum(r["rewards"][n] >= 1 for r in records) / total if total else 0.0 for n in names},
            "questions_with_a_kept_trace": len({(r["qid"], r["wording"]) for r in records if r["accepted"]})}


def reject_node(recipe: NodeRecipe, node: str, examples: list[dict], *, resume: bool = True,
                sampler: Sampler | None = None) -> dict:
    out = Path(recipe.output_dir) / node
    if not resume and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = rl_rows(examples, node, recipe.rl.questions, recipe.train.seed, paired=recipe.rl.paired)
    samples_path = out / "samples.jsonl"
    config = reward_config(recipe)
    if resume and samples_path.is_file():
        records = read_jsonl(samples_path)
        logger.info("%s: reusing %d sampled traces from %s", node, len(records), samples_path)
    else:
        sampler = sampler or (writer_sampler if node == "writer" else model_sampler)(recipe, node)
        records = judge(node, rows, sampler(rows, recipe.rl.samples_per_question), config)
        write_jsonl(samples_path, records)
    stats = acceptance(node, records)
    # a record's prompt is its row's: a verify question has two rows (its right and a wrong option), so
    # (qid, wording) does not name one prompt; samples written before "row" existed were trace rows, where it does
    by_question = {(r["qid"], r.get("wording")): r["prompt"] for r in rows}
    kept = [{"node": node, "prompt": rows[r["row"]]["prompt"] if "row" in r else by_question[(r["qid"], r["wording"])],
             "completion": r["completion"], "qid": r["qid"], "wording": r["wording"]} for r in records if r["accepted"]]
    write_jsonl(out / "kept.jsonl", kept)
    (out / "acceptance.json").write_text(json.dumps(stats, indent=1))
    logger.info("%s: acceptance %.3f (%d of %d traces; a right answer in %.3f)", node, stats["acceptance_rate"],
                stats["kept"], stats["sampled"], stats["answer_right_rate"])
    sampling_seconds = round(time.perf_counter() - started, 1)
    if kept:
        trained = train_node(recipe, node, kept, resume=resume)
    else:  # nothing to learn from: the stage passes the previous adapter on, and says so
        final = out / "adapter"
        if final.exists():
            shutil.rmtree(final)
        shutil.copytree(previous_adapter(recipe, node), final)
        trained = {"node": node, "examples": 0, "steps": 0, "note": "no trace passed every step: previous adapter kept"}
        (out / "history.json").write_text(json.dumps({"summary": trained, "history": []}, indent=1))
    return {**trained, "acceptance": stats, "sampling_seconds": sampling_seconds}


def run_rejection(recipe: NodeRecipe, *, resume: bool = True, examples: list[dict] | None = None,
                  sampler: Sampler | None = None) -> dict:
    return run_rl_stage(recipe, lambda node, rows: reject_node(recipe, node, rows, resume=resume, sampler=sampler),
                        examples)
