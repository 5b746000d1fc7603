"""What each node is trained to write: verify only its verdict, every other node its whole completion."""

from __future__ import annotations


def test_verify_trains_on_its_verdict_only_and_others_on_everything():
    from videothought.training.nodes.sft import training_completion

    reason = " no - the video shows: At 4.2s the small yellow triangle turns at the top edge."
    assert training_completion("verify", reason) == " no"
    assert training_completion("verify", " yes") == " yes"
    trace = " Step 1 (targets): yellow triangle.\nStep 4 (answer): B. bounces off the top edge"
    assert training_completion("vot", trace) == trace
    assert training_completion("rank_answers", " 2 - the facts do not show it.") == " 2 - the facts do not show it."


def test_verify_dataset_holds_both_verdicts_on_the_completion_side():
    """The rendered dataset keeps the chat prompt whole and gives the completion the verdict alone,
    so trl's completion-only loss falls on "yes"/"no", one of each per question."""
    from videothought.training.nodes.models import load_tokenizer
    from videothought.training.nodes.sft import node_dataset

    prompt = [{"role": "user", "content": "Analysis of the video: X.\nAnswer: a\nReply yes or no."}]
    examples = [{"node": "verify", "prompt": prompt, "completion": " yes"},
                {"node": "verify", "prompt": prompt, "completion": " no - the video shows: X."},
                {"node": "rank_answers", "prompt": prompt, "completion": " a"}]
    rows = node_dataset(examples, "verify", load_tokenizer("tiny-random"), limit=10, seed=0).to_list()
    assert sorted(r["completion"] for r in rows) == [" no", " yes"]
    assert all(r["prompt"].rstrip().endswith("assistant") for r in rows)
