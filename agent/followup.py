"""Follow-up detection: whether a chat turn points back at an earlier one, and at which moment.

A chat's earlier turns reach a question as `history` (agent/session.py history_entry: per turn
its answer's object phrases, `track_ids` and `anchor_frame`, the video frame its answer was
checked at). A turn continues the chat when it names an earlier object by a pronoun ("what
does it do next?") or an earlier moment by a pointing word ("what happens right after that?"):

    latest_anchor_frame(history)         the latest moment the chat established, or None
    follow_up_frame(state)               that moment, when the question points back (both readers:
                                         retrieval looks around it in a long video)
    uses_pronoun(words)                  a pronoun of the rules reader's target carry-over
    refers_to_earlier_object(words, history)   the claim checker's "it": a referring word or phrase
    points_back_in_time(words, event_starts)   "after that" with no event of its own to anchor on

This is the one place for these tests (tests/test_one_place.py); the words are graph/words.py's.
The rules reader (agent/rules/) is a frozen baseline: its two steps read "it" with the tables they
always had (the claim checker's includes "itself" and "that one", the target carry-over's does
not), so a follow-up is read as before (issue 25: no new word table, the same answers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from videothought.graph.words import ANCHOR_WORDS, POINTING_WORDS, PRONOUNS, REFERRING_PHRASES, REFERRING_WORDS


def latest_anchor_frame(history: Iterable[dict] | None) -> int | None:
    """The latest answer moment of the chat (the previous turn's, when it has one), or None."""
    known = [int(turn["anchor_frame"]) for turn in history or () if turn.get("anchor_frame") is not None]
    return known[-1] if known else None


def uses_pronoun(words: Iterable[str]) -> bool:
    """A pronoun that may stand for an earlier turn's object ("what did it do next?")."""
    return bool(PRONOUNS & set(words))


def follow_up_frame(state: dict) -> int | None:
    """The frame a follow-up turn looks around: the latest answer moment of the chat (the
    previous turn's, when it has one), when this question points back ("it", "that"); None for
    a question of its own."""
    from videothought.agent.rules.language import tokens

    anchor = latest_anchor_frame(state.get("history"))
    words = set(tokens(state["question"]))
    if anchor is None or not (PRONOUNS | POINTING_WORDS) & words:
        return None
    return anchor


def _has_phrase(words: Sequence[str], phrase: str) -> bool:
    target = phrase.split()
    return any(list(words[i:i + len(target)]) == target for i in range(len(words) - len(target) + 1))


def refers_to_earlier_object(words: Sequence[str], history: Sequence[dict] | None) -> bool:
    """The question names the previous turn's object by a referring word or phrase ("it",
    "itself", "that one"), and the previous turn left something to refer to."""
    previous = history[-1] if history else {}
    return bool(previous) and (bool(REFERRING_WORDS & set(words)) or any(_has_phrase(words, p)
                                                                         for p in REFERRING_PHRASES))


def points_back_in_time(words: Sequence[str], event_starts: Iterable[int]) -> bool:
    """"right after that", "what happens next?", "which does it hit then?": a time cue with no
    event of this question after it to anchor on (`event_starts`: where the question's own event
    mentions start, in `words`)."""
    cue = [i for i, word in enumerate(words) if word in ANCHOR_WORDS]
    if not cue:
        return False
    return not any(start > cue[0] for start in event_starts)
