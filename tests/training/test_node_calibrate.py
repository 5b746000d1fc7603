"""The verify adapter's calibrated verdict: the threshold fit, the command that writes it into the
adapter's card, and the graph's verify node reading it (the real SmolLM2 with a random LoRA)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from langgraph.runtime import Runtime

from videothought.agent import prompts
from videothought.agent.context import VoTContext
from videothought.agent.llm import FakeLanguageModel, ModelNotFoundError
from videothought.agent.llm.protocol import adapter_scope
from videothought.agent.rules import nodes
from videothought.training.nodes.calibrate import CalibrationError, calibrate_adapter, calibration_checks, fit_threshold

STATE = {"question": "Does the ball stop?", "choices": ["it stops", "it bounces"], "partial_stsg": "A ball moves.",
         "action_analysis": "The ball rolls and stops.", "answer": "it stops", "answer_index": 0}


def test_threshold_undoes_a_moved_prior():
    right, wrong = [2.0, 2.5, 3.0, 1.2], [1.0, 0.5, 1.5, 2.8]  # every log-odds > 0: the greedy verdict says yes
    fit = fit_threshold(right + wrong, [True] * 4 + [False] * 4)
    assert fit["accuracy_at_zero"] == 0.5 and fit["yes_share_at_zero"] == 1.0
    assert fit["accuracy"] == pytest.approx(6 / 8)
    assert 1.0 < fit["threshold"] < 2.0 and fit["yes_share"] == 0.5  # the middle of the best plateau
    separable = fit_threshold([3.0, 4.0, 1.0, 2.0], [True, True, False, False])
    assert separable == {"threshold": 2.5, "accuracy": 1.0, "yes_share": 0.5, "accuracy_at_zero": 0.5,
                         "yes_share_at_zero": 1.0}
    with pytest.raises(CalibrationError, match="right and wrong checks both"):
        fit_threshold([1.0, 2.0], [True, True])
    with pytest.raises(CalibrationError, match="3 log-odds but 2 labels"):
        fit_threshold([1.0, 2.0, 3.0], [True, False])


def fake_verifier(threshold: float) -> FakeLanguageModel:
    return FakeLanguageModel(adapter_names=("verify",), adapter_cards={"verify": {"verdict": {"threshold": threshold}}},
                             scores={" yes": -1.0, " no": -3.0})  # log-odds of "yes": 2.0


@pytest.mark.parametrize("threshold, verdict", [(1.5, "yes"), (2.5, "no")])
def test_verify_node_reads_the_log_odds_against_the_adapters_threshold(threshold, verdict):
    lm = fake_verifier(threshold)
    out = nodes.verify(dict(STATE), Runtime(context=VoTContext(lm=lm)))
    cognition = out["verification"]["cognition"]
    assert cognition == {"checked": True, "verdict": verdict, "log_odds": 2.0, "threshold": threshold}
    assert [(c["kind"], c["adapter"]) for c in lm.calls] == [("score", "verify")]  # one scoring call, no generation
    assert out["verification"]["passed"] is (verdict == "yes")  # "no" fails an answer the STSG cannot check


def test_uncalibrated_adapter_keeps_the_greedy_verdict():
    lm = FakeLanguageModel(replies=["no"], adapter_names=("verify",), adapter_cards={"verify": {"stage": "lora"}})
    cognition = nodes.verify(dict(STATE), Runtime(context=VoTContext(lm=lm)))["verification"]["cognition"]
    assert cognition == {"checked": True, "verdict": "no"} and lm.calls[0]["kind"] == "generate"


@pytest.fixture(scope="module")
def verify_adapter(tmp_path_factory):
    """A random rank-2 LoRA on the embedded model, with the card `vot train nodes` writes."""
    from tests.agent.llm.test_adapters import make_lora
    from videothought.agent.llm.embedded import embedded_checkpoint_dir
    from videothought.training.nodes.models import write_adapter_card

    try:
        base_dir = embedded_checkpoint_dir()
        stage = tmp_path_factory.mktemp("stage")
        folder = make_lora(base_dir, stage / "verify" / "adapter", seed=3)
    except (ModelNotFoundError, OSError) as error:  # the embedded LLM is not installed
        pytest.skip(f"no embedded LLM: {error}")
    recipe = stage / "recipe.yaml"
    recipe.write_text("# vot train nodes --config recipe.yaml\nstage: lora\nnodes: [verify]\noutput_dir: out\n"
                      "data: {seeds: {from: 100, to: 101}}\n")
    write_adapter_card(folder, {"name": "embedded", "model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30,
                                "vocab_size": 49152}, node="verify", stage="lora", recipe=str(recipe))
    return stage, folder


def test_calibrate_writes_the_threshold_the_graph_reads(verify_adapter, tmp_path):
    from videothought.agent.llm import load_language_model

    stage, folder = verify_adapter
    worlds = tmp_path / "worlds"
    verdict = calibrate_adapter(stage, [120], worlds_dir=worlds, videos_per_seed=1, min_checks=8, progress=False)
    checks = calibration_checks([worlds / "w120"])
    assert verdict["checks"] == len(checks) and verdict["seeds"] == [120]
    assert sum(c["correct"] for c in checks) * 2 == len(checks)  # a right and a wrong option per question
    assert {c["wording"].split("-")[0] for c in checks} == {"original", "train"}  # never the held-out family
    card = json.loads((folder / "videothought-adapter.json").read_text())
    assert card["verdict"] == verdict and card["node"] == "verify"  # the rest of the card is kept
    assert verdict["accuracy"] >= max(verdict["accuracy_at_zero"], 0.5)

    lm = load_language_model("embedded", adapters={"verify": folder}, dtype="float32")
    assert nodes.verdict_threshold(lm) == verdict["threshold"]
    cognition = nodes.verify(dict(STATE), Runtime(context=VoTContext(lm=lm)))["verification"]["cognition"]
    assert cognition["threshold"] == verdict["threshold"]
    assert cognition["verdict"] == ("yes" if cognition["log_odds"] > verdict["threshold"] else "no")
    with adapter_scope(lm, "verify"):
        yes, no = lm.score(prompts.cognition_check(STATE["question"], STATE["action_analysis"], STATE["answer"]),
                           [" yes", " no"])
    assert cognition["log_odds"] == pytest.approx(yes - no, abs=1e-3)  # the adapter's own log-odds

    broken = Path(shutil.copytree(folder, tmp_path / "broken"))
    (broken / "videothought-adapter.json").write_text(json.dumps({**card, "verdict": {"threshold": "high"}}))
    with pytest.raises(ModelNotFoundError, match="'verdict' must hold a finite number 'threshold'"):
        lm.add_adapter("verify2", broken)


def test_calibration_refuses_evaluation_and_training_seeds(verify_adapter, tmp_path):
    stage, _ = verify_adapter
    with pytest.raises(CalibrationError, match="evaluation seeds"):
        calibrate_adapter(stage, [7], worlds_dir=tmp_path)
    with pytest.raises(CalibrationError, match=r"seeds \[101\] are seeds the adapter was trained on"):
        calibrate_adapter(stage, [101, 120], worlds_dir=tmp_path)
    with pytest.raises(CalibrationError, match="no 'rank_answers' adapter"):
        calibrate_adapter(stage, [120], worlds_dir=tmp_path, node="rank_answers")
    with pytest.raises(CalibrationError, match="at least 1000 needed"):
        calibrate_adapter(stage, [120], worlds_dir=tmp_path, videos_per_seed=1, min_checks=1000)


def test_cli_names_bad_seeds(capsys, tmp_path):
    from videothought.training.cli import main

    assert main(["calibrate", "--adapters", str(tmp_path), "--seeds", "a-b"]) == 2
    assert "seeds must be A-B or A,B" in capsys.readouterr().err
    assert main(["calibrate", "--adapters", str(tmp_path / "none"), "--seeds", "120"]) == 2
    assert "no adapters folder" in capsys.readouterr().err


@pytest.mark.parametrize("change, named", [
    ({"data": {"seeds": [100], "calibration_seeds": [7]}}, "data.calibration_seeds: training seeds [7] are evaluation"),
    ({"data": {"seeds": [100, 101], "calibration_seeds": {"from": 101, "to": 102}}}, "[101] are training seeds too"),
    ({"data": {"seeds": [100], "calibration_seeds": [120]}, "nodes": ["rank_answers"]}, "'verify' is not among nodes"),
])
def test_recipe_names_bad_calibration_seeds(tmp_path, change, named):
    from tests.training.test_node_training import tiny_recipe
    from videothought.training.nodes.recipe import NodeRecipe, RecipeError

    record = tiny_recipe(tmp_path, nodes=["verify"])
    record.update(change)
    with pytest.raises(RecipeError) as raised:
        NodeRecipe.from_dict(record)
    assert named in str(raised.value)


def test_a_verify_stage_with_calibration_seeds_ships_its_threshold(tmp_path):
    """A tiny-random LoRA stage on verify rows: after training, the stage calibrates its verify adapter
    and the export carries the threshold in the shipped card."""
    from tests.training.test_node_training import tiny_recipe
    from videothought.training.nodes.data import write_jsonl
    from videothought.training.nodes.pipeline import run_stage
    from videothought.training.nodes.recipe import NodeRecipe

    rows = [{"node": "verify", "prompt": prompts.cognition_check("Does the ball stop?", f"The ball {verb}.", "it stops"),
             "completion": " yes" if verb == "stops" else " no - it does not.", "correct": verb == "stops"}
            for verb in ("stops", "bounces", "turns", "halts") * 4]
    write_jsonl(tmp_path / "examples.jsonl", rows)
    record = tiny_recipe(tmp_path, nodes=["verify"], export_to=str(tmp_path / "shipped"),
                         data={"examples": str(tmp_path / "examples.jsonl"), "seeds": [100], "calibration_seeds": [120],
                               "videos_per_seed": 1, "worlds_dir": str(tmp_path / "worlds")},
                         train={"max_steps": 2, "batch_size": 4, "learning_rate": 1e-2, "warmup_steps": 0,
                                "save_steps": 2, "logging_steps": 1, "seed": 0, "max_length": 256})
    summary = run_stage(NodeRecipe.from_dict(record), progress=False)
    verdict = summary["verdict"]
    assert verdict["seeds"] == [120] and verdict["checks"] >= 20 and verdict["accuracy"] >= 0.5
    shipped = json.loads((tmp_path / "shipped" / "verify" / "videothought-adapter.json").read_text())
    assert shipped["verdict"] == verdict and summary["exported"] == ["verify"]


def test_eval_nodes_reads_the_verdict_against_the_calibrated_threshold(tmp_path):
    from videothought.training.nodes.data import ensure_world, worded_questions
    from videothought.training.nodes.evaluate import NodeEvaluation

    root = ensure_world(tmp_path / "w120", 120, 1)
    evaluation = NodeEvaluation(worded_questions(root, family=None, rewordings=0, include_original=True, limit=4),
                                None, progress=False)
    below, above = evaluation.verify(fake_verifier(1.5)), evaluation.verify(fake_verifier(2.5))  # log-odds 2.0
    assert below["verify_calibrated_yes_share"] == 1.0 and above["verify_calibrated_yes_share"] == 0.0
    assert below["verify_calibrated_accuracy"] == above["verify_calibrated_accuracy"] == 0.5  # half the checks are right
    assert below["verify_threshold"] == 1.5
    uncalibrated = evaluation.verify(FakeLanguageModel(scores={" yes": -1.0, " no": -3.0}))
    assert "verify_calibrated_accuracy" not in uncalibrated and uncalibrated["verify_scored_yes_share"] == 1.0
