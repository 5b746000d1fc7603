"""The RL stages on a tiny random Llama (SmolLM2's tokenizer): GRPO updates the policy exactly when a
group's rewards (the truth's verdicts) differ, logs accuracy with the reward, a resumed GRPO run repeats an uninterrupted one, rejection sampling keeps only
traces whose every step passes and reports its acceptance, DPO's reference is the previous
stage's adapter (not the bare base), and the chosen/rejected pairs are the issue's two kinds."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from videothought.agent import prompts
from videothought.training.nodes.recipe import NodeRecipe, RecipeError

COLOURS = ["red", "blue", "green", "yellow"]


def verify_truth(option: str, correct: bool) -> dict:
    return {"question": "Which object moves?", "choices": [option, "nothing"], "answer": 0, "targets": [], "objects": [],
            "events": [], "scene_events": [], "correct": correct}


def verify_examples(count: int = 16) -> list[dict]:
    """verify rows: the red options are right, the others wrong (the truth); the SFT warm-up
    completions say yes or no at random, so the policy starts near 0.5 reward with both verdicts."""
    rng = random.Random(0)
    rows = []
    for i in range(count):
        option = f"the {COLOURS[i % 4]} circle"
        correct = COLOURS[i % 4] == "red" or COLOURS[i % 4] == "green"
        rows.append({"node": "verify", "qid": f"q{i}", "wording": "original",
                     "prompt": prompts.cognition_check("Which object moves?", f"The {COLOURS[i % 4]} circle moves.", option),
                     "completion": " yes" if rng.random() < 0.5 else " no", "correct": correct,
                     "truth": verify_truth(option, correct)})
    return rows


def recipe(tmp_path: Path, stage: str, **overrides) -> NodeRecipe:
    record = {"stage": stage, "output_dir": str(tmp_path / stage), "base_model": "tiny-random", "nodes": ["verify"],
              "data": {"examples": str(tmp_path / "examples.jsonl"), "seeds": [100]},
              "train": {"max_steps": 6, "batch_size": 8, "learning_rate": 5.0e-2, "warmup_steps": 0, "save_steps": 2,
                        "logging_steps": 1, "seed": 0, "max_length": 256},
              "rl": {"questions": 16, "num_generations": 4, "max_completion_length": 3, "temperature": 1.0}}
    for key, value in overrides.items():
        record[key] = {**record[key], **value} if isinstance(value, dict) and isinstance(record.get(key), dict) else value
    return NodeRecipe.from_dict(record)


@pytest.fixture(scope="module")
def warm_stage(tmp_path_factory) -> Path:
    """Stage 2 for the tiny model: a verify adapter (attention and MLP) that samples "yes" or "no"
    some of the time, so GRPO's groups have rewards that differ."""
    from videothought.training.nodes.sft import run_sft

    root = tmp_path_factory.mktemp("stages")
    run_sft(recipe(root, "lora", train={"max_steps": 8, "batch_size": 8, "learning_rate": 0.1, "max_length": 128},
                   lora={"r": 4, "target_modules": ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]}),
            examples=verify_examples())
    return root / "lora"


def test_rl_recipes_are_checked(tmp_path):
    with pytest.raises(RecipeError, match="needs init_from"):
        recipe(tmp_path, "grpo")
    with pytest.raises(RecipeError, match="node 'identify_targets' has no rewards"):
        recipe(tmp_path, "grpo", init_from="x", nodes=["identify_targets"])
    with pytest.raises(RecipeError, match="batch_size 6 must be a multiple of rl.num_generations 4"):
        recipe(tmp_path, "grpo", init_from="x", train={"batch_size": 6})
    with pytest.raises(RecipeError, match="rl.num_generations must be at least 2"):
        recipe(tmp_path, "grpo", init_from="x", rl={"num_generations": 1})


def test_collapse_is_reward_up_while_accuracy_down():
    from videothought.training.nodes.grpo import detect_collapse

    rising = [{"step": s, "reward": 0.2 * s, "accuracy": 0.5} for s in range(4)]
    assert detect_collapse(rising, 3) is None
    hacked = [{"step": s, "reward": 0.2 * s, "accuracy": 0.6 - 0.1 * s} for s in range(4)]
    assert detect_collapse(hacked, 3) == {"from_step": 0, "to_step": 2, "reward": [0.0, 0.4],
                                          "accuracy": [0.6, pytest.approx(0.4)]}


@pytest.mark.slow
def test_grpo_learns_from_differing_rewards_and_resumes_to_the_same_adapter(tmp_path, warm_stage):
    import shutil

    import torch
    from safetensors.torch import load_file

    from videothought.training.nodes.grpo import run_grpo

    examples = verify_examples()
    grpo = recipe(tmp_path, "grpo", init_from=str(warm_stage), output_dir=str(tmp_path / "whole"),
                  train={"max_steps": 8, "learning_rate": 0.05, "save_steps": 4}, rl={"max_completion_length": 2})
    whole = run_grpo(grpo, examples=examples)["nodes"]["verify"]
    history = json.loads((tmp_path / "whole" / "verify" / "history.json").read_text())["history"]
    assert [h["step"] for h in history] == list(range(1, 9))
    assert all(h["accuracy"] == h["verify_verdict"] for h in history)  # accuracy logged next to the reward
    assert whole["collapse"] is None
    assert any(h["reward"] > 0 for h in history)
    # GRPO learns only from groups whose rewards differ: a step where every group agreed has no gradient
    for h in history:
        if h["reward_std"] == 0:
            assert h["grad_norm"] == 0, h
    moved = [h for h in history if h["reward_std"] > 0]
    assert moved and all(h["grad_norm"] > 0 for h in moved), history
    start = load_file(str(warm_stage / "verify" / "adapter" / "adapter_model.safetensors"))
    trained = load_file(str(tmp_path / "whole" / "verify" / "adapter" / "adapter_model.safetensors"))
    assert any(not torch.equal(start[k], trained[k]) for k in start)
    # what a kill between the checkpoints at steps 4 and 8 leaves: checkpoint-4, no adapter; started again
    shutil.copytree(tmp_path / "whole", tmp_path / "split")
    node = tmp_path / "split" / "verify"
    for name in ("adapter", "checkpoints/checkpoint-8", "history.json"):
        shutil.rmtree(node / name) if (node / name).is_dir() else (node / name).unlink()
    split = recipe(tmp_path, "grpo", init_from=str(warm_stage), output_dir=str(tmp_path / "split"),
                   train={"max_steps": 8, "learning_rate": 0.05, "save_steps": 4}, rl={"max_completion_length": 2})
    resumed = run_grpo(split, examples=examples)["nodes"]["verify"]
    assert resumed["resumed_from"].endswith("checkpoint-4")
    a = load_file(str(tmp_path / "whole" / "verify" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(node / "adapter" / "adapter_model.safetensors"))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
