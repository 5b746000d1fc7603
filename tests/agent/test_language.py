"""Reading questions and answers in any wording, and grounding phrases to tracks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.agent.graph.helpers import scene_document
from videothought.agent.rules.claims import check_claims
from videothought.agent.rules.grounding import Grounder, ground_phrase
from videothought.agent.rules.language import Vocabulary, candidate_phrases, read_text
from videothought.graph.query import SceneQuery
from videothought.graph.schema import EVENT_TYPES


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary.from_document(scene_document())


@pytest.mark.parametrize("text, kind", [
    ("it bumps into the square", "collide"), ("crashed into", "collide"), ("is shoved by the box", "push"),
    ("comes to a halt", "stop"), ("came to rest", "stop"), ("sets off", "start"), ("begins to move", "start"),
    ("bounces off the top wall", "turn"), ("changes its direction", "turn"), ("leaves the frame", "exit"),
    ("comes into view", "enter"), ("passes behind the star", "occluded"), ("vanishes", "disappear"),
])
def test_event_words_map_onto_the_stsg_event_types(text, kind, vocabulary):
    events = read_text(text, vocabulary).events
    assert [e.kind for e in events][:1] == [kind]


def test_every_stsg_event_type_has_words():
    from videothought.agent.rules.language import _EVENT_PHRASES

    assert set(_EVENT_PHRASES) == set(EVENT_TYPES)


def test_sides_passive_and_time_cut(vocabulary):
    reading = read_text("Watching only the first 2.5 seconds, what will the ball do after it is pushed by the box?",
                        vocabulary)
    assert reading.cut_seconds == 2.5 and {"future", "after"} <= reading.cues
    assert [(e.kind, e.passive) for e in reading.events] == [("push", True)]
    assert read_text("it hits the left edge", vocabulary).events[0].side == "left"
    assert read_text("moves to the left", vocabulary).events == []  # a side, not the past of "leave"
    assert read_text("Why does it turn for the second time?", vocabulary).ordinal == 2


def test_objects_are_read_through_the_scene_vocabulary_and_aliases(vocabulary):
    mentions = read_text("Does the large red disc hit the blue block or the purple star?", vocabulary).objects
    assert [(m.constraints, m.size) for m in mentions] == [
        ({"colour": "red", "shape": "circle"}, "large"), ({"colour": "blue", "shape": "square"}, None),
        ({"colour": "purple", "shape": "star"}, None)]
    assert candidate_phrases("What is the boy in the red shirt doing with the ball?") == ["boy", "red shirt", "ball"]


def test_grounding_names_the_right_tracks_and_refuses_contradictions():
    doc = scene_document()
    assert ground_phrase("the red ball", doc).track_ids == [1]
    assert ground_phrase("the green shape", doc).track_ids == [3]
    assert ground_phrase("the purple star", doc).track_ids == []  # perception could name it; it is not there
    assert ground_phrase("red square", doc).track_ids == []  # half right for two tracks, wrong for both
    assert ground_phrase("the object that stops", doc).track_ids == [3]


class _TextSpace:
    """A stand-in encoder whose text space puts "crimson disc" next to the red track's region."""

    def encode_text(self, texts):
        table = {"square": [0.0, 1.0, 0.0], "circle": [1.0, 0.0, 0.0]}
        return np.asarray([table["circle"] if "circle" in t else table["square"] for t in texts], dtype=np.float32)


def test_region_text_similarity_rescues_a_misnamed_track():
    doc = scene_document()
    doc["tracks"]["1"]["attributes"] = {"colour": "red", "shape": "hexagon"}  # the namer got the shape wrong
    doc["vocabulary"]["shape"].append("hexagon")
    scene = SceneQuery.from_document(doc)
    mention = read_text("the red circle", Vocabulary.from_document(doc)).objects[0]
    without = Grounder(scene, Vocabulary.from_document(doc)).ground(mention)
    regions = {1: [1.0, 0.0, 0.0], 2: [0.0, 1.0, 0.0], 3: [0.0, 0.0, 1.0]}
    with_regions = Grounder(scene, Vocabulary.from_document(doc), encoder=_TextSpace(), track_embeddings=regions).ground(mention)
    assert without.track_ids == []  # colour right, shape wrong: no track is named by words alone
    assert with_regions.track_ids == [1] and not with_regions.exact


def test_rewordings_of_one_question_get_the_same_verdicts():
    doc = scene_document()
    wordings = ["What does the green triangle do right after it enters the scene?",
                "Right after the green triangle comes into view, what does it do?",
                "Once the green wedge has arrived, what does it do next?"]
    for question in wordings:
        assert check_claims("stops", question, doc)["score"] == 1.0, question
        assert check_claims("collides with the red circle", question, doc)["score"] < 0, question


@pytest.mark.parametrize("text, kind", [
    ("alters its course", "turn"), ("it halts", "stop"), ("How many collisions are there?", "collide"),
    ("the ball is gone", "disappear"), ("it drifts out of view", "exit"), ("it sets off", "start"),
])
def test_more_everyday_event_words(text, kind, vocabulary):
    assert [e.kind for e in read_text(text, vocabulary).events][:1] == [kind]


def test_polygons_by_their_sides_and_attribute_words_inside_a_name(vocabulary):
    reading = read_text("What does the green three-sided shape do?", vocabulary)
    assert reading.numbers == []  # "three" named the shape, it is not a count
    assert reading.objects[0].constraints == {"colour": "green", "shape": "triangle"}
    assert read_text("the red-coloured disc", vocabulary).objects[0].constraints == {"colour": "red", "shape": "circle"}
    merged = read_text("What does the disc which is red do?", vocabulary).objects
    assert [m.constraints for m in merged] == [{"shape": "circle", "colour": "red"}]
    assert read_text("What is the red disc's next move?", vocabulary).objects[0].constraints == \
        {"colour": "red", "shape": "circle"}  # the possessive does not hide the noun


def test_cues_in_other_words(vocabulary):
    assert read_text("it is gone all at once", vocabulary).ordinal is None  # "at once": suddenly
    assert read_text("What does the ball do right before it stops?", vocabulary).sides == []
    assert read_text("it bounces off the right edge", vocabulary).sides == ["right"]
    assert "counterfactual" in read_text("Which event would not occur if the ball were taken out?", vocabulary).cues
    assert "counterfactual" in read_text("If there were no red ball, what would not happen?", vocabulary).cues
    assert "cause" in read_text("How come the ball stops?", vocabulary).cues
    assert "count" in read_text("Give the total of red things.", vocabulary).cues
    guess = read_text("After 3.5 seconds of footage, guess the ball's next move.", vocabulary)
    assert "future" in guess.cues and guess.cut_seconds == 3.5
    assert read_text("The ball hits the box at 3.5 seconds. What did it do before?", vocabulary).cut_seconds is None


def test_cut_points_edge_rebounds_and_counted_things(vocabulary):
    for question in ("The clip is cut at 0.8 seconds. What happens to the ball next?",
                     "Pausing at the 0.8 second mark, predict the ball's next action."):
        reading = read_text(question, vocabulary)
        assert reading.cut_seconds == 0.8 and "future" in reading.cues and reading.ordinal is None, question
        assert reading.events == []  # pausing the video is not the ball stopping
    rebound = read_text("it hits the top wall and turns", vocabulary).events
    assert [(e.kind, e.side) for e in rebound] == [("turn", "top")]
    assert read_text("How many red things appear?", vocabulary).events == []  # the things seen, counted
    assert [e.kind for e in read_text("How many times does a ball appear?", vocabulary).events] == ["appear"]


def test_real_wordings_of_removal_and_going(vocabulary):
    # a removal that happened is not a hypothetical; "going to" a place is not a future
    assert "counterfactual" not in read_text("why did the man remove one of his skates?", vocabulary).cues
    assert "counterfactual" in read_text("If the ball were removed, which event would not happen?", vocabulary).cues
    assert "counterfactual" in read_text("Remove the ball: what no longer happens?", vocabulary).cues
    assert "future" not in read_text("what does the dog do after going to the cushion?", vocabulary).cues
    assert "future" in read_text("what is the ball going to do next?", vocabulary).cues


def test_edge_contacts_paths_standstills_and_dependence(vocabulary):
    # a contact with a frame edge is the rebound the scene graph records, with or without "and comes back"
    for text in ("it hits the top edge and comes back", "it reaches the top edge of the frame",
                 "contact with the top side of the frame"):
        assert [(e.kind, e.side) for e in read_text(text, vocabulary).events] == [("turn", "top")], text
    assert [e.kind for e in read_text("it hits the blue square", vocabulary).events] == ["collide"]  # an object: a contact
    for text, kind in (("For what reason does the ball alter its path?", "turn"),
                       ("The ball comes to a standstill. Why?", "stop"),
                       ("The ball goes from resting to moving. Why?", "start")):
        reading = read_text(text, vocabulary)
        assert [e.kind for e in reading.events] == [kind] and "cause" in reading.cues, text
    assert "cause" in read_text("What is behind the second change of direction of the ball?", vocabulary).cues
    assert "counterfactual" in read_text("Which event depends on the presence of the ball?", vocabulary).cues
    stopped = read_text("At 4.4 s the video stops. What does the ball do afterwards?", vocabulary)
    assert stopped.cut_seconds == 4.4 and "future" in stopped.cues and stopped.events == []  # the video stops, not the ball


def test_a_pronoun_ahead_of_the_names_points_to_the_main_subject():
    from videothought.agent.rules.claims import ClaimChecker

    doc = scene_document()
    assert ClaimChecker("After it collides with the blue square, what does the red circle do?", doc).referent == [1]
    assert ClaimChecker("After it collides with the red circle, what does the blue square do?", doc).referent == [2]
    assert ClaimChecker("What does the red circle do after it collides with the blue square?", doc).referent == [1]
    # no pronoun ahead: the first name stays the object ("why does the red circle stop when the square hits it?")
    assert ClaimChecker("Why does the red circle stop when the blue square hits it?", doc).referent == [1]


def test_bare_rebound_sides_absent_objects_and_nominal_counts(vocabulary):
    assert [(e.kind, e.side) for e in read_text("rebound off the top", vocabulary).events] == [("turn", "top")]
    assert "counterfactual" in read_text("Assume the ball is not in the scene. Which event would not take place?",
                                         vocabulary).cues
    assert "counterfactual" in read_text("Which event could only happen because the ball is there?", vocabulary).cues


def test_a_possessive_ahead_of_the_names_and_a_counted_noun_event():
    from videothought.agent.rules.claims import ClaimChecker

    doc = scene_document()
    assert ClaimChecker("Following its collision with the blue square, what does the red circle do?", doc).referent == [1]
    # "how many collisions does the triangle have": the triangle's own, not every collision in the video
    assert check_claims("0", "How many collisions does the green triangle have?", doc)["score"] > 0
    assert check_claims("1", "How many collisions does the green triangle have?", doc)["score"] < 0


def test_a_counterfactual_falls_back_on_touching_when_the_tracker_missed_the_contact():
    from videothought.graph.schema import Event

    doc = scene_document()
    # the tracker saw the red circle turn at frame 12 while overlapping the blue square, but no collision
    doc["events"] = [Event("turn", [1], 12, 12).to_dict(), Event("enter", [3], 20, 20).to_dict()]
    option = "the red circle changes direction at 1.2 seconds"
    touched = check_claims(option, "If the blue square were removed, which event would not happen?", doc)
    elsewhere = check_claims(option, "If the green triangle were removed, which event would not happen?", doc)
    assert 0 < touched["score"] < 1 and elsewhere["score"] < 0


def test_a_frame_edge_is_left_unless_the_video_shows_rebounds():
    doc = scene_document()
    question = "Watching only the first 2 seconds, what will the red circle do next?"  # it heads for the right edge
    leaves = check_claims("it leaves the scene", question, doc)["score"]
    rebound = check_claims("it bounces off the right edge", question, doc)["score"]
    turn = check_claims("it changes direction", question, doc)["score"]
    assert leaves > rebound > turn > 0


def test_running_into_a_resting_thing_is_predicted_as_a_push():
    from videothought.agent.perceive import restrict_document

    doc = restrict_document(scene_document(), 8)  # the red circle heads for the blue square, which is still
    question = "Watching only the first 0.8 seconds, what will the red circle do next?"
    push = check_claims("it pushes the blue square", question, doc)["score"]
    collide = check_claims("it collides with the blue square", question, doc)["score"]
    other = check_claims("it collides with the green triangle", question, doc)["score"]
    assert push > collide > 0 > other


def test_numeric_ordinals_set_in_motion_and_had_there_been(vocabulary):
    assert read_text("When the ball changes course for the 3rd time, what is responsible?", vocabulary).ordinal == 3
    assert read_text("the 2nd time it stops", vocabulary).numbers == []  # an ordinal, not a count
    started = read_text("What set the red disc in motion?", vocabulary)
    assert [e.kind for e in started.events] == ["start"] and "cause" in started.cues
    assert started.objects[0].constraints == {"colour": "red", "shape": "circle"}
    assert read_text("the ball is in motion", vocabulary).events == []  # moving, not starting
    assert "counterfactual" in read_text("Had there been no ball, which of these would not have occurred?",
                                         vocabulary).cues


def test_the_earliest_object_outranks_one_a_moment_later():
    from videothought.graph.schema import Event

    doc = scene_document()
    doc["events"] = doc["events"] + [Event("enter", [1], 21, 21).to_dict()]  # a frame after the triangle
    first = check_claims("the green triangle", "Which object enters the scene first?", doc)["score"]
    close = check_claims("the red circle", "Which object enters the scene first?", doc)["score"]
    assert first == 1.0 and 0 < close < first  # a moment later: uncertain, not wrong, and not a tie


def test_counts_in_words_and_shapes_that_are_not_in_the_video():
    doc = scene_document()  # one collision; one red circle, one blue square, one green triangle
    question = "How many collisions are there?"
    for right in ("1", "one collision", "once", "a single one"):
        assert check_claims(right, question, doc)["score"] == 1.0, right
    for wrong in ("none", "no collisions", "two collisions", "twice"):
        assert check_claims(wrong, question, doc)["score"] < 0, wrong
    # a value of the asked attribute is checked on the object, not looked for in the video
    assert check_claims("a star", "What shape is the red object?", doc)["checked"] == "attribute"
    assert check_claims("a circle", "What shape is the red object?", doc)["score"] == 1.0


def test_adjective_shapes_tinted_colours_and_other_attribute_names(vocabulary):
    assert read_text("a circular thing", vocabulary).objects[0].constraints == {"shape": "circle"}
    assert read_text("the reddish disc", vocabulary).objects[0].constraints == {"colour": "red", "shape": "circle"}
    doc = scene_document()
    assert check_claims("circular", "What geometric form does the red object have?", doc)["score"] == 1.0
    assert check_claims("a star", "What geometric form does the red object have?", doc)["score"] < 0
    assert [e.kind for e in read_text("How many direction changes does the ball make?", vocabulary).events] == ["turn"]
    assert "partners" in read_text("How many distinct things hit the ball?", vocabulary).cues


def test_subjectless_clauses_absence_and_seconds_of_footage(vocabulary):
    from videothought.agent.rules.claims import ClaimChecker

    doc = scene_document()
    assert ClaimChecker("Right after colliding with the blue square, what does the red circle do?", doc).referent == [1]
    assert ClaimChecker("Prior to being pushed by the red circle, what does the blue square do?", doc).referent == [2]
    assert "cause" in read_text("What leads the ball to stop?", vocabulary).cues
    assert "counterfactual" in read_text("In the absence of the ball, which event would not happen?", vocabulary).cues
    given = read_text("Given 0.8 seconds of video, what happens to the ball next?", vocabulary)
    assert given.cut_seconds == 0.8 and "future" in given.cues
    assert read_text("What happens in the last 2 seconds of video?", vocabulary).cut_seconds is None


def test_an_object_named_as_the_cause():
    doc = scene_document()
    question = "Why does the red circle change direction?"
    from videothought.graph.schema import Event

    doc["events"] = doc["events"] + [Event("turn", [1], 12, 12).to_dict()]  # it turns where it hits the square
    assert check_claims("because of the blue square", question, doc)["score"] == 1.0
    assert check_claims("because of the green triangle", question, doc)["score"] < 0.5


def test_a_contact_causes_what_happens_where_it_begins_not_where_it_ends():
    from videothought.graph.schema import Event

    doc = scene_document()
    doc["events"] = [Event("push", [1, 2], 4, 20).to_dict(), Event("stop", [2], 20, 20).to_dict(),
                     Event("start", [2], 4, 4).to_dict()]
    stop = "Why does the blue square stop?"  # the push began 16 frames before and ends here
    assert check_claims("it does so on its own", stop, doc)["score"] > check_claims("because the red circle pushes it",
                                                                                    stop, doc)["score"]
    start = "Why does the blue square start moving?"  # where the push begins
    assert check_claims("because the red circle pushes it", start, doc)["score"] == 1.0
    assert check_claims("it does so on its own", start, doc)["score"] < 0


def test_a_frame_edge_does_not_set_a_resting_thing_moving():
    from videothought.graph.schema import Event

    doc = scene_document()
    for node in doc["graph"]["nodes"]:
        if node.get("track_id") == 2:
            node["box"] = [50, 0, 58, 8]  # the blue square rests against the top edge
    doc["events"] = doc["events"] + [Event("start", [2], 22, 22).to_dict()]  # no contact near frame 22
    question = "Why does the blue square start moving?"
    assert check_claims("it does so on its own", question, doc)["score"] == 1.0
    assert check_claims("because it hits the top edge", question, doc)["score"] < 0


def test_a_dated_change_the_detector_missed_is_found_in_the_motion():
    doc = scene_document()  # the red circle runs into the blue square at frame 12 ...
    for node in doc["graph"]["nodes"]:
        if node.get("track_id") == 1 and node["frame_index"] > 12:
            x = 48 - 4 * (node["frame_index"] - 12)  # ... and comes back: a turn no event records
            node["box"] = [x, 10, x + 8, 18]
    question = "If the blue square were removed, which event would not happen?"
    assert check_claims("the red circle changes direction at 1.2 seconds", question, doc)["score"] == 1.0
    assert check_claims("the red circle changes direction at 2.6 seconds", question, doc)["score"] < 0  # none then


def test_motion_onsets_following_and_preceding_and_worlds_with_no_object(vocabulary):
    for text in ("What triggered the motion of the ball?", "What got the red ball moving?"):
        reading = read_text(text, vocabulary)
        assert [e.kind for e in reading.events] == ["start"] and "cause" in reading.cues, text
    assert read_text("Does the ball keep moving?", vocabulary).events == []
    assert "after" in read_text("Which event directly follows the moment the ball hits the box?", vocabulary).cues
    assert "before" in read_text("Which event precedes the ball's collision with the box?", vocabulary).cues
    assert "counterfactual" in read_text("In a version of this video with no ball, which of these would not be "
                                         "observed?", vocabulary).cues
    assert "counterfactual" not in read_text("Which object moves with no contact?", vocabulary).cues


def test_an_event_named_before_its_doer():
    from videothought.graph.schema import Event

    doc = scene_document()
    doc["events"] = doc["events"] + [Event("turn", [1], 12, 12).to_dict()]  # the red circle turns where it hits the square
    question = "If the blue square were removed, which event would not happen?"
    assert check_claims("a change of direction by the red circle (1.2 s)", question, doc)["score"] == 1.0
    assert check_claims("the red circle changes direction at 1.2 seconds", question, doc)["score"] == 1.0


def test_a_thing_that_rebounded_off_an_edge_is_expected_to_rebound_again():
    from videothought.graph.schema import Event

    question = "Watching only the first 2 seconds, what will the red circle do next?"  # it heads for the right edge
    someone_left = scene_document()
    someone_left["events"] = someone_left["events"] + [Event("exit", [3], 18, 19).to_dict()]
    rebounded = scene_document()  # the red circle starts at the left edge, turned there, and someone else left
    rebounded["events"] = someone_left["events"] + [Event("turn", [1], 0, 0).to_dict()]

    def scores(doc):
        return [check_claims(text, question, doc)["score"] for text in ("it leaves the scene", "it bounces off the right edge")]

    leaves, rebound = scores(someone_left)
    assert leaves > rebound
    leaves, rebound = scores(rebounded)
    assert rebound > leaves


def test_a_rebound_off_an_edge_depends_less_on_a_removed_object_than_a_turn():
    from videothought.graph.schema import Event

    doc = scene_document()
    doc["events"] = doc["events"] + [Event("turn", [1], 0, 0).to_dict()]  # the red circle turns at the left edge
    doc["events"] = doc["events"] + [Event("collide", [1, 3], 0, 0).to_dict()]  # ... with the triangle said to be there
    question = "If the green triangle were removed, which event would not happen?"
    turn = check_claims("the red circle changes direction at 0.0 seconds", question, doc)["score"]
    rebound = check_claims("the red circle bounces off the left edge at 0.0 seconds", question, doc)["score"]
    assert turn == 1.0 and 0 < rebound < turn


def test_an_edge_touched_at_the_turn_outweighs_a_contact_a_few_frames_off():
    from videothought.graph.schema import Event

    doc = scene_document()  # the red circle's box touches the left edge at frame 0
    doc["events"] = doc["events"] + [Event("turn", [1], 0, 0).to_dict(), Event("collide", [1, 3], 2, 2).to_dict()]
    question = "Why does the red circle change direction for the first time?"
    assert check_claims("because it hits the left edge", question, doc)["score"] == 1.0
    assert check_claims("because it collides with the green triangle", question, doc)["score"] < 1.0
    doc["events"][-1] = Event("collide", [1, 3], 0, 0).to_dict()  # a contact at the turn's own frame still wins
    assert check_claims("because it collides with the green triangle", question, doc)["score"] == 1.0


def test_a_colour_worn_a_time_without_its_unit_and_a_predicate_before_the_verb(vocabulary):
    worn = read_text("the circle in red changes direction", vocabulary).objects
    assert [(m.text, m.constraints) for m in worn] == [("circle in red", {"shape": "circle", "colour": "red"})]
    assert len(read_text("the disc in the block", vocabulary).objects) == 2  # a place, not a colour
    assert read_text("the ball starts moving at time 1.8", vocabulary).times_seconds == [1.8]
    assert read_text("it happens 2 times", vocabulary).times_seconds == []
    # "that is blue" is the relative clause; "pushes" is the sentence's verb, not the clause's
    [square] = read_text("because the square that is blue pushes it", vocabulary).objects
    assert square.constraints == {"shape": "square", "colour": "blue"} and square.clause_event is None


def test_counts_of_events_between_things_made_by_a_subject_and_entries_from_the_edge(vocabulary):
    from videothought.graph.schema import Event

    doc = scene_document()  # one collision (red circle, blue square); the green triangle enters
    assert check_claims("1", "How many times do two objects hit each other?", doc)["score"] == 1.0
    assert check_claims("2", "How many times do two objects hit each other?", doc)["score"] < 0
    doc["events"] = doc["events"] + [Event("turn", [1], 12, 12).to_dict(), Event("turn", [2], 14, 14).to_dict(),
                                     Event("turn", [2], 24, 24).to_dict()]
    assert check_claims("1", "How many direction changes are made by the red circle?", doc)["score"] == 1.0
    assert check_claims("2", "How many direction changes are made by the blue square?", doc)["score"] == 1.0
    for question in ("How many objects appear from the edges?", "How many entries into the scene are there?"):
        assert [e.kind for e in read_text(question, vocabulary).events] == ["enter"], question
    assert [e.kind for e in read_text("it appears from behind the box", vocabulary).events] == ["appear"]


def test_more_ways_to_ask_about_causes_counterfactuals_firsts_and_what_comes_next(vocabulary):
    def cues(text):
        return read_text(text, vocabulary).cues

    assert "cause" in cues("What was it that made the ball stop?") and "cause" in cues("What explains the ball stopping?")
    assert "counterfactual" in cues("If someone took the ball out of the scene, which event would be prevented?")
    assert "counterfactual" in cues("Which event would disappear along with the ball?")
    assert "counterfactual" not in cues("The ball moves along with the box. What happens next?")
    assert "counterfactual" not in cues("He took the ball out of the box.")  # a removal that happened
    assert "first" in cues("Which object is quickest to change direction?")
    assert "cause" in cues("What is the explanation for the ball stopping?")
    assert "counterfactual" in cues("Had the ball been missing, which event would not occur?")
    assert "after" in cues("Subsequent to hitting the box, what does the ball do?")
    assert "before" in cues("Ahead of its collision with the box, what does the ball do?")
    assert {"after", "immediate"} <= cues("What does the ball do as soon as it hits the box?")
    predicted = read_text("What is the ball's next event after 2.5 seconds?", vocabulary)
    assert predicted.cut_seconds == 2.5 and "future" in predicted.cues


def test_a_having_clause_ahead_of_the_names_borrows_the_main_subject():
    from videothought.agent.rules.claims import ClaimChecker

    doc = scene_document()
    assert ClaimChecker("After having collided with the blue square, what does the red circle do?", doc).referent == [1]
    assert ClaimChecker("After having been pushed by the red circle, what does the blue square do?", doc).referent == [2]


def test_chat_contractions_blanks_object_relatives_and_removals_said_casually(vocabulary):
    from videothought.agent.rules.claims import ClaimChecker

    def cues(text):
        return read_text(text, vocabulary).cues

    assert "cause" in cues("why'd the ball stop") and "future" in cues("what'll the ball do")
    assert "cause" in cues("ok so what gets the ball moving")
    for removal in ("if we took out the ball, what wouldn't happen anymore", "imagine there's no ball - which event "
                    "doesn't happen then", "suppose we delete the ball from the video, what wouldn't happen",
                    "Suppose the video had no ball. Which event would then be missing?"):
        assert {"counterfactual", "negated"} <= cues(removal), removal
    assert "counterfactual" not in cues("The man had no hat. What does he pick up?")
    assert read_text("Stopping the video at 2.5 seconds, what does the ball do next?", vocabulary).cut_seconds == 2.5
    assert "partners" in cues("how many diff things bump into the ball")
    for said, kind in (("which one moves into the scene first", "enter"), ("which shape heads off screen first", "exit"),
                       ("which object changes direction first", "turn")):
        assert [e.kind for e in read_text(said, vocabulary).events] == [kind], said

    doc = scene_document()  # the red circle hits the blue square at frame 12
    # "the blue square, which it hits" is "it hits the blue square", said object first
    assert check_claims("the blue square, which it hits", "What does the red circle do?", doc)["score"] == \
        check_claims("it hits the blue square", "What does the red circle do?", doc)["score"] == 1.0
    assert check_claims("the green triangle, which it hits", "What does the red circle do?", doc)["score"] < 0
    # a statement with a blank: the name before it is the subject the fronted "it" points to
    assert ClaimChecker("Right before it collides with the blue square, the red circle ___.", doc).referent == [1]
    assert read_text("It turns because of ___.", vocabulary).words[-1] == "what"


def test_terse_notes_nominal_events_comparative_firsts_and_verb_forms(vocabulary):
    def read(text):
        return read_text(text, vocabulary)

    for removal in ("Removal of the ball: which event would not happen?", "w/o the ball, which event would not happen?",
                    "Had the ball never been in the scene, which event would not happen?",
                    "If the ball were eliminated, which event would not happen?"):
        assert "counterfactual" in read(removal).cues, removal
    assert "count" in read("No. of pink objects?").cues and read("# of collisions?").words[:2] == ["number", "of"]
    assert "first" in read("1st obj to change direction?").cues
    for first in ("Which object enters the scene before any of the others?",
                  "Which object changes direction ahead of every other object?"):
        assert "first" in read(first).cues, first
    assert "cause" in read("What sets the ball in motion?").cues
    assert [e.kind for e in read("Cause of the ball's motion onset?").events] == ["start"]
    [thing] = read("Shape of the green object entering the scene?").objects
    assert thing.clause_event == "enter"
    # the medium after an article is the video, the same word as a verb is a contact
    assert [e.kind for e in read("In the clip, what does the ball do?").events] == []
    for said, kind, side in (("it clips the box", "collide", None), ("it met the box", "collide", None),
                             ("right after smashing into the box", "collide", None), ("a top-edge bounce", "turn", "top"),
                             ("it caroms off the left wall", "turn", "left"), ("departure from the scene", "exit", None),
                             ("a heading change at 3.2 s", "turn", None), ("it travels behind the box", "occluded", None),
                             ("it makes its way in", "enter", None)):
        assert [(e.kind, e.side) for e in read(said).events] == [(kind, side)], said


def test_a_why_question_takes_its_event_for_granted_when_the_detector_missed_it():
    doc = scene_document()  # the red circle hits the blue square at frame 12
    for node in doc["graph"]["nodes"]:
        if node.get("track_id") == 1 and node["frame_index"] > 12:
            node["box"] = [48.0, 10.0, 56.0, 18.0]  # it halts against the square; no stop event was written
    assert check_claims("because it hits the blue square", "Why does the red circle stop?", doc)["score"] > 0
    assert check_claims("it does so on its own", "Why does the red circle stop?", doc)["score"] < 0


def test_full_sentence_answers_compound_nouns_and_a_cut_said_with_after(vocabulary):
    from videothought.graph.schema import Event

    doc = scene_document()  # the red circle hits the blue square at frame 12
    # "a blue square collision": the name modifying the noun is the other party
    assert check_claims("a blue square collision", "What does the red circle do?", doc)["score"] == 1.0
    assert check_claims("a green triangle collision", "What does the red circle do?", doc)["score"] < 0
    # a full sentence restating "which object ... first?" names its object
    doc["events"] = doc["events"] + [Event("turn", [1], 12, 12).to_dict(), Event("turn", [3], 24, 24).to_dict()]
    question = "Which object changes direction first?"
    assert check_claims("The red circle changes direction first.", question, doc)["score"] == 1.0
    assert check_claims("The green triangle is the first to change direction.", question, doc)["score"] < 0
    # the subject named in a "by itself" answer is read, not a crash
    assert check_claims("The red circle does so on its own.", "Why does the red circle stop?", doc)["checked"] == "cause"
    assert read_text("The video is stopped after 1.8 seconds. What does the ball do next?", vocabulary).cut_seconds == 1.8
    assert read_text("What does the ball do after 1.8 seconds?", vocabulary).cut_seconds is None


def test_english_as_learners_write_it(vocabulary):
    def read(text):
        return read_text(text, vocabulary)

    for said in ("How many times does the blue colour triangle change direction?",
                 "Why the triangle of blue colour change its direction?"):
        [thing] = read(said).objects
        assert thing.constraints == {"colour": "blue", "shape": "triangle"}, said
    for removal in ("If there is not the blue square, which event not happen?",
                    "In case the blue square is not exist, which event will not happen?"):
        assert "counterfactual" in read(removal).cues, removal
    assert "first" in read("Which object firstly change its direction?").cues
    assert "count" in read("How much objects enter in the scene?").cues
    assert "partners" in read("How many different object is colliding with the red circle?").cues


def test_questions_said_in_two_sentences(vocabulary):
    from videothought.agent.rules.claims import ClaimChecker

    said = read_text("The red circle and the blue square collide. What does the latter do next?", vocabulary)
    assert said.words[-5:] == ["the", "blue", "square", "do", "next"]
    assert read_text("The red circle and the blue square collide. What does the former do?", vocabulary).words[-4:] == \
        ["the", "red", "circle", "do"]
    # a thing brought in by what it does is picked out by it
    thing = read_text("A green object stops. What shape is it?", vocabulary).objects[0]
    assert thing.clause_event == "stop"
    doc = scene_document()  # the red circle hits the blue square at frame 12
    # the name the question word asks about is the subject, though another came first
    checker = ClaimChecker("The blue square is hit by the red circle. What does the red circle do right after this?", doc)
    assert checker.referent == [1]
    # "this shape" in an answer is the question's own object
    assert check_claims("This shape collides with the blue square.", "What does the red circle do?", doc)["score"] == 1.0
