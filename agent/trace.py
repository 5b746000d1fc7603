"""Step-wise traces: one JSON line per node step, written as each node finishes.

    for node, record in stream_steps(app, question, config=config, context=context):
        print(node, record.latency_seconds)            # LangGraph stream_mode="updates"

    with TraceWriter("run.jsonl") as writer:           # append-only, flushed per line:
        writer.write(record)                           # a killed run keeps every finished step
    records = read_trace("run.jsonl")
    print(format_trace(records))                       # the readable form `vot ask` prints
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from videothought.agent.state import TraceRecord


class TraceWriter:
    """Appends TraceRecords as JSON lines, flushed to the OS after every line.

    Each line carries the record plus `thread_id` (which run it belongs to) when given.
    """

    def __init__(self, path: str | os.PathLike, *, thread_id: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.thread_id = thread_id
        self._handle = open(self.path, "a", encoding="utf-8")

    def write(self, record: TraceRecord | dict) -> None:
        line = record.to_dict() if isinstance(record, TraceRecord) else dict(record)
        if self.thread_id is not None:
            line["thread_id"] = self.thread_id
        self._handle.write(json.dumps(line, default=_json_default) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _json_default(value: Any):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def read_trace(path: str | os.PathLike, *, thread_id: str | None = None) -> list[TraceRecord]:
    """Records of a JSONL trace (of one thread when given). A torn last line (a killed writer) is skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if thread_id is None or row.get("thread_id") == thread_id:
            records.append(TraceRecord.from_dict(row))
    return records


def stream_steps(app, graph_input, *, config: dict, context, **stream_kwargs) -> Iterator[tuple[str, TraceRecord]]:
    """Run a compiled graph with stream_mode="updates", yielding (node name, its TraceRecord)
    as each node finishes. `graph_input=None` resumes the thread from its checkpoint.
    stream_kwargs go to `app.stream` (e.g. durability="sync")."""
    for update in app.stream(graph_input, config=config, context=context, stream_mode="updates", **stream_kwargs):
        for node, written in update.items():
            for record in (written or {}).get("trace", []) if isinstance(written, dict) else []:
                yield node, TraceRecord.from_dict(record)


def format_trace(records: Iterable[TraceRecord | dict]) -> str:
    """A readable step-wise trace: one block per node step."""
    lines = []
    for step, record in enumerate(records, 1):
        if isinstance(record, dict):
            record = TraceRecord.from_dict(record)
        cost = f"{record.latency_seconds:.2f}s"
        if record.llm_calls:
            cost += f", {record.llm_calls} LLM call{'s' if record.llm_calls > 1 else ''}, " \
                    f"{record.prompt_tokens}+{record.completion_tokens} tokens"
        attempt = f" (retry {record.attempt})" if record.attempt else ""
        lines.append(f"{step}. {record.node}{attempt}  [{cost}]")
        for key, value in record.outputs.items():
            text = value if isinstance(value, str) else json.dumps(value, default=_json_default)
            text = " ".join(text.split())
            lines.append(f"     {key}: {text[:200]}{'...' if len(text) > 200 else ''}")
        for error in record.errors:
            lines.append(f"     ! {error[:200]}")
    return "\n".join(lines)


def total_llm_calls(records: Iterable[TraceRecord | dict]) -> int:
    return sum((r.llm_calls if isinstance(r, TraceRecord) else int(r.get("llm_calls", 0))) for r in records)
