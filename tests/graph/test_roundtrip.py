"""The STSG document round trip is lossless: hypothesis draws graphs, JSON carries them."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from videothought.graph.schema import EVENT_TYPES, Event, Observation
from videothought.graph.stsg import STSG

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), finite, st.text(max_size=8))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=6)


@st.composite
def observations(draw):
    keys = draw(st.sets(st.tuples(st.integers(0, 6), st.integers(0, 30)), max_size=25))
    out = []
    for track_id, frame_index in sorted(keys):
        x1, y1 = draw(finite), draw(finite)
        w, h = draw(st.floats(0, 500)), draw(st.floats(0, 500))
        out.append(Observation(
            track_id=track_id, frame_index=frame_index, time_seconds=draw(finite), box=(x1, y1, x1 + w, y1 + h),
            label=draw(st.text(max_size=12)), score=draw(st.floats(0, 1)),
            attributes=draw(st.dictionaries(st.text(max_size=6), json_value, max_size=3)),
            visible=draw(st.booleans()), embedding_ref=draw(st.one_of(st.none(), st.text(max_size=6))),
        ))
    return out


@st.composite
def events(draw):
    out = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, 40))
        out.append(Event(draw(st.sampled_from(EVENT_TYPES)), draw(st.lists(st.integers(0, 6), max_size=3)),
                         start, start + draw(st.integers(0, 10)),
                         attributes=draw(st.dictionaries(st.text(max_size=5), json_value, max_size=2))))
    return out


@settings(max_examples=60, deadline=None)
@given(observations(), events(), st.fixed_dictionaries({"fps": st.floats(1, 60), "width": st.integers(2, 4000)}))
def test_json_round_trip_is_lossless(obs, evs, video):
    stsg = STSG.from_observations(obs, evs, video=video)
    doc = stsg.to_dict()
    text = json.dumps(doc, allow_nan=False)
    again = STSG.from_dict(json.loads(text))
    assert again.to_dict() == doc
    assert json.dumps(again.to_dict(), allow_nan=False) == text
    # The graph itself survives: same nodes with the same attributes, same keyed edges.
    assert dict(again.graph.nodes(data=True)) == dict(stsg.graph.nodes(data=True))
    assert sorted(again.graph.edges(keys=True)) == sorted(stsg.graph.edges(keys=True))
    assert [o.to_dict() for o in again.observations()] == [o.to_dict() for o in stsg.observations()]
