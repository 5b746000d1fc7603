"""Per-node metrics of the post-trained nodes on a world seed never trained on.

    vot train eval-nodes --stage runs/nodes/lora --world runs/worlds/w7 --limit 200 --family heldout

Every metric runs the node's own prompt (agent/prompts.py) through the LLM with the node's
adapter active, on inputs built exactly as the graph builds them (identify_targets in code,
then track: the TRACKED STSG, verbalised). References come from the world's truth.

    targets          identify_targets' phrases (parsed as the node parses them) vs the phrases of the
                     question that name the evidence objects: precision / recall
    grounding        the track node's phrase -> track links (code), tracks matched to true objects
                     by box overlap: share of target phrases linked to an evidence object
    actions          analyze_actions' text: recall of the evidence events (verb + participant named)
    rank (LLM)       rank_answers' batched log-likelihood alone: accuracy by question type
    rank (node)      the node's combined score, STSG evidence + LLM (no rating): accuracy by type
    verify           cognition_check with the reference analysis, right and wrong answers:
                     verdict "yes" means "the answer is right"; precision / recall of "yes", read
                     from 4 greedy tokens as the graph's node reads it (verify_scored_*: log p)
                     verify_pair_accuracy / verify_auc: does the right option get the higher
                     log-odds of "yes" than the wrong one (threshold-free: a moved prior leaves them);
                     verify_calibrated_*: the log-odds against the adapter's calibrated threshold
    trace            the cold-start reasoner's trace: its Step 4 letter, accuracy (unparsable = wrong), and
                     the mean of each RL reward (rewards.py: format, answer, targets, events, verdict,
                     gated) and the share of traces passing every step

Generation metrics (targets, actions, trace) run on the first `generate_limit` questions: on
the shared 2-core CPU a greedy generation costs seconds.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import defaultdict
from pathlib import Path

from videothought.agent import prompts
from videothought.training.nodes.data import (
    TRACE_NODE,
    WordedQuestion,
    code_nodes,
    mentions_event,
    reference_analysis,
    reference_targets,
)

logger = logging.getLogger(__name__)


def load_stage_lm(stage_dir: str | None):
    """The embedded LLM (float32) with every adapter of a stage folder ({node}/adapter), checked
    against the base model; None -> the untrained LLM."""
    from videothought.agent.llm.local import LocalLanguageModel

    lm = LocalLanguageModel.embedded(dtype="float32")
    if stage_dir:
        for name, folder in stage_adapters(stage_dir).items():
            from videothought.training.nodes.models import check_adapter_fits

            check_adapter_fits(folder, lm.model, expected_node=name)
            lm.add_adapter(name, folder)
    return lm


def stage_adapters(stage_dir: str | Path) -> dict[str, str]:
    """{node: adapter folder} of a stage output (<node>/adapter/) or a shipped folder (<node>/)."""
    root = Path(stage_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no adapters folder {root}")
    found = {}
    for config in sorted(root.glob("*/adapter/adapter_config.json")) + sorted(root.glob("*/adapter_config.json")):
        folder = config.parent
        name = folder.parent.name if folder.name == "adapter" else folder.name
        found.setdefault(name, str(folder))
    return found


def _scope(lm, node):
    from videothought.agent.llm.protocol import adapter_scope

    return adapter_scope(lm, node)


def _generate(lm, node: str, messages, max_new_tokens: int) -> str:
    with _scope(lm, node):
        return lm.generate(messages, max_new_tokens=max_new_tokens, temperature=0.0).text


def _score(lm, node: str, messages, continuations: list[str]) -> list[float]:
    with _scope(lm, node):
        return lm.score(messages, continuations)


class _Confusion:
    """Counts of a yes/no node's verdicts ("yes" = the shown answer is right); an unparsed verdict is
    neither a yes nor a right no."""

    def __init__(self):
        self.tp = self.fp = self.fn = self.tn = self.checks = 0

    def add(self, *, said_yes: bool, right: bool, parsed: bool = True):
        self.checks += 1
        self.tp += said_yes and right
        self.fp += said_yes and not right
        self.fn += (not said_yes) and right
        self.tn += (not said_yes) and (not right) and parsed

    def metrics(self, prefix: str) -> dict:
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn
        return {f"{prefix}_precision": tp / (tp + fp) if tp + fp else None,
                f"{prefix}_recall": tp / (tp + fn) if tp + fn else None,
                f"{prefix}_accuracy": (tp + tn) / max(1, self.checks),
                f"{prefix}_yes_share": (tp + fp) / max(1, self.checks)}  # 0 or 1: collapsed onto one verdict


def verdict_ranking(margins: list[tuple[float, float]]) -> dict:
    """Threshold-free readings of a yes/no node, from each question's (right option, wrong option) log-odds
    of "yes": `verify_pair_accuracy`, the share of questions whose right option gets the higher log-odds
    (ties count half), and `verify_auc` over every right check against every wrong one. A verdict whose
    prior moved but whose ranking did not keeps these and changes only the accuracy and the yes share."""
    if not margins:
        return {"verify_pair_accuracy": None, "verify_auc": None}
    pair = sum(1.0 if r > w else 0.5 if r == w else 0.0 for r, w in margins) / len(margins)
    rights, wrongs = [r for r, _ in margins], [w for _, w in margins]
    auc = sum(1.0 if r > w else 0.5 if r == w else 0.0 for r in rights for w in wrongs) / (len(rights) * len(wrongs))
    return {"verify_pair_accuracy": pair, "verify_auc": auc}


def parse_targets(text: str, question: str, choices: list[str]) -> list[str]:
    """As identify_targets parses the LLM's list: phrases of words the question or choices use."""
    from videothought.agent.rules.language import candidate_phrases, tokens

    allowed = set(tokens(question + " " + " ".join(choices)))
    phrases = []
    for part in re.split(r"[,\n;]", text):
        for phrase in candidate_phrases(part):
            if set(phrase.split()) <= allowed:
                phrases.append(phrase)
    return list(dict.fromkeys(phrases))


def _same_phrase(a: str, b: str) -> bool:
    x, y = set(a.split()), set(b.split())
    return bool(x) and bool(y) and (x <= y or y <= x)


def track_to_truth(tracked: dict, truth: dict) -> dict[int, int]:
    """Each tracked track -> the true object its boxes overlap most often (IoU >= 0.3 per frame)."""
    by_frame: dict[int, list] = defaultdict(list)
    for node in truth.get("graph", {}).get("nodes", []):
        if node.get("kind", "observation") == "observation" and node.get("box"):
            by_frame[int(node["frame_index"])].append((int(node["track_id"]), node["box"]))
    votes: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for node in tracked.get("graph", {}).get("nodes", []):
        if node.get("kind", "observation") != "observation" or not node.get("box"):
            continue
        best, best_iou = None, 0.3
        for object_id, box in by_frame.get(int(node["frame_index"]), []):
            iou = _iou(node["box"], box)
            if iou >= best_iou:
                best, best_iou = object_id, iou
        if best is not None:
            votes[int(node["track_id"])][best] += 1
    return {t: max(v, key=v.get) for t, v in votes.items()}


def _iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _log_softmax(values: list[float]) -> list[float]:
    top = max(values)
    total = math.log(sum(math.exp(v - top) for v in values)) + top
    return [v - total for v in values]


def parse_trace_answer(text: str, num_choices: int) -> int | None:
    match = re.search(r"Step 4[^:\n]*:\s*\(?([A-E])\b", text)
    if not match:
        return None
    index = ord(match.group(1)) - ord("A")
    return index if index < num_choices else None


class NodeEvaluation:
    """Runs every metric over worded questions; `prepare` runs the code nodes once per question."""

    def __init__(self, items: list[WordedQuestion], context, *, generate_limit: int = 40, progress: bool = True):
        self.items = items
        self.context = context
        self.generate_limit = generate_limit
        self.progress = progress
        self.states: list[dict] = []

    def prepare(self) -> None:
        from tqdm.auto import tqdm

        from videothought.agent.rules.nodes import claim_checker

        for item in tqdm(self.items, desc="code nodes", disable=not self.progress, unit="question"):
            state = code_nodes(item.question, item.choices, item.video_path, self.context)
            checker = claim_checker(state, self.context)
            state["claim_scores"] = [float(checker.check(c).to_dict()["score"]) for c in item.choices]
            self.states.append(state)

    def grounding(self) -> dict:
        """Share of reference target phrases the track node links to evidence objects (code only)."""
        linked = total = 0
        for item, state in zip(self.items, self.states):
            references = reference_targets(item.question, item.evidence, item.truth_doc)
            mapping = track_to_truth(state["stsg"], item.truth_doc)
            wanted = {int(i) for i in item.evidence.get("object_ids") or []}
            for target in state.get("targets", []):
                if not any(_same_phrase(target["phrase"], r) for r in references):
                    continue
                total += 1
                objects = {mapping.get(int(t)) for t in target["track_ids"]}
                linked += bool(objects) and objects <= wanted
        return {"grounding_accuracy": linked / total if total else None, "grounding_phrases": total}

    def rank(self, lm, settings) -> dict:
        from tqdm.auto import tqdm

        by_type: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
        for item, state in tqdm(list(zip(self.items, self.states)), desc="rank_answers", disable=not self.progress):
            messages = prompts.answer_context(item.question, state.get("partial_stsg") or "Nothing was detected.", "")
            continuations = [" " + c for c in item.choices]
            logliks = _score(lm, "rank_answers", messages, continuations)
            per_token = [s / max(1, lm.count_tokens(c)) for s, c in zip(logliks, continuations)]
            llm_choice = max(range(len(per_token)), key=per_token.__getitem__)
            log_probs = _log_softmax(per_token)
            combined = [settings.evidence_weight * e + settings.loglik_weight * p
                        for e, p in zip(state["claim_scores"], log_probs)]
            node_choice = max(range(len(combined)), key=combined.__getitem__)
            by_type[item.type].append((llm_choice == item.answer, node_choice == item.answer))
        out = {"rank_llm_accuracy": _mean([a for rows in by_type.values() for a, _ in rows]),
               "rank_node_accuracy": _mean([b for rows in by_type.values() for _, b in rows])}
        out["rank_node_by_type"] = {t: _mean([b for _, b in rows]) for t, rows in sorted(by_type.items())}
        out["rank_llm_by_type"] = {t: _mean([a for a, _ in rows]) for t, rows in sorted(by_type.items())}
        return out

    def verify(self, lm) -> dict:
        """The verdict as the graph's verify node reads it: 4 greedy new tokens, the first yes/no word
        (agent.rules.nodes.parse_yes_no; no verdict counts as wrong). `verify_scored_*` is the earlier
        reading, log p(" yes") against log p(" no"), kept for comparison with older tables: it can
        disagree with the generation (the model may write "no" without the space). When the verify
        adapter's card holds a calibrated threshold (`vot train calibrate`), `verify_calibrated_*` reads
        the same log-odds against it, as the graph's verify node then does."""
        from tqdm.auto import tqdm

        from videothought.agent.rules.nodes import parse_yes_no, verdict_threshold

        threshold = verdict_threshold(lm)
        generated, scored, calibrated = _Confusion(), _Confusion(), _Confusion()
        unparsed = 0
        margins: list[tuple[float, float]] = []  # per question: log-odds of "yes" for its right and its wrong option
        for item in tqdm(self.items, desc="verify", disable=not self.progress):
            analysis = reference_analysis(item.evidence, item.truth_doc)
            wrong = (item.answer + 1) % len(item.choices)
            pair = []
            for index, right in ((item.answer, True), (wrong, False)):
                messages = prompts.cognition_check(item.question, analysis, item.choices[index])
                verdict = parse_yes_no(_generate(lm, "verify", messages, 4))
                unparsed += verdict is None
                generated.add(said_yes=verdict == "yes", right=right, parsed=verdict is not None)
                yes, no = _score(lm, "verify", messages, [" yes", " no"])
                scored.add(said_yes=yes >= no, right=right)
                if threshold is not None:
                    calibrated.add(said_yes=yes - no > threshold, right=right)
                pair.append(yes - no)
            margins.append((pair[0], pair[1]))
        out = {**generated.metrics("verify"), "verify_unparsed": unparsed, **scored.metrics("verify_scored"),
               **verdict_ranking(margins)}
        if threshold is not None:
            out.update({**calibrated.metrics("verify_calibrated"), "verify_threshold": threshold})
        return out

    def targets(self, lm) -> dict:
        from tqdm.auto import tqdm

        matched_pred = preds = matched_ref = refs = 0
        for item in tqdm(self.items[: self.generate_limit], desc="identify_targets", disable=not self.progress):
            text = _generate(lm, "identify_targets", prompts.identify_targets(item.question, item.choices), 16)
            predicted = parse_targets(text, item.question, item.choices)
            references = reference_targets(item.question, item.evidence, item.truth_doc)
            preds += len(predicted)
            refs += len(references)
            matched_pred += sum(any(_same_phrase(p, r) for r in references) for p in predicted)
            matched_ref += sum(any(_same_phrase(p, r) for p in predicted) for r in references)
        return {"targets_precision": matched_pred / preds if preds else 0.0, "targets_recall": matched_ref / refs if refs else None}

    def actions(self, lm, max_new_tokens: int) -> dict:
        from tqdm.auto import tqdm

        found = total = 0
        for item, state in tqdm(list(zip(self.items, self.states))[: self.generate_limit], desc="analyze_actions",
                                disable=not self.progress):
            events = item.evidence.get("events") or []
            if not events:
                continue
            text = _generate(lm, "analyze_actions", prompts.analyze_actions(item.question, state.get("partial_stsg") or
                                                                            "Nothing was detected."), max_new_tokens)
            total += len(events)
            found += sum(mentions_event(text, e, item.truth_doc) for e in events)
        return {"actions_event_recall": found / total if total else None, "actions_events": total}

    def trace(self, lm, max_new_tokens: int = 160) -> dict:
        from tqdm.auto import tqdm

        from videothought.training.nodes import rewards
        from videothought.training.nodes.data import question_truth

        right = parsed = 0
        step_rewards: dict[str, float] = defaultdict(float)
        by_type: dict[str, list[bool]] = defaultdict(list)
        samples = []
        rows = list(zip(self.items, self.states))[: self.generate_limit]
        for item, state in tqdm(rows, desc="vot trace", disable=not self.progress):
            messages = prompts.vot_trace(item.question, item.choices, state.get("partial_stsg") or "Nothing was detected.")
            text = generate_trace(lm, messages, max_new_tokens)
            chosen = parse_trace_answer(text, len(item.choices))
            parsed += chosen is not None
            right += chosen == item.answer
            by_type[item.type].append(chosen == item.answer)
            truth = question_truth(item)
            scores = rewards.score(TRACE_NODE, text, truth)
            for name, value in scores.items():
                step_rewards[name] += value
            step_rewards["every_step"] += rewards.passes_every_step(TRACE_NODE, text, truth)
            samples.append({"qid": item.qid, "type": item.type, "answer": item.answer, "chosen": chosen,
                            "rewards": scores, "trace": text})
        out = {"trace_accuracy": right / max(1, len(rows)), "trace_parsed": parsed / max(1, len(rows)),
               "trace_accuracy_by_type": {t: _mean(v) for t, v in sorted(by_type.items())},
               **letter_collapse([s["chosen"] for s in samples], [s["answer"] for s in samples])}
        out.update({f"trace_reward_{name}": total / max(1, len(rows)) for name, total in step_rewards.items()})
        out["trace_samples"] = samples  # every trace, to read what the node wrote
        return out


def letter_collapse(chosen: list[int | None], answers: list[int], share: float = 0.8) -> dict:
    """Has the trace's answer collapsed onto one option letter? The most chosen letter, its share of
    the parsed answers, the accuracy of always answering it (the baseline such a policy earns), and
    `trace_letter_collapse`: that share at least `share` without beating the baseline. A policy
    rewarded for parsing can learn one fixed letter: the format reward rises, the answer stays at
    that letter's base rate."""
    picked = [c for c in chosen if c is not None]
    if not picked or not answers:
        return {"trace_top_letter": None, "trace_top_letter_share": 0.0, "trace_top_letter_baseline": 0.0,
                "trace_letter_collapse": False}
    top = max(set(picked), key=picked.count)
    top_share = picked.count(top) / len(picked)
    baseline = sum(a == top for a in answers) / len(answers)
    accuracy = sum(c == a for c, a in zip(chosen, answers)) / len(answers)
    return {"trace_top_letter": chr(ord("A") + top), "trace_top_letter_share": top_share,
            "trace_top_letter_baseline": baseline,
            "trace_letter_collapse": len(picked) >= 3 and top_share >= share and accuracy <= baseline + 1e-9}


def generate_trace(lm, messages: list[dict], max_new_tokens: int) -> str:
    """The trace node's greedy trace, as the RL stages see it: generated after the chat template's
    generation prompt + the primed first header, returned whole and ended at Step 5's line."""
    from videothought.training.nodes.data import trace_start, whole_trace

    with _scope(lm, TRACE_NODE):
        generated = lm.complete(lm.render(messages) + trace_start(TRACE_NODE), max_new_tokens=max_new_tokens,
                                temperature=0.0).text
    return whole_trace(TRACE_NODE, generated)


def blind_accuracy(lm, questions: list[tuple[str, list[str], int]], node: str = "rank_answers") -> dict:
    """Question-only accuracy: the options scored after the question alone (prompts.blind_context),
    with the answer node's adapter active. Near chance means the answer comes from the video."""
    right = 0
    for question, choices, answer in questions:
        continuations = [" " + c for c in choices]
        scores = _score(lm, node, prompts.blind_context(question), continuations)
        per_token = [s / max(1, lm.count_tokens(c)) for s, c in zip(scores, continuations)]
        right += max(range(len(per_token)), key=per_token.__getitem__) == answer
    return {"accuracy": right / max(1, len(questions)), "questions": len(questions),
            "chance": 1 / max(1, len(questions[0][1])) if questions else None}


def nextqa_questions(path: str | Path, limit: int) -> list[tuple[str, list[str], int]]:
    """The first `limit` NExT-QA val questions (real wording; no videos here): (question, options, answer)."""
    import csv

    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    return [(r["question"].strip() + "?", [r[f"a{i}"] for i in range(5)], int(r["answer"])) for r in rows]


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
