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


def writer_examples(world_dirs: list[Path], *, rewordings: int = 2, paraphrases: int = 2, seed: int = 0,
                    include_original: bool = True) -> list[dict]:
    """Every question of the worlds in its own wording (if `include_original`), `rewordings` "train"
    family wordings and `paraphrases` paraphrase-generator wordings, each with its gold program."""
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
                for k in range(paraphrases):
                    text, options = paraphrase(gold, question.question, list(question.options), rng)
                    forms.append((f"para-{k}", text, options))
                seen = set()
                for wording, text, options in forms:
                    if (text, tuple(options)) in seen:
                        continue
                    seen.add((text, tuple(options)))
                    rows.append(example(text, options, names, target, wording=wording, **meta))
    if skipped:
        logger.warning("%d questions had no gold program and were left out", skipped)
    return rows
