"""Running a question program (graph/program.py) on one STSG: the steps in order, each operator's
value handed to the next, the executed program kept as the trace. Exact and deterministic: no
language model, no dataset knowledge.

    executor = Executor.from_document(doc)                    # the STSG document in graph state
    execution = executor.run(parse_program(written))          # value, status, evidence
    checks = executor.score_options(execution, program.options)   # one score per option, in [-1, 1]

The parts, as in CLEVRER's NS-DR and ViperGPT: typed values in and out (graph/values.py), one
small function per operator registered by name (graph/operators.py), the program printed as the
trace (`Execution.steps`). An operator that needs what the scene does not hold raises `Unknown`
with the reason (a name perception cannot see, an attribute it does not give, a change that never
happens): the execution's status is then "unknown" and nothing is claimed. Checking the options
against the value is graph/options.py's job.
"""

from __future__ import annotations

from videothought.graph import options as option_scores
from videothought.graph.ground import DescriptionGrounder, SceneNames, TextMatcher
from videothought.graph.operators import OPERATIONS
from videothought.graph.program import Program, input_type
from videothought.graph.query import SceneQuery
from videothought.graph.values import Execution, StepRecord, Unknown, Value


class Run:
    """One program's run: the scene each step sees, the step values so far, the grounder."""

    def __init__(self, executor: Executor):
        self.executor = executor
        self.scene = executor.scene
        self.grounder = executor.grounder
        self.values: list[Value] = []

    def objects(self, description: dict | None, among: list[int] | None = None) -> list[int]:
        found = self.grounder.ground(description, among)
        if found.unknown:
            raise Unknown(found.unknown)
        return list(found.track_ids)

    def step_objects(self, index: int) -> list[int]:
        value = self.values[index]
        if value.type != "objects":
            raise Unknown(f"step {index} gives {value.type}, not objects")
        return list(value.data)


class Executor:
    """Runs programs on one scene. `matcher` reads description words (graph/ground.py); `history`:
    the earlier turns of a conversation, [{"tracks": [...], "frame": int or None}, ...], for `recall`."""

    def __init__(self, scene: SceneQuery, *, matcher: TextMatcher | None = None, history: list[dict] | None = None,
                 names: SceneNames | None = None):
        self.scene = scene
        self.names = names or SceneNames.from_query(scene)
        self.matcher = matcher
        self.grounder = DescriptionGrounder(scene, self.names, matcher=matcher)
        self.history = list(history or [])

    @classmethod
    def from_document(cls, doc: dict | None, **kwargs) -> Executor:
        return cls(SceneQuery.from_document(doc), **kwargs)

    def latest_answer(self) -> dict | None:
        """The latest earlier turn that named tracks (what `recall` brings back), or None."""
        turns = [t for t in self.history if t.get("tracks")]
        return turns[-1] if turns else None

    def with_scene(self, scene: SceneQuery) -> Executor:
        return Executor(scene, matcher=self.matcher, history=self.history, names=self.names)

    def run(self, program: Program) -> Execution:
        run = Run(self)
        records: list[StepRecord] = []
        value: Value | None = None
        for index, step in enumerate(program.steps):
            reads = input_type(program, index)
            given = run.values[-1] if reads != "none" and run.values else None
            try:
                value = OPERATIONS[step.op](run, given, step.args)
            except Unknown as unknown:
                records.append(StepRecord(index, step.to_text(), "unknown", program.types[index]))
                return Execution(None, "unknown", f"step {index} ({step.op}): {unknown}", records, run.scene)
            run.values.append(value)
            records.append(StepRecord(index, step.to_text(), value.summary(run.scene), value.type,
                                      value.tracks(), value.frames()))
        return Execution(value, "ok", "", records, run.scene)

    def score_options(self, execution: Execution, options: list[dict]) -> list[float | None]:
        """Each option value against the executed value (graph/options.py): 1 agrees, ~0 cannot
        tell, < 0 disagrees, None not comparable (or nothing was executed)."""
        return option_scores.score_options(self, execution, options)


__all__ = ["Executor", "Run", "Execution", "Unknown"]
