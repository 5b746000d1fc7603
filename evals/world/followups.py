"""Follow-up conversations from a world's truth: three turns, each with its true answer.

    T1  Which object collides with the pink star?         -> the green square   (the referent)
    T2  What does it do right after that?                 -> bounces off the top edge
    T3  Which object does it hit after that?              -> the cyan diamond
        (or, when it hits nothing later: "And what does it do after that?")

"it" is T1's answer and "that" the previous turn's event, so a turn can be answered only by
resolving the reference: T2 and T3 are about the referent, never named again. Distractors of
T2 include what the *other* object of T1 does right after the event (the answer of a wrong
resolution of "it"). T1 is "Which object enters the scene first?" on a one-scene video, or the
object that (first) collides with a uniquely named object anywhere in the video.

Conversations are written from the saved ground-truth STSG (stsg/<video>.json) of any world:

    vot world followups WORLD_DIR [--per-video 4]      # or: python -m videothought.evals.world.followups
    -> WORLD_DIR/followups.jsonl, one line per turn:
       {"conversation", "shard_group", "turn", "video", "question", "options", "answer",
        "referent", "subtype", "events", "frame_span"}

`vot eval --task world-followups --data WORLD_DIR` runs them in order with the earlier turns'
own answers as history (evals/conversations.py); a turn counts right only when its answer is
right and the phrase it resolved "it" to names the referent.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .config import OBJECT_COLOURS, SHAPES
from .phrases import all_phrase_keys, happenings, matches, phrase

logger = logging.getLogger(__name__)

NUM_OPTIONS = 5
FILE_NAME = "followups.jsonl"


@dataclass
class Turn:
    question: str
    options: list[str]
    answer: int
    subtype: str
    referent: str | None  # the label "it" must resolve to (None on the first turn)
    events: list[dict] = field(default_factory=list)
    frame_span: list[int] = field(default_factory=lambda: [0, 0])


class _Facts:
    """What conversations need of one video's truth STSG document."""

    def __init__(self, doc: dict):
        self.labels = {int(k): v["label"] for k, v in doc["tracks"].items()}
        self.events = list(doc["events"])
        self.ids = sorted(self.labels)
        self.happenings = {i: happenings(self.events, i) for i in self.ids}
        counts = Counter(self.labels.values())
        self.unique = {i for i in self.ids if counts[self.labels[i]] == 1}

    def the(self, object_id: int) -> str:
        return f"the {self.labels[object_id]}"

    def events_at(self, object_id: int, frame: int, kinds=None) -> list[dict]:
        return [e for e in self.events if object_id in e["track_ids"] and e["start_frame"] == frame
                and (kinds is None or e["type"] in kinds)]


def _deal(answer: str, distractors: list[str], rng) -> tuple[list[str], int]:
    pool = [d for d in dict.fromkeys(distractors) if d != answer][: NUM_OPTIONS - 1]
    if len(pool) < NUM_OPTIONS - 1:
        raise ValueError("too few distractors")
    position = int(rng.integers(NUM_OPTIONS))
    options = pool[:position] + [answer] + pool[position:]
    return options, position


def _object_options(facts: _Facts, answer_id: int, rng, exclude: set[int] = frozenset()) -> list[str]:
    """Objects of the video first, then plausible labels from outside it (few scenes hold five)."""
    others = [facts.the(o) for o in rng.permutation(facts.ids) if o != answer_id and o not in exclude
              and facts.labels[o] != facts.labels[answer_id]]
    excluded = {facts.labels[o] for o in exclude} | {facts.labels[answer_id]}
    extra = [f"the {c} {s}" for c in rng.permutation(list(OBJECT_COLOURS)) for s in rng.permutation(list(SHAPES))
             if f"{c} {s}" not in excluded]
    return list(dict.fromkeys(others + extra))


def _first_turn(facts: _Facts, rng, long_video: bool) -> list[tuple[Turn, int, int, int | None]]:
    """(turn, referent id, anchor frame, the other object of the anchor) for every sound first turn."""
    found = []
    if not long_video:
        enters = sorted((f, o) for o in facts.ids for f, k in facts.happenings[o] if k == ("enter", None))
        firsts = {}
        for frame, o in enters:
            firsts.setdefault(o, frame)
        order = sorted((f, o) for o, f in firsts.items())
        if len(order) >= 2 and order[0][0] != order[1][0] and order[0][1] in facts.unique:
            frame, winner = order[0]
            distractors = _object_options(facts, winner, rng)
            events = facts.events_at(winner, frame, {"enter"})
            turn = Turn("Which object enters the scene first?", *_deal_safe(facts.the(winner), distractors, rng),
                        subtype="first", referent=None, events=events, frame_span=[frame, frame])
            found.append((turn, winner, frame, None))
    for anchor in sorted(facts.unique):
        collisions = sorted((f, k[1]) for f, k in facts.happenings[anchor] if k[0] == "collide")
        if not collisions or len({p for f, p in collisions if f == collisions[0][0]}) != 1:
            continue  # "the object that collides with X (first)" must be one object, one moment
        frame, referent = collisions[0]  # its label may repeat elsewhere: "it" is still this object
        first = " first" if len(collisions) > 1 else ""
        distractors = _object_options(facts, referent, rng, exclude={anchor})
        events = facts.events_at(referent, frame, {"collide"})
        turn = Turn(f"Which object collides with {facts.the(anchor)}{first}?",
                    *_deal_safe(facts.the(referent), distractors, rng), subtype="collider", referent=None,
                    events=events, frame_span=[frame, frame])
        found.append((turn, referent, frame, anchor))
    return [f for f in found if f[0].options]


def _deal_safe(answer: str, distractors: list[str], rng) -> tuple[list[str], int]:
    try:
        return _deal(answer, distractors, rng)
    except ValueError:
        return [], -1


def _after(facts: _Facts, object_id: int, frame: int) -> tuple[int, tuple] | None:
    """The object's next happening after `frame` (the most specific one at that frame)."""
    later = [(f, k) for f, k in facts.happenings[object_id] if f > frame]
    if not later:
        return None
    first = later[0][0]
    at = [k for f, k in later if f == first]
    at.sort(key=lambda k: (k[1] is None, k[0] == "turn"))  # "bounces off the top edge" over "changes direction"
    return first, at[0]


def _next_turn(facts: _Facts, referent: int, frame: int, other: int | None, rng) -> tuple[Turn, int] | None:
    """T2: "What does it do right after that?" about the referent, after the anchor frame."""
    found = _after(facts, referent, frame)
    if found is None:
        return None
    answer_frame, key = found
    later = [k for f, k in facts.happenings[referent] if f > frame]
    simultaneous = [k for f, k in facts.happenings[referent] if f == frame]
    false = [k for k in all_phrase_keys(referent, facts.ids) if not any(matches(k, t) for t in later + simultaneous)]
    distractors = []
    if other is not None:  # what a wrong "it" (the other object of the anchor) does next
        wrong = _after(facts, other, frame)
        if wrong is not None and not any(matches(wrong[1], t) for t in later + simultaneous) and \
                wrong[1] in [k for k in false]:
            distractors.append(phrase(wrong[1], facts.labels))
    done_somewhere = {k for o in facts.ids for _, k in facts.happenings[o]}
    order = [false[i] for i in rng.permutation(len(false))]
    order.sort(key=lambda k: 0 if k in done_somewhere else 1)
    distractors += [phrase(k, facts.labels) for k in order]
    options, position = _deal_safe(phrase(key, facts.labels), distractors, rng)
    if not options:
        return None
    events = [e for e in facts.events_at(referent, answer_frame)]
    turn = Turn("What does it do right after that?", options, position, "after", facts.labels[referent],
                events, [frame, answer_frame])
    return turn, answer_frame


def _hit_turn(facts: _Facts, referent: int, frame: int, anchor_other: int | None, rng) -> Turn | None:
    """T3: the object the referent hits ("Which object does it hit?" when that is one object all
    video long, else "Which object does it hit after that?", the first one after `frame`)."""
    hits = [(f, k[1]) for f, k in facts.happenings[referent] if k[0] == "collide"]
    partners = {p for _, p in hits}
    if len(partners) == 1 and anchor_other is None:
        (partner,) = partners
        question, subtype, when = "Which object does it hit?", "hit", hits[0][0]
    else:
        later = [(f, p) for f, p in hits if f > frame]
        if not later or len({p for f, p in later if f == later[0][0]}) != 1:
            return None
        when, partner = later[0]
        question, subtype = "Which object does it hit after that?", "hit_after"
    distractors = _object_options(facts, partner, rng, exclude={referent})
    if anchor_other is not None and anchor_other != partner:
        distractors.insert(0, facts.the(anchor_other))  # the object it hit before: a wrong "after that"
    options, position = _deal_safe(facts.the(partner), distractors, rng)
    if not options or facts.labels[partner] == facts.labels[referent]:
        return None
    return Turn(question, options, position, subtype, facts.labels[referent],
                facts.events_at(referent, when, {"collide"}), [frame, when])


def conversations_for(doc: dict, rng, *, long_video: bool, max_conversations: int = 4) -> list[list[Turn]]:
    """Up to `max_conversations` three-turn conversations about one video, each about another referent."""
    facts = _Facts(doc)
    result, used = [], set()
    firsts = _first_turn(facts, rng, long_video)
    for index in rng.permutation(len(firsts)):
        first, referent, frame, other = firsts[int(index)]
        if referent in used:
            continue
        second = _next_turn(facts, referent, frame, other, rng)
        if second is None:
            continue
        second_turn, second_frame = second
        third = _hit_turn(facts, referent, second_frame, other, rng)
        if third is None:  # it hits nothing later: what it does next again, after T2's event
            found = _next_turn(facts, referent, second_frame, None, rng)
            if found is None:
                continue
            third = found[0]
            third.question, third.subtype = "And what does it do after that?", "after_again"
        used.add(referent)
        result.append([first, second_turn, third])
        if len(result) >= max_conversations:
            break
    return result


def write_followups(world: str | Path, *, per_video: int = 4, seed: int | None = None) -> Path:
    """Write WORLD/followups.jsonl from the world's truth STSGs. Returns its path."""
    world = Path(world)
    meta = json.loads((world / "meta.json").read_text(encoding="utf-8"))
    long_video = bool(meta.get("params", {}).get("long"))
    seed = int(meta.get("seed", 0)) if seed is None else seed
    lines, group = [], 0
    for number, video in enumerate(meta["videos"]):
        doc = json.loads((world / "stsg" / f"{video}.json").read_text(encoding="utf-8"))
        rng = np.random.default_rng([seed, number, 31])
        for conversation in conversations_for(doc, rng, long_video=long_video, max_conversations=per_video):
            name = f"{video}_c{group:03d}"
            for turn_number, turn in enumerate(conversation, start=1):
                lines.append({"conversation": name, "shard_group": group, "turn": turn_number, "video": video,
                              **asdict(turn)})
            group += 1
    path = world / FILE_NAME
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    logger.info("%s: %d conversations, %d turns", path, group, len(lines))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vot world followups", description="write WORLD/followups.jsonl")
    parser.add_argument("world", help="a directory written by `vot world generate`")
    parser.add_argument("--per-video", type=int, default=4, help="most conversations per video")
    args = parser.parse_args(argv)
    path = write_followups(args.world, per_video=args.per_video)
    turns = path.read_text(encoding="utf-8").splitlines()
    print(json.dumps({"out": str(path), "turns": len(turns),
                      "conversations": len({json.loads(t)["conversation"] for t in turns})}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
