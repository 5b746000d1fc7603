"""Questions that chain two or three operations, with their gold programs: what a word-table
reader was never built for and programs compose into.

    order then attribute      What colour is the first object to stop?
                              [events stop][first][subject][attribute colour]
    last then attribute       What shape is the last object to enter the scene?
    partner then attribute    What shape is the object the red circle collides with first?
                              [find red circle][events collide][first][partner][attribute shape]
    count after an anchor     How many objects enter the scene after the red circle stops?
                              [find red circle][events stop][first][after kind=enter][subject][count]
                              How many collisions happen after the red circle stops?
    order of an order         Which object does the first object to stop collide with first?

    vot world chained runs/world7 --out runs/world7-chained     # the same videos, chained questions only

A chained world is a world directory like any other (qa.csv, evidence.jsonl with the gold program,
the videos hard-linked), so `vot eval`, `vot bench agent` and `vot bench writer` read it as they
read the world. Every answer is determined by the truth and every distractor is false by it;
answer positions come from the same shuffled decks. Like questions.py, this knows the world.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from .config import OBJECT_COLOURS, SHAPES
from .phrases import matches
from .questions import NUM_OPTIONS, Draft, PositionDeck, SceneFacts, deal_questions

logger = logging.getLogger(__name__)

VERBS = {"stop": "stop", "enter": "enter the scene", "exit": "leave the scene", "start": "start moving",
         "turn": "change direction"}
THIRD = {"stop": "stops", "enter": "enters the scene", "exit": "leaves the scene", "start": "starts moving",
         "turn": "changes direction"}


def _first_last(facts: SceneFacts, kind: str, which: str = "first") -> list[tuple[int, int]]:
    """(frame, object) of each object's first (or last) happening of `kind`, in time order: the
    first object to stop is the first of the first stops, the last one the last of the last stops."""
    found = []
    for object_id in facts.object_ids:
        frames = [f for f, k in facts.happenings[object_id] if matches((kind, None), k)]
        if frames:
            found.append((frames[0] if which == "first" else frames[-1], object_id))
    return sorted(found)


def _attribute_pool(facts: SceneFacts, attribute: str, answer: str, rng) -> list[str]:
    everything = list(OBJECT_COLOURS) if attribute == "colour" else list(SHAPES)
    in_video = [facts.attributes[o][attribute] for o in facts.object_ids]
    pool = list(dict.fromkeys([v for v in in_video if v != answer] + [str(v) for v in rng.permutation(everything)]))
    return [v for v in pool if v != answer]


def order_attribute(facts: SceneFacts, rng) -> list[Draft]:
    """"What colour is the first object to stop?" and "What shape is the last object to enter the scene?"."""
    drafts = []
    for kind, verb in VERBS.items():
        for which in ("first", "last"):
            order = _first_last(facts, kind, which)
            if len(order) < 2:
                continue
            pick = order[0] if which == "first" else order[-1]
            rival = order[1] if which == "first" else order[-2]
            if pick[0] == rival[0]:
                continue  # a tie: no single first (last)
            object_id = pick[1]
            for attribute in ("colour", "shape"):
                answer = facts.attributes[object_id][attribute]
                events = facts.events_for(object_id, (kind, None), {pick[0]})
                drafts.append(Draft(
                    f"What {attribute} is the {which} object to {verb}?", answer,
                    _attribute_pool(facts, attribute, answer, rng), "chained", f"{which}_{attribute}", [object_id],
                    events, [pick[0], pick[0]]))
    return drafts


def partner_attribute(facts: SceneFacts, rng) -> list[Draft]:
    """"What shape is the object the red circle collides with first?"."""
    drafts = []
    labels = [facts.labels[o] for o in facts.object_ids]
    for object_id in facts.object_ids:
        if labels.count(facts.labels[object_id]) != 1:
            continue
        hits = sorted((f, k[1]) for f, k in facts.happenings[object_id] if k[0] == "collide")
        if not hits or len({p for f, p in hits if f == hits[0][0]}) != 1:
            continue
        frame, partner = hits[0]
        first = " first" if len(hits) > 1 else ""
        for attribute in ("colour", "shape"):
            answer = facts.attributes[partner][attribute]
            events = facts.events_for(object_id, ("collide", partner), {frame})
            drafts.append(Draft(
                f"What {attribute} is the object {facts.the(object_id)} collides with{first}?", answer,
                _attribute_pool(facts, attribute, answer, rng), "chained", f"partner_{attribute}",
                [object_id, partner], events, [frame, frame]))
    return drafts


def count_after(facts: SceneFacts, rng) -> list[Draft]:
    """"How many objects enter the scene after the red circle stops?", "How many collisions happen after ...?"."""
    drafts = []
    labels = [facts.labels[o] for o in facts.object_ids]
    for object_id in facts.object_ids:
        if labels.count(facts.labels[object_id]) != 1:
            continue
        for kind in ("stop", "start", "turn"):
            frames = [f for f, k in facts.happenings[object_id] if matches((kind, None), k)]
            if not frames:
                continue
            anchor = frames[0]
            # counts that would change by a frame either way are not asked: the anchor must sit clear of them
            enters = [(f, o) for f, o in _first_last(facts, "enter")]
            if any(abs(f - anchor) <= 1 for f, _ in enters):
                continue
            entering = {o for f, o in enters if f > anchor}
            collisions = [e for e in facts.events if e["type"] == "collide"]
            if any(abs(e["start_frame"] - anchor) <= 1 for e in collisions):
                continue
            later = [e for e in collisions if e["start_frame"] > anchor]
            anchor_events = facts.events_for(object_id, (kind, None), {anchor})
            for question, answer, ids, evidence in (
                    (f"How many objects enter the scene after {facts.the(object_id)} {THIRD[kind]}?",
                     len(entering), [object_id, *sorted(entering)], anchor_events),
                    (f"How many collisions happen after {facts.the(object_id)} {THIRD[kind]}?",
                     len(later), [object_id], anchor_events + later)):
                if answer >= NUM_OPTIONS:
                    continue
                pool = [str(n) for n in range(NUM_OPTIONS) if n != answer]
                drafts.append(Draft(question, str(answer), pool, "chained", "count_after", ids, evidence,
                                    [anchor, facts.last_frame], generic=set(pool) | {str(answer)}))
    return drafts


def order_of_order(facts: SceneFacts, rng) -> list[Draft]:
    """"Which object does the first object to stop collide with first?"."""
    drafts = []
    for kind, verb in VERBS.items():
        order = _first_last(facts, kind)
        if len(order) < 2 or order[0][0] == order[1][0]:
            continue
        object_id = order[0][1]
        hits = sorted((f, k[1]) for f, k in facts.happenings[object_id] if k[0] == "collide")
        if not hits or len({p for f, p in hits if f == hits[0][0]}) != 1:
            continue
        frame, partner = hits[0]
        others = [facts.labels[o] for o in facts.object_ids if o not in (partner,)]
        extra = [f"{c} {s}" for c in rng.permutation(list(OBJECT_COLOURS)) for s in rng.permutation(list(SHAPES))]
        pool = [f"the {t}" for t in dict.fromkeys(others + extra) if t != facts.labels[partner]]
        events = facts.events_for(object_id, ("collide", partner), {frame})
        drafts.append(Draft(f"Which object does the first object to {verb} collide with first?",
                            facts.the(partner), pool, "chained", "order_partner", [object_id, partner], events,
                            [order[0][0], frame]))
    return drafts


WRITERS = (order_attribute, partner_attribute, count_after, order_of_order)


def chained_questions(facts: SceneFacts, rng, *, video_id: str, max_questions: int, deck: PositionDeck | None = None):
    """Up to `max_questions` chained questions about one video, subtypes spread."""
    drafts = [d for writer in WRITERS for d in writer(facts, rng)]
    by_subtype: dict[str, list[Draft]] = {}
    for draft in drafts:
        by_subtype.setdefault(draft.subtype, []).append(draft)
    picked: list[Draft] = []
    order = sorted(by_subtype)
    rng.shuffle(order)
    while len(picked) < max_questions and any(by_subtype.values()):
        for subtype in order:
            if by_subtype[subtype] and len(picked) < max_questions:
                picked.append(by_subtype[subtype].pop(int(rng.integers(len(by_subtype[subtype])))))
    return deal_questions(picked, rng, deck or PositionDeck(rng), video_id=video_id)


def write_chained_world(source: str | os.PathLike, out: str | os.PathLike, *, per_video: int = 8,
                        seed: int = 0) -> dict:
    """A world directory of chained questions about `source`'s videos (hard-linked), truth copied."""
    from .dataset import QA_COLUMNS, load_world
    from .programs import gold_program
    from .render import render_truth
    from .reword import _link_or_copy
    from .simulate import SceneSpec

    source, out = Path(source), Path(out)
    if source.resolve() == out.resolve():
        raise ValueError(f"--out {out} is the source world itself; write the chained world elsewhere")
    videos = load_world(source)
    for sub in ("stsg", "specs", "videos"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rows, evidence = [], []
    rng = np.random.default_rng(seed)
    deck = PositionDeck(rng)
    for video in videos:
        if video.spec is None:
            raise ValueError(f"{video.video_id}: no scene spec in {source}; chained questions need the truth")
        for sub, suffix in (("stsg", ".json"), ("specs", ".json"), ("videos", ".mp4")):
            origin = source / sub / f"{video.video_id}{suffix}"
            if origin.is_file():
                _link_or_copy(origin, out / sub / origin.name)
        facts = SceneFacts(render_truth(SceneSpec.from_dict(video.spec)))
        for question in chained_questions(facts, rng, video_id=video.video_id, max_questions=per_video, deck=deck):
            question.qid = question.qid.replace("_q", "_c")
            gold = gold_program(question.question, question.options)
            rows.append({"video": video.video_id, "frame_count": video.num_frames, "width": video.width,
                         "height": video.height, "question": question.question, "answer": question.answer,
                         "qid": question.qid, "type": question.type,
                         **{f"a{i}": option for i, option in enumerate(question.options)}})
            evidence.append({**question.evidence(), "program": gold.to_dict()})
    with open(out / "qa.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=QA_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "evidence.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evidence), encoding="utf-8")
    shutil.copyfile(source / "captions.jsonl", out / "captions.jsonl")
    meta = json.loads((source / "meta.json").read_text())
    meta["chained"] = {"from": str(source.resolve()), "per_video": per_video, "seed": seed}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return {"out": str(out), "questions": len(rows), "videos": len(videos)}
