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

from .test_node_rl_rewards import TRUTH, hacks, trace

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


def trace_examples(count: int = 8) -> list[dict]:
    """vot rows: the question of the rewards' tests, its reference trace, its truth."""
    facts = "At 2.0s the pink star collides with the purple circle.\nAt 3.1s the pink star turns."
    return [{"node": "vot", "qid": f"t{i}", "wording": f"train-{i}", "truth": TRUTH, "completion": trace(),
             "prompt": prompts.vot_trace(TRUTH["question"], TRUTH["choices"], facts)} for i in range(count)]


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
    run_sft(recipe(root, "lora", nodes=["verify", "vot"], node_steps={"verify": 8, "vot": 2},
                   train={"max_steps": 8, "batch_size": 8, "learning_rate": 0.1, "max_length": 320},
                   lora={"r": 4, "target_modules": ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]}),
            examples=verify_examples() + trace_examples())
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
    with pytest.raises(RecipeError, match=r"rl.reward_weights\['answer'\] must be a number >= 0"):
        recipe(tmp_path, "grpo", init_from="x", nodes=["vot"], rl={"reward_weights": {"answer": -1}})
    with pytest.raises(RecipeError, match=r"names no reward of nodes \['vot'\]: \['rating'\]"):
        recipe(tmp_path, "grpo", init_from="x", nodes=["vot"], rl={"reward_weights": {"rating": 2}})
    with pytest.raises(RecipeError, match="rl.step_rewards_need_format must be true or false"):
        recipe(tmp_path, "grpo", init_from="x", nodes=["vot"], rl={"step_rewards_need_format": "yes"})
    with pytest.raises(RecipeError, match=r"not in rl.rewards: \['events'\]"):
        recipe(tmp_path, "grpo", init_from="x", nodes=["vot"],
               rl={"rewards": ["format", "answer"], "reward_weights": {"events": 2}})


def test_grpo_weights_reach_trl_in_reward_order(tmp_path):
    from videothought.training.nodes.grpo import grpo_config, reward_names, reward_weights

    weighted = recipe(tmp_path, "grpo", init_from="x", nodes=["vot"], rl={"reward_weights": {"answer": 2.0, "events": 0.5}})
    names = reward_names(weighted, "vot")
    assert names == ["format", "answer", "targets", "events", "verdict"]
    assert reward_weights(weighted, names) == [1.0, 2.0, 1.0, 0.5, 1.0]
    assert grpo_config(weighted, tmp_path / "out", 1, reward_weights(weighted, names)).reward_weights == [1.0, 2.0, 1.0, 0.5, 1.0]
    plain = recipe(tmp_path, "grpo", init_from="x", nodes=["vot"])
    assert reward_weights(plain, reward_names(plain, "vot")) == [1.0] * 5


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


def paired_verify_examples(questions: int = 8) -> list[dict]:
    """Each question checked twice, as the node data has it: its right option (yes) and a wrong one (no)."""
    rows = []
    for i in range(questions):
        for colour, correct in (("red", True), ("blue", False)):
            option = f"the {colour} circle"
            rows.append({"node": "verify", "qid": f"q{i}", "wording": "original", "correct": correct,
                         "prompt": prompts.cognition_check("Which object moves?", "The red circle moves.", option),
                         "completion": " yes" if correct else " no", "truth": verify_truth(option, correct)})
    return rows


def test_paired_rows_put_each_questions_two_checks_side_by_side(tmp_path):
    from videothought.training.nodes.grpo import grpo_config, rl_rows

    rows = paired_verify_examples(8)
    rows.append({**rows[0], "qid": "lonely"})  # a question with one check only is left out
    paired = rl_rows(rows, "verify", 11, seed=3, paired=True)
    assert len(paired) == 10  # the limit rounds down to whole pairs
    for right, wrong in zip(paired[0::2], paired[1::2]):
        assert right["qid"] == wrong["qid"] and right["truth"]["correct"] and not wrong["truth"]["correct"]
    assert [r["qid"] for r in paired[0::2]] != [f"q{i}" for i in range(5)]  # the pairs are shuffled
    assert "lonely" not in {r["qid"] for r in paired}
    with pytest.raises(ValueError, match="both a right-option and a wrong-option row"):
        rl_rows([r for r in rows if r["correct"]], "verify", 8, seed=0, paired=True)
    assert len(rl_rows(rows, "verify", 11, seed=3)) == 11  # unpaired: rows as before
    on = recipe(tmp_path, "grpo", init_from="x", rl={"paired": True})
    assert grpo_config(on, tmp_path / "o", 1).shuffle_dataset is False  # trl must keep the pairs' order
    assert grpo_config(recipe(tmp_path, "grpo", init_from="x"), tmp_path / "o", 1).shuffle_dataset is True
    with pytest.raises(RecipeError, match="rl.paired needs an even number of questions a step"):
        recipe(tmp_path, "grpo", init_from="x", train={"batch_size": 12}, rl={"paired": True})
    with pytest.raises(RecipeError, match="rl.paired must be true or false"):
        recipe(tmp_path, "grpo", init_from="x", rl={"paired": "yes"})


@pytest.mark.slow
def test_grpo_kl_reference_is_the_starting_adapter_and_only_the_policy_is_saved(tmp_path, warm_stage):
    """beta > 0 from a trained adapter: trl's reference is that adapter (a frozen copy, "ref"), not the
    bare base; the first step's KL is 0; the saved folder holds the policy alone."""
    import torch
    from peft import PeftModel
    from trl.trainer.utils import use_adapter

    from videothought.training.nodes.grpo import grpo_trainer, run_grpo
    from videothought.training.nodes.models import check_adapter_fits, load_base

    examples = [{**row, "qid": f"p{i // 2}"} for i, row in enumerate(verify_examples())]  # (red, blue), (green, yellow)
    grpo = recipe(tmp_path, "grpo", init_from=str(warm_stage), train={"max_steps": 2},
                  rl={"beta": 0.5, "max_completion_length": 2, "paired": True})
    trainer = grpo_trainer(grpo, "verify", examples)[0]
    policy = trainer.model
    assert "ref" in policy.peft_config
    ids = trainer.processing_class(trainer.train_dataset[0]["prompt"], return_tensors="pt").input_ids
    with torch.no_grad(), use_adapter(policy, adapter_name="ref"):
        reference = policy(ids).logits
    with torch.no_grad(), use_adapter(policy, adapter_name=None):
        bare = policy(ids).logits
    base, _ = load_base("tiny-random", seed=0)
    previous = PeftModel.from_pretrained(base, str(warm_stage / "verify" / "adapter"))
    with torch.no_grad():
        expected = previous(ids).logits
    assert torch.allclose(reference, expected, atol=1e-5)
    assert not torch.allclose(bare, expected, atol=1e-3)  # the bare base would be the wrong reference

    run_grpo(grpo, examples=examples)
    history = json.loads((tmp_path / "grpo" / "verify" / "history.json").read_text())["history"]
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    adapter = tmp_path / "grpo" / "verify" / "adapter"
    assert not (adapter / "ref").exists()
    model, _ = load_base("tiny-random", seed=0)
    check_adapter_fits(adapter, model, expected_node="verify")


# ---- stage 5: rejection sampling -----------------------------------------------------------------------------
def fake_sampler(rows: list[dict], count: int) -> list[list[str]]:
    """Four traces per question: right in every step; a wrong answer; only the format; the right
    answer through a false claim (a collision that never happened). Each as the model writes it:
    what follows the primed first header."""
    from videothought.training.nodes.data import completion_after_start

    assert count == 4
    false = trace(actions="At 2.0s the pink star collides with the green square. At 3.1s the pink star turns.")
    traces = [trace(), trace(answer="A. it stops"), hacks()["only the format"], false]
    return [[completion_after_start("vot", t) for t in traces] for _ in rows]


@pytest.mark.slow
def test_rejection_keeps_traces_whose_every_step_passes(tmp_path, warm_stage):
    from videothought.training.nodes.data import read_jsonl
    from videothought.training.nodes.rejection import run_rejection

    stage = recipe(tmp_path, "rejection", init_from=str(warm_stage), nodes=["vot"],
                   train={"max_steps": 2, "batch_size": 4, "learning_rate": 1.0e-2, "max_length": 320},
                   rl={"questions": 3, "samples_per_question": 4})
    result = run_rejection(stage, examples=trace_examples(), sampler=fake_sampler)["nodes"]["vot"]
    stats = result["acceptance"]
    assert (stats["sampled"], stats["kept"], stats["acceptance_rate"]) == (12, 3, 0.25)
    assert stats["answer_right_rate"] == 0.5  # the false-claims trace has the right answer and is not kept
    assert stats["pass_rate"]["events"] == 0.5 and stats["pass_rate"]["format"] == 0.75
    kept = read_jsonl(tmp_path / "rejection" / "vot" / "kept.jsonl")
    assert [k["completion"] for k in kept] == [trace().strip()] * 3  # whole traces, the header back in front
    assert result["steps"] == 2 and result["last_loss"] < result["first_loss"]  # SFT on the kept traces
    assert json.loads((tmp_path / "rejection" / "vot" / "acceptance.json").read_text()) == stats
    assert result["carried"] if "carried" in result else True


def test_rejection_on_verify_keeps_each_verdict_with_its_own_option(tmp_path, warm_stage):
    """A verify question has two rows (its right option and a wrong one): a kept verdict is trained on
    the prompt it was sampled for, not on its question's other check."""
    from videothought.training.nodes.data import read_jsonl
    from videothought.training.nodes.rejection import run_rejection

    stage = recipe(tmp_path, "rejection", init_from=str(warm_stage),
                   train={"max_steps": 1, "batch_size": 4, "learning_rate": 1.0e-2, "max_length": 320},
                   rl={"questions": 8, "samples_per_question": 2, "paired": True})
    result = run_rejection(stage, examples=paired_verify_examples(4),
                           sampler=lambda rows, n: [[" yes", " no"] for _ in rows])["nodes"]["verify"]
    assert (result["acceptance"]["sampled"], result["acceptance"]["kept"]) == (16, 8)
    kept = read_jsonl(tmp_path / "rejection" / "verify" / "kept.jsonl")
    for example in kept:
        shown = example["prompt"][-1]["content"]
        assert ("Answer: the red circle" in shown) == (example["completion"].strip() == "yes"), example


def test_model_sampler_draws_n_seeded_traces(tmp_path, warm_stage):
    from videothought.training.nodes.rejection import model_sampler

    stage = recipe(tmp_path, "rejection", init_from=str(warm_stage), nodes=["vot"], rl={"max_completion_length": 4})
    rows = trace_examples(2)
    first = model_sampler(stage, "vot")(rows, 3)
    assert [len(texts) for texts in first] == [3, 3] and len(set(first[0])) > 1  # sampled, not greedy
    assert model_sampler(stage, "vot")(rows, 3) == first  # seeded: a restarted run draws the same traces


# ---- stage 6: DPO with an explicit reference ------------------------------------------------------------------
def test_preference_pairs_are_the_two_kinds():
    from videothought.training.nodes import rewards
    from videothought.training.nodes.dpo import preference_pairs

    pairs = preference_pairs(trace_examples(2), "vot", seed=0)
    assert sorted(p["kind"] for p in pairs) == ["false_claims", "false_claims", "wrong_answer", "wrong_answer"]
    for pair in pairs:
        assert rewards.passes_every_step("vot", pair["chosen"], TRUTH)
        scores = rewards.score("vot", pair["rejected"], TRUTH)
        if pair["kind"] == "wrong_answer":
            assert scores["answer"] == 0
        else:  # the right answer, reached through false claims
            assert scores["answer"] == 1 and scores["format"] == 1 and scores["events"] < 1
    reversed_pair = next(p for p in pairs if p["kind"] == "false_claims")
    assert "At 3.1s the small pink star turns at the top edge. At 2.0s" in reversed_pair["rejected"]
    verify = preference_pairs(verify_examples(4), "verify", seed=0)
    assert all(p["chosen"].split()[0] != p["rejected"].split()[0] for p in verify)


@pytest.mark.slow
def test_dpo_reference_is_the_previous_stage_not_the_bare_base(tmp_path, warm_stage):
    import torch
    from peft import PeftModel

    from videothought.training.nodes.dpo import dpo_trainer, preference_pairs, run_dpo
    from videothought.training.nodes.models import load_base

    stage = recipe(tmp_path, "dpo", init_from=str(warm_stage), nodes=["vot"],
                   train={"max_steps": 3, "batch_size": 2, "learning_rate": 1.0e-2, "max_length": 400})
    pairs = preference_pairs(trace_examples(2), "vot", seed=0)
    trainer = dpo_trainer(stage, "vot", pairs, tmp_path / "probe", 3)
    batch = next(iter(trainer.get_train_dataloader()))
    reference = torch.cat(trainer.compute_ref_log_probs(trainer.ref_model, batch))  # (2B,): chosen then rejected

    def completion_logprob(model) -> torch.Tensor:
        """Summed log-probability of each sequence's completion tokens, computed here, not by trl."""
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        token = logits.log_softmax(-1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]  # (2B, L-1)
        return (token * batch["completion_mask"][:, 1:]).sum(-1)

    previous = PeftModel.from_pretrained(load_base("tiny-random")[0], str(warm_stage / "vot" / "adapter")).eval()
    bare = load_base("tiny-random")[0].eval()
    assert torch.allclose(reference, completion_logprob(previous), atol=1e-3)  # the previous stage's model
    assert not torch.allclose(reference, completion_logprob(bare), atol=1e-1)  # not the bare base
    result = run_dpo(stage, examples=trace_examples(2))["nodes"]["vot"]
    assert result["pairs"] == 4 and result["pair_kinds"] == {"wrong_answer": 2, "false_claims": 2}
    assert result["steps"] == 3 and result["reference"].endswith("vot/adapter")
    assert result["last"]["rewards/margins"] > result["first"]["rewards/margins"]  # chosen pulled above rejected
