"""Claims that long-video chat needs: answers that are times, objects named by what they did
among look-alikes, and follow-ups that point back at the previous turn ("it", "after that")."""

from __future__ import annotations

import networkx as nx

from videothought.agent.rules.claims import ClaimChecker, check_claims
from videothought.graph.schema import SCHEMA_NAME, SCHEMA_VERSION, Event, Observation

FPS = 1.0  # one frame a second: frame numbers read as seconds
WIDTH, HEIGHT = 200, 100


def long_scene(*, drop_blue_contact: bool = False) -> dict:
    """Ten minutes, parts of it (as a long video's retrieved segments are):

    0:40-1:10  a red star hits a pink hexagon at 0:50, stops at 0:55, hits a white circle at 1:02
    5:00-5:30  a green square stops at 5:10
    6:40-7:10  a blue star (a look-alike star) hits a green circle at 7:00
    """
    tracks = {  # id: (label, attributes, frames, x(frame))
        1: ("red star", {"colour": "red", "shape": "star"}, range(40, 71), lambda f: 40 + min(f, 55) - 40),
        2: ("pink hexagon", {"colour": "pink", "shape": "hexagon"}, range(40, 71), lambda f: 70),
        7: ("white circle", {"colour": "white", "shape": "circle"}, range(40, 71), lambda f: 90),
        5: ("green square", {"colour": "green", "shape": "square"}, range(300, 331), lambda f: 100),
        3: ("blue star", {"colour": "blue", "shape": "star"}, range(400, 431), lambda f: 40 + (f - 400) * 2),
        4: ("green circle", {"colour": "green", "shape": "circle"}, range(400, 431), lambda f: 90),
    }
    graph = nx.MultiDiGraph()
    for track_id, (label, attributes, frames, x_of) in tracks.items():
        previous = None
        for frame in frames:
            x = x_of(frame)
            observation = Observation(track_id, frame, frame / FPS, (x, 40, x + 10, 50), label=label,
                                      attributes=attributes)
            graph.add_node(observation.node_id, **observation.to_dict())
            if previous is not None:
                graph.add_edge(previous, observation.node_id, kind="temporal", gap_frames=1)
            previous = observation.node_id
    events = [Event("collide", [1, 2], 50, 50), Event("stop", [1], 55, 55), Event("collide", [1, 7], 62, 62),
              Event("stop", [5], 310, 310)]
    if not drop_blue_contact:
        events.append(Event("collide", [3, 4], 420, 420))
    return {
        "schema": SCHEMA_NAME, "version": SCHEMA_VERSION,
        "video": {"path": "long.mp4", "fps": FPS, "num_frames": 600, "width": WIDTH, "height": HEIGHT},
        "graph": nx.node_link_data(graph, edges="links"),
        "tracks": {str(t): {"label": label, "attributes": attributes} for t, (label, attributes, _, _) in tracks.items()},
        "events": [event.to_dict() for event in events],
        "vocabulary": {"label": ["object"], "colour": ["red", "pink", "white", "green", "blue", "purple"],
                       "shape": ["star", "hexagon", "circle", "square", "diamond"]},
    }


def scores(question: str, options: list[str], doc: dict, **kwargs) -> dict[str, float]:
    checker = ClaimChecker(question, doc, options=options, **kwargs)
    return {option: checker.check(option).score for option in options}


def test_an_answer_that_is_a_time_is_checked_against_when_the_event_happened():
    doc = long_scene()
    question = "The green square stops once in this video. In which minute?"
    got = scores(question, ["in minute 5", "in minute 6", "in minute 9"], doc)
    assert got["in minute 6"] == 1.0 and got["in minute 5"] < 0 and got["in minute 9"] < 0  # 5:10 is minute 6
    other = "When does the green square come to a halt?"
    assert check_claims("at 5:10", other, doc)["score"] == 1.0
    assert check_claims("the second half", other, doc)["score"] == 1.0  # 5:10 of 10:00
    assert check_claims("the first half", other, doc)["score"] < 0
    assert check_claims("between 0:00 and 1:00", other, doc)["checked"] == "time"
    # the question's object, not any that did it: the red star stopped in minute 1
    assert check_claims("in minute 1", question, doc)["score"] < 0
    assert check_claims("in minute 1", "During which minute does the red star stop?", doc)["score"] == 1.0


def test_the_object_named_by_what_it_did_is_the_one_that_did_it():
    doc = long_scene()
    question = "What colour is the star that hits the pink hexagon, somewhere in the video?"
    got = scores(question, ["red", "blue", "purple"], doc)
    assert got["red"] == 1.0 and got["blue"] < 0 and got["purple"] < 0  # not the look-alike blue star
    got = scores("What colour is the star that collides with the green circle?", ["red", "blue"], doc)
    assert got["blue"] == 1.0 and got["red"] < 0
    # the tracker missed the contact: the star that came closest to the circle, seen with it
    missed = long_scene(drop_blue_contact=True)
    got = scores("What colour is the star that collides with the green circle?", ["red", "blue"], missed)
    assert got["blue"] == 1.0 and got["red"] < 0


def test_an_absent_colour_is_not_read_as_the_bare_shape():
    doc = long_scene()
    question = "Which object collides with the pink hexagon first?"
    got = scores(question, ["the red star", "the purple star", "the white circle"], doc)
    assert got["the red star"] == 1.0 and got["the purple star"] < 0 and got["the white circle"] < 0


def test_follow_ups_resolve_it_and_anchor_after_that_at_the_previous_answer():
    doc = long_scene()
    first = ClaimChecker("Which object collides with the pink hexagon first?", doc).check("the red star")
    assert first.score == 1.0 and first.frame == 50 and first.track_ids == [1]
    turn1 = {"question": "Which object collides with the pink hexagon first?", "answer": "the red star",
             "targets": ["red star"], "anchor_frame": first.frame, "track_ids": first.track_ids}
    options = ["stops", "collides with the white circle", "enters the scene"]
    got = scores("What does it do right after that?", options, doc, history=[turn1])
    assert got["stops"] == 1.0 and got["collides with the white circle"] < 1.0 and got["enters the scene"] < 0
    checker = ClaimChecker("What does it do right after that?", doc, options=options, history=[turn1])
    assert checker.referent == [1] and checker.anchor_frame == 50
    turn2 = {"question": "What does it do right after that?", "answer": "stops", "targets": ["red star"],
             "anchor_frame": checker.check("stops").frame, "track_ids": [1]}
    assert turn2["anchor_frame"] == 55
    # "which object": a generic noun, not the target; it hit the pink hexagon before that, not after
    got = scores("Which object does it hit after that?", ["the white circle", "the pink hexagon", "the blue star"],
                 doc, history=[turn1, turn2])
    assert got["the white circle"] == 1.0 and got["the pink hexagon"] < 0 and got["the blue star"] < 0
    # without its tracks, the previous answer's phrase is grounded here
    by_phrase = dict(turn2, track_ids=[])
    assert ClaimChecker("What colour is it?", doc, history=[turn1, by_phrase]).referent == [1]
    # a question of its own in a chat does not anchor on the chat
    own = ClaimChecker("What does the green square do after it enters the scene?", doc, history=[turn1, turn2])
    assert own.anchor_frame is None and own.referent == [5]
