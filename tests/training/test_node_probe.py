"""The linear probe of a yes/no node's decision (training/nodes/probe.py, `vot train probe-node`)."""

import json

import pytest
import torch
from videothought.training.nodes.probe import (
    ProbeDataError,
    labelled_rows,
    last_token_states,
    probe_decision,
)


def _verify_row(answer: str, correct: bool) -> dict:
    content = (f"Analysis of the video: At 1.2s the red circle stops.\nQuestion: What does the red circle do?\n"
               f"Answer: {answer}\nDoes the answer agree with the analysis? Reply yes or no.")
    return {"node": "verify", "prompt": [{"role": "user", "content": content}], "completion": " yes" if correct else " no",
            "correct": correct}


ROWS = [_verify_row(a, c) for a, c in (("stops", True), ("turns left", False), ("it stops", True), ("it leaves", False),
                                       ("stops moving", True), ("speeds up", False))]


def test_the_probe_reads_a_linear_decision_and_not_noise():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(400, 12, generator=generator)
    y = (x[:, 3] - 0.5 * x[:, 7] > 0).float()
    result = probe_decision(x[:300], y[:300], x[300:], y[300:])
    assert result["eval_accuracy"] > 0.9 and result["train_rows"] == 300 and result["eval_rows"] == 100
    noise = (torch.rand(400, generator=generator) > 0.5).float()  # labels that no feature explains
    chance = probe_decision(x[:300], noise[:300], x[300:], noise[300:])
    assert 0.3 < chance["eval_accuracy"] < 0.7
    assert chance["l2"] in (1e-4, 1e-3, 1e-2, 1e-1)


def test_only_labelled_nodes_with_both_classes_are_probed():
    assert len(labelled_rows(ROWS, "verify", 4, seed=0)) == 4
    with pytest.raises(ProbeDataError, match="no right/wrong label"):
        labelled_rows(ROWS, "vot", 4, seed=0)
    with pytest.raises(ProbeDataError, match="only one class"):
        labelled_rows([r for r in ROWS if r["correct"]], "verify", 10, seed=0)


def test_features_are_the_last_prompt_tokens_states_at_each_layer():
    from videothought.training.nodes.models import load_base

    model, tokenizer = load_base("tiny-random")
    features = last_token_states(model, tokenizer, "verify", ROWS[:3], layers=(-1, 1))
    assert features.shape == (3, 2 * model.config.hidden_size)
    assert not torch.allclose(features[0], features[1])  # another answer, another state


def test_probe_node_command_runs_and_names_bad_input(tmp_path, capsys):
    import argparse

    from videothought.training import cli

    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS * 3))
    parser = argparse.ArgumentParser()
    cli.configure(parser)

    def run(*extra):
        return cli.run(parser.parse_args(["probe-node", "--base-model", "tiny-random", "--train", str(data),
                                          "--eval", str(data), "--layers", "-1", *extra]))

    assert run("--out", str(tmp_path / "probe.json")) == 0
    result = json.loads((tmp_path / "probe.json").read_text())
    assert result["node"] == "verify" and result["train_rows"] == 18 and 0 <= result["eval_accuracy"] <= 1
    capsys.readouterr()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    assert cli.run(parser.parse_args(["probe-node", "--base-model", "tiny-random", "--train", str(broken),
                                      "--eval", str(data)])) == 2
    assert "is not JSON lines" in capsys.readouterr().err
    assert run("--node", "identify_targets") == 2
    assert "no right/wrong label" in capsys.readouterr().err
    assert run("--layers", "99") == 2
    assert "--layers" in capsys.readouterr().err
