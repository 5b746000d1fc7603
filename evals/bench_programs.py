"""The agent bench's program conditions and the writers it hands their graph: the program path with
its programs written ahead in batches (`Prewritten`: program-few-shot, program) or the gold program
of the question (`GoldWriter`: gold-program, the perception ceiling). Either takes the place of the
graph's own writer (context.writer), so the graph runs as it would; only where the program comes
from changes. evals/bench_agent.py picks the writer per condition.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)

PROGRAM_CONDITIONS = ("program-few-shot", "program", "gold-program")


class Prewritten:
    """The program path's writer for a benchmark: programs written in batches before the graph runs
    (agent/writer.py write_programs: greedy, one decode step for `batch_size` questions), handed to
    the graph's identify_targets as it asks. A retry (sampled) or a question not written ahead is
    written on the spot by write_program."""

    def __init__(self, batch_size: int = 8, samples: int = 1):
        self.batch_size = batch_size
        self.samples = samples  # programs per question (settings.program_samples): greedy + sampled
        self.table: dict[tuple, list] = {}
        self.share: dict[tuple, float] = {}  # (question, choices): its share of the batched writes' wall time

    @staticmethod
    def key(question: str, choices, names: str) -> tuple:
        return (question, tuple(choices), names)

    def write_all(self, lm, requests) -> None:
        from videothought.agent.writer import SAMPLE_TEMPERATURE, write_programs

        fresh = [r for r in requests if self.key(r.question, r.choices, r.names) not in self.table]
        if not fresh:
            return
        start = time.perf_counter()
        copies = [r for r in fresh for _ in range(self.samples)]
        temperatures = [0.0 if k == 0 else SAMPLE_TEMPERATURE for _ in fresh for k in range(self.samples)]
        seeds = [k for _ in fresh for k in range(self.samples)]
        written = write_programs(lm, copies, temperature=temperatures, seeds=seeds, batch_size=self.batch_size)
        share = (time.perf_counter() - start) / len(fresh)
        for index, request in enumerate(fresh):
            self.table[self.key(request.question, request.choices, request.names)] = \
                written[index * self.samples:(index + 1) * self.samples]
            self.share[(request.question, tuple(request.choices))] = share

    def __call__(self, lm, question, choices, names, *, history=None, temperature=0.0, seed=None, samples=1,
                 **kwargs):
        from videothought.agent.writer import write_program

        if temperature == 0 and not history and self.key(question, choices, names) in self.table:
            return self.table[self.key(question, choices, names)][:max(1, samples)]
        return write_program(lm, question, choices, names, history=history, temperature=temperature, seed=seed,
                             **kwargs)


class GoldWriter:
    """The gold program of the question being asked (from the world's own wording, evals/world/programs.py):
    the perception ceiling of the program path. No LLM call; a retry gets the same program."""

    def __init__(self):
        self.programs: dict[str, object] = {}
        self.current: dict | None = None

    def add(self, item: dict) -> None:
        from videothought.evals.world.programs import GoldError, gold_program

        try:
            self.programs[item["qid"]] = gold_program(item["world_question"], item["world_choices"])
        except GoldError as error:
            logger.warning("%s: no gold program (%s)", item["qid"], error)

    def __call__(self, lm, question, choices, names, **kwargs):
        from videothought.agent.writer import Written

        item = self.current or {}
        if item.get("qid") not in self.programs:
            self.add(item)
        program = self.programs.get(item.get("qid"))
        return Written(program, program.writer_json() if program else "",
                       None if program else "no gold program for this question", style="gold")
