"""Step-wise metrics: score each VoT node against the ground truth the dataset has.

Per question (`question_metrics`, stored in the run's JSONL beside the trace), then summed
over a run (`summarize`). Counts are stored, not ratios, so sums over questions and shards
are exact and a ratio is computed once at the end.

    answer         correct / unparsable, by question type
    targets        identify_targets' track ids, mapped to ground-truth ids by box IoU over
                   frames, vs the evidence's object_ids -> precision, recall
    tracking       the predicted STSG vs the ground-truth STSG on the frames the agent looked
                   at, through py-motmetrics -> IDF1, MOTA (plus raw counts)
    events         ground-truth events of the question detected in the predicted STSG
                   (same type, mapped tracks, overlapping frames) or mentioned in the action
                   analysis text (event verb and an involved object's label) -> recall
    verification   every verify step judges the answer it was given: wrong answers should be
                   rejected, right ones kept -> rejection precision/recall, right-kept rate
    retries, node latency, LLM calls and tokens from the trace

Track mapping (predicted track p -> ground-truth track g), a maximum-weight assignment:

    weight(p, g) = sum over frames both are seen of IoU(p, g) [IoU >= 0.5]  /  frames p is seen
    a pair is kept when its weight >= 0.5 (it overlaps g well on at least half its frames)
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

IOU_THRESHOLD = 0.5  # the usual MOT / detection matching threshold
MIN_TRACK_OVERLAP = 0.5  # a predicted track must match on at least half its frames
EVENT_FRAME_TOLERANCE = 5  # frames of slack when a detected event's span is compared to the truth

# Words that mention an event type in free text (matched as word prefixes).
EVENT_WORDS: dict[str, tuple[str, ...]] = {
    "enter": ("enter", "came in", "comes in", "arriv"),
    "exit": ("exit", "leav", "left the", "goes out", "went out"),
    "appear": ("appear",),
    "disappear": ("disappear", "vanish"),
    "approach": ("approach", "move toward", "moves toward", "moving toward", "closer"),
    "collide": ("collid", "collision", "hit", "bump", "crash"),
    "push": ("push",),
    "start": ("start", "begin", "began", "set off"),
    "stop": ("stop", "halt", "came to rest", "comes to rest"),
    "turn": ("turn",),
    "occluded": ("occlu", "hidden", "hide", "behind"),
}


# ---------------------------------------------------------------------------------------
# STSG documents -> boxes


def observations(doc: dict | None) -> dict[int, dict[int, tuple[float, ...]]]:
    """{frame_index: {track_id: box}} of the visible observations of an STSG document."""
    frames: dict[int, dict[int, tuple[float, ...]]] = defaultdict(dict)
    if not doc:
        return frames
    for node in (doc.get("graph") or {}).get("nodes", []):
        if node.get("kind", "observation") != "observation" or not node.get("visible", True):
            continue
        try:
            frames[int(node["frame_index"])][int(node["track_id"])] = tuple(float(v) for v in node["box"])
        except (KeyError, TypeError, ValueError):
            continue  # a node that is not an observation we can score
    return frames


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter_w = min(a[2], b[2]) - max(a[0], b[0])
    inter_h = min(a[3], b[3]) - max(a[1], b[1])
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_tracks(predicted: dict | None, truth: dict | None) -> dict[int, int]:
    """Predicted track id -> ground-truth track id, by box IoU over the frames both documents have."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    pred_frames, true_frames = observations(predicted), observations(truth)
    pred_ids = sorted({t for boxes in pred_frames.values() for t in boxes})
    true_ids = sorted({t for boxes in true_frames.values() for t in boxes})
    if not pred_ids or not true_ids:
        return {}
    seen = {p: 0 for p in pred_ids}
    weight = np.zeros((len(pred_ids), len(true_ids)))  # (P, G)
    pred_row = {p: i for i, p in enumerate(pred_ids)}
    true_col = {g: j for j, g in enumerate(true_ids)}
    for frame, boxes in pred_frames.items():
        for p, box in boxes.items():
            seen[p] += 1
            for g, true_box in true_frames.get(frame, {}).items():
                overlap = box_iou(box, true_box)
                if overlap >= IOU_THRESHOLD:
                    weight[pred_row[p], true_col[g]] += overlap
    for p, i in pred_row.items():
        weight[i] /= max(seen[p], 1)
    rows, cols = linear_sum_assignment(-weight)
    return {
        pred_ids[i]: true_ids[j] for i, j in zip(rows, cols, strict=True) if weight[i, j] >= MIN_TRACK_OVERLAP
    }


# ---------------------------------------------------------------------------------------
# Per-question metrics


def target_counts(targets: Iterable[dict] | None, mapping: dict[int, int], relevant: Iterable[int]) -> dict:
    """identify_targets vs the objects the question depends on.

    Predicted targets are the union of every target's track ids, mapped to ground truth; a
    predicted id with no ground-truth match is a false positive.
    """
    predicted_ids = {int(t) for target in targets or [] for t in target.get("track_ids", [])}
    relevant_ids = {int(t) for t in relevant}
    mapped = {mapping[p] for p in predicted_ids if p in mapping}
    unmatched = len([p for p in predicted_ids if p not in mapping])
    true_positive = len(mapped & relevant_ids)
    return {
        "true_positive": true_positive,
        "predicted": len(mapped) + unmatched,
        "relevant": len(relevant_ids),
    }


def tracking_counts(predicted: dict | None, truth: dict | None, frame_indices: Iterable[int] | None = None) -> dict:
    """py-motmetrics counts of the predicted STSG vs the truth, on the frames the agent looked at.

    Frames: those in `frame_indices` (the state's), else those with predicted observations,
    kept where the ground truth has the frame. Distance = 1 - IoU, no match below IoU 0.5.
    """
    from videothought.graph import metrics as graph_metrics  # the one motmetrics pipeline

    truth_obs = graph_metrics.document_observations(truth)
    pred_obs = [o for o in graph_metrics.document_observations(predicted) if o.visible]
    truth_frame_set = {o.frame_index for o in truth_obs}
    frames = sorted(f for f in set(frame_indices or []) | {o.frame_index for o in pred_obs} if f in truth_frame_set)
    if not frames:
        return {name: 0 for name in graph_metrics.TRACKING_COUNTS} | {"frames": 0}
    accumulator = graph_metrics.accumulate_tracking(truth_obs, pred_obs, iou_threshold=IOU_THRESHOLD, frames=frames)
    return graph_metrics.tracking_counts(accumulator) | {"frames": len(frames)}


def _mentions(text: str, phrase: str) -> bool:
    return re.search(r"\b" + re.escape(phrase), text) is not None


def event_counts(
    events: Iterable[dict] | None,
    predicted: dict | None,
    mapping: dict[int, int],
    analysis: str | None,
    labels: dict[int, str],
) -> dict:
    """Ground-truth events of a question found by the agent: detected in its STSG, mentioned in its analysis."""
    events = list(events or [])
    predicted_events = list((predicted or {}).get("events", []))
    text = " ".join((analysis or "").lower().split())
    detected = mentioned = recalled = 0
    for event in events:
        truth_ids = {int(t) for t in event.get("track_ids", [])}
        start, end = int(event.get("start_frame", 0)), int(event.get("end_frame", 0))
        hit = any(
            candidate.get("type") == event.get("type")
            and int(candidate.get("start_frame", 0)) <= end + EVENT_FRAME_TOLERANCE
            and int(candidate.get("end_frame", 0)) >= start - EVENT_FRAME_TOLERANCE
            and (not truth_ids or {mapping.get(int(t)) for t in candidate.get("track_ids", [])} & truth_ids)
            for candidate in predicted_events
        )
        said = any(_mentions(text, word) for word in EVENT_WORDS.get(str(event.get("type")), (str(event.get("type")),)))
        if said and truth_ids:
            names = [labels[t].lower() for t in truth_ids if t in labels]
            said = not names or any(name in text or all(_mentions(text, w) for w in name.split()) for name in names)
        detected += hit
        mentioned += said
        recalled += hit or said
    return {"events": len(events), "detected": detected, "mentioned": mentioned, "recalled": recalled}


def verification_judgments(trace: Iterable[dict], answer_index: int | None) -> list[dict]:
    """Every verify step: the answer index it judged, whether it passed it, whether that answer was right.

    The judged answer is the verify record's inputs["answer_index"] when the node logs it,
    else the latest answer_index any earlier node wrote.
    """
    judgments = []
    current = None
    for record in trace:
        outputs = record.get("outputs") or {}
        node = str(record.get("node", ""))
        if node.split(":")[-1].endswith("verify"):
            verification = outputs.get("verification") if isinstance(outputs.get("verification"), dict) else outputs
            passed = verification.get("passed")
            judged = (record.get("inputs") or {}).get("answer_index", current)
            if isinstance(passed, bool) and isinstance(judged, int) and judged >= 0:
                judgments.append(
                    {
                        "answer_index": judged,
                        "passed": passed,
                        "correct": None if answer_index is None else judged == answer_index,
                    }
                )
        if isinstance(outputs.get("answer_index"), int):
            current = outputs["answer_index"]
    return judgments


def node_costs(trace: Iterable[dict]) -> dict[str, dict]:
    """Per node: calls, total latency (s), LLM calls, prompt and completion tokens, errors."""
    costs: dict[str, dict] = {}
    for record in trace:
        node = str(record.get("node", "?"))
        cost = costs.setdefault(
            node, {"calls": 0, "latency_seconds": 0.0, "llm_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "errors": 0}
        )
        cost["calls"] += 1
        cost["latency_seconds"] += float(record.get("latency_seconds") or 0.0)
        cost["llm_calls"] += int(record.get("llm_calls") or 0)
        cost["prompt_tokens"] += int(record.get("prompt_tokens") or 0)
        cost["completion_tokens"] += int(record.get("completion_tokens") or 0)
        cost["errors"] += len(record.get("errors") or [])
    return costs


def predicted_index(state: dict, num_choices: int) -> int | None:
    """The graph's answer_index when it is a valid choice; None (unparsable) otherwise. Never guessed from text."""
    index = state.get("answer_index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < num_choices:
        return None
    return index


def track_labels(doc: dict | None) -> dict[int, str]:
    labels = {}
    for track_id, track in ((doc or {}).get("tracks") or {}).items():
        try:
            labels[int(track_id)] = str(track.get("label", ""))
        except (TypeError, ValueError, AttributeError):
            continue
    return labels


def question_metrics(sample: dict, state: dict, truth: dict | None) -> dict:
    """Metrics of one answered question. `sample` is Sample.to_dict(), `truth` its ground-truth STSG (or None)."""
    trace = list(state.get("trace") or [])
    answer = predicted_index(state, len(sample.get("choices") or []) or 1 << 30)
    gold = sample.get("answer_index")
    metrics: dict[str, Any] = {
        "answer_index": answer,
        "unparsable": answer is None,
        "correct": None if gold is None else answer is not None and answer == gold,
        "retries": int(state.get("retries") or 0),
        "nodes": node_costs(trace),
        "verification": verification_judgments(trace, gold),
    }
    evidence = sample.get("evidence")
    predicted = state.get("stsg")
    if truth is not None:
        mapping = match_tracks(predicted, truth)
        metrics["track_mapping"] = {str(k): v for k, v in sorted(mapping.items())}
        metrics["tracking"] = tracking_counts(predicted, truth, state.get("frame_indices"))
        if evidence is not None:
            metrics["targets"] = target_counts(state.get("targets"), mapping, evidence.get("object_ids", []))
            metrics["events"] = event_counts(
                evidence.get("events"), predicted, mapping, state.get("action_analysis"), track_labels(truth)
            )
    return metrics


# ---------------------------------------------------------------------------------------
# Run-level summaries


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def answer_status(record: dict) -> str:
    """supported / refuted / unchecked: what the run told the user about its answer (agent.state.verdict)."""
    from videothought.agent.state import verdict

    prediction = record.get("prediction") if isinstance(record.get("prediction"), dict) else {}
    verification = prediction.get("verification")
    return verdict(verification if isinstance(verification, dict) else None)["status"]


def abstention(by_status: dict[str, list[int]], scored: int) -> dict | None:
    """Optional abstention, scored apart from accuracy: a run that may say "cannot tell" answers only
    what its STSG supports and abstains on the rest (refuted or unchecked answers). `coverage` is the
    share it answers, `accuracy_when_answered` its accuracy there, and `reliability` scores every
    question +1 right, -1 wrong, 0 abstained (the effective-reliability score of reliable VQA, cost 1),
    so abstaining beats a guess that is right less than half the time. The forced-choice `accuracy`
    beside it is unchanged."""
    if not scored:
        return None
    right, answered = by_status.get("supported", [0, 0])
    return {"answered": answered, "abstained": scored - answered, "coverage": _ratio(answered, scored),
            "accuracy_when_answered": _ratio(right, answered),
            "reliability": (right - (answered - right)) / scored,
            "accuracy_by_status": {status: {"correct": c, "total": n, "accuracy": _ratio(c, n)}
                                   for status, (c, n) in sorted(by_status.items())}}


def summarize(records: Iterable[dict]) -> dict:
    """Aggregate per-question records (the runner's JSONL "result" lines) into one run's metrics."""
    records = list(records)
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # type -> [correct, scored]
    correct = scored = 0
    unparsable, errors = [], []
    targets = defaultdict(int)
    tracking = defaultdict(int)
    events = defaultdict(int)
    verify = defaultdict(int)
    retries = []
    nodes: dict[str, dict] = {}
    selective = defaultdict(lambda: [0, 0])  # status -> [correct, scored]
    for record in records:
        sample = record.get("sample", {})
        metrics = record.get("metrics") or {}
        if record.get("status") == "error":
            errors.append({"key": record.get("key"), "error": record.get("error")})
        if metrics.get("unparsable", True):
            unparsable.append({"key": record.get("key"), "answer": record.get("answer"), "status": record.get("status")})
        if sample.get("answer_index") is not None:
            ok = bool(metrics.get("correct"))
            kind = str(sample.get("question_type") or "?")
            by_type[kind][0] += ok
            by_type[kind][1] += 1
            correct += ok
            scored += 1
            selective[answer_status(record)][0] += ok
            selective[answer_status(record)][1] += 1
        for name, total in (("targets", targets), ("tracking", tracking), ("events", events)):
            for key, value in (metrics.get(name) or {}).items():
                total[key] += value
            if metrics.get(name) is not None:
                total["questions"] += 1
        for judgment in metrics.get("verification", []):
            if judgment["correct"] is None:
                continue
            verify[("rejected_" if not judgment["passed"] else "kept_") + ("right" if judgment["correct"] else "wrong")] += 1
        if record.get("status") == "ok":
            retries.append(int(metrics.get("retries", 0)))
        for node, cost in (metrics.get("nodes") or {}).items():
            total_cost = nodes.setdefault(node, defaultdict(float))
            for key, value in cost.items():
                total_cost[key] += value
            total_cost["questions"] += 1
    rejected = verify["rejected_right"] + verify["rejected_wrong"]
    wrong = verify["rejected_wrong"] + verify["kept_wrong"]
    right = verify["rejected_right"] + verify["kept_right"]
    tracking_summary = None
    if tracking["questions"]:
        objects = tracking["num_objects"]
        idf1_denominator = 2 * tracking["idtp"] + tracking["idfp"] + tracking["idfn"]
        tracking_summary = {
            "idf1": _ratio(2 * tracking["idtp"], idf1_denominator),
            "mota": None
            if not objects
            else 1.0 - (tracking["num_misses"] + tracking["num_false_positives"] + tracking["num_switches"]) / objects,
        } | dict(tracking)
    return {
        "questions": len(records),
        "scored": scored,
        "correct": correct,
        "accuracy": _ratio(correct, scored),
        "accuracy_by_type": {
            kind: {"correct": c, "total": n, "accuracy": _ratio(c, n)} for kind, (c, n) in sorted(by_type.items())
        },
        "unparsable": unparsable,
        "errors": errors,
        "targets": None
        if not targets["questions"]
        else {
            "precision": _ratio(targets["true_positive"], targets["predicted"]),
            "recall": _ratio(targets["true_positive"], targets["relevant"]),
        }
        | dict(targets),
        "tracking": tracking_summary,
        "events": None
        if not events["questions"]
        else {
            "recall": _ratio(events["recalled"], events["events"]),
            "detected_recall": _ratio(events["detected"], events["events"]),
            "mentioned_recall": _ratio(events["mentioned"], events["events"]),
        }
        | dict(events),
        "verification": None
        if not (rejected or wrong or right)
        else {
            "rejection_precision": _ratio(verify["rejected_wrong"], rejected),
            "rejection_recall": _ratio(verify["rejected_wrong"], wrong),
            "right_kept": _ratio(verify["kept_right"], right),
        }
        | {k: verify[k] for k in ("rejected_wrong", "rejected_right", "kept_wrong", "kept_right")},
        "abstention": abstention(selective, scored),
        "retries": {
            "mean": _ratio(sum(retries), len(retries)),
            "histogram": {str(k): retries.count(k) for k in sorted(set(retries))},
        },
        "nodes": {
            node: {k: (round(v, 9) if isinstance(v, float) and not v.is_integer() else int(v)) for k, v in cost.items()}
            | {"mean_latency_seconds": cost["latency_seconds"] / cost["calls"] if cost["calls"] else 0.0}
            for node, cost in nodes.items()
        },
    }


# ---------------------------------------------------------------------------------------
# Comparing two runs


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def _step_signature(record: dict) -> tuple:
    """What a step decided: its node, attempt and outputs (not its timing or token counts)."""
    return (record.get("node"), record.get("attempt", 0), _canonical(_round_floats(record.get("outputs"))))


def _round_floats(value: Any, digits: int = 6) -> Any:
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: _round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_round_floats(v, digits) for v in value]
    return value


def first_divergence(trace_a: Sequence[dict], trace_b: Sequence[dict]) -> dict | None:
    """The first step where two traces of one question differ (node, attempt or outputs); None if identical.

    Returns {"step": i, "node": the node of run A at that step (or B's if A ended),
    "node_b": run B's node}. Floats are compared to 6 decimals.
    """
    for step in range(max(len(trace_a), len(trace_b))):
        a = trace_a[step] if step < len(trace_a) else None
        b = trace_b[step] if step < len(trace_b) else None
        if a is None or b is None or _step_signature(a) != _step_signature(b):
            return {
                "step": step,
                "node": (a or b or {}).get("node"),
                "node_b": None if b is None else b.get("node"),
            }
    return None


def divergence_summary(records_a: Iterable[dict], records_b: Iterable[dict]) -> dict:
    """Over the questions both runs answered: how many traces diverge, and at which node first."""
    by_key_b = {r["key"]: r for r in records_b}
    nodes: dict[str, int] = defaultdict(int)
    compared = identical = 0
    for record in records_a:
        other = by_key_b.get(record["key"])
        if other is None:
            continue
        compared += 1
        divergence = first_divergence(record.get("trace") or [], other.get("trace") or [])
        if divergence is None:
            identical += 1
        else:
            nodes[str(divergence["node"])] += 1
    return {"compared": compared, "identical": identical, "first_divergence_node": dict(sorted(nodes.items()))}
