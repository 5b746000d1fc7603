"""Step-wise metrics on hand-built STSG documents and traces, with numbers worked out by hand."""

from __future__ import annotations

import pytest

from tests.evals.world_fixture import stsg_document
from videothought.evals.metrics import (
    box_iou,
    event_counts,
    first_divergence,
    match_tracks,
    predicted_index,
    question_metrics,
    summarize,
    target_counts,
    tracking_counts,
    verification_judgments,
)


def doc(observations: list[tuple[int, int, list[float]]], events=()) -> dict:
    """An STSG document from (track_id, frame_index, box) triples."""
    return {
        "schema": "videothought.stsg",
        "version": 1,
        "graph": {
            "directed": True,
            "multigraph": True,
            "nodes": [
                {"id": f"o:{t}:{f}", "kind": "observation", "track_id": t, "frame_index": f, "box": box, "visible": True}
                for t, f, box in observations
            ],
            "links": [],
        },
        "tracks": {},
        "events": list(events),
    }


A = [0.0, 0.0, 10.0, 10.0]
B = [20.0, 0.0, 30.0, 10.0]


def test_box_iou():
    assert box_iou(A, A) == 1.0
    assert box_iou(A, B) == 0.0
    assert box_iou(A, [5.0, 0.0, 15.0, 10.0]) == pytest.approx(50 / 150)


def test_match_tracks_by_iou_over_frames():
    truth = doc([(1, f, A) for f in range(4)] + [(2, f, B) for f in range(4)])
    # Predicted 7 follows truth 2, 8 follows truth 1; 9 sits on truth 1 for one frame of three.
    predicted = doc([(7, f, B) for f in range(4)] + [(8, f, A) for f in range(0, 4, 2)]
                    + [(9, 0, A), (9, 1, [50, 50, 60, 60]), (9, 2, [50, 50, 60, 60])])  # fmt: skip
    assert match_tracks(predicted, truth) == {7: 2, 8: 1}
    assert match_tracks(None, truth) == {}


def test_tracking_counts_with_a_miss_a_false_positive_and_a_switch():
    truth = doc([(1, f, A) for f in range(4)] + [(2, f, B) for f in range(3)])
    # Frame 0-1: 7 on truth 1; frame 2-3: 8 on truth 1 (a switch); truth 2 tracked by 9 except frame 2 (a miss);
    # frame 3: 9 sits where nothing is (a false positive).
    predicted = doc([(7, 0, A), (7, 1, A), (8, 2, A), (8, 3, A), (9, 0, B), (9, 1, B), (9, 3, [40, 40, 50, 50])])
    counts = tracking_counts(predicted, truth)
    assert counts["num_objects"] == 7
    assert counts["num_misses"] == 1
    assert counts["num_false_positives"] == 1
    assert counts["num_switches"] == 1
    assert counts["frames"] == 4
    # MOTA = 1 - (1 + 1 + 1) / 7; IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN) with IDTP = 4 (7 on 1 x2, 9 on 2 x2).
    assert counts["idtp"] == 4
    summary = summarize([{"key": "q", "status": "ok", "sample": {}, "metrics": {"tracking": counts}}])
    assert summary["tracking"]["mota"] == pytest.approx(1 - 3 / 7)
    assert summary["tracking"]["idf1"] == pytest.approx(8 / (8 + counts["idfp"] + counts["idfn"]))


def test_tracking_only_scores_frames_the_agent_looked_at():
    truth = doc([(1, f, A) for f in range(10)])
    predicted = doc([(5, 0, A), (5, 5, A)])
    counts = tracking_counts(predicted, truth, frame_indices=[0, 5, 9])
    assert (counts["frames"], counts["num_objects"], counts["num_misses"]) == (3, 3, 1)


def test_target_counts_map_predicted_ids_to_truth():
    counts = target_counts(
        [{"phrase": "the red one", "track_ids": [7, 8]}, {"phrase": "ghost", "track_ids": [99]}],
        {7: 2, 8: 1},
        relevant=[1, 3],
    )
    # mapped {2, 1} + one unmatched id: 3 predicted; 1 of them relevant; 2 relevant.
    assert counts == {"true_positive": 1, "predicted": 3, "relevant": 2}


def test_event_counts_detected_and_mentioned():
    events = [
        {"type": "collide", "track_ids": [1, 2], "start_frame": 8, "end_frame": 10},
        {"type": "enter", "track_ids": [3], "start_frame": 5, "end_frame": 5},
        {"type": "stop", "track_ids": [1], "start_frame": 30, "end_frame": 30},
    ]
    predicted = doc([], events=[{"type": "collide", "track_ids": [11], "start_frame": 12, "end_frame": 12},
                                {"type": "stop", "track_ids": [11], "start_frame": 80, "end_frame": 80}])
    labels = {1: "red circle", 2: "blue square", 3: "green triangle"}
    analysis = "The green triangle entered on the left. The red circle moves."
    counts = event_counts(events, predicted, {11: 1}, analysis, labels)
    # collide detected (within the 5-frame tolerance, track 11 -> 1); enter mentioned; stop: far off, not said.
    assert counts == {"events": 3, "detected": 1, "mentioned": 1, "recalled": 2}
    # A verb about the wrong object is not a mention.
    assert event_counts(events[1:2], None, {}, "The red circle enters.", labels)["mentioned"] == 0


def test_verification_judgments_from_an_agent_shaped_trace():
    trace = [
        {"node": "rank_answers", "outputs": {"answer": "b", "answer_index": 1}},
        {"node": "verify", "inputs": {"answer": "b", "answer_index": 1}, "outputs": {"passed": False, "route": "rank_answers"}},
        {"node": "rank_answers", "outputs": {"answer": "c", "answer_index": 2}},
        {"node": "verify", "inputs": {}, "outputs": {"passed": True}},  # judged: the latest answer, 2
    ]
    assert verification_judgments(trace, answer_index=2) == [
        {"answer_index": 1, "passed": False, "correct": False},
        {"answer_index": 2, "passed": True, "correct": True},
    ]


@pytest.mark.parametrize(("value", "expected"), [(2, 2), (0, 0), (-1, None), (None, None), (4, None), (True, None), ("1", None)])
def test_unparsable_answers_are_never_guessed(value, expected):
    assert predicted_index({"answer_index": value, "answer": "b"}, 4) == expected


def test_question_metrics_and_summary_by_type():
    truth = stsg_document("v.mp4")
    sample = {"choices": ["a", "b", "c"], "answer_index": 1, "question_type": "causal",
              "evidence": {"object_ids": [1, 2], "events": truth["events"][1:]}}
    state = {
        "answer_index": 1, "retries": 1,
        "targets": [{"phrase": "x", "track_ids": [1]}],
        "stsg": truth, "action_analysis": "the red circle collides with the blue square",
        "trace": [{"node": "rank_answers", "outputs": {"answer_index": 0}, "latency_seconds": 0.5, "llm_calls": 1},
                  {"node": "verify", "outputs": {"passed": False}, "latency_seconds": 0.25},
                  {"node": "rank_answers", "outputs": {"answer_index": 1}, "latency_seconds": 0.5, "llm_calls": 1},
                  {"node": "verify", "outputs": {"passed": True}, "latency_seconds": 0.25}],
    }  # fmt: skip
    metrics = question_metrics(sample, state, truth)
    assert metrics["correct"] is True and metrics["unparsable"] is False
    assert metrics["targets"] == {"true_positive": 1, "predicted": 1, "relevant": 2}
    assert metrics["tracking"]["num_misses"] == 0 and metrics["tracking"]["idtp"] == metrics["tracking"]["num_objects"]
    assert metrics["events"] == {"events": 1, "detected": 1, "mentioned": 1, "recalled": 1}
    assert metrics["nodes"]["rank_answers"] == {"calls": 2, "latency_seconds": 1.0, "llm_calls": 2, "prompt_tokens": 0,
                                                "completion_tokens": 0, "errors": 0}  # fmt: skip
    wrong = question_metrics(dict(sample, question_type="temporal"), dict(state, answer_index=-1, answer="??"), None)
    assert wrong["correct"] is False and wrong["unparsable"] is True and "targets" not in wrong
    summary = summarize([
        {"key": "q1", "status": "ok", "sample": sample, "metrics": metrics, "answer": "b"},
        {"key": "q2", "status": "ok", "sample": dict(sample, question_type="temporal"), "metrics": wrong, "answer": "??"},
    ])  # fmt: skip
    assert summary["accuracy"] == 0.5
    assert summary["accuracy_by_type"] == {"causal": {"correct": 1, "total": 1, "accuracy": 1.0},
                                           "temporal": {"correct": 0, "total": 1, "accuracy": 0.0}}  # fmt: skip
    assert summary["unparsable"] == [{"key": "q2", "answer": "??", "status": "ok"}]
    assert summary["targets"]["recall"] == 0.5 and summary["targets"]["precision"] == 1.0
    # Each question's trace has a wrong answer rejected and a right one kept.
    assert summary["verification"]["rejection_recall"] == 1.0 and summary["verification"]["right_kept"] == 1.0
    assert summary["retries"] == {"mean": 1.0, "histogram": {"1": 2}}
    assert summary["nodes"]["verify"]["mean_latency_seconds"] == 0.25


def test_first_divergence():
    a = [{"node": "identify_targets", "outputs": {"t": [1]}, "latency_seconds": 1.0},
         {"node": "track", "outputs": {"n": 3}},
         {"node": "rank_answers", "outputs": {"answer_index": 1, "score": 0.1234567}}]  # fmt: skip
    same = [dict(a[0], latency_seconds=9.0), a[1], {"node": "rank_answers", "outputs": {"score": 0.12345671, "answer_index": 1}}]
    assert first_divergence(a, same) is None  # timing and float noise below 1e-6 do not count
    changed = [a[0], {"node": "track", "outputs": {"n": 4}}, a[2]]
    assert first_divergence(a, changed) == {"step": 1, "node": "track", "node_b": "track"}
    ablated = [a[0], a[2]]
    assert first_divergence(a, ablated) == {"step": 1, "node": "track", "node_b": "rank_answers"}
    assert first_divergence(a, a[:2]) == {"step": 2, "node": "rank_answers", "node_b": None}


def test_abstention_is_scored_apart_from_accuracy():
    def record(key, correct, verification):
        return {"key": key, "status": "ok", "sample": {"answer_index": 0, "question_type": "causal"},
                "metrics": {"correct": correct, "unparsable": False}, "prediction": {"verification": verification}}

    supported = {"status": "supported", "source": "program"}
    records = [record("a", True, supported), record("b", True, supported), record("c", False, supported),
               record("d", True, {"status": "unchecked", "source": "llm"}),
               record("e", False, {"status": "refuted", "source": "program"}),
               # the rules reader's check: supported only when a claim was found and none contradicted
               record("f", False, {"passed": True, "perception": {"supported": ["x"], "contradicted": []}}),
               record("g", True, {"passed": True})]  # a check that says nothing is no support
    summary = summarize(records)
    assert summary["accuracy"] == 4 / 7  # forced choice: unchanged by abstention
    abstention = summary["abstention"]
    assert (abstention["answered"], abstention["abstained"]) == (4, 3)
    assert abstention["coverage"] == 4 / 7 and abstention["accuracy_when_answered"] == 0.5
    assert abstention["reliability"] == (2 - 2) / 7  # +1 right, -1 wrong, 0 abstained
    assert abstention["accuracy_by_status"]["unchecked"] == {"correct": 2, "total": 2, "accuracy": 1.0}
    assert summarize([])["abstention"] is None
