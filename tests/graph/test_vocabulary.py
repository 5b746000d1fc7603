"""The optional "vocabulary" of an STSG document: what its perception can name."""

import json

import pytest

from videothought.graph.schema import Observation, STSGFormatError
from videothought.graph.stsg import STSG

VOCABULARY = {"label": ["person", "face", "text", "object"], "text": None}


def small(vocabulary=None) -> STSG:
    observations = [Observation(1, f, f / 10, (10 + f, 10, 30 + f, 50), label="person") for f in range(3)]
    return STSG.from_observations(observations, video={"fps": 10.0}, vocabulary=vocabulary)


def test_vocabulary_round_trips_through_json():
    stsg = small(VOCABULARY)
    doc = json.loads(stsg.to_json())
    assert doc["vocabulary"] == VOCABULARY and doc["version"] == 1
    back = STSG.from_dict(doc)
    assert back.vocabulary == VOCABULARY and back == stsg
    assert back.subgraph([1]).vocabulary == VOCABULARY


def test_documents_without_a_vocabulary_still_load_and_write_none():
    stsg = small()
    doc = stsg.to_dict()
    assert "vocabulary" not in doc  # a version-1 document as before
    assert STSG.from_dict(doc).vocabulary is None


@pytest.mark.parametrize(("bad", "message"), [
    (["person"], "'vocabulary' must be an object"),
    ({"colour": ["red"]}, "needs a 'label' list"),
    ({"label": ["person", 3]}, r"vocabulary\['label'\] must be a list of strings"),
    ({"label": ["x"], "": ["y"]}, "keys must be non-empty strings"),
])
def test_a_bad_vocabulary_is_named(bad, message):
    doc = small().to_dict()
    doc["vocabulary"] = bad
    with pytest.raises(STSGFormatError, match=message):
        STSG.from_dict(doc)
