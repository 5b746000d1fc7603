"""Rewards of the program writer (node "writer") for RL, rejection sampling and DPO pairs: the written
program is *run*, and judged by what it answers, never by its likeness to a gold program.

    truth = {"choices": [...], "answer": 2, "tracked": "runs/rl/tracked/w400_000001.json",   # the agent's STSG
             "world": "runs/worlds/w400/stsg/w400_000001.json",                             # the world's truth
             "objects": [3], "events": ["collide", "turn"]}                                # the evidence

    answer    the program, run on the TRACKED STSG (what the agent sees), picks the right option alone
              (a unique supported option, graph/options.py + agent/program_nodes.decide): 1, else 0.
              Many programs earn it, and no program label is needed: RL learns from answers alone
    format    the reply is a program the language accepts (types, references, one value per option)
    objects   step reward, where the world's truth gives one: of the objects the program's find/filter
              steps select on the TRUE STSG, the share that are evidence objects (selecting every
              object earns little, selecting none nothing)
    events    step reward: of the event kinds the program asks about, the share among the evidence
              events' kinds (a question with no evidence event rewards asking about none)

None of them can be earned by a degenerate program: one that always fails ("find dog") answers
nothing and selects nothing; one that selects everything scores a small share; a constant answer
is right only as often as chance; giving every option the same value leaves them tied, and a tie
is no answer (tests/training/test_writer_rewards.py).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

EVENT_KIND_OF = {"pushed": "push", "occluded": "occluded"}  # program kinds -> STSG event types


@lru_cache(maxsize=512)
def _document(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def program_of(completion: str, truth: dict):
    """The checked program of a completion, or None (the format reward's test)."""
    from videothought.graph.program import ProgramError, parse_program

    try:
        return parse_program(completion.strip(), num_options=len(truth["choices"]))
    except (ProgramError, TypeError):
        return None


def picked(program, doc: dict) -> int | None:
    """The option a program alone picks on an STSG: the unique supported one (else None)."""
    from videothought.agent.program_nodes import decide
    from videothought.graph.execute import Executor

    executor = Executor.from_document(doc)
    execution = executor.run(program)
    among, status, _ = decide(executor.score_options(execution, program.options or []))
    return among[0] if status == "supported" else None


def format_reward(completion: str, truth: dict) -> float:
    return 1.0 if program_of(completion, truth) is not None else 0.0


def answer_reward(completion: str, truth: dict) -> float:
    program = program_of(completion, truth)
    if program is None or not truth.get("choices"):
        return 0.0
    return 1.0 if picked(program, _document(truth["tracked"])) == int(truth["answer"]) else 0.0


def _precision(chosen: set | None, wanted: set) -> float:
    """The share of `chosen` in `wanted`. Where the truth wants nothing, nothing is judged (1.0); a
    program that chooses nothing of this kind is neither right nor wrong here (0.5)."""
    if not wanted:
        return 1.0
    if not chosen:
        return 0.5
    return len(chosen & wanted) / len(chosen)


def selected_objects(program, doc: dict) -> set[int] | None:
    """The tracks of the program's last step that gives objects, run on `doc`: the objects the program
    settles on (None when it has no such step; nothing when it fails)."""
    from videothought.graph.execute import Executor

    executor = Executor.from_document(doc)
    execution = executor.run(program)
    if execution.status != "ok":
        return set()  # it failed: it settled on nothing
    chosen = None
    for record in execution.steps:
        if record.type == "objects":
            chosen = set(record.tracks)
    return chosen


def objects_reward(completion: str, truth: dict) -> float:
    program = program_of(completion, truth)
    if program is None:
        return 0.0
    wanted = {int(t) for t in truth.get("objects") or []}
    chosen = selected_objects(program, _document(truth["world"]))
    if chosen is not None and not chosen and wanted:
        return 0.0  # it settled on nothing: the objects are there to be found
    return _precision(chosen, wanted)


def events_reward(completion: str, truth: dict) -> float:
    program = program_of(completion, truth)
    if program is None:
        return 0.0
    asked = {EVENT_KIND_OF.get(s.args["kind"], s.args["kind"]) for s in program.steps if s.args.get("kind")}
    return _precision(asked, set(truth.get("events") or []))


WRITER_REWARDS = {"answer": answer_reward, "format": format_reward, "objects": objects_reward,
                  "events": events_reward}
