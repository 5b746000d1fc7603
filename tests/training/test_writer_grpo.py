"""GRPO on the program writer with constrained rollouts (rl.constrained): trl's GRPOTrainer, built by
grpo_trainer for the writer node on a tiny random Llama, samples its groups through our rollout
function, so every finished rollout is a document of the program language, even from a policy that
has learnt nothing; one training step runs and is logged with the writer's rewards."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.agent.graph.helpers import scene_document
from videothought.agent.writer import writer_messages
from videothought.training.nodes.recipe import NodeRecipe

QUESTIONS = [("How many times does the red circle collide?", ["0", "1", "2", "3"], 1),
             ("Which object stops?", ["the red circle", "the blue square", "the green triangle"], 2),
             ("Does the green triangle enter?", ["yes", "no"], 0),
             ("What does the red circle hit?", ["the blue square", "the green triangle"], 0)]
PROGRAM = json.dumps({"program": [{"op": "find", "name": "circle", "adj": ["red"]}, {"op": "events", "kind": "collide"},
                                  {"op": "count"}], "options": [{"number": 0}, {"number": 1}, {"number": 2}, {"number": 3}]})


def writer_rows(tracked: Path) -> list[dict]:
    names = "colour: blue, green, red; shape: circle, square, triangle"
    rows = []
    for i, (question, choices, answer) in enumerate(QUESTIONS * 2):
        rows.append({"node": "writer", "qid": f"q{i}", "wording": "original", "completion": PROGRAM,
                     "prompt": writer_messages(question, choices, names),
                     "truth": {"choices": choices, "answer": answer, "tracked": str(tracked), "world": str(tracked),
                               "objects": [1], "events": ["collide"]}})
    return rows


def recipe(tmp_path: Path, stage: str, **overrides) -> NodeRecipe:
    record = {"stage": stage, "output_dir": str(tmp_path / stage), "base_model": "tiny-random", "nodes": ["writer"],
              "data": {"examples": str(tmp_path / "examples.jsonl"), "seeds": [100]},
              "train": {"max_steps": 1, "batch_size": 4, "learning_rate": 1.0e-2, "warmup_steps": 0, "save_steps": 1,
                        "logging_steps": 1, "seed": 0, "max_length": 512},
              "lora": {"r": 4, "target_modules": ["q_proj", "v_proj"]},
              "rl": {"questions": 8, "num_generations": 4, "max_completion_length": 160, "temperature": 1.0,
                     "constrained": True}}
    for key, value in overrides.items():
        record[key] = {**record[key], **value} if isinstance(value, dict) and isinstance(record.get(key), dict) else value
    return NodeRecipe.from_dict(record)


@pytest.fixture(scope="module")
def warm_writer(tmp_path_factory) -> tuple[Path, list[dict]]:
    from videothought.training.nodes.sft import run_sft

    root = tmp_path_factory.mktemp("writer")
    tracked = root / "tracked.json"
    tracked.write_text(json.dumps(scene_document()), encoding="utf-8")
    rows = writer_rows(tracked)
    run_sft(recipe(root, "lora", train={"max_steps": 1, "batch_size": 4, "learning_rate": 1.0e-3, "warmup_steps": 0,
                                        "save_steps": 1, "logging_steps": 1, "seed": 0, "max_length": 512}),
            examples=rows)
    return root / "lora", rows


def test_constrained_rollouts_are_documents_of_the_language(tmp_path, warm_writer):
    from videothought.graph.program import writer_schema
    from videothought.training.nodes.grpo import constrained_rollouts, grpo_trainer

    source, rows = warm_writer
    grpo = recipe(tmp_path, "grpo", init_from=str(source))
    trainer, dataset, _, names, _ = grpo_trainer(grpo, "writer", rows)
    assert names[0] == "answer" and trainer.rollout_func is not None
    rollout = constrained_rollouts(grpo, trainer.processing_class)
    prompts = [dataset[i]["prompt"] for i in range(4)]
    out = rollout(prompts, trainer)
    assert len(out["completion_ids"]) == 4 and out["logprobs"] is None
    tokenizer = trainer.processing_class
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    finished = 0
    for prompt, ids in zip(prompts, out["completion_ids"]):
        if ids and ids[-1] == end:
            finished += 1
            choices = next(json.loads(r["truth"]) for r in dataset if r["prompt"] == prompt)["choices"]
            # a policy that has learnt nothing, and still a document of the writer's schema
            jsonschema.validate(json.loads(tokenizer.decode(ids, skip_special_tokens=True)), writer_schema(len(choices)))
    assert finished >= 1, "no rollout finished within max_completion_length"


def test_one_constrained_grpo_step_trains_the_writer(tmp_path, warm_writer):
    from videothought.training.nodes.grpo import run_grpo

    source, rows = warm_writer
    result = run_grpo(recipe(tmp_path, "grpo", init_from=str(source)), examples=rows)["nodes"]["writer"]
    history = json.loads((tmp_path / "grpo" / "writer" / "history.json").read_text())["history"]
    assert [h["step"] for h in history] == [1] and result["steps"] == 1
    assert {"writer_answer", "writer_format", "writer_objects", "writer_events"} <= set(history[0])
    assert (tmp_path / "grpo" / "writer" / "adapter" / "adapter_model.safetensors").is_file()
    card = json.loads((tmp_path / "grpo" / "writer" / "adapter" / "videothought-adapter.json").read_text())
    assert card["prompt_style"] == "compact" and "option_pass" not in card  # as the writer it started from


@pytest.mark.parametrize("reads_options", [True, False])
def test_a_stage_after_the_option_pass_keeps_it(tmp_path, warm_writer, reads_options):
    """Rejection sampling trains on whole programs (no single-option readings); the writer it starts
    from decides whether the adapter it writes still reads options alone (the adapter card)."""
    import shutil

    from videothought.training.nodes.models import ADAPTER_CARD, read_adapter_card
    from videothought.training.nodes.rejection import run_rejection

    source, rows = warm_writer
    start = tmp_path / "start"
    shutil.copytree(source, start)
    card_path = start / "writer" / "adapter" / ADAPTER_CARD
    card = json.loads(card_path.read_text())
    card.pop("option_pass", None)
    card_path.write_text(json.dumps({**card, **({"option_pass": True} if reads_options else {})}))
    stage = recipe(tmp_path, "rejection", init_from=str(start), rl={"samples_per_question": 2})
    result = run_rejection(stage, examples=rows, sampler=lambda batch, n: [[PROGRAM] * n for _ in batch])
    assert result["nodes"]["writer"]["acceptance"]["kept"] > 0  # trained on kept programs, not copied
    written = read_adapter_card(tmp_path / "rejection" / "writer" / "adapter")
    assert written["stage"] == "rejection" and written["prompt_style"] == "compact"
    assert written.get("option_pass", False) is reads_options


def test_writer_card_fields_come_from_the_data_or_the_starting_adapter(tmp_path):
    from videothought.training.nodes.models import write_adapter_card, writer_card

    write_adapter_card(tmp_path, {"name": "embedded"}, node="writer", prompt_style="few-shot", option_pass=True)
    assert writer_card("writer", tmp_path) == {"prompt_style": "few-shot", "option_pass": True}
    assert writer_card("writer", None) == {"prompt_style": "compact"}
    assert writer_card("writer", None, option_reads=True) == {"prompt_style": "compact", "option_pass": True}
    assert writer_card("verify", tmp_path) == {}
