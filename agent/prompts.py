"""Prompts of the VoT nodes, as chat messages for videothought.agent.llm.LanguageModel.

Written for a 135M model: short, one task per prompt, the answer format shown by example,
and the evidence already grounded in code so the model only has to read it.
"""

from __future__ import annotations

SYSTEM = "You answer questions about a video. Be brief and literal."


def _messages(user: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def choices_block(choices: list[str]) -> str:
    return "\n".join(f"{chr(ord('A') + i)}. {choice}" for i, choice in enumerate(choices))


def identify_targets(question: str, choices: list[str], strict: bool = False) -> list[dict]:
    """Step 1: the objects the question is about, one comma-separated line."""
    text = f"Question: {question}\n"
    if choices:
        text += f"Options:\n{choices_block(choices)}\n"
    text += "List the objects this question is about, separated by commas.\n"
    if strict:
        text += "Write only object names like: red circle, blue square\n"
    text += "Objects:"
    return _messages(text)


def analyze_actions(question: str, evidence: str, frame_text: list[str] | None = None) -> list[dict]:
    """Step 3: what the targets do and what follows from it, in one or two sentences."""
    text = f"Video facts:\n{evidence}\n"
    if frame_text:
        text += "Text seen in the video: " + "; ".join(frame_text) + "\n"
    text += f"Question: {question}\nDescribe what the objects do and what it implies, in one sentence."
    return _messages(text)


def answer_context(question: str, evidence: str, analysis: str, history: list[dict] | None = None) -> list[dict]:
    """Step 4: the prompt every candidate is scored as a continuation of (one batched forward)."""
    text = ""
    for turn in history or []:
        text += f"Earlier question: {turn['question']}\nEarlier answer: {turn['answer']}\n"
    text += f"Video facts:\n{evidence}\n"
    if analysis:
        text += f"Analysis: {analysis}\n"
    text += f"Question: {question}\nAnswer:"
    return _messages(text)


def blind_context(question: str) -> list[dict]:
    """The question alone: the LLM-blind baseline scores the choices after it."""
    return _messages(f"Question: {question}\nAnswer:")


def rate_candidate(question: str, evidence: str, answer: str) -> list[dict]:
    """Step 4b: VoT's rationality rating, 1-10, with a short rationale."""
    return _messages(
        f"Video facts:\n{evidence}\nQuestion: {question}\nProposed answer: {answer}\n"
        "How well do the facts support the answer? Reply with a score from 1 to 10, then a reason.\n"
        "Example: 7 - the facts mention it.\nScore:"
    )


def cognition_check(question: str, analysis: str, answer: str) -> list[dict]:
    """Step 5b: does the answer agree with the action analysis? yes or no."""
    return _messages(
        f"Analysis of the video: {analysis}\nQuestion: {question}\nAnswer: {answer}\n"
        "Does the answer agree with the analysis? Reply yes or no."
    )


def propose_candidates(question: str, evidence: str, analysis: str, count: int) -> list[dict]:
    """Open-ended questions: short candidate answers, one per line."""
    return _messages(
        f"Video facts:\n{evidence}\n"
        + (f"Analysis: {analysis}\n" if analysis else "")
        + f"Question: {question}\nWrite {count} different short possible answers, one per line."
    )


# The trace's assistant turn starts with this header (the prompt is primed with it): a 135M model that
# sees the first "Step k (name):" continues the five-step structure; unprimed, 20 SFT steps taught it
# "Step 1: ... Step 10:" without the names, which nothing can parse.
VOT_TRACE_START = "Step 1 (targets):"


def vot_trace(question: str, choices: list[str], evidence: str) -> list[dict]:
    """The cold-start VoT reasoner (post-training stage 4): the five steps written out, ending in
    the answer's letter. The reply is generated after the chat template's generation prompt plus
    VOT_TRACE_START. Added by the node post-training (training/nodes); no node calls it yet."""
    text = f"Video facts:\n{evidence}\nQuestion: {question}\n"
    if choices:
        text += f"Options:\n{choices_block(choices)}\n"
    text += "Think step by step: 1 targets, 2 tracks, 3 actions, 4 answer, 5 verify."
    return _messages(text)
