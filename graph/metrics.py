"""Tracking and event metrics against ground truth: the one motmetrics pipeline of the project
(`vot bench tracking` and evals' per-question tracking counts both call it).

Tracking (py-motmetrics): per frame, ground-truth boxes of *visible* objects are matched to
the tracker's visible boxes at IoU >= 0.5; MOTA, IDF1, ID switches, FP, misses come from
motmetrics' accumulator. Ground truth that is there but not visible (hidden behind another
object, a sliver at the border) is an ignore region, as in MOT17: a predicted box lying
mostly inside one is neither a false positive nor a match.

Events: a predicted event matches a true one of the same type when their tracks correspond
(predicted track ids are mapped to the ground-truth ids they matched most often) and their
frame spans come within `tolerance_frames` of each other; each true event is matched at most
once. Precision, recall and F1 per type and over all events (micro-averaged).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

from videothought.graph.optional import require
from videothought.graph.schema import Event, Observation, box_coverage, box_iou

# Events whose track order carries no meaning.
SYMMETRIC_EVENTS = ("collide", "approach")


def _np2_compatible_motmetrics():
    return require("motmetrics", feature="tracking metrics")


def document_observations(doc: dict | None) -> list[Observation]:
    """The observations of an STSG document (graph/schema.py), leniently: nodes that are not
    well-formed observations are skipped, so a partial document from a failed step still scores."""
    found = []
    fps = ((doc or {}).get("video") or {}).get("fps") or 0.0
    for node in ((doc or {}).get("graph") or {}).get("nodes", []):
        if not isinstance(node, dict) or node.get("kind", "observation") != "observation":
            continue
        try:
            # time_seconds is not scored; hand-written documents may leave it out.
            time_seconds = node.get("time_seconds", int(node["frame_index"]) / fps if fps else 0.0)
            found.append(Observation.from_dict({**node, "time_seconds": time_seconds}))
        except (TypeError, ValueError, KeyError):
            continue
    return found


def accumulate_tracking(truth: Iterable[Observation], predicted: Iterable[Observation], *,
                        iou_threshold: float = 0.5, accumulator=None, frames: Iterable[int] | None = None):
    """A motmetrics MOTAccumulator for one video, filled frame by frame (see the module docstring).

    frames: the frame indices to score (e.g. only those an agent sampled); default every frame
        with truth or predictions."""
    mm = _np2_compatible_motmetrics()
    accumulator = accumulator or mm.MOTAccumulator(auto_id=False)
    truth_by_frame: dict[int, list[Observation]] = defaultdict(list)
    pred_by_frame: dict[int, list[Observation]] = defaultdict(list)
    for obs in truth:
        truth_by_frame[obs.frame_index].append(obs)
    for obs in predicted:
        if obs.visible:
            pred_by_frame[obs.frame_index].append(obs)
    # By default every frame with truth or predictions is scored. Pass `frames` to score only
    # the frames a tracker looked at: a run on sampled frames is then not charged for the
    # frames in between, while a sampled frame with truth but no prediction still counts.
    evaluated = sorted(set(truth_by_frame) | set(pred_by_frame)) if frames is None else sorted(set(frames))
    for frame in evaluated:
        visible_truth = [o for o in truth_by_frame.get(frame, []) if o.visible]
        hidden_truth = [o for o in truth_by_frame.get(frame, []) if not o.visible]
        preds = pred_by_frame.get(frame, [])
        truth_boxes = np.array([o.box for o in visible_truth], dtype=np.float64).reshape(-1, 4)
        pred_boxes = np.array([o.box for o in preds], dtype=np.float64).reshape(-1, 4)
        iou = box_iou(truth_boxes, pred_boxes)  # (G, P)
        if hidden_truth and len(preds):
            hidden_boxes = np.array([o.box for o in hidden_truth], dtype=np.float64).reshape(-1, 4)
            covered = box_coverage(pred_boxes, hidden_boxes).max(axis=1) >= 0.5  # (P,)
            best = iou.max(axis=0) if len(visible_truth) else np.zeros(len(preds))
            keep = ~(covered & (best < iou_threshold))
            preds = [p for p, k in zip(preds, keep) if k]
            iou = iou[:, keep]
        distances = np.where(iou >= iou_threshold, 1.0 - iou, np.nan)
        accumulator.update([o.track_id for o in visible_truth], [o.track_id for o in preds], distances,
                           frameid=frame)
    return accumulator


def track_id_map(accumulator) -> dict[int, int]:
    """Predicted track id -> the ground-truth id it was matched to in most frames."""
    events = accumulator.mot_events
    matched = events[events["Type"].isin(["MATCH", "SWITCH", "TRANSFER", "ASCEND", "MIGRATE"])]
    votes: dict[int, Counter] = defaultdict(Counter)
    for oid, hid in zip(matched["OId"].tolist(), matched["HId"].tolist()):
        if oid == oid and hid == hid:  # not NaN
            votes[int(hid)][int(oid)] += 1
    return {hid: counter.most_common(1)[0][0] for hid, counter in votes.items()}


TRACKING_METRICS = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses", "num_objects",
                    "precision", "recall", "motp"]


TRACKING_COUNTS = ["num_objects", "num_misses", "num_false_positives", "num_switches", "idtp", "idfp", "idfn"]


def tracking_counts(accumulator) -> dict[str, int]:
    """Raw counts of one accumulator (TRACKING_COUNTS): sums over questions and shards stay exact,
    and MOTA = 1 - (misses + FP + switches) / objects, IDF1 = 2 idtp / (2 idtp + idfp + idfn) follow."""
    mm = _np2_compatible_motmetrics()
    summary = mm.metrics.create().compute(accumulator, metrics=TRACKING_COUNTS, name="video")
    return {name: int(summary[name].iloc[0]) for name in TRACKING_COUNTS}


def tracking_scores(accumulators: list, names: list[str] | None = None) -> dict:
    """MOTA, IDF1, ID switches ... over one or more accumulators (the OVERALL row when several)."""
    mm = _np2_compatible_motmetrics()
    host = mm.metrics.create()
    names = names or [f"video{i}" for i in range(len(accumulators))]
    summary = host.compute_many(accumulators, metrics=TRACKING_METRICS, names=names,
                                generate_overall=len(accumulators) > 1)
    row = summary.loc["OVERALL"] if len(accumulators) > 1 else summary.iloc[0]
    out = {}
    for key in TRACKING_METRICS:
        value = row[key]
        out[key] = int(value) if key.startswith("num_") else float(value)
    out["id_switches"] = out.pop("num_switches")
    return out


def _compatible(kind: str, predicted_ids: list[int], truth_ids: list[int]) -> bool:
    if kind in SYMMETRIC_EVENTS:
        return sorted(predicted_ids) == sorted(truth_ids)
    if not predicted_ids or not truth_ids or predicted_ids[0] != truth_ids[0]:
        return False
    # Extra roles (the occluder, the pushed object) must agree when both sides name them.
    common = min(len(predicted_ids), len(truth_ids))
    return predicted_ids[:common] == truth_ids[:common]


def event_scores(truth: Iterable[Event], predicted: Iterable[Event], id_map: dict[int, int], *,
                 tolerance_frames: int = 3, types: Iterable[str] | None = None) -> dict:
    """Counts and precision/recall/F1 per event type and overall (see the module docstring).

    types: the event types to score (default: every type in either list). Pass the types
        the ground truth annotates, so predicted types it never labels are not counted.
    """
    truth = [e if isinstance(e, Event) else Event.from_dict(e) for e in truth]
    predicted = [e if isinstance(e, Event) else Event.from_dict(e) for e in predicted]
    wanted = set(types) if types is not None else {e.type for e in truth} | {e.type for e in predicted}
    per_type = {}
    for kind in sorted(wanted):
        t_events = [e for e in truth if e.type == kind]
        p_events = [e for e in predicted if e.type == kind]
        candidates = []
        for i, p in enumerate(p_events):
            mapped = [id_map.get(t, -1 - t) for t in p.track_ids]  # unmapped ids never match
            for j, t in enumerate(t_events):
                if not _compatible(kind, mapped, t.track_ids):
                    continue
                gap = max(0, p.start_frame - t.end_frame, t.start_frame - p.end_frame)
                if gap <= tolerance_frames:
                    candidates.append((gap, abs(p.start_frame - t.start_frame), i, j))
        candidates.sort()
        used_p, used_t = set(), set()
        for _, _, i, j in candidates:
            if i in used_p or j in used_t:
                continue
            used_p.add(i)
            used_t.add(j)
        per_type[kind] = _prf(len(used_t), len(p_events) - len(used_p), len(t_events) - len(used_t))
    tp = sum(v["true_positives"] for v in per_type.values())
    fp = sum(v["false_positives"] for v in per_type.values())
    fn = sum(v["false_negatives"] for v in per_type.values())
    return {**_prf(tp, fp, fn), "per_type": per_type}


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else (1.0 if not fn else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "true_positives": tp, "false_positives": fp, "false_negatives": fn}


def merge_event_counts(results: list[dict]) -> dict:
    """Micro-average event_scores results of several videos."""
    per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for result in results:
        for kind, v in result["per_type"].items():
            per_type[kind][0] += v["true_positives"]
            per_type[kind][1] += v["false_positives"]
            per_type[kind][2] += v["false_negatives"]
    merged = {kind: _prf(*counts) for kind, counts in sorted(per_type.items())}
    tp = sum(c[0] for c in per_type.values())
    fp = sum(c[1] for c in per_type.values())
    fn = sum(c[2] for c in per_type.values())
    return {**_prf(tp, fp, fn), "per_type": merged}
