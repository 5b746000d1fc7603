"""The Video-of-Thought nodes of the rules reader (the frozen baseline). Each is a plain function
`(state, runtime) -> dict`.

`runtime.context` is a `VoTContext` (models, settings); `state` is the JSON-safe VoTState.
Every node returns the keys it writes plus one TraceRecord in `trace`.

    identify_targets   phrases of the question (and choices) that may name objects: content-word
                       runs found in code, plus the LLM's list
    track              frames -> STSG (or an indexed long video's segments); phrases -> track ids
                       by the scene's vocabulary and the encoder's region-text similarity; the
                       partial STSG of the targets, verbalised in a token budget
    analyze_actions    the LLM describes the targets' actions from the verbalised events
    propose_candidates open-ended questions: candidates from the STSG (code) and the LLM
    rank_answers       ONE batched `score` call over all candidates + each candidate's agreement
                       with the STSG (agent/rules/claims.py) + the LLM's 1-10 rating of the leader
    verify             the chosen answer's claims checked against the STSG in code, then a yes/no
                       cognition check by the LLM where the STSG cannot tell

Nothing here knows a benchmark: questions and answers are read as mentions and cues in any
wording (agent/rules/language.py) and checked with the STSG query layer (videothought.graph.query).
A vision-language LLM watches the frames in every call that generates or scores
(`watch_frames`). Malformed LLM output never raises: a bounded retry, then a fallback in
code, and the failure is written to the trace record's `errors`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re

from videothought.agent import prompts
from videothought.agent.followup import follow_up_frame, uses_pronoun
from videothought.agent.perceive import build_stsg, restrict_document, track_embeddings_of
from videothought.agent.rules.claims import ClaimChecker
from videothought.agent.rules.grounding import Grounder
from videothought.agent.rules.language import GENERIC_NOUNS, Vocabulary, candidate_phrases, read_text, tokens
from videothought.agent.steps import (
    _count_tokens,
    _evidence_text,
    _readable,
    _step,
    candidates_of,
    generate_parsed,
    llm_score,
    text_streamer,
    watch_frames,
)
from videothought.graph.query import SceneQuery
from videothought.graph.verbalize import describe_event, named_facts

def claim_checker(state: dict, context, question: str | None = None) -> ClaimChecker:
    doc = state.get("stsg")
    target_ids = [t for target in state.get("targets", []) for t in target["track_ids"]]
    encoder = context.encoder if context.settings.region_grounding else None
    return ClaimChecker(question or state["question"], doc, target_ids=target_ids, encoder=encoder,
                        track_embeddings=track_embeddings_of(doc) if encoder is not None else None,
                        options=candidates_of(state), history=state.get("history") or ())


# ---- the nodes ---------------------------------------------------------------------------
def identify_targets(state: dict, runtime) -> dict:
    """Target phrases: content-word runs of the question (of the choices when the question has
    none) found in code, and the LLM's list when asked for or when code finds nothing."""
    context = runtime.context
    question, choices = state["question"], list(state.get("choices") or [])
    with _step("identify_targets", state) as record:
        record.inputs = {"question": question, "choices": choices}
        question_phrases = candidate_phrases(question)
        # the question's objects; the ones its choices name only when the question names none
        # (options name distractors too: measured on dev questions, adding them always took
        # grounding precision from 1.0 to 0.50 for recall 0.62 -> 0.97)
        # ("which object is in the video?": a generic noun names no object of its own)
        specific = [p for p in question_phrases if not set(p.split()) <= GENERIC_NOUNS]
        refers_back = bool(state.get("history")) and (uses_pronoun(tokens(question)) or not specific)
        # a follow-up's object is the earlier turn's (carried over below), not its options'
        code_phrases = specific or ([] if refers_back else list(dict.fromkeys(
            p for c in choices for p in candidate_phrases(c)))) or question_phrases
        allowed = set(tokens(question + " " + " ".join(choices)))

        def parse(text: str) -> list[str] | None:
            phrases = []
            for part in re.split(r"[,\n;]", text):
                for phrase in candidate_phrases(part):
                    # only words the question or choices use: no hallucinated objects
                    if set(phrase.split()) <= allowed:
                        phrases.append(phrase)
            return list(dict.fromkeys(phrases)) or None

        llm_phrases: list[str] = []
        if context.settings.llm_targets == "always" or not code_phrases:
            llm_phrases = generate_parsed(
                context.lm, lambda strict: prompts.identify_targets(question, choices, strict),
                parse, record, 16, context.settings.parse_retries, "target list",
                frames=watch_frames(state, context), on_text=text_streamer(runtime, "identify_targets"),
            ) or []
            if not llm_phrases:
                record.errors.append("no target phrases from the LLM; using the phrases found in code")
        phrases = list(dict.fromkeys(code_phrases + [p for p in llm_phrases if p not in code_phrases]))
        if refers_back:
            # a follow-up ("what did it do next?"): the previous turn's targets carry over, and a
            # generic noun of this turn ("which object does it hit?") names no target of its own
            phrases = [p for p in phrases if not set(p.split()) <= GENERIC_NOUNS]
            for phrase in reversed(state["history"][-1].get("targets", [])):
                if phrase not in phrases:
                    phrases.insert(0, phrase)
        targets = [{"phrase": p, "track_ids": [], "score": 0.0, "source": "code" if p in code_phrases else "llm"}
                   for p in phrases[:6]]
        record.outputs = {"targets": [t["phrase"] for t in targets]}
    return {"targets": targets, "trace": [record.to_dict()]}


def track(state: dict, runtime) -> dict:
    """Perception: the STSG of the frames (or retrieved segments), the targets grounded to tracks,
    and the verbalised partial STSG."""
    context = runtime.context
    with _step("track", state) as record:
        record.inputs = {"video_path": state.get("video_path"), "targets": [t["phrase"] for t in state.get("targets", [])]}
        update: dict = {}
        if context.index is not None:
            doc, segment_ids = context.index.retrieve(
                state["question"], [t["phrase"] for t in state.get("targets", [])],
                k=context.settings.segments_per_question,
                **({"around_frame": anchor} if (anchor := follow_up_frame(state)) is not None else {}),
            )
            update["segments"] = segment_ids
            frame_indices = sorted({int(n["frame_index"]) for n in doc.get("graph", {}).get("nodes", [])})
            fps = float((doc.get("video") or {}).get("fps") or 25.0)
        else:
            doc, frame_indices, fps = build_stsg(state["video_path"], context)
        cut_seconds = read_text(state["question"], Vocabulary()).cut_seconds
        if cut_seconds is not None:
            # the question limits what may be seen ("up to 2.5 s ..."): nothing later may be used
            until_frame = int(cut_seconds * fps + 1e-6)
            doc = restrict_document(doc, until_frame)
            frame_indices = [f for f in frame_indices if f < until_frame]
            record.outputs["visible_until_frame"] = until_frame
        scene = SceneQuery.from_document(doc)
        encoder = context.encoder if context.settings.region_grounding else None
        grounder = Grounder(scene, Vocabulary.from_document(doc), encoder=encoder,
                            track_embeddings=track_embeddings_of(doc) if encoder is not None else None)
        targets = []
        for target in state.get("targets", []):
            found = grounder.ground_text(target["phrase"])
            ids = sorted({t for _, g in found for t in g.track_ids})
            score = min((g.score for _, g in found), default=0.0) if ids else 0.0
            targets.append({**target, "track_ids": ids, "score": round(float(score), 4)})
        target_ids = sorted({t for target in targets for t in target["track_ids"]})
        partial = named_facts(doc, target_ids, context.settings.context_tokens)
        record.outputs = {**record.outputs, "num_tracks": len(scene.tracks), "num_events": len(doc.get("events", [])),
                          "grounded": {t["phrase"]: t["track_ids"] for t in targets}, "partial_stsg": partial,
                          **({"segments": update["segments"]} if "segments" in update else {})}
        if targets and not target_ids:
            record.errors.append("no target phrase matched a track; the partial STSG holds every track")
    update.update({"stsg": doc, "frame_indices": list(map(int, frame_indices)), "fps": float(fps),
                   "targets": targets, "partial_stsg": partial, "trace": [record.to_dict()]})
    return update


def analyze_actions(state: dict, runtime) -> dict:
    """The LLM describes the targets' actions and what they imply, from the verbalised events."""
    context = runtime.context
    evidence = _evidence_text(state)
    question = state["question"]
    if state.get("excluded_answers"):
        rejected = [candidates_of(state)[i] for i in state["excluded_answers"] if i < len(candidates_of(state))]
        question += " (Not: " + "; ".join(rejected) + ")"
    with _step("analyze_actions", state) as record:
        record.inputs = {"partial_stsg": evidence, "frame_text": state.get("frame_text") or []}
        analysis = generate_parsed(
            context.lm, lambda strict: prompts.analyze_actions(question, evidence, state.get("frame_text")),
            lambda text: " ".join(text.strip().split()) if _readable(text) else None,
            record, context.settings.max_new_tokens, context.settings.parse_retries, "action analysis",
            frames=watch_frames(state, context), on_text=text_streamer(runtime, "analyze_actions"),
        )
        if analysis is None:
            # fall back to the grounded facts themselves: the first two lines of evidence
            analysis = " ".join(evidence.splitlines()[:2])
            record.errors.append("no readable analysis from the LLM; using the verbalised events")
        record.outputs = {"action_analysis": analysis}
    return {"action_analysis": analysis, "trace": [record.to_dict()]}


def propose_candidates(state: dict, runtime) -> dict:
    """Open-ended questions: candidate answers from the STSG (code) and from the LLM, deduplicated."""
    context = runtime.context
    checker = claim_checker(state, context)
    scene = checker.scene
    target_ids = {t for target in state.get("targets", []) for t in target["track_ids"]}
    question = state["question"]
    with _step("propose_candidates", state) as record:
        record.inputs = {"question": question}
        proposals: list[str] = []
        counting = "count" in checker.question.cues
        if counting:
            expected = checker.expected_count()
            if expected is not None:
                proposals.append(str(expected))
        else:
            for event in scene.events():
                if not target_ids or target_ids & set(event.track_ids):
                    proposals.append(re.sub(r"^At [\d.]+s ", "", describe_event(scene, event)).rstrip("."))
            proposals += [f"the {scene.tracks[t].name}" for t in sorted(target_ids or scene.tracks) if t in scene.tracks]
        count = context.settings.num_proposals

        def parse(text: str) -> list[str] | None:
            lines = [re.sub(r"^\s*(\d+[.)]|[-*•]|[A-E][.)])\s*", "", line).strip() for line in text.splitlines()]
            lines = [line for line in lines if _readable(line) or len(tokens(line)) in (1, 2)]
            if counting:  # a count question wants counts
                lines = [line for line in lines if read_text(line, Vocabulary()).count is not None]
            return lines or None

        llm_lines = generate_parsed(
            context.lm, lambda strict: prompts.propose_candidates(question, _evidence_text(state), state.get("action_analysis", ""), count),
            parse, record, context.settings.max_new_tokens, context.settings.parse_retries, "candidate list",
            frames=watch_frames(state, context), on_text=text_streamer(runtime, "propose_candidates"),
        ) or []
        if not llm_lines:
            record.errors.append("no candidates from the LLM; using the STSG's")
        candidates = list(dict.fromkeys(p.strip() for p in proposals + llm_lines if p.strip()))[: max(count, 2) * 2]
        if not candidates:
            candidates = ["nothing happens", "I cannot tell"]
        record.outputs = {"candidates": candidates}
    return {"candidates": candidates, "trace": [record.to_dict()]}


def _softmax_log(values: list[float]) -> list[float]:
    top = max(values)
    total = math.log(sum(math.exp(v - top) for v in values)) + top
    return [v - total for v in values]


def rank_answers(state: dict, runtime) -> dict:
    """Rank every candidate: ONE batched log-likelihood call given the analysis, plus the STSG
    evidence-consistency score, plus the LLM's 1-10 rationality rating of the leader."""
    context = runtime.context
    settings = context.settings
    candidates = candidates_of(state)
    excluded = set(state.get("excluded_answers") or [])
    question, evidence = state["question"], _evidence_text(state)
    analysis = state.get("action_analysis", "")
    with _step("rank_answers", state) as record:
        record.inputs = {"candidates": candidates, "excluded": sorted(excluded)}
        if not candidates:
            record.errors.append("no candidates to rank")
            record.outputs = {"answer": "", "answer_index": -1}
            return {"answer": "", "answer_index": -1, "candidate_scores": [], "trace": [record.to_dict()]}
        prompt = prompts.answer_context(question, evidence, analysis, state.get("history"))
        prompt_key = hashlib.sha256(json.dumps([prompt, candidates]).encode()).hexdigest()[:16]
        previous = state.get("candidate_scores") or []
        if previous and all(row.get("prompt_key") == prompt_key for row in previous) and len(previous) == len(candidates):
            # a retry after a refuted claim: same prompt, same candidates, so the same log-likelihoods
            logliks = [row["loglik"] for row in previous] if previous[0]["loglik"] is not None else None
            record.outputs["reused_scores"] = True
        else:
            logliks = llm_score(context.lm, prompt, [" " + c for c in candidates], record,
                                frames=watch_frames(state, context))
        if logliks is None:
            per_token = [0.0] * len(candidates)
        else:
            per_token = [s / _count_tokens(context.lm, " " + c) for s, c in zip(logliks, candidates)]
        log_probs = _softmax_log(per_token)
        rows = []
        checker = claim_checker(state, context)
        for index, (candidate, log_prob) in enumerate(zip(candidates, log_probs)):
            claims = checker.check(candidate).to_dict()
            # the LLM's preference as a probability over the candidates (0..1), not a log-probability:
            # an untrained 135M model is often 6 nats sure of a wrong option (a multi-token word's
            # later tokens are near-certain), which must not outvote what the STSG says
            score = settings.evidence_weight * claims["score"] + settings.loglik_weight * math.exp(log_prob)
            rows.append({"index": index, "text": candidate, "loglik": None if logliks is None else logliks[index],
                         "evidence": claims["score"], "rating": None, "rationale": "", "score": score,
                         "prompt_key": prompt_key})
        allowed = [row for row in rows if row["index"] not in excluded] or rows
        leader = max(allowed, key=lambda row: row["score"])
        runner_up = max((row["score"] for row in allowed if row is not leader), default=-math.inf)
        # The rating costs a generation: asked only when the leader's margin is within what a
        # rating can move (rating_weight), i.e. when it can change the ranking.
        if settings.rate_candidates and leader["score"] - runner_up <= 2 * settings.rating_weight:
            def parse_rating(text: str):
                from videothought.agent.llm.parsing import ParseError, extract_rating

                try:
                    rating = extract_rating(text)
                except ParseError:
                    return None
                rationale = re.sub(r"^\W*\d+(\.\d+)?(\s*/\s*10)?\W*", "", text.strip())[:160]
                return int(round(rating)), rationale

            rated = generate_parsed(
                context.lm, lambda strict: prompts.rate_candidate(question, evidence, leader["text"]),
                parse_rating, record, 16, 0, "rating",
                frames=watch_frames(state, context), on_text=text_streamer(runtime, "rank_answers"),
            )
            if rated is None:
                record.errors.append("no rating parsed; ranking without it")
            else:
                leader["rating"], leader["rationale"] = rated
                record.outputs["rating"] = {"index": leader["index"], "rating": rated[0], "rationale": rated[1]}
                leader["score"] += settings.rating_weight * (rated[0] - 5.5) / 4.5  # 1..10 -> -1..1
                leader = max(allowed, key=lambda row: row["score"])
        for row in rows:
            row["score"] = round(row["score"], 4)
        answer_index = leader["index"]
        ranked = sorted(rows, key=lambda row: -row["score"])
        record.outputs.update({"answer": leader["text"], "answer_index": answer_index,
                               "ranking": [(row["index"], row["score"]) for row in ranked]})
    return {"candidate_scores": rows, "answer": leader["text"], "answer_index": answer_index,
            "trace": [record.to_dict()]}


def parse_yes_no(text: str) -> str | None:
    """The cognition check's verdict: the first "yes" or "no" word of the LLM's reply, else None."""
    match = re.search(r"\b(yes|no)\b", text.lower())
    return match.group(1) if match else None


def verdict_threshold(lm, node: str = "verify") -> float | None:
    """The calibrated threshold on the log-odds of "yes" stored in the node adapter's card
    (`vot train calibrate`), None when the backend has no such adapter or it was not calibrated."""
    from videothought.agent.llm.protocol import adapter_card

    verdict = adapter_card(lm, node).get("verdict") or {}
    return float(verdict["threshold"]) if "threshold" in verdict else None


def cognition_check(state: dict, context, runtime, answer: str, record) -> dict:
    """The LLM's yes/no verdict on `answer` against the action analysis. With a calibrated verify
    adapter, the verdict is its log-odds of " yes" over " no" read against the threshold in the
    adapter's card (one scoring call): post-training moves the adapter's prior, and the greedy
    reading against 0 then says "yes" to nearly everything (docs/training.md, "Verify v6"). Without
    one, the first "yes"/"no" word of 4 greedy tokens."""
    messages = prompts.cognition_check(state["question"], state["action_analysis"], answer)
    threshold = verdict_threshold(context.lm)
    if threshold is not None:
        scores = llm_score(context.lm, messages, [" yes", " no"], record, frames=watch_frames(state, context))
        if scores is None:
            record.errors.append("cognition check could not be scored; relying on the perception check")
            return {"checked": False, "verdict": None}
        log_odds = scores[0] - scores[1]
        return {"checked": True, "verdict": "yes" if log_odds > threshold else "no",
                "log_odds": round(log_odds, 4), "threshold": threshold}
    verdict = generate_parsed(
        context.lm, lambda strict: messages, parse_yes_no, record, 4, 0, "yes/no verdict",
        frames=watch_frames(state, context), on_text=text_streamer(runtime, "verify"),
    )
    if verdict is None:
        record.errors.append("cognition verdict unparsable; relying on the perception check")
    return {"checked": verdict is not None, "verdict": verdict}


def verify(state: dict, runtime, *, max_retries: int = 2) -> dict:
    """Perception check in code (the answer's objects exist, its events happened, in order), then
    the LLM's yes/no cognition check against the action analysis. On failure, while fewer than
    `max_retries` retries were made, the answer is excluded and `verification["route"]` names
    where the graph goes back to: rank_answers when a claim is contradicted by the STSG (every
    other candidate the STSG refutes is excluded with it, and the graph only goes back when one it
    does not refute is left), analyze_actions when only the cognition check failed."""
    context = runtime.context
    answer, index = state.get("answer", ""), int(state.get("answer_index", -1))
    retries = int(state.get("retries", 0) or 0)
    excluded = list(state.get("excluded_answers") or [])
    with _step("verify", state) as record:
        record.inputs = {"answer": answer, "answer_index": index}
        checker = claim_checker(state, context)
        perception = checker.check(answer).to_dict() if answer else \
            {"supported": [], "contradicted": [], "score": 0.0, "checked": "nothing"}
        perception["passed"] = not perception["contradicted"]
        cognition: dict = {"checked": False}
        # The LLM's verdict is only consulted where the STSG has nothing to say about the answer:
        # no claim of it could be checked (supported or refuted) in code.
        neutral = not perception["supported"] and not perception["contradicted"]
        if context.settings.cognition_check and state.get("action_analysis") and answer and neutral:
            cognition = cognition_check(state, context, runtime, answer, record)
        # The 135M model's "no" is weak evidence: it only fails an answer the STSG cannot check.
        cognition_failed = cognition.get("verdict") == "no" and not perception["supported"]
        passed = bool(answer) and perception["passed"] and not cognition_failed
        candidates = candidates_of(state)
        route = None
        if not passed and retries < max_retries:
            dropped = set(excluded) | ({index} if index >= 0 else set())
            if not perception["passed"]:
                # A refuted answer is only worth replacing by one the STSG does not refute as well:
                # when every candidate is refuted, the ranking's leader stays (going down the
                # ranking then only swaps for a worse-scored answer).
                dropped |= {i for i, text in enumerate(candidates)
                            if i not in dropped and checker.check(text).contradicted}
            if len(dropped) < len(candidates):
                excluded = sorted(dropped)
                route = "rank_answers" if not perception["passed"] else "analyze_actions"
                retries += 1
            else:
                record.outputs["kept"] = "every other candidate is refuted too"
        verification = {"passed": passed, "perception": perception, "cognition": cognition, "route": route}
        record.outputs.update({"passed": passed, "route": route, "contradicted": perception["contradicted"]})
    return {"verification": verification, "retries": retries, "excluded_answers": excluded,
            "attempt": retries, "trace": [record.to_dict()]}


NODES = {
    "identify_targets": identify_targets,
    "track": track,
    "analyze_actions": analyze_actions,
    "propose_candidates": propose_candidates,
    "rank_answers": rank_answers,
    "verify": verify,
}
