"""Every operator of the program language on hand-built STSGs with known answers, and the option scores."""

from __future__ import annotations

import pytest

from videothought.graph.execute import Executor
from videothought.graph.program import OPERATORS, parse_program
from videothought.graph.schema import Event, Observation
from videothought.graph.stsg import STSG
from videothought.graph.values import value_text

FPS = 10.0
WIDTH, HEIGHT = 200, 100
VOCABULARY = {"label": ["object", "person"], "colour": ["red", "blue", "green", "yellow", "pink"],
              "shape": ["circle", "star", "square", "triangle"]}


def path(points: dict[int, tuple[float, float]]):
    """Linear interpolation between key frames: {frame: (cx, cy)} -> {frame: (cx, cy)} for every frame."""
    keys = sorted(points)
    out = {}
    for a, b in zip(keys, keys[1:]):
        for f in range(a, b + 1):
            t = (f - a) / (b - a)
            out[f] = (points[a][0] + t * (points[b][0] - points[a][0]), points[a][1] + t * (points[b][1] - points[a][1]))
    return out


def scene_doc(tracks: dict[int, tuple[str, dict, dict, float]], events: list[tuple], vocabulary=VOCABULARY) -> dict:
    """tracks: {id: (label, attributes, {frame: (cx, cy)}, radius)}; events: (type, ids, start, end[, attributes])."""
    observations = []
    for track_id, (label, attributes, centres, radius) in tracks.items():
        for frame, (cx, cy) in centres.items():
            observations.append(Observation(track_id, frame, frame / FPS, (cx - radius, cy - radius, cx + radius, cy + radius),
                                            label=label, attributes=dict(attributes)))
    stsg_events = [Event(e[0], list(e[1]), e[2], e[3], dict(e[4]) if len(e) > 4 else {}) for e in events]
    video = {"path": "scene.mp4", "fps": FPS, "num_frames": 50, "width": WIDTH, "height": HEIGHT}
    return STSG.from_observations(observations, stsg_events, video=video, vocabulary=vocabulary).to_dict()


# A red circle rolls right and stops at frame 20; a blue star enters at frame 10 from the right, runs
# into the resting circle at frame 45 and bounces back, setting the circle moving again; a large green
# square rests at the top; a small green square bounces off the right edge at frame 20.
RED = path({0: (20, 50), 20: (60, 50), 45: (60, 50), 49: (70, 50)})
BLUE = path({10: (150, 50), 45: (80, 50), 49: (90, 50)})
BIG_GREEN = path({0: (100, 20), 49: (100, 20)})
SMALL_GREEN = path({0: (170, 85), 20: (190, 85), 49: (172, 85)})
TRACKS = {
    1: ("red circle", {"colour": "red", "shape": "circle"}, RED, 10.0),
    2: ("blue star", {"colour": "blue", "shape": "star"}, BLUE, 10.0),
    3: ("green square", {"colour": "green", "shape": "square"}, BIG_GREEN, 16.0),
    4: ("green square", {"colour": "green", "shape": "square"}, SMALL_GREEN, 8.0),
}
EVENTS = [
    ("stop", [1], 20, 20), ("enter", [2], 10, 12), ("collide", [2, 1], 45, 45), ("turn", [2], 45, 45),
    ("start", [1], 46, 46), ("turn", [4], 20, 20, {"cause": "wall", "wall": "right"}),
]


@pytest.fixture(scope="module")
def executor() -> Executor:
    return Executor.from_document(scene_doc(TRACKS, EVENTS))


def run(executor: Executor, steps: list[dict], options: list[dict] | None = None):
    program = parse_program({"program": steps, **({"options": options} if options is not None else {})})
    execution = executor.run(program)
    scores = executor.score_options(execution, program.options) if options is not None else None
    return execution, scores


def objects(execution) -> list[int]:
    assert execution.status == "ok", execution.reason
    return list(execution.value.data)


def test_every_operator_has_a_test_here():
    source = open(__file__).read()
    untested = [name for name in OPERATORS if f'"op": "{name}"' not in source]
    assert not untested


@pytest.mark.parametrize("description, expected", [
    ({"name": "circle"}, [1]),
    ({"adj": ["green"]}, [3, 4]),
    ({"name": "square", "adj": ["large"]}, [3]),
    ({"name": "squares", "adj": ["small", "green"]}, [4]),
    ({}, [1, 2, 3, 4]),
    ({"name": "object", "adj": ["blue"]}, [2]),
    ({"name": "triangle"}, []),  # nameable here, and none in this video
])
def test_find_grounds_descriptions_in_the_scene_names(executor, description, expected):
    assert objects(run(executor, [{"op": "find", **description}])[0]) == expected


def test_a_name_perception_cannot_give_is_unknown_not_absent(executor):
    execution, _ = run(executor, [{"op": "find", "name": "dog"}, {"op": "count"}])
    assert execution.status == "unknown" and "cannot name 'dog'" in execution.reason


def test_filter_narrows_objects(executor):
    assert objects(run(executor, [{"op": "find", "adj": ["green"]}, {"op": "filter", "adj": ["small"]}])[0]) == [4]


def test_which_enters_first_and_its_colour(executor):
    steps = [{"op": "events", "kind": "enter"}, {"op": "first"}, {"op": "subject"}]
    execution, scores = run(executor, steps, [{"object": {"name": "star", "adj": ["blue"]}},
                                              {"object": {"name": "circle", "adj": ["red"]}},
                                              {"object": {"name": "triangle", "adj": ["pink"]}}])
    assert objects(execution) == [2] and scores == [1.0, -1.0, -1.0]
    colour, scores = run(executor, steps + [{"op": "attribute", "name": "colour"}],
                         [{"text": "blue"}, {"text": "red"}, {"text": "violet"}])
    assert colour.value.data == "blue" and scores == [1.0, -1.0, None]


def test_right_after_and_right_before_with_of(executor):
    after = [{"op": "find", "name": "circle", "adj": ["red"]}, {"op": "events", "kind": "stop"}, {"op": "first"},
             {"op": "after", "of": 0}, {"op": "first"}]
    execution, scores = run(executor, after, [{"event": {"kind": "collide", "with": {"name": "star"}}},
                                              {"event": {"kind": "turn"}}, {"event": {"kind": "start"}}])
    assert execution.value.data.kind == "collide" and execution.value.data.frame == 45
    assert scores == [1.0, -1.0, 1.0]  # the start one frame later is part of the same moment (the hit starts it)
    before = [{"op": "find", "name": "star"}, {"op": "events", "kind": "collide", "with": {"name": "circle"}},
              {"op": "first"}, {"op": "before", "of": 0}, {"op": "last"}]
    execution, scores = run(executor, before, [{"event": {"kind": "enter"}}, {"event": {"kind": "stop"}}])
    assert execution.value.data.kind == "enter" and scores == [1.0, -1.0]


def test_nth_counts_events_in_time_and_refuses_one_that_does_not_exist(executor):
    steps = [{"op": "find", "name": "star"}, {"op": "events"}, {"op": "nth", "n": 2}]
    assert run(executor, steps)[0].value.data.kind == "collide"
    missing, _ = run(executor, [{"op": "find", "name": "star"}, {"op": "events", "kind": "turn"}, {"op": "nth", "n": 2}])
    assert missing.status == "unknown" and "only 1" in missing.reason


def test_partner_subject_and_count_of_events_and_objects(executor):
    assert objects(run(executor, [{"op": "find", "name": "circle"}, {"op": "events", "kind": "collide"},
                                  {"op": "partner"}])[0]) == [2]
    execution, scores = run(executor, [{"op": "events", "kind": "collide"}, {"op": "count"}],
                            [{"number": 0}, {"number": 1}, {"number": 3}])
    assert execution.value.data == 1 and scores == [-0.5, 1.0, -1.0]
    assert run(executor, [{"op": "find", "adj": ["green"]}, {"op": "count"}])[0].value.data == 2
    assert run(executor, [{"op": "events", "kind": "turn"}, {"op": "subject"}, {"op": "count"}])[0].value.data == 2


def test_a_track_broken_in_two_counts_once_and_two_seen_together_count_twice():
    split = {5: ("yellow triangle", {"colour": "yellow", "shape": "triangle"}, path({0: (20, 20), 19: (58, 20)}), 8.0),
             6: ("yellow triangle", {"colour": "yellow", "shape": "triangle"}, path({22: (64, 20), 40: (100, 20)}), 8.0)}
    executor = Executor.from_document(scene_doc(split, []))
    assert run(executor, [{"op": "find", "name": "triangle"}, {"op": "count"}])[0].value.data == 1
    together = {**split, 6: ("yellow triangle", {"colour": "yellow", "shape": "triangle"},
                             path({0: (20, 80), 40: (100, 80)}), 8.0)}
    executor = Executor.from_document(scene_doc(together, []))
    assert run(executor, [{"op": "find", "name": "triangle"}, {"op": "count"}])[0].value.data == 2


def test_exists(executor):
    assert run(executor, [{"op": "events", "kind": "exit"}, {"op": "exists"}], [{"bool": False}])[1] == [1.0]
    assert run(executor, [{"op": "find", "name": "star"}, {"op": "exists"}])[0].value.data is True


def test_attributes_sizes_and_what_perception_does_not_give(executor):
    assert run(executor, [{"op": "find", "name": "square", "adj": ["large"]},
                          {"op": "attribute", "name": "size"}])[0].value.data == "large"
    assert run(executor, [{"op": "find", "name": "circle"}, {"op": "attribute", "name": "shape"}],
               [{"text": "circle"}, {"text": "star"}])[1] == [1.0, -1.0]
    missing, _ = run(executor, [{"op": "find", "name": "circle"}, {"op": "attribute", "name": "upper_colour"}])
    assert missing.status == "unknown" and "upper_colour" in missing.reason
    nothing, _ = run(executor, [{"op": "find", "name": "triangle"}, {"op": "attribute", "name": "colour"}])
    assert nothing.status == "unknown"


def test_direction_and_moving(executor):
    execution, scores = run(executor, [{"op": "find", "name": "star"}, {"op": "direction"}],
                            [{"direction": "left"}, {"direction": "right"}])
    assert execution.value.data == "left" and scores == [1.0, -1.0]
    assert run(executor, [{"op": "find", "name": "circle"}, {"op": "direction"}])[0].value.data == "right"
    assert run(executor, [{"op": "find", "name": "square", "adj": ["large"]}, {"op": "direction"}])[0].value.data == "still"
    assert objects(run(executor, [{"op": "find"}, {"op": "moving", "direction": "left"}])[0]) == [2]


def test_time_of_an_event_against_seconds_and_minutes(executor):
    steps = [{"op": "find", "name": "circle"}, {"op": "events", "kind": "stop"}, {"op": "first"}, {"op": "time"}]
    execution, scores = run(executor, steps, [{"time": {"seconds": 2.0}}, {"time": {"seconds": 3.5}},
                                              {"time": {"minute": 1}}, {"time": {"minute": 2}}])
    assert execution.value.data == pytest.approx(2.0) and scores == [1.0, -1.0, 1.0, -1.0]


def test_cause_recorded_by_the_stsg_and_inferred_from_contacts(executor):
    recorded = [{"op": "find", "name": "square", "adj": ["small"]}, {"op": "events", "kind": "turn"}, {"op": "first"},
                {"op": "cause"}]
    execution, scores = run(executor, recorded, [{"cause": {"by": "edge", "side": "right"}},
                                                 {"cause": {"by": "edge", "side": "left"}}, {"cause": {"by": "self"}}])
    assert execution.value.data == {"by": "edge", "side": "right"} and scores == [1.0, -1.0, -1.0]
    inferred = [{"op": "find", "name": "circle"}, {"op": "events", "kind": "start"}, {"op": "first"}, {"op": "cause"}]
    execution, scores = run(executor, inferred, [{"cause": {"by": "collide", "with": {"name": "star"}}},
                                                 {"cause": {"by": "push", "with": {"name": "star"}}},
                                                 {"cause": {"by": "collide", "with": {"name": "square"}}},
                                                 {"cause": {"by": "self"}}])
    assert execution.value.data == {"by": "collide", "with": 2}
    assert scores == [1.0, 0.6, -1.0, -1.0]


def test_a_change_the_question_takes_for_granted_is_found_in_the_motion():
    # the red circle stops at frame 20, but no stop event was detected
    executor = Executor.from_document(scene_doc({1: TRACKS[1]}, []))
    execution, _ = run(executor, [{"op": "find", "name": "circle"}, {"op": "events", "kind": "stop"},
                                  {"op": "first"}, {"op": "time"}])
    assert execution.status == "ok" and abs(execution.value.data - 2.0) <= 0.3
    counted, _ = run(executor, [{"op": "find", "name": "circle"}, {"op": "events", "kind": "stop"}, {"op": "count"}])
    assert counted.value.data == 0  # counting takes nothing for granted


def test_without_scores_which_events_depend_on_the_removed_object(executor):
    steps = [{"op": "find", "name": "star", "adj": ["blue"]}, {"op": "without"}]
    execution, scores = run(executor, steps, [
        {"event": {"who": {"name": "circle"}, "kind": "start", "at": 4.6}},
        {"event": {"who": {"name": "circle"}, "kind": "stop", "at": 2.0}},
        {"event": {"who": {"name": "square", "adj": ["small"]}, "kind": "turn", "side": "right", "at": 2.0}},
        {"event": {"who": {"name": "circle"}, "kind": "turn", "at": 1.0}},
    ])
    assert scores[0] == 1.0 and scores[1] == -1.0 and scores[2] == -1.0 and scores[3] < 0


def test_watch_cuts_the_scene_and_predict_extrapolates(executor):
    steps = [{"op": "watch", "until": 3.0}, {"op": "find", "name": "star"}, {"op": "predict"}]
    execution, scores = run(executor, steps, [
        {"event": {"kind": "push", "with": {"name": "circle"}}}, {"event": {"kind": "collide", "with": {"name": "circle"}}},
        {"event": {"kind": "exit"}}, {"event": {"kind": "push", "with": {"name": "square"}}}])
    assert execution.value.data["kind"] == "contact" and execution.value.data["with"] == 1
    assert scores == [1.0, 0.8, -0.5, -0.5]  # the circle rests: running into it is a push
    cut, _ = run(executor, [{"op": "watch", "until": 3.0}, {"op": "find", "name": "star"}, {"op": "events"}])
    assert [o.kind for o in cut.value.data] == ["enter"]  # nothing after 3 s is seen


def test_recall_the_previous_answer_object_and_moment():
    executor = Executor.from_document(scene_doc(TRACKS, EVENTS), history=[{"tracks": [1], "frame": 20}])
    assert objects(run(executor, [{"op": "recall", "what": "object"}])[0]) == [1]
    steps = [{"op": "recall", "what": "object"}, {"op": "recall", "what": "moment"}, {"op": "after", "of": 0},
             {"op": "first"}]
    execution, _ = run(executor, steps)
    assert execution.value.data.kind == "collide" and execution.value.data.frame == 45
    alone = Executor.from_document(scene_doc(TRACKS, EVENTS))
    assert run(alone, [{"op": "recall", "what": "object"}])[0].status == "unknown"


def test_most_least_and_near(executor):
    assert objects(run(executor, [{"op": "find"}, {"op": "most", "by": "size"}])[0]) == [3]
    assert objects(run(executor, [{"op": "find"}, {"op": "least", "by": "size"}])[0]) == [4]
    assert objects(run(executor, [{"op": "find"}, {"op": "most", "by": "events"}])[0]) == [1, 2]
    assert objects(run(executor, [{"op": "find"}, {"op": "most", "by": "speed"}])[0]) == [2]
    assert objects(run(executor, [{"op": "find", "name": "circle"}, {"op": "near"}])[0]) == [2]


def test_together():
    walkers = {1: ("person", {"upper_colour": "red"}, path({0: (20, 50), 40: (120, 50)}), 10.0),
               2: ("person", {"upper_colour": "blue"}, path({0: (20, 75), 40: (120, 75)}), 10.0),
               3: ("person", {"upper_colour": "green"}, path({0: (180, 20), 40: (80, 20)}), 10.0)}
    executor = Executor.from_document(scene_doc(walkers, []))
    execution, _ = run(executor, [{"op": "find", "name": "person", "adj": ["red"]}, {"op": "together"}])
    assert execution.value.data is False  # one person alone is not "together"
    pair = parse_program({"program": [{"op": "find", "name": "person"}, {"op": "moving", "direction": "right"},
                                      {"op": "together"}]})
    assert executor.run(pair).value.data is True
    assert run(executor, [{"op": "find", "name": "person"}, {"op": "together"}])[0].value.data is False
    assert objects(run(executor, [{"op": "find", "name": "person", "adj": ["red"]}])[0]) == [1]


def test_open_answers_name_things_as_a_user_would(executor):
    execution, _ = run(executor, [{"op": "events", "kind": "enter"}, {"op": "first"}, {"op": "subject"}])
    assert value_text(execution.value, executor.scene) == "the blue star"
    cause, _ = run(executor, [{"op": "find", "name": "circle"}, {"op": "events", "kind": "start"}, {"op": "first"},
                              {"op": "cause"}])
    assert value_text(cause.value, executor.scene) == "it collides with the blue star"
    assert "#" not in value_text(execution.value, executor.scene) and "object 2" not in value_text(execution.value, executor.scene)


def test_the_execution_records_each_step_with_its_tracks_and_frames(executor):
    execution, _ = run(executor, [{"op": "find", "name": "circle"}, {"op": "events", "kind": "stop"}, {"op": "first"}])
    record = execution.to_dict()
    assert record["status"] == "ok" and [s["index"] for s in record["steps"]] == [0, 1, 2]
    assert record["tracks"] == [1] and record["frames"] == [20]
    assert execution.text().splitlines()[2].startswith("2 first -> red circle stop at 2.0 s")
