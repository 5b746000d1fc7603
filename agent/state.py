"""The Video-of-Thought graph state and its step-wise trace records.

State is JSON-safe (LangGraph checkpointers serialise it): frame indices, boxes, ids,
text, numbers, and the STSG as its node-link document (see videothought.graph.schema).
Never tensors, frames or networkx objects. Models live in the run context.

Keys written by each node:

    question, choices, video_path, question_type   the input (choices: [] = open-ended)
    frame_indices, fps                             frames the graph looks at
    targets        identify_targets: [{"phrase": str, "track_ids": [int], "score": float}]
    stsg           track: the STSG document of the frames looked at
    partial_stsg   track: the verbalised partial STSG of the targets (text)
    action_analysis analyze_actions: text
    candidate_scores rank_answers: [{"index", "text", "loglik", "rating", "rationale", "score"}]
    answer, answer_index  rank_answers (re-written after a retry)
    excluded_answers      verify: indices rejected so far
    verification   verify: {"passed": bool, "perception": {...}, "cognition": {...}}
    retries        verify: how many times it routed back
    trace          every node appends TraceRecord.to_dict() (an operator.add reducer)

Added by the graph builder (compatible: all optional):
    candidates     the answers rank_answers ranks: the choices, or propose_candidates' proposals
                   for an open-ended question (choices == [])
    frame_text     text read in frames (an OCR node writes it; analyze_actions reads it)
    segments       track, on an indexed long video: the segment indices the question looked at
    history        Session.chat: earlier turns [{"question", "answer", "targets"}] of the thread
    attempt        verify: the attempt the next node runs in (0 first, then 1, 2, ...)
    turn_start     run: len(trace) when this question started (a thread can hold several turns)

The program path (agent/program_nodes.py, the default graph):
    scene_names    track: the names the scene's perception can give ("colour: red, ...; shape: ...")
    program        identify_targets: the written program (graph/program.py stored form), or None
    programs       identify_targets: every program written (the greedy one first; settings.program_samples)
    program_error  identify_targets: why no program (unparsable, ill-typed, backend failure)
    execution      analyze_actions: {"status": "ok"|"unknown", "reason", "steps", "tracks", "frames", ...}
    option_scores  analyze_actions: per option, the executor's score in [-1, 1], or None (not comparable)
    value_text     analyze_actions: the executed value said as a user would ("the blue star")
    verdict        rank_answers: {"status": "supported"|"refuted"|"unchecked", "source": "program"|
                   "program+llm"|"llm", "reason"}
    attempts       verify: every attempt's answer, verdict and program (retries sample a new program)
    verification   verify: the best attempt's verdict + {"passed" (== supported), "route", "focus":
                   {"track_ids", "frame"} the answer is about, for a later turn's "it" / "after that"}
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict


class VoTState(TypedDict, total=False):
    # input
    question: str
    choices: list[str]
    video_path: str
    question_type: str
    # perception
    frame_indices: list[int]
    fps: float
    targets: list[dict]
    stsg: dict
    partial_stsg: str
    # reasoning
    action_analysis: str
    candidate_scores: list[dict]
    answer: str
    answer_index: int
    excluded_answers: list[int]
    verification: dict
    retries: int
    trace: Annotated[list[dict], operator.add]
    # added by the graph builder
    candidates: list[str]
    frame_text: list[str]
    segments: list[int]
    history: list[dict]
    attempt: int
    turn_start: int
    # the program path
    scene_names: str
    program: dict | None
    programs: list
    program_error: str | None
    execution: dict
    option_scores: list
    value_text: str | None
    verdict: dict
    attempts: list[dict]


@dataclass
class TraceRecord:
    """One node's step: what it saw (summarised), what it wrote, what it cost."""

    node: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)
    latency_seconds: float = 0.0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempt: int = 0  # 0 on the first pass, k after the k-th verification retry
    errors: list[str] = field(default_factory=list)  # e.g. unparsable LLM output, then what was done

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> TraceRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


VERDICTS = ("supported", "refuted", "unchecked")
SOURCES = ("program", "program+llm", "llm", "rules")


def verdict(verification: dict | None) -> dict:
    """What a user is told about an answer: {"status": supported | refuted | unchecked, "source",
    "reason"}. The program path writes these itself; for the rules reader they are read off its
    perception check: supported only when some claim of the answer was found in the STSG (and none
    contradicted), refuted when one was contradicted, else unchecked. A state that says nothing is
    "unchecked": never "verified"."""
    verification = verification or {}
    status = verification.get("status")
    if status in VERDICTS:
        source = verification.get("source")
        return {"status": status, "source": source if source in SOURCES else None,
                "reason": str(verification.get("reason") or "") or None}
    perception = verification.get("perception") or {}
    if perception.get("contradicted"):
        return {"status": "refuted", "source": "rules", "reason": "; ".join(map(str, perception["contradicted"]))}
    if perception.get("supported") and verification.get("passed"):
        return {"status": "supported", "source": "rules", "reason": "; ".join(map(str, perception["supported"]))}
    reason = "the STSG confirms nothing the answer says" if perception else "nothing checked this answer"
    return {"status": "unchecked", "source": "rules" if perception else None, "reason": reason}

