"""Run one question through the VoT graph, checkpointed in SQLite, resumable after a crash.

    result = run_question("What does the red circle do?", video_path="clip.mp4",
                          choices=[...], db_path="runs.sqlite", trace_path="trace.jsonl")
    result.answer, result.answer_index, result.trace

Every finished node is checkpointed (LangGraph SqliteSaver, durability "sync") and its trace
record appended to the JSONL file. Calling `run_question` again with the same thread id (by
default derived from the video, question and choices) after the process was killed resumes
from the last finished node: the nodes that finished are not run again, and the answer is the
one an uninterrupted run gives (generation is greedy, scoring deterministic).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from videothought.agent.state import TraceRecord
from videothought.agent.trace import TraceWriter, stream_steps

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    thread_id: str
    answer: str
    answer_index: int
    trace: list[dict]  # this run's node records, in order
    verification: dict = field(default_factory=dict)
    resumed: bool = False  # True when the run continued a checkpointed, unfinished one
    state: dict = field(default_factory=dict)  # the final graph state (JSON-safe)

    @property
    def llm_calls(self) -> int:
        return sum(int(record.get("llm_calls", 0)) for record in self.trace)

    @property
    def latency_seconds(self) -> float:
        return sum(float(record.get("latency_seconds", 0.0)) for record in self.trace)

    def to_dict(self, *, with_state: bool = False) -> dict:
        from videothought.agent.state import verdict

        out = {"thread_id": self.thread_id, "answer": self.answer, "answer_index": self.answer_index,
               "verdict": verdict(self.verification), "verification": self.verification, "resumed": self.resumed,
               "llm_calls": self.llm_calls, "trace": self.trace}
        if with_state:
            out["state"] = self.state
        return out


@contextlib.contextmanager
def sqlite_checkpointer(db_path: str | os.PathLike) -> Iterator:
    """A LangGraph SqliteSaver on a file, closed on exit."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(db_path), check_same_thread=False)
    try:
        yield SqliteSaver(connection)
    finally:
        connection.close()


def default_thread_id(video_path: str, question: str, choices: Sequence[str]) -> str:
    key = json.dumps([str(Path(video_path).resolve()), question, list(choices)])
    return "vot-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def question_input(question: str, video_path: str, choices: Sequence[str] = (), question_type: str | None = None,
                   **extra) -> dict:
    """The graph input of a new question. Keys of a previous question on the same thread are reset."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"the question must be a non-empty string, got {question!r}")
    choices = [str(c) for c in choices]
    if any(not c.strip() for c in choices):
        raise ValueError(f"choices must be non-empty strings, got {choices!r}")
    state = {"question": question.strip(), "choices": choices, "video_path": str(video_path),
             "candidates": [], "excluded_answers": [], "retries": 0, "attempt": 0, "verification": {},
             "action_analysis": "", "frame_text": [], "targets": [], "candidate_scores": [], "answer": "",
             "answer_index": -1, "partial_stsg": "",
             # the program path's keys (agent/program_nodes.py)
             "program": None, "programs": [], "program_error": None, "execution": {}, "option_scores": [], "value_text": None,
             "verdict": {}, "attempts": []}
    if question_type:
        state["question_type"] = question_type
    state.update(extra)
    return state


def run_graph(app, graph_input: dict | None, *, thread_id: str, context, trace_path: str | os.PathLike | None = None,
              on_step=None) -> RunResult:
    """Invoke (or, with graph_input None, resume) a compiled graph on a thread, writing the trace."""
    config = {"configurable": {"thread_id": thread_id}}
    writer = TraceWriter(trace_path, thread_id=thread_id) if trace_path else None
    try:
        for node, record in stream_steps(app, graph_input, config=config, context=context, durability="sync"):
            if writer:
                writer.write(record)
            if on_step:
                on_step(node, record)
    finally:
        if writer:
            writer.close()
    values = app.get_state(config).values
    trace = values.get("trace", [])[values.get("turn_start", 0):]  # this question's records
    return RunResult(thread_id=thread_id, answer=values.get("answer", ""), answer_index=int(values.get("answer_index", -1)),
                     trace=trace, verification=values.get("verification", {}), resumed=graph_input is None,
                     state=dict(values))


def run_question(
    question: str,
    *,
    video_path: str | os.PathLike,
    choices: Sequence[str] = (),
    question_type: str | None = None,
    context=None,
    db_path: str | os.PathLike | None = None,
    thread_id: str | None = None,
    trace_path: str | os.PathLike | None = None,
    max_retries: int = 2,
    ablate: Sequence[str] = (),
    graph=None,
    on_step=None,
    checkpointer=None,
    history: Sequence[dict] | None = None,
    reader: str | None = None,
) -> RunResult:
    """Answer one question. With `db_path` (or any LangGraph `checkpointer`), the run is
    checkpointed and an unfinished run on the same thread is resumed instead of started again;
    a finished one is returned as it is. `history`: earlier turns of a chat on this thread.
    `reader`: "program" or "rules" (agent/graph.py; default $VIDEOTHOUGHT_READER, else DEFAULT_READER)."""
    from langgraph.checkpoint.memory import InMemorySaver

    from videothought.agent.context import default_context
    from videothought.agent.graph import build_vot_graph

    video_path = str(video_path)
    thread_id = thread_id or default_thread_id(video_path, question, choices)
    context = context if context is not None else default_context()
    graph = graph if graph is not None else build_vot_graph(max_retries=max_retries, ablate=tuple(ablate),
                                                            reader=reader)
    if checkpointer is not None:
        saver_scope = contextlib.nullcontext(checkpointer)
    else:
        saver_scope = sqlite_checkpointer(db_path) if db_path else contextlib.nullcontext(InMemorySaver())
    with saver_scope as saver:
        app = graph.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": thread_id}}
        snapshot = app.get_state(config)
        same_question = snapshot.values.get("question") == question.strip() and \
            list(snapshot.values.get("choices", [])) == list(choices)
        if snapshot.values and same_question and snapshot.next:
            logger.info("resuming thread %s before %s", thread_id, list(snapshot.next))
            return run_graph(app, None, thread_id=thread_id, context=context, trace_path=trace_path, on_step=on_step)
        if snapshot.values and same_question and not snapshot.next and history is None:
            values = snapshot.values
            trace = values.get("trace", [])[values.get("turn_start", 0):]
            return RunResult(thread_id=thread_id, answer=values.get("answer", ""),
                             answer_index=int(values.get("answer_index", -1)), trace=trace,
                             verification=values.get("verification", {}), state=dict(values))
        graph_input = question_input(question, video_path, choices, question_type,
                                     turn_start=len(snapshot.values.get("trace", [])), history=list(history or []))
        return run_graph(app, graph_input, thread_id=thread_id, context=context, trace_path=trace_path, on_step=on_step)


def trace_records(result: RunResult) -> list[TraceRecord]:
    return [TraceRecord.from_dict(record) for record in result.trace]
