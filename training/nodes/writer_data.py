"""Training examples of the program writer (node "writer"): a question in some wording, its options
and the scene's names -> the question's gold program (evals/world/programs.py), on training seeds.

    examples = writer_examples([Path("runs/worlds/w200"), ...], rewordings=2, paraphrases=2)

Text only: the writer's prompt holds no STSG, so no video is decoded or tracked. Every wording of
one question has the same gold program (names in the perception's words, not the question's):
the writer learns to read any wording into the names perception gives. Wordings used here are
the world's own, the reword module's "train" family and the paraphrase generator's families
(evals/world/paraphrase.py); never the "heldout" family, which evaluation alone reads.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

logger = logging.getLogger(__name__)

NODE = "writer"


def world_names() -> str:
    """The names the world's perception gives (the colour-segmentation proposer's vocabulary), as
    the writer's prompt shows them: what a tracked world video's scene names read."""
    from videothought.graph.ground import SceneNames
    from videothought.perception.proposals import ColourSegmentationProposer, proposer_vocabulary

    return SceneNames.from_vocabulary(proposer_vocabulary(ColourSegmentationProposer())).text()


def example(question: str, choices: list[str], names: str, program_json: str, *, history=None, **meta) -> dict:
    from videothought.agent.writer import writer_messages

    return {"node": NODE, "prompt": writer_messages(question, choices, names, history=history, style="compact"),
            "completion": program_json, **meta}


def option_examples(rows: list[dict], *, per_row: int = 1, seed: int = 0) -> list[dict]:
    """What the writer's option pass reads (agent/writer.py `read_options`): for `per_row` options of each
    row with two or more, the row's question with that option ALONE, and the program followed by that
    option's value alone. The pass reads each option again this way after the whole program is written:
    five long event options in one reply are where the writer mixes up whose colour and shape is whose."""
    from videothought.agent.writer import parse_question_text, writer_messages

    rng = random.Random(seed)
    out = []
    for row in rows:
        written = json.loads(row["completion"])
        values = written.get("options") or []
        if len(values) < 2:
            continue
        question, choices, names, history = parse_question_text(row["prompt"][-1]["content"])
        if len(choices) != len(values):
            raise ValueError(f"{row.get('qid')}: {len(choices)} options in the prompt, {len(values)} in the program")
        for k in rng.sample(range(len(values)), min(per_row, len(values))):
            completion = json.dumps({"program": written["program"], "options": [values[k]]}, separators=(",", ":"))
            out.append({**row, "prompt": writer_messages(question, [choices[k]], names, history=history or None,
                                                         style="compact"),
                        "completion": completion, "form": "option", "option": k})
    return out


def chained_examples(world_dirs: list[Path], *, per_video: int, paraphrases: int, seed: int = 0,
                     families: tuple[str, ...] = ("a",)) -> list[dict]:
    """Chained questions (evals/world/chained.py) about the worlds' videos, with their gold programs,
    in the world's wording and `paraphrases` paraphrase wordings per family of `families` where the
    generator knows the shape."""
    import numpy as np

    from videothought.evals.world import load_world
    from videothought.evals.world.chained import chained_questions
    from videothought.evals.world.paraphrase import paraphrase
    from videothought.evals.world.programs import gold_program
    from videothought.evals.world.questions import SceneFacts
    from videothought.evals.world.render import render_truth
    from videothought.evals.world.simulate import SceneSpec

    names = world_names()
    rng = np.random.default_rng(seed)
    words = random.Random(seed)
    rows = []
    for root in world_dirs:
        for video in load_world(root):
            if video.spec is None:
                continue
            facts = SceneFacts(render_truth(SceneSpec.from_dict(video.spec)))
            for question in chained_questions(facts, rng, video_id=video.video_id, max_questions=per_video):
                gold = gold_program(question.question, question.options)
                meta = {"qid": question.qid.replace("_q", "_c"), "type": "chained", "subtype": question.subtype,
                        "answer": int(question.answer)}
                forms = [("world", question.question, list(question.options))]
                for family in families:
                    for _ in range(paraphrases):
                        forms.append((f"para-{family}",) + paraphrase(gold, question.question, list(question.options),
                                                                      words, family))
                for wording, text, options in dict.fromkeys((w, t, tuple(o)) for w, t, o in forms):
                    rows.append(example(text, list(options), names, gold.writer_json(), wording=wording, **meta))
    return rows


def followup_examples(world_dirs: list[Path], *, seed: int = 0) -> list[dict]:
    """The turns of follow-up conversations (evals/world/followups.py) with the earlier turns in the
    prompt as the agent shows them ("Earlier: question -> answer"), each with its gold program."""
    import numpy as np

    from videothought.evals.world import load_world
    from videothought.evals.world.followups import conversations_for
    from videothought.evals.world.programs import GoldError, gold_program

    names = world_names()
    rng = np.random.default_rng(seed)
    rows = []
    for root in world_dirs:
        for video in load_world(root):
            long_video = video.num_frames / max(video.fps, 1.0) > 60
            for number, turns in enumerate(conversations_for(video.stsg, rng, long_video=long_video)):
                history = []
                for turn_number, turn in enumerate(turns, start=1):
                    try:
                        gold = gold_program(turn.question, list(turn.options))
                    except GoldError as error:
                        logger.warning("follow-up %s: no gold program (%s)", turn.question, error)
                        break
                    rows.append(example(turn.question, list(turn.options), names, gold.writer_json(),
                                        history=list(history), qid=f"{video.video_id}_f{number}_{turn_number}",
                                        type="followup", subtype=turn.subtype, wording="world", answer=int(turn.answer)))
                    history.append({"question": turn.question, "answer": turn.options[turn.answer]})
    return rows


def writer_examples(world_dirs: list[Path], *, rewordings: int = 2, paraphrases: int = 2, seed: int = 0,
                    include_original: bool = True, chained_per_video: int = 0, followups: bool = False,
                    people: int = 0, option_reads: int = 0, families: tuple[str, ...] = ("a",)) -> list[dict]:
    """Every question of the worlds in its own wording (if `include_original`), `rewordings` "train"
    family wordings and `paraphrases` paraphrase-generator wordings per paraphrase family of `families`
    (never "heldout": reword.py's, which evaluation alone reads), each with its gold program; plus
    `chained_per_video` chained questions per video, the follow-up conversations' turns, and `people`
    examples of people-question shapes (training/nodes/writer_shapes.py); then `option_reads` single-option
    readings of each of those rows (`option_examples`)."""
    from videothought.evals.world import load_world
    from videothought.evals.world.paraphrase import paraphrase
    from videothought.evals.world.programs import GoldError, gold_program
    from videothought.evals.world.reword import RewordError, reword

    names = world_names()
    rng = random.Random(seed)
    rows: list[dict] = []
    skipped = 0
    for root in world_dirs:
        for video in load_world(root):
            for question in video.questions:
                try:
                    gold = gold_program(question.question, question.options)
                except GoldError as error:
                    skipped += 1
                    logger.warning("%s: no gold program (%s)", question.qid, error)
                    continue
                target = gold.writer_json()
                meta = {"qid": question.qid, "type": question.type, "subtype": question.subtype,
                        "answer": int(question.answer)}
                forms = [("world", question.question, list(question.options))] if include_original else []
                for k in range(rewordings):
                    try:
                        worded = reword(question, "train", seed + k)
                        forms.append((f"train-{k}", worded.question, list(worded.options)))
                    except RewordError as error:
                        logger.warning("%s: not reworded (%s)", question.qid, error)
                for family in families:
                    for k in range(paraphrases):
                        text, options = paraphrase(gold, question.question, list(question.options), rng, family)
                        forms.append((f"para-{family}-{k}", text, options))
                seen = set()
                for wording, text, options in forms:
                    if (text, tuple(options)) in seen:
                        continue
                    seen.add((text, tuple(options)))
                    rows.append(example(text, options, names, target, wording=wording, **meta))
    if skipped:
        logger.warning("%d questions had no gold program and were left out", skipped)
    if chained_per_video:
        rows += chained_examples(world_dirs, per_video=chained_per_video, paraphrases=paraphrases, seed=seed,
                                 families=families)
    if followups:
        rows += followup_examples(world_dirs, seed=seed)
    if people:
        from videothought.training.nodes.writer_shapes import people_examples

        rows += people_examples(people, seed=seed)
    if option_reads:
        rows += option_examples(rows, per_row=option_reads, seed=seed)
    return rows


def writer_rl_examples(world_dirs: list[Path], *, cache_dir: str | Path, family: str = "b", wordings: int = 1,
                       chained_per_video: int = 0, seed: int = 0) -> list[dict]:
    """Answer-only questions for the writer's RL stages (GRPO, rejection sampling, DPO): each question in
    `wordings` paraphrase wordings of `family` (data.rl_family: one the starting adapter was not supervised
    on; never "heldout"), with the truth its rewards run against (writer_rewards.py): the options, the
    right one, the TRACKED STSG
    (tracked here once per video, cached) and the evidence. No program label: a row's completion is
    empty; what RL learns comes from running its own programs."""
    import numpy as np

    from videothought.agent.perceive import build_stsg
    from videothought.agent.writer import writer_messages
    from videothought.evals.world import load_world
    from videothought.evals.world.chained import chained_questions
    from videothought.evals.world.paraphrase import paraphrase
    from videothought.evals.world.programs import GoldError, gold_program
    from videothought.evals.world.questions import SceneFacts
    from videothought.evals.world.render import render_truth
    from videothought.evals.world.simulate import SceneSpec
    from videothought.graph.ground import SceneNames
    from videothought.graph.query import SceneQuery
    from videothought.training.nodes.data import perception_context

    context = perception_context(cache_dir, encoder=None)
    tracked_dir = Path(cache_dir) / "tracked"
    tracked_dir.mkdir(parents=True, exist_ok=True)
    words = random.Random(seed)
    rng = np.random.default_rng(seed)
    rows = []
    for root in world_dirs:
        for video in load_world(root):
            tracked_path = tracked_dir / f"{video.video_id}.json"
            if not tracked_path.is_file():
                doc = build_stsg(str(video.path), context)[0]
                tracked_path.write_text(json.dumps(doc), encoding="utf-8")
            names = SceneNames.from_query(SceneQuery.from_document(json.loads(tracked_path.read_text()))).text()
            world_path = Path(root) / "stsg" / f"{video.video_id}.json"
            questions = list(video.questions)
            if chained_per_video and video.spec is not None:
                facts = SceneFacts(render_truth(SceneSpec.from_dict(video.spec)))
                questions += chained_questions(facts, rng, video_id=video.video_id, max_questions=chained_per_video)
            for question in questions:
                try:
                    gold = gold_program(question.question, question.options)  # for its shape only: not a label
                except GoldError as error:
                    logger.warning("%s: skipped (%s)", question.qid, error)
                    continue
                truth = {"choices": list(question.options), "answer": int(question.answer),
                         "tracked": str(tracked_path), "world": str(world_path),
                         "objects": [int(i) for i in question.object_ids],
                         "events": sorted({e["type"] for e in question.events})}
                for k in range(wordings):
                    text, options = paraphrase(gold, question.question, list(question.options), words, family)
                    if text == question.question:
                        continue  # the shape has no paraphrase here: the world's own wording belongs to SFT
                    rows.append({"node": NODE, "prompt": writer_messages(text, options, names, style="compact"),
                                 "completion": "", "truth": {**truth, "choices": options}, "qid": question.qid,
                                 "type": question.type, "subtype": question.subtype, "wording": f"para-{family}-{k}",
                                 "answer": int(question.answer)})
    return rows
