"""How a node talks to the LLM: bounded, recorded calls and the trace record of one step.

Every node builds its messages, then calls these; failures never raise, they are written to
the step's TraceRecord (`errors`) and the node falls back in code.
"""

from __future__ import annotations

import math
import re
import time
from contextlib import contextmanager

from videothought.agent.state import TraceRecord

def _prompt_text(messages: list[dict] | str, limit: int = 800) -> str:
    if isinstance(messages, str):
        return messages[-limit:]
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)[-limit:]


def llm_generate(lm, messages: list[dict], record: TraceRecord, max_new_tokens: int) -> str | None:
    """One generation, recorded in `record`; None when the backend fails (the error is recorded).

    The node's LoRA adapter (post-trained per node, named like the node) is active when the
    backend has one."""
    from videothought.agent.llm import adapter_scope

    record.prompts.append(_prompt_text(messages))
    record.llm_calls += 1
    try:
        with adapter_scope(lm, record.node):
            generation = lm.generate(messages, max_new_tokens=max_new_tokens, temperature=0.0)
    except Exception as error:  # a backend failure is a recorded step failure, never a crash
        record.errors.append(f"generate failed: {type(error).__name__}: {error}")
        return None
    record.prompt_tokens += int(getattr(generation, "prompt_tokens", 0) or 0)
    record.completion_tokens += int(getattr(generation, "completion_tokens", 0) or 0)
    text = getattr(generation, "text", generation)
    return text if isinstance(text, str) else None


def llm_score(lm, prompt: list[dict], continuations: list[str], record: TraceRecord) -> list[float] | None:
    from videothought.agent.llm import adapter_scope

    record.prompts.append(_prompt_text(prompt))
    record.llm_calls += 1
    try:
        with adapter_scope(lm, record.node):
            scores = [float(s) for s in lm.score(prompt, continuations)]
    except Exception as error:
        record.errors.append(f"score failed: {type(error).__name__}: {error}")
        return None
    if len(scores) != len(continuations) or not all(math.isfinite(s) for s in scores):
        record.errors.append(f"score returned {len(scores)} values for {len(continuations)} candidates "
                             "or a non-finite one; ignoring the LLM scores")
        return None
    record.prompt_tokens += _count_tokens(lm, _prompt_text(prompt, 10**6)) + sum(_count_tokens(lm, c) for c in continuations)
    return scores


def _count_tokens(lm, text: str) -> int:
    try:
        return max(1, int(lm.count_tokens(text)))
    except Exception:
        return max(1, len(text.split()))


def _generate_parsed(lm, build_messages, parse, record: TraceRecord, max_new_tokens: int, retries: int, what: str):
    """Generate, parse; on an unparsable reply retry (strict prompt) up to `retries` times. None if all fail."""
    for attempt in range(retries + 1):
        text = llm_generate(lm, build_messages(attempt > 0), record, max_new_tokens)
        if text is None:
            return None
        parsed = parse(text)
        if parsed is not None:
            return parsed
        record.errors.append(f"unparsable {what} (try {attempt + 1}): {text[:120]!r}")
    return None


def _readable(text: str) -> bool:
    """Plausible prose: enough letters and words, not a repeated token or markup soup."""
    letters = sum(c.isalpha() for c in text)
    tokens = re.findall(r"[a-z0-9]+", text.lower())
    return letters >= 12 and len(tokens) >= 3 and letters / max(1, len(text)) > 0.5 and len(set(tokens)) >= 3


@contextmanager
def _step(node: str, state: dict):
    record = TraceRecord(node=node, attempt=int(state.get("retries", 0) or 0))
    start = time.perf_counter()
    yield record
    record.latency_seconds = round(time.perf_counter() - start, 4)


def candidates_of(state: dict) -> list[str]:
    return list(state.get("candidates") or state.get("choices") or [])


def _evidence_text(state: dict) -> str:
    text = state.get("partial_stsg") or ""
    return text or "Nothing was detected."


