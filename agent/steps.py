"""How a node talks to the LLM: bounded, recorded calls and the trace record of one step.

Every node builds its messages, then calls these; failures never raise, they are written to
the step's TraceRecord (`errors`) and the node falls back in code. A vision-language backend
(`accepts_frames = True`) watches the question's frames in every call: a node gets them with
`frames = watch_frames(state, runtime.context)` (None, without decoding anything, for a
text-only backend) and passes them on; `on_text` streams a generation as it is produced.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

from videothought.agent.state import TraceRecord

logger = logging.getLogger(__name__)

DEFAULT_VISION_FRAMES = 8  # frames a vision-language backend watches per call, unless settings.vision_frames
FRAME_CACHE_ENTRIES = 4  # decoded frame sets kept per context: one question's nodes share one


def _prompt_text(messages: list[dict] | str, limit: int = 800) -> str:
    if isinstance(messages, str):
        return messages[-limit:]
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)[-limit:]


def watch_frames(state: dict, context) -> np.ndarray | None:
    """The frames a vision-language backend watches for this question: (T, H, W, 3) uint8 RGB, or None.

    None (nothing decoded) unless `context.lm.accepts_frames` is True. Otherwise up to
    `settings.vision_frames` (default 8) frames spread evenly over `state["frame_indices"]` (all of the
    video when there are none) from `state["video_path"]`, decoded at `settings.max_side` and cached
    on the context, so the nodes of one question decode them once. A video that cannot be decoded
    gives None (logged): the nodes then run on text alone.
    """
    from videothought.agent.llm.protocol import accepts_frames

    if not accepts_frames(getattr(context, "lm", None)):
        return None
    video_path = state.get("video_path")
    if not video_path:
        return None
    settings = getattr(context, "settings", None)
    count = int(getattr(settings, "vision_frames", DEFAULT_VISION_FRAMES) or DEFAULT_VISION_FRAMES)
    max_side = getattr(settings, "max_side", None)
    indices = [int(i) for i in (state.get("frame_indices") or [])]
    if len(indices) > count:
        indices = [indices[int(round(k))] for k in np.linspace(0, len(indices) - 1, count)]
    key = (str(video_path), tuple(indices), count, max_side)
    cache = context.__dict__.setdefault("_frame_cache", {})
    if key in cache:
        return cache[key]
    from videothought.perception.video import VideoReader

    try:
        with VideoReader(str(video_path), max_side=max_side) as video:
            frames = video.get_frames(indices if indices else video.uniform_indices(count)).frames  # (T, H, W, 3)
    except Exception as error:  # a node must not crash on an undecodable video: it runs text-only
        logger.warning("could not decode frames of %s for the vision-language model (%s: %s); running text-only",
                       video_path, type(error).__name__, error)
        frames = None
    while len(cache) >= FRAME_CACHE_ENTRIES:
        cache.pop(next(iter(cache)))
    cache[key] = frames
    return frames


def text_streamer(runtime, node: str) -> Callable[[str], None] | None:
    """An `on_text` that writes each piece of a node's generation to LangGraph's custom stream as
    {"node": node, "text": piece} (read with `graph.stream(..., stream_mode="custom")`)."""
    writer = getattr(runtime, "stream_writer", None)
    if writer is None:
        return None
    return lambda piece: writer({"node": node, "text": piece})


def _record_outcome(record: TraceRecord, outcome) -> None:
    record.prompts.extend(_prompt_text(conversation) for conversation in outcome.conversations)
    record.llm_calls += outcome.attempts
    record.prompt_tokens += outcome.prompt_tokens
    record.completion_tokens += outcome.completion_tokens
    record.errors.extend(outcome.errors)


def generate_parsed(lm, build_messages, parse, record: TraceRecord, max_new_tokens: int, retries: int, what: str,
                    *, frames: np.ndarray | None = None, on_text: Callable[[str], None] | None = None):
    """Generate, parse; on an unparsable reply retry with the strict prompt (`build_messages(True)`)
    up to `retries` times. The parsed value, or None when every attempt failed. Every attempt is
    recorded in `record` (prompts, calls, tokens, errors). The loop is
    `videothought.agent.llm.parsing.generate_parsed`; the node's LoRA adapter is active when the
    backend has one; frames reach only a backend that accepts them."""
    from videothought.agent.llm.parsing import generate_parsed as parse_retry_loop
    from videothought.agent.llm.protocol import adapter_scope

    with adapter_scope(lm, record.node):
        outcome = parse_retry_loop(
            lm, build_messages, parse, retries=retries, max_new_tokens=max_new_tokens, temperature=0.0,
            frames=frames, on_text=on_text, what=what, backend_errors=(Exception,),
        )
    _record_outcome(record, outcome)
    return outcome.value


def llm_generate(lm, messages: list[dict], record: TraceRecord, max_new_tokens: int, *,
                 frames: np.ndarray | None = None, on_text: Callable[[str], None] | None = None) -> str | None:
    """One generation, recorded in `record`; None when the backend fails (the error is recorded).

    The node's LoRA adapter (post-trained per node, named like the node) is active when the
    backend has one."""
    return generate_parsed(lm, lambda strict: messages, lambda text: text, record, max_new_tokens, retries=0,
                           what="reply", frames=frames, on_text=on_text)


def llm_score(lm, prompt: list[dict], continuations: list[str], record: TraceRecord, *,
              frames: np.ndarray | None = None) -> list[float] | None:
    """Scores of the continuations given the prompt (one batched call), recorded in `record`; None
    when the backend fails or returns unusable scores (recorded)."""
    from videothought.agent.llm.protocol import adapter_scope, call_score

    record.prompts.append(_prompt_text(prompt))
    record.llm_calls += 1
    try:
        with adapter_scope(lm, record.node):
            scores = [float(s) for s in call_score(lm, prompt, continuations, frames=frames)]
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

