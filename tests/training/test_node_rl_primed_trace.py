"""The primed trace (stage 4 and the RL stages): the trace node's prompt ends with its first header
("Step 1 (targets):"), the model writes the rest, and every reader (rewards, GRPO's reward
functions, rejection sampling, eval-nodes) judges the whole trace, ended at Step 5's line. The
same split in data, training, evaluation and the RL stages; each test fails if one of them drifts."""

from __future__ import annotations

import json

import pytest

from videothought.agent import prompts
from videothought.training.nodes import rewards
from videothought.training.nodes.data import (
    NodeDataError,
    completion_after_start,
    end_of_trace,
    render_node_prompt,
    whole_trace,
)

from .test_node_rl_rewards import ACTIONS, TRUTH, trace

MESSAGES = prompts.vot_trace(TRUTH["question"], TRUTH["choices"], "At 2.0s the pink star collides with the purple circle.")


@pytest.fixture(scope="module")
def tokenizer():
    from videothought.training.nodes.models import load_tokenizer

    return load_tokenizer("tiny-random")


def generated() -> str:
    """What a model writes after the primed prompt when it writes the reference trace."""
    return completion_after_start("vot", trace())


def test_the_trace_prompt_ends_with_the_first_header_and_other_nodes_do_not(tokenizer):
    primed = render_node_prompt(tokenizer, "vot", MESSAGES)
    assert primed.endswith("assistant\nStep 1 (targets):")
    plain = render_node_prompt(tokenizer, "verify", MESSAGES)
    assert plain.endswith("assistant\n") and primed == plain + prompts.VOT_TRACE_START


def test_stored_traces_split_at_the_header_and_join_back_whole():
    assert generated().startswith(" pink star, purple circle.\nStep 2 (tracks):")
    assert "Step 1" not in generated()
    assert whole_trace("vot", generated()) == trace().strip()
    assert completion_after_start("verify", " yes") == " yes" and whole_trace("verify", " yes") == " yes"
    with pytest.raises(NodeDataError, match="must start with 'Step 1 \\(targets\\):'"):
        completion_after_start("vot", " Step 1: the star.\nStep 2: ...")  # the unprimed v2 form


def test_sft_trains_the_trace_after_the_header(tokenizer):
    from videothought.training.nodes.sft import node_dataset

    rows = node_dataset([{"node": "vot", "prompt": MESSAGES, "completion": trace()}], "vot", tokenizer, 1, 0).to_list()
    assert rows[0]["prompt"] == render_node_prompt(tokenizer, "vot", MESSAGES)
    assert rows[0]["completion"] == generated()
    assert (rows[0]["prompt"] + rows[0]["completion"]).endswith(trace().strip())


def test_rewards_read_the_generation_whole_and_end_it_at_step_5():
    assert rewards.score("vot", whole_trace("vot", generated()), TRUTH) == {
        "format": 1.0, "answer": 1.0, "targets": 1.0, "events": 1.0, "verdict": 1.0}
    assert rewards.format_reward(generated(), TRUTH) == 0.0  # without the header Step 1 is missing
    looping = generated() + "\nStep 6: The facts do not agree. Step 7: Choose E." + " Step 8: again." * 60
    assert rewards.score("vot", looping, TRUTH)["verdict"] == 0.0  # read raw, the loop spoils Step 5 ...
    assert rewards.passes_every_step("vot", whole_trace("vot", looping), TRUTH)  # ... the node stops before it
    assert end_of_trace("Step 5 (verify): the facts agree. Step 6: no") == "Step 5 (verify): the facts agree."
    assert end_of_trace("Step 1 (targets): x.\nStep 2 (tracks): y.") == "Step 1 (targets): x.\nStep 2 (tracks): y."


def test_grpo_reward_functions_judge_the_rollout_after_the_primed_header():
    from videothought.training.nodes.grpo import trl_reward

    reward = trl_reward("vot", "format", rewards.DEFAULT)
    truth = json.dumps(TRUTH)
    # a rollout that writes the header again (as an unprimed model would) has an empty Step 1: no format
    assert reward(completions=[generated(), trace()], truth=[truth, truth]) == [1.0, 0.0]


def test_rejection_records_hold_whole_traces():
    from videothought.training.nodes.rejection import judge

    row = {"qid": "q", "wording": "original", "truth": TRUTH}
    records = judge("vot", [row], [[generated(), completion_after_start("vot", trace(answer="A. it stops"))]],
                    rewards.DEFAULT)
    assert [r["accepted"] for r in records] == [True, False]
    assert records[0]["completion"] == trace().strip()


class FakeLM:
    """Completes raw prompt text with a fixed continuation; records what it was sent."""

    adapter_names = ()

    def __init__(self, reply: str):
        self.reply, self.sent = reply, []

    def render(self, messages):
        return "<prompt>" + messages[-1]["content"] + "<assistant>"

    def complete(self, prompt, *, max_new_tokens, temperature):
        from types import SimpleNamespace

        self.sent.append(prompt)
        return SimpleNamespace(text=self.reply)


def test_eval_nodes_generates_after_the_header_and_parses_the_whole_trace():
    from videothought.training.nodes.evaluate import generate_trace, parse_trace_answer

    lm = FakeLM(generated() + "\nStep 6: more")
    text = generate_trace(lm, MESSAGES, 160)
    assert lm.sent[0].endswith("<assistant>Step 1 (targets):")
    assert text == trace().strip() and parse_trace_answer(text, 5) == 1


def test_step_4_is_a_bracketed_letter_in_data_pairs_and_old_rows():
    from videothought.training.nodes.data import answer_text, trace_text, upgrade_answer_lines
    from videothought.training.nodes.dpo import wrong_answer

    assert answer_text(1, TRUTH["choices"]) == "(B) it bounces off the top edge"
    reference = " " + trace_text(["pink star", "purple circle"], {"pink star": [3]}, ACTIONS, TRUTH["choices"], 1,
                                 "the facts agree with the answer.")
    assert "\nStep 4 (answer): (B) it bounces off the top edge\n" in reference
    assert rewards.passes_every_step("vot", reference, TRUTH)
    import random

    rejected = wrong_answer(reference, TRUTH, random.Random(0))
    assert rewards.score("vot", rejected, TRUTH)["format"] == 1.0 and rewards.score("vot", rejected, TRUTH)["answer"] == 0
    assert "Step 4 (answer): (" in rejected
    rows = [{"node": "vot", "completion": trace()}, {"node": "verify", "completion": " yes"}]
    assert upgrade_answer_lines(rows) == 1 and "Step 4 (answer): (B) it bounces" in rows[0]["completion"]
    assert upgrade_answer_lines(rows) == 0  # already upgraded
