"""Node post-training: recipes, data from the world's truth, and each stage trained for a few steps
on tiny data with a tiny random Llama (SmolLM2's tokenizer): the loss falls, a killed run resumes
to the same result, adapters carry the base model they belong to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from videothought.agent import prompts
from videothought.training.nodes.recipe import NodeRecipe, RecipeError

COLOURS = ["red", "blue", "green", "yellow"]
SHAPES = ["circle", "square", "star", "triangle"]


def tiny_examples(count: int = 32) -> list[dict]:
    """A learnable mapping: the facts name one object, the completion repeats it."""
    rows = []
    for i in range(count):
        label = f"{COLOURS[i % 4]} {SHAPES[(i // 4) % 4]}"
        rows.append({"node": "rank_answers", "prompt": prompts.answer_context("Which object moves?", f"The {label} moves.", ""),
                     "completion": f" the {label}"})
        rows.append({"node": "vot", "prompt": prompts.vot_trace("Which object moves?", [f"the {label}", "nothing"], f"The {label} moves."),
                     "completion": f" Step 1 (targets): {label}.\nStep 4 (answer): A. the {label}"})
    return rows


def tiny_recipe(tmp_path: Path, stage: str = "lora", **overrides) -> dict:
    record = {"stage": stage, "output_dir": str(tmp_path / stage), "base_model": "tiny-random",
              "nodes": ["rank_answers"], "data": {"examples": str(tmp_path / "examples.jsonl"), "seeds": [100]},
              "train": {"max_steps": 6, "batch_size": 4, "learning_rate": 1.0e-2, "warmup_steps": 0, "save_steps": 2,
                        "logging_steps": 1, "seed": 0, "max_length": 256}}
    record.update(overrides)
    return record


def write_examples(tmp_path: Path) -> None:
    from videothought.training.nodes.data import write_jsonl

    write_jsonl(tmp_path / "examples.jsonl", tiny_examples())


# ---- recipes: bad values are named ----------------------------------------------------------------
@pytest.mark.parametrize("change, named", [
    ({"stage": "rlhf"}, "stage must be one of"),
    ({"data": {"seeds": [100, 7]}}, "[7] are evaluation seeds"),
    ({"data": {"seeds": {"from": 1000, "to": 1001}}}, "evaluation seeds"),
    ({"train": {"learning_rate": 5}}, "train.learning_rate must be in (0, 1), got 5"),
    ({"train": {"max_steps": 0}}, "train.max_steps must be a positive integer, got 0"),
    ({"lora": {"r": 0}}, "lora.r must be at least 1, got 0"),
    ({"nodes": ["rank_answer"]}, "unknown node 'rank_answer'"),
    ({"node_steps": {"verify": 3}}, "node_steps: 'verify' is not among nodes"),
    ({"base_model": "/no/such/model"}, "'/no/such/model' is neither"),
    ({"export_nodes": ["verifier"]}, "export_nodes: unknown node 'verifier'"),
    ({"export_nodes": ["rank_answers"]}, "export_nodes needs export_to"),
    ({"learning_rate": 0.1}, "unknown recipe keys ['learning_rate']"),
    ({"train": {"lr": 0.1}}, "unknown keys ['lr'] under train"),
    ({"init_adapters": {"rank_answers": "verify"}}, "needs init_from"),
])
def test_bad_recipe_values_are_named(tmp_path, change, named):
    record = tiny_recipe(tmp_path)
    record.update(change)
    with pytest.raises(RecipeError) as error:
        NodeRecipe.from_dict(record)
    assert named in str(error.value)


def test_shipped_recipes_load_and_start_with_their_command():
    root = Path(__file__).resolve().parents[2] / "training" / "recipes" / "nodes"
    stages = {}
    for path in sorted(root.glob("*.yaml")):
        recipe = NodeRecipe.load(path)
        assert recipe.command == f"vot train nodes --config training/recipes/nodes/{path.name}"
        assert not set(recipe.data.seeds) & ({7} | set(range(1000, 1101)))
        if path.stem == recipe.stage:  # the chain; other files are ablations of a stage
            stages[recipe.stage] = recipe
        else:
            assert recipe.output_dir != f"runs/nodes/{recipe.stage}", path  # an ablation never overwrites the chain
    assert set(stages) == {"projector", "lora", "coldstart", "grpo", "rejection", "dpo"}
    assert stages["lora"].init_from == stages["projector"].output_dir  # the stages chain: 1, 2, 4, 3, 5, 6
    assert stages["coldstart"].init_from == stages["lora"].output_dir
    assert stages["grpo"].init_from == stages["coldstart"].output_dir
    assert stages["rejection"].init_from == stages["grpo"].output_dir
    assert stages["dpo"].init_from == stages["rejection"].output_dir
    verify = {stage: NodeRecipe.load(root / f"{name}.yaml") for stage, name in
              (("lora", "lora_verify"), ("grpo", "grpo_verify"), ("rejection", "rejection_verify"), ("dpo", "dpo_verify"))}
    assert verify["lora"].init_from == stages["projector"].output_dir  # the verify node's own chain: 2, 3, 5, 6
    assert verify["grpo"].init_from == verify["lora"].output_dir
    assert verify["rejection"].init_from == verify["grpo"].output_dir
    assert verify["dpo"].init_from == verify["rejection"].output_dir
    assert all(r.nodes == ["verify"] and r.stage == stage for stage, r in verify.items())


def test_recipe_without_its_command_line_is_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("stage: lora\noutput_dir: x\nnodes: [verify]\n")
    with pytest.raises(RecipeError, match="first line must be the command"):
        NodeRecipe.load(path)


def test_cli_names_the_bad_recipe_value(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(f"# vot train nodes --config {path}\nstage: lora\noutput_dir: {tmp_path}/o\nnodes: [verify]\n"
                    "train: {batch_size: -2}\n")
    from videothought.training.cli import main

    assert main(["nodes", "--config", str(path)]) == 2


# ---- data from the world's truth ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def world_question(tmp_path_factory):
    from videothought.training.nodes.data import ensure_world, worded_questions

    root = ensure_world(tmp_path_factory.mktemp("world") / "w100", 100, 1)
    items = worded_questions(root, family="train", rewordings=2, include_original=True)
    return root, items


def test_worded_questions_vary_the_wording_and_keep_the_answer(world_question):
    _, items = world_question
    by_qid: dict[str, list] = {}
    for item in items:
        by_qid.setdefault(item.qid, []).append(item)
    assert any(len({i.question for i in group}) >= 2 for group in by_qid.values())
    for group in by_qid.values():
        original = next(i for i in group if i.wording == "original")
        for item in group:  # the same option (by meaning) stays the answer
            assert item.answer == original.answer
            assert len(item.choices) == len(original.choices)


def test_node_examples_use_the_agent_prompts_and_the_truth(world_question):
    import random

    from videothought.training.nodes.data import node_examples, reference_analysis

    _, items = world_question
    item = next(i for i in items if i.evidence.get("events"))
    state = {"partial_stsg": "The red circle is seen from 0.0s to 4.9s, moving right.", "targets": [
        {"phrase": "red circle", "track_ids": [3]}]}
    examples = node_examples(item, state, random.Random(0))
    nodes = [e["node"] for e in examples]
    assert nodes.count("verify") == 2 and {"identify_targets", "analyze_actions", "rank_answers", "vot"} <= set(nodes)
    score = next(e for e in examples if e.get("kind") == "score")
    assert score["completion"] == " " + item.choices[item.answer]
    assert "The red circle is seen" in score["prompt"][-1]["content"]  # the tracked STSG, not the truth
    verdicts = sorted(e["completion"].split()[0] for e in examples if e["node"] == "verify")
    assert verdicts == ["no", "yes"]
    analysis = reference_analysis(item.evidence, item.truth_doc)
    assert analysis.startswith("At ") and "s the " in analysis
    trace = next(e for e in examples if e["node"] == "vot")["completion"]
    assert f"Step 4 (answer): ({chr(65 + item.answer)}) {item.choices[item.answer]}" in trace  # data.answer_text
    assert "red circle -> track 3" in trace


def test_event_mentions_need_a_verb_and_a_participant():
    from videothought.training.nodes.data import mentions_event

    truth = {"tracks": {"1": {"label": "red circle"}, "2": {"label": "blue star"}}}
    event = {"type": "collide", "track_ids": [1, 2], "start_frame": 3}
    assert mentions_event("The red circle hits the blue star.", event, truth)
    assert not mentions_event("The red circle moves right.", event, truth)
    assert not mentions_event("Something collides.", event, truth)


def test_training_refuses_evaluation_seeds():
    from videothought.training.nodes.data import NodeDataError, check_training_seeds

    assert check_training_seeds([100, 139]) == [100, 139]
    with pytest.raises(NodeDataError, match=r"\[1050\]"):
        check_training_seeds([100, 1050])


# ---- stage 2 / 4: LoRA SFT with trl on a tiny model -----------------------------------------------------
@pytest.mark.slow
def test_lora_stage_loss_falls_and_coldstart_chains_from_it(tmp_path):
    from safetensors.torch import load_file

    from videothought.training.nodes.sft import run_sft

    examples = tiny_examples()
    lora = NodeRecipe.from_dict(tiny_recipe(tmp_path, export_to=None, train={
        "max_steps": 6, "batch_size": 4, "learning_rate": 5.0e-2, "warmup_steps": 0, "save_steps": 3, "logging_steps": 1}))
    summary = run_sft(lora, examples=examples)["nodes"]["rank_answers"]
    assert summary["steps"] == 6
    assert summary["last_loss"] < summary["first_loss"] - 0.5  # a random 2-layer model: from ~10.8 (uniform)
    adapter = tmp_path / "lora" / "rank_answers" / "adapter"
    card = json.loads((adapter / "videothought-adapter.json").read_text())
    assert card["node"] == "rank_answers" and card["base_model"]["hidden_size"] == 64
    cold = NodeRecipe.from_dict(tiny_recipe(tmp_path, stage="coldstart", nodes=["vot"], init_from=str(tmp_path / "lora"),
                                            init_adapters={"vot": "rank_answers"}, train={
                                                "max_steps": 4, "batch_size": 4, "learning_rate": 5.0e-2,
                                                "warmup_steps": 0, "save_steps": 2, "logging_steps": 1}))
    result = run_sft(cold, examples=examples)
    assert result["carried"] == ["rank_answers"]  # the previous stage's adapters travel on
    vot = load_file(str(tmp_path / "coldstart" / "vot" / "adapter" / "adapter_model.safetensors"))
    start = load_file(str(adapter / "adapter_model.safetensors"))
    assert set(vot) == set(start)  # the same LoRA, initialised from rank_answers, then trained
    assert any(not (vot[k] == start[k]).all() for k in vot)
    assert result["nodes"]["vot"]["last_loss"] < result["nodes"]["vot"]["first_loss"]


@pytest.mark.slow
def test_killed_lora_run_resumes_to_the_same_adapter(tmp_path):
    """SIGKILL a real `vot train nodes` process after its first checkpoint, run it again: the adapter
    equals the one of an uninterrupted run."""
    from safetensors.torch import load_file

    write_examples(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}

    def recipe_file(name: str) -> Path:
        record = tiny_recipe(tmp_path, output_dir=str(tmp_path / name))
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"# vot train nodes --config {path}\n" + json.dumps(record))
        return path

    command = [sys.executable, "-m", "videothought.training.cli", "nodes", "--config"]
    killed = recipe_file("killed")
    process = subprocess.Popen(command + [str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = tmp_path / "killed" / "rank_answers" / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    deadline = time.time() + 600
    while not checkpoint.is_file() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "rank_answers" / "adapter").exists()
    resumed = subprocess.run(command + [str(killed)], env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])["nodes"]["rank_answers"]
    assert summary["resumed_from"] and summary["resumed_from"].endswith(("checkpoint-2", "checkpoint-4"))
    whole = subprocess.run(command + [str(recipe_file("whole"))], env=env, capture_output=True, text=True, timeout=900)
    assert whole.returncode == 0, whole.stderr[-2000:]
    a = load_file(str(tmp_path / "killed" / "rank_answers" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "whole" / "rank_answers" / "adapter" / "adapter_model.safetensors"))
    assert set(a) == set(b)
    for key in a:
        assert (a[key] - b[key]).abs().max() < 1e-5, key


# ---- stage 1: the projector ---------------------------------------------------------------------------
def tiny_visual_data(count: int = 24) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    colours = [COLOURS[i % 4] for i in range(count)]
    centres = {c: rng.normal(size=16) for c in COLOURS}
    embeddings = np.stack([centres[c] + 0.1 * rng.normal(size=16) for c in colours]).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=-1, keepdims=True)
    return {"embeddings": embeddings, "kind": ["region"] * count, "video": ["v"] * count, "colour": colours,
            "shape": ["circle"] * count, "text": [f"a {c} circle" for c in colours]}


@pytest.mark.slow
def test_projector_loss_falls_and_resume_repeats_the_run(tmp_path):
    import torch

    from videothought.training.nodes.projector import VisualProjector, train_projector

    data = tiny_visual_data()

    def recipe(name: str, steps: int) -> NodeRecipe:
        return NodeRecipe.from_dict(tiny_recipe(tmp_path, stage="projector", nodes=[], output_dir=str(tmp_path / name),
                                                projector={"num_tokens": 2, "hidden_size": 32},
                                                train={"max_steps": steps, "batch_size": 6, "learning_rate": 3.0e-3,
                                                       "warmup_steps": 0, "save_steps": 3, "logging_steps": 1}))

    whole = train_projector(recipe("whole", 8), data=data, progress=False)
    assert whole["last_loss"] < whole["first_loss"]
    train_projector(recipe("split", 3), data=data, progress=False)  # stops after its checkpoint at step 3
    (tmp_path / "split" / "history.json").unlink()  # as if killed before finishing
    resumed = train_projector(recipe("split", 8), data=data, progress=False)
    assert resumed["steps"] == 8
    a = VisualProjector.from_pretrained(tmp_path / "whole" / "projector").state_dict()
    b = VisualProjector.from_pretrained(tmp_path / "split" / "projector").state_dict()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_projector_made_for_another_llm_is_refused(tmp_path):
    import torch

    from videothought.training.nodes.projector import ProjectorConfig, ProjectorError, VisualProjector

    VisualProjector(ProjectorConfig(embedding_size=16, llm_hidden_size=64, num_tokens=2, hidden_size=8,
                                    base_model={"name": "tiny-random"})).save_pretrained(tmp_path / "p")
    wide = torch.nn.Module()
    wide.get_input_embeddings = lambda: torch.nn.Embedding(10, 576)
    with pytest.raises(ProjectorError, match="64-wide tokens for base model 'tiny-random'"):
        VisualProjector.from_pretrained(tmp_path / "p", model=wide)
    with pytest.raises(ProjectorError, match="not a projector folder"):
        VisualProjector.from_pretrained(tmp_path / "missing")


def test_visual_tokens_replace_the_placeholder():
    import torch

    from videothought.training.nodes.models import load_base
    from videothought.training.nodes.projector import batch_inputs, score_with_visual, split_prompt, visual_messages

    model, tokenizer = load_base("tiny-random")
    tokens = torch.randn(3, 64)
    inputs, mask, labels = batch_inputs(model, tokenizer, [(tokens, visual_messages("What colour?"), " red")])
    before, after = split_prompt(tokenizer, visual_messages("What colour?"))
    red = tokenizer(" red", add_special_tokens=False)["input_ids"]
    assert "<visual>" not in tokenizer.decode(before + after)
    assert int(mask.sum()) == len(before) + 3 + len(after) + len(red)
    assert int((labels >= 0).sum()) == len(red)
    assert torch.allclose(inputs[0, len(before): len(before) + 3], tokens)  # the soft tokens sit where <visual> was
    with_tokens = score_with_visual(model, tokenizer, tokens, visual_messages("What colour?"), [" red", " blue"])
    blind = score_with_visual(model, tokenizer, None, visual_messages("What colour?"), [" red", " blue"])
    assert with_tokens != blind


# ---- adapters bound to their base model ------------------------------------------------------------------
def test_adapter_for_another_base_model_is_named(tmp_path):
    from videothought.training.nodes.models import AdapterMismatchError, check_adapter_fits, load_base, write_adapter_card

    model, _ = load_base("tiny-random")
    folder = tmp_path / "rank_answers"
    folder.mkdir()
    write_adapter_card(folder, {"name": "embedded", "model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30,
                                "vocab_size": 49152}, node="rank_answers")
    with pytest.raises(AdapterMismatchError, match="trained on base model 'embedded' \\(hidden_size=576\\)"):
        check_adapter_fits(folder, model)
    write_adapter_card(folder, {"name": "tiny-random", "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
                                "vocab_size": model.config.vocab_size}, node="verify")
    with pytest.raises(AdapterMismatchError, match="named 'rank_answers' but was trained for node 'verify'"):
        check_adapter_fits(folder, model, expected_node="rank_answers")
    with pytest.raises(AdapterMismatchError, match="no videothought-adapter.json"):
        check_adapter_fits(tmp_path, model)


def test_default_stack_names_a_broken_or_foreign_adapter(tmp_path, monkeypatch):
    from videothought.agent.context import node_adapters
    from videothought.training.nodes.models import write_adapter_card

    monkeypatch.delenv("VIDEOTHOUGHT_ADAPTERS", raising=False)
    assert node_adapters(None) == {} and node_adapters("none") == {}
    folder = tmp_path / "verify"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"adapter 'verify' in .* lacks \['adapter_model.safetensors', "
                                                r"'videothought-adapter.json'\]"):
        node_adapters(str(tmp_path))
    (folder / "adapter_model.safetensors").write_bytes(b"")
    write_adapter_card(folder, {"name": "tiny-random", "hidden_size": 64}, node="verify")
    with pytest.raises(ValueError, match="trained on base model 'tiny-random', not the embedded"):
        node_adapters(str(tmp_path))
    write_adapter_card(folder, {"name": "embedded", "hidden_size": 576}, node="rank_answers")
    with pytest.raises(ValueError, match="named 'verify' but was trained for node 'rank_answers'"):
        node_adapters(str(tmp_path))
    write_adapter_card(folder, {"name": "embedded", "hidden_size": 576}, node="verify")
    assert node_adapters(str(tmp_path)) == {"verify": str(folder)}
    monkeypatch.setenv("VIDEOTHOUGHT_ADAPTERS", "none")
    assert node_adapters("shipped") == {}
    with pytest.raises(FileNotFoundError, match="adapters folder /no/such does not exist"):
        node_adapters("/no/such")


# ---- metrics -------------------------------------------------------------------------------------------
class _LongestOptionLM:
    """Scores a continuation by its length in words (a prior over options, blind to any video)."""

    def score(self, prompt, continuations):
        return [float(len(c.split())) for c in continuations]

    def count_tokens(self, text):
        return 1


def test_blind_accuracy_and_nextqa_questions(tmp_path):
    from videothought.training.nodes.evaluate import blind_accuracy, nextqa_questions

    path = tmp_path / "val.csv"
    path.write_text("video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
                    "1,10,64,48,why did the boy run,2,1,CW,a,b,to catch the red ball,c,d\n"
                    "2,10,64,48,what is the man holding,0,2,DO,a cup,the big red umbrella,x,y,z\n")
    questions = nextqa_questions(path, 5)
    assert questions[0] == ("why did the boy run?", ["a", "b", "to catch the red ball", "c", "d"], 2)
    result = blind_accuracy(_LongestOptionLM(), questions)
    assert result == {"accuracy": 0.5, "questions": 2, "chance": 0.2}  # the longest option wins once


def test_trace_answers_parse_only_from_step_four():
    from videothought.training.nodes.evaluate import parse_trace_answer

    assert parse_trace_answer("Step 1 (targets): red circle.\nStep 4 (answer): C. it stops", 5) == 2
    assert parse_trace_answer("The answer is C.", 5) is None  # unparsable counts as wrong
    assert parse_trace_answer("Step 4 (answer): E. x", 3) is None


def test_a_trace_that_always_picks_one_letter_is_named_a_collapse():
    from videothought.training.nodes.evaluate import letter_collapse

    answers = [0, 1, 2, 3, 4, 1, 0, 2, 3, 4]
    collapsed = letter_collapse([1] * 9 + [None], answers)  # "(B)" every time: right on the two B questions
    assert collapsed["trace_top_letter"] == "B" and collapsed["trace_top_letter_share"] == 1.0
    assert collapsed["trace_top_letter_baseline"] == 0.2 and collapsed["trace_letter_collapse"]
    assert not letter_collapse(answers, answers)["trace_letter_collapse"]  # varied and right
    lucky = letter_collapse([1] * 10, [1] * 9 + [0])  # right 9 times, yet no better than always B: still one letter
    assert lucky["trace_letter_collapse"]
    assert not letter_collapse([None] * 10, answers)["trace_letter_collapse"]  # nothing parsed: no letter to collapse on


def test_verify_verdicts_are_read_as_the_node_reads_them():
    from videothought.agent.rules.nodes import parse_yes_no
    from videothought.training.nodes.evaluate import _Confusion

    assert parse_yes_no("no") == "no" and parse_yes_no("Yes, it does") == "yes"
    assert parse_yes_no(" - the video shows nothing") is None and parse_yes_no("yesterday") is None
    counts = _Confusion()
    for verdict, right in (("yes", True), ("no", False), ("no", True), (None, False)):
        counts.add(said_yes=verdict == "yes", right=right, parsed=verdict is not None)
    metrics = counts.metrics("verify")
    # an unparsed verdict on a wrong option is not a right "no": 2 of the 4 checks are right
    assert metrics == {"verify_precision": 1.0, "verify_recall": 0.5, "verify_accuracy": 0.5, "verify_yes_share": 0.25}


def test_verdict_ranking_reads_the_order_not_the_prior():
    from videothought.training.nodes.evaluate import verdict_ranking

    margins = [(0.3, 0.1), (0.2, 0.4), (0.5, 0.5), (0.9, -0.2)]  # (right option, wrong option) log-odds of "yes"
    ranked = verdict_ranking(margins)
    assert ranked["verify_pair_accuracy"] == pytest.approx(2.5 / 4)
    # every right check against every wrong one: 11.5 of the 16 comparisons favour the right option
    assert ranked["verify_auc"] == pytest.approx(11.5 / 16)
    shifted = verdict_ranking([(r + 3.0, w + 3.0) for r, w in margins])  # a prior moved onto "yes" everywhere
    assert shifted == ranked
    assert verdict_ranking([]) == {"verify_pair_accuracy": None, "verify_auc": None}


def test_tracks_match_true_objects_by_box_overlap():
    from videothought.training.nodes.evaluate import track_to_truth

    def doc(rows):
        return {"graph": {"nodes": [{"kind": "observation", "track_id": t, "frame_index": f, "box": b} for t, f, b in rows]}}

    truth = doc([(0, 0, [0, 0, 10, 10]), (1, 0, [50, 50, 60, 60]), (0, 1, [1, 0, 11, 10]), (1, 1, [50, 51, 60, 61])])
    tracked = doc([(7, 0, [0, 0, 10, 9]), (7, 1, [1, 0, 11, 10]), (8, 0, [49, 50, 60, 60]), (9, 0, [200, 200, 210, 210])])
    assert track_to_truth(tracked, truth) == {7: 0, 8: 1}  # track 9 overlaps nothing


def test_export_ships_only_the_listed_node_adapters(tmp_path):
    from videothought.training.nodes.pipeline import export

    stage = tmp_path / "lora"
    for node in ("rank_answers", "verify"):
        (stage / node / "adapter").mkdir(parents=True)
        for name in ("adapter_config.json", "adapter_model.safetensors", "videothought-adapter.json"):
            (stage / node / "adapter" / name).write_text("{}")
    recipe = NodeRecipe.from_dict(tiny_recipe(tmp_path, nodes=["rank_answers", "verify"], export_to=str(tmp_path / "ship"),
                                              export_nodes=["rank_answers"]))
    assert export(recipe) == ["rank_answers"]
    assert sorted(p.name for p in (tmp_path / "ship").iterdir()) == ["rank_answers"]


def test_bfloat16_base_falls_back_to_float32_where_the_cpu_emulates_it(monkeypatch, caplog):
    import torch

    from videothought.training.nodes.models import base_dtype_here

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    with caplog.at_level("WARNING"):
        assert base_dtype_here("bfloat16") == "float32"
    assert "without bf16 units (AVX2)" in caplog.text
    assert base_dtype_here("float32") == "float32"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert base_dtype_here("bfloat16") == "bfloat16"
