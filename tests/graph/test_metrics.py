import pytest

from videothought.graph import metrics
from videothought.graph.schema import Event, Observation


def obs(track_id, frame, x, visible=True):
    return Observation(track_id, frame, frame / 10, (x, 0, x + 10, 10), visible=visible)


def test_perfect_tracking():
    truth = [obs(1, f, 10 * f) for f in range(10)] + [obs(2, f, 200) for f in range(10)]
    predicted = [obs(7, f, 10 * f + 1) for f in range(10)] + [obs(9, f, 200) for f in range(10)]
    accumulator = metrics.accumulate_tracking(truth, predicted)
    scores = metrics.tracking_scores([accumulator])
    assert scores["mota"] == 1.0 and scores["idf1"] == 1.0 and scores["id_switches"] == 0
    assert metrics.track_id_map(accumulator) == {7: 1, 9: 2}


def test_switches_misses_and_false_positives():
    truth = [obs(1, f, 0) for f in range(10)] + [obs(2, f, 100) for f in range(10)]
    # ids swap at frame 5; one miss (frame 9 of track 2); one false positive far away
    predicted = [obs(1 if f < 5 else 2, f, 0) for f in range(10)]
    predicted += [obs(2 if f < 5 else 1, f, 100) for f in range(9)]
    predicted += [obs(3, 0, 500)]
    scores = metrics.tracking_scores([metrics.accumulate_tracking(truth, predicted)])
    assert scores["id_switches"] == 2
    assert scores["num_misses"] == 1
    assert scores["num_false_positives"] == 1
    assert scores["mota"] == pytest.approx(1 - (2 + 1 + 1) / 20)


def test_hidden_truth_is_an_ignore_region():
    truth = [obs(1, f, 0, visible=f < 5) for f in range(10)]
    predicted = [obs(1, f, 0) for f in range(10)]  # the tracker still reports the hidden object
    scores = metrics.tracking_scores([metrics.accumulate_tracking(truth, predicted)])
    assert scores["num_false_positives"] == 0 and scores["mota"] == 1.0
    # Hidden predictions are not scored either way.
    predicted = [obs(1, f, 0, visible=f < 5) for f in range(10)]
    scores = metrics.tracking_scores([metrics.accumulate_tracking(truth, predicted)])
    assert scores["num_misses"] == 0 and scores["mota"] == 1.0


def test_event_scores():
    truth = [Event("collide", [1, 2], 10, 10), Event("turn", [1], 20, 20), Event("occluded", [2, 3], 30, 35),
             Event("stop", [3], 40, 43)]
    predicted = [Event("collide", [8, 7], 12, 12),  # ids map 7->1, 8->2, order irrelevant: match
                 Event("turn", [7], 25, 25),  # 5 frames late: beyond the tolerance
                 Event("occluded", [8], 36, 38),  # occluder not named: still the same event
                 Event("stop", [9], 40, 40),  # unmapped track
                 Event("approach", [7, 8], 0, 9)]  # a type not scored
    id_map = {7: 1, 8: 2, 10: 3}
    scores = metrics.event_scores(truth, predicted, id_map, tolerance_frames=3,
                                  types=("collide", "turn", "occluded", "stop"))
    assert (scores["true_positives"], scores["false_positives"], scores["false_negatives"]) == (2, 2, 2)
    assert scores["f1"] == pytest.approx(0.5)
    assert scores["per_type"]["collide"]["f1"] == 1.0
    assert scores["per_type"]["turn"]["true_positives"] == 0
    assert "approach" not in scores["per_type"]
    wrong_occluder = metrics.event_scores(truth, [Event("occluded", [8, 7], 30, 30)], id_map, types=("occluded",))
    assert wrong_occluder["true_positives"] == 0
    merged = metrics.merge_event_counts([scores, scores])
    assert merged["true_positives"] == 4 and merged["f1"] == pytest.approx(0.5)


def test_only_the_given_frames_are_scored():
    truth = [obs(1, f, 0) for f in range(10)]
    predicted = [obs(5, 0, 0), obs(5, 5, 0)]
    everywhere = metrics.tracking_counts(metrics.accumulate_tracking(truth, predicted))
    assert (everywhere["num_objects"], everywhere["num_misses"]) == (10, 8)
    sampled = metrics.tracking_counts(metrics.accumulate_tracking(truth, predicted, frames=[0, 5, 9]))
    assert (sampled["num_objects"], sampled["num_misses"], sampled["idtp"]) == (3, 1, 2)


def test_document_observations_skip_what_is_not_an_observation():
    good = obs(3, 4, 20).to_dict()
    doc = {"video": {"fps": 10.0}, "graph": {"nodes": [
        {**good, "id": "o:3:4"},
        {k: v for k, v in good.items() if k != "time_seconds"},  # hand-written: no time
        {"kind": "observation", "track_id": 1, "frame_index": 0, "box": [5, 5, 1, 1]},  # inverted box
        {"kind": "region", "track_id": 2},
    ]}}
    found = metrics.document_observations(doc)
    assert [(o.track_id, o.frame_index, o.time_seconds) for o in found] == [(3, 4, 0.4), (3, 4, 0.4)]
    assert metrics.document_observations(None) == []
