"""`vot bench events`' scoring of hand labels: a label is a moment and a place; events match by
type, time and where their track is; optional labels count neither way; meet answers approach."""

from __future__ import annotations

import pytest

from videothought.evals.real.bench_events import LABELS, load_labels, score_labels
from videothought.graph.schema import Event, Observation
from videothought.graph.stsg import STSG

LABELLED = {
    "video": {"file": "x.avi", "sha256": "0" * 64, "fps": 10.0, "width": 768, "height": 576},
    "window_frames": [0, 199],
    "types": ["enter", "exit", "start", "stop", "turn", "meet"],
    "events": [
        {"type": "stop", "frame": 50, "point": [300, 200]},
        {"type": "turn", "frame": 120, "point": [500, 400], "optional": True},
        {"type": "meet", "frame": 80, "points": [[100, 100], [140, 100]]},
        {"type": "enter", "frame": 10, "point": [760, 300]},
    ],
}


def stsg_at_half_size(events: list[Event]) -> STSG:
    """Three still tracks in a 384x288 STSG (half the labelled video's pixels)."""
    places = {1: (150, 100), 2: (50, 50), 3: (70, 50)}
    observations = [Observation(t, f, f / 10, (x - 5, y - 10, x + 5, y + 10)) for t, (x, y) in places.items()
                    for f in range(0, 200, 5)]
    return STSG.from_observations(observations, events=events, video={"fps": 10.0, "width": 384, "height": 288})


def test_events_match_labels_by_type_time_and_place():
    stsg = stsg_at_half_size([
        Event("stop", [1], 55, 55),  # 0.5 s late, at (300, 200) in video pixels: a match
        Event("stop", [2], 50, 50),  # right time, wrong place: a false positive
        Event("approach", [2, 3], 60, 78),  # the meet: both people at the labelled points
        Event("turn", [1], 118, 118),  # wrong place for the optional turn: a false positive
        Event("collide", [2, 3], 70, 70),  # a type the labels do not cover: counted aside
    ])
    result = score_labels(LABELLED, stsg, tolerance_frames=15, radius_px=80)
    per_type = result["per_type"]
    assert (per_type["stop"]["true_positives"], per_type["stop"]["false_positives"]) == (1, 1)
    assert per_type["meet"]["true_positives"] == 1
    assert per_type["turn"]["false_positives"] == 1 and per_type["turn"]["false_negatives"] == 0
    assert per_type["enter"]["false_negatives"] == 1
    assert result["other_events_in_window"] == {"collide": 1}
    assert (result["true_positives"], result["false_positives"], result["false_negatives"]) == (2, 2, 1)
    assert result["precision"] == pytest.approx(0.5) and result["recall"] == pytest.approx(2 / 3)


def test_an_optional_label_absorbs_a_match_and_a_late_event_misses():
    stsg = stsg_at_half_size([Event("turn", [1], 0, 0)])
    labels = {**LABELLED, "events": [{"type": "turn", "frame": 5, "point": [300, 200], "optional": True}]}
    result = score_labels(labels, stsg)
    assert result["per_type"]["turn"]["optional_matched"] == 1
    assert (result["true_positives"], result["false_positives"], result["false_negatives"]) == (0, 0, 0)
    late = score_labels({**labels, "events": [{"type": "turn", "frame": 40, "point": [300, 200]}]}, stsg)
    assert (late["false_positives"], late["false_negatives"]) == (1, 1)


def test_the_committed_labels_load():
    labels = load_labels(LABELS)
    assert labels["window_frames"] == [0, 599] and len(labels["events"]) >= 40
    assert {e["type"] for e in labels["events"]} == set(labels["types"])
    assert sum(not e.get("optional") for e in labels["events"]) >= 30


def test_malformed_labels_are_refused(tmp_path):
    import json

    bad = tmp_path / "labels.json"
    bad.write_text(json.dumps({**LABELLED, "events": [{"type": "wave", "frame": 3, "point": [1, 2]}]}))
    with pytest.raises(ValueError, match="type 'wave'"):
        load_labels(bad)
    bad.write_text(json.dumps({**LABELLED, "events": [{"type": "meet", "frame": 3, "points": [[1, 2]]}]}))
    with pytest.raises(ValueError, match="two points"):
        load_labels(bad)
