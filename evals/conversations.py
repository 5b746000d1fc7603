"""Multi-turn conversations in `vot eval`: earlier turns' own answers as history, strict scoring.

A task whose samples carry `metadata["conversation"]` and `metadata["turn"]` (the
world-followups task: evals/world/followups.py writes them) is run turn by turn: turn n's graph
input holds as `history` what the agent itself answered in turns 1..n-1 of the conversation
(the same entries a chat Session keeps, videothought.agent.session.history_entry), never the
gold answers, so a wrong first answer carries into the follow-ups as it would in a chat.

A follow-up turn counts right only when its answer is right AND it resolved "it" to the true
referent: the turn's first target phrase (the object the turn is about; options' objects an LLM
adds to the targets come later and do not count) names `metadata["referent"]` (the same content
words). `metrics["answer_correct"]` keeps the plain answer check beside it.

Turns of one conversation stay in one shard (`metadata["shard_group"]`), in turn order.
"""

from __future__ import annotations

from collections.abc import Mapping


class ConversationError(RuntimeError):
    """A follow-up turn came before the turns it follows (a mis-ordered or mis-sharded task)."""


def _metadata(record_or_sample) -> dict:
    if isinstance(record_or_sample, Mapping):
        return (record_or_sample.get("sample") or {}).get("metadata") or {}
    return getattr(record_or_sample, "metadata", None) or {}


def shard_key(position: int, sample) -> int:
    """What shards split on: the conversation's group for turns, else the question's position."""
    group = _metadata(sample).get("shard_group")
    return int(group) if group is not None else position


def graph_input(sample, done: Mapping[str, dict], context=None) -> dict:
    """The sample's graph input, with `history` from this run's records of the conversation's earlier turns."""
    from videothought.agent.session import history_entry

    base = sample.graph_input()
    meta = _metadata(sample)
    conversation, turn = meta.get("conversation"), int(meta.get("turn", 1) or 1)
    if conversation is None or turn <= 1:
        return base
    earlier = {int(_metadata(r).get("turn", 0)): r for r in done.values()
               if _metadata(r).get("conversation") == conversation and int(_metadata(r).get("turn", 0)) < turn}
    missing = [n for n in range(1, turn) if n not in earlier]
    if missing:
        raise ConversationError(f"turn {turn} of conversation {conversation!r} has no record of turn(s) {missing}; "
                                "turns must run in order, in one shard")
    index = getattr(context, "index", None)
    names_object = getattr(index, "names_object", None)
    history = []
    for n in range(1, turn):
        record = earlier[n]
        state = dict(record.get("prediction") or {})
        history.append(history_entry(record["sample"]["question"], record.get("answer") or "", state, names_object))
    base["history"] = history
    return base


def referent_resolved(record: dict, referent: str) -> bool:
    """True when the turn's first target phrase has exactly the referent's content words."""
    from videothought.graph.words import terms

    wanted = set(terms(referent))
    targets = (record.get("prediction") or {}).get("targets") or []
    phrases = [t.get("phrase", "") if isinstance(t, Mapping) else str(t) for t in targets]
    return bool(wanted) and bool(phrases) and set(terms(phrases[0])) == wanted


def score_turn(record: dict) -> dict:
    """The record with `correct` made strict for follow-up turns (see the module docstring)."""
    referent = _metadata(record).get("referent")
    if not referent or record.get("correct") is None:
        return record
    resolved = referent_resolved(record, referent)
    metrics = dict(record.get("metrics") or {})
    metrics["answer_correct"] = bool(record["correct"])
    metrics["referent_resolved"] = resolved
    metrics["correct"] = bool(record["correct"]) and resolved
    return {**record, "correct": metrics["correct"], "metrics": metrics}
