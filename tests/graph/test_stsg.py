import json

import networkx as nx
import pytest

from videothought.graph.schema import Event, Observation, STSGFormatError
from videothought.graph.stsg import STSG, direction_name

VIDEO = {"path": "clip.mp4", "fps": 10.0, "num_frames": 20, "width": 200, "height": 100}


def two_tracks(num_frames=20):
    """Track 1 moves right 3 px/frame (30 px/s); track 2 sits still to the right of it."""
    observations = []
    for t in range(num_frames):
        observations.append(Observation(1, t, t / 10, (10 + 3 * t, 40, 30 + 3 * t, 60), label="red circle",
                                        attributes={"colour": "red", "shape": "circle"}))
        observations.append(Observation(2, t, t / 10, (150, 40, 170, 60), label="blue square",
                                        attributes={"colour": "blue", "shape": "square"}))
    return observations


def test_nodes_and_temporal_edges():
    stsg = STSG.from_observations(two_tracks(), video=VIDEO)
    assert stsg.graph.number_of_nodes() == 40
    temporal = [(u, v, d) for u, v, d in stsg.graph.edges(data=True) if d["kind"] == "temporal"]
    assert len(temporal) == 38
    assert stsg.graph.has_edge("o:1:0", "o:1:1", key="next")
    assert all(d["gap_frames"] == 1 for _, _, d in temporal)
    assert stsg.track_ids == [1, 2]
    assert stsg.track_info[1] == {"label": "red circle", "attributes": {"colour": "red", "shape": "circle"}}


def test_temporal_gap_frames_counts_skipped_frames():
    observations = [Observation(1, f, f / 10, (0, 0, 5, 5)) for f in (0, 4, 5)]
    stsg = STSG.from_observations(observations)
    assert stsg.graph.edges["o:1:0", "o:1:4", "next"]["gap_frames"] == 4
    assert stsg.graph.edges["o:1:4", "o:1:5", "next"]["gap_frames"] == 1


def test_spatial_relations_in_one_frame():
    observations = [
        Observation(1, 0, 0.0, (0, 0, 10, 10)),  # left of 2, far
        Observation(2, 0, 0.0, (100, 0, 110, 10)),
        Observation(3, 0, 0.0, (0, 50, 60, 90)),  # contains 4
        Observation(4, 0, 0.0, (10, 60, 20, 70)),
        Observation(5, 0, 0.0, (200, 0, 210, 10)),  # touching 6 (gap 1 px)
        Observation(6, 0, 0.0, (211, 0, 221, 10)),
        Observation(7, 0, 0.0, (300, 0, 320, 20)),  # overlapping 8
        Observation(8, 0, 0.0, (310, 5, 330, 25)),
        Observation(9, 0, 0.0, (400, 0, 410, 10)),  # near 10: gap 6 px < mean size 10
        Observation(10, 0, 0.0, (416, 0, 426, 10)),
    ]
    facts = {(f["subject"], f["relation"], f["object"]) for f in STSG.from_observations(observations).relations_at(0)}
    assert (1, "left_of", 2) in facts
    assert (3, "contains", 4) in facts
    assert (5, "touching", 6) in facts
    assert (7, "overlapping", 8) in facts
    assert (9, "near", 10) in facts
    assert not any(f[1] in ("near", "touching", "overlapping") for f in facts if {f[0], f[2]} == {1, 2})
    # right_of / below are derived on request
    inverse = {(f["subject"], f["relation"], f["object"])
               for f in STSG.from_observations(observations).relations_at(0, inverse=True)}
    assert (2, "right_of", 1) in inverse
    assert (6, "touching", 5) in inverse


def test_vertical_relation_and_hidden_observations_have_no_relations():
    observations = [
        Observation(1, 0, 0.0, (0, 0, 10, 10)),
        Observation(2, 0, 0.0, (0, 50, 10, 60)),
        Observation(3, 0, 0.0, (0, 100, 10, 110), visible=False),
    ]
    facts = STSG.from_observations(observations).relations_at(0)
    assert facts == [{"subject": 1, "relation": "above", "object": 2}]


def test_queries():
    events = [Event("collide", [1, 2], 12, 12), Event("stop", [1], 15, 17)]
    stsg = STSG.from_observations(two_tracks(), events, video=VIDEO)
    assert stsg.tracks("circle") == [1]
    assert stsg.tracks("red circle") == [1]
    assert stsg.tracks("circle red") == []
    assert stsg.tracks(colour="blue") == [2]
    assert stsg.tracks() == [1, 2]
    trajectory = stsg.trajectory(1)
    assert len(trajectory) == 20
    assert trajectory[2]["centre"] == [26.0, 50.0]
    assert [e.type for e in stsg.events_in(10, 13)] == ["collide"]
    assert [e.type for e in stsg.events_in(16, 30)] == ["stop"]
    assert stsg.events_in(type="stop")[0].start_frame == 15
    with pytest.raises(ValueError, match="unknown event type"):
        stsg.events_in(type="explode")
    with pytest.raises(KeyError, match="no track 9"):
        stsg.trajectory(9)


def test_relations_in_merges_spans():
    stsg = STSG.from_observations(two_tracks(), video=VIDEO)
    spans = stsg.relations_in(0, 19)
    left = [s for s in spans if s["relation"] == "left_of"]
    assert left == [{"subject": 1, "relation": "left_of", "object": 2, "start_frame": 0, "end_frame": 19,
                     "num_frames": 20}]
    # Track 1's right edge reaches x=87 at frame 19: gap 63 px > one size (20 px): never near.
    assert not [s for s in spans if s["relation"] == "near"]


def test_track_summary_speed_direction_and_spans():
    observations = two_tracks()
    observations = [o if not (o.track_id == 1 and 5 <= o.frame_index <= 7)
                    else Observation(1, o.frame_index, o.time_seconds, o.box, visible=False) for o in observations]
    stsg = STSG.from_observations(observations, video=VIDEO)
    summary = stsg.track_summary(1)
    assert summary["mean_speed_px_s"] == pytest.approx(30.0)
    assert summary["direction"] == "right"
    assert summary["visible_spans"] == [[0, 4], [8, 19]]
    assert summary["hidden_spans"] == [[5, 7]]
    assert stsg.track_summary(2)["direction"] == "stationary"
    assert stsg.track_summary(2)["mean_speed_px_s"] == 0.0


def test_direction_names():
    assert direction_name((10, 0)) == "right"
    assert direction_name((0, -10)) == "up"
    assert direction_name((-10, 10)) == "down-left"
    assert direction_name((0.5, 0.5)) == "stationary"


def test_interactions_and_subgraph():
    events = [Event("collide", [1, 2], 12, 12), Event("stop", [2], 3, 3)]
    stsg = STSG.from_observations(two_tracks(), events, video=VIDEO)
    info = stsg.interactions(1, 2)
    assert info["shared_frames"] == 20
    assert info["closest"] == {"frame_index": 19, "gap_px": 63.0}
    assert [e["type"] for e in info["events"]] == ["collide"]
    sub = stsg.subgraph([1], 5, 9)
    assert sub.track_ids == [1]
    assert sub.frame_indices == [5, 6, 7, 8, 9]
    assert [e.type for e in sub.events] == []  # the collision is at frame 12, outside the window
    sub = stsg.subgraph([1, 2], 10, 14)
    assert [e.type for e in sub.events] == ["collide"]
    assert all(d["kind"] == "temporal" or d["kind"] == "spatial" for _, _, d in sub.graph.edges(data=True))


def test_duplicate_observation_is_an_error():
    with pytest.raises(STSGFormatError, match="two observations of track 1 in frame 0"):
        STSG.from_observations([Observation(1, 0, 0, (0, 0, 1, 1)), Observation(1, 0, 0, (0, 0, 2, 2))])


def test_round_trip_save_load(tmp_path):
    stsg = STSG.from_observations(two_tracks(), [Event("collide", [1, 2], 12, 12)], video=VIDEO)
    stsg.detect_events(replace=False)
    path = stsg.save(tmp_path / "g.json")
    loaded = STSG.load(path)
    assert loaded.to_dict() == stsg.to_dict()
    assert loaded == stsg
    assert json.loads(path.read_text())["schema"] == "videothought.stsg"


def test_graphml_export(tmp_path):
    stsg = STSG.from_observations(two_tracks(), video=VIDEO)
    path = stsg.to_graphml(tmp_path / "g.graphml")
    graph = nx.read_graphml(path)
    assert graph.number_of_nodes() == stsg.graph.number_of_nodes()
    assert graph.number_of_edges() == stsg.graph.number_of_edges()
    node = graph.nodes["o:1:2"]
    assert (node["x1"], node["y1"], node["x2"], node["y2"]) == (16.0, 40.0, 36.0, 60.0)
    assert json.loads(node["attributes"]) == {"colour": "red", "shape": "circle"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema="other"), "'schema' must be"),
        (lambda d: d.update(version=99), "unsupported 'version' 99"),
        (lambda d: d.pop("graph"), "'graph' must be a node-link object"),
        (lambda d: d["graph"]["nodes"][0].pop("box"), "missing 'box'"),
        (lambda d: d["graph"]["nodes"][0].update(box=[5, 5, 1, 1]), "x2 >= x1"),
        (lambda d: d["graph"]["nodes"][0].update(frame_index=-1), "frame_index must be >= 0"),
        (lambda d: d["graph"]["nodes"][0].update(id="o:9:9"), "does not match"),
        (lambda d: d["graph"]["links"][0].update(target="o:7:7"), "is not a node of the graph"),
        (lambda d: d["graph"]["links"][0].update(kind="magic"), "kind must be 'temporal' or 'spatial'"),
        (lambda d: d["graph"]["links"].append({"source": "o:1:0", "target": "o:2:0", "kind": "spatial",
                                                "relation": "hugging"}), "'hugging' is not one of"),
        (lambda d: d["events"].append({"type": "explode", "track_ids": [1], "start_frame": 0, "end_frame": 0}),
         "events\\[0\\]: event type must be one of"),
        (lambda d: d["events"].append({"type": "stop", "track_ids": [1], "start_frame": 5, "end_frame": 2}),
         "ends \\(frame 2\\) before it starts"),
        (lambda d: d["events"].append({"type": "stop"}), "missing field"),
        (lambda d: d.update(tracks={"x": {}}), "not an integer track id"),
    ],
)
def test_malformed_documents_raise_clear_errors(mutate, message):
    doc = STSG.from_observations(two_tracks(3), video=VIDEO).to_dict()
    doc = json.loads(json.dumps(doc))
    mutate(doc)
    with pytest.raises(STSGFormatError, match=message):
        STSG.from_dict(doc)


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(STSGFormatError, match="bad.json: not a JSON document"):
        STSG.load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(STSGFormatError, match="bad.json: an STSG document is a JSON object"):
        STSG.load(bad)
    with pytest.raises(FileNotFoundError, match="no such STSG file"):
        STSG.load(tmp_path / "missing.json")


def test_verbalize_budget_and_targets():
    events = [Event("collide", [1, 2], 12, 12), Event("stop", [2], 3, 3)]
    stsg = STSG.from_observations(two_tracks(), events, video=VIDEO)
    text = stsg.verbalize(max_tokens=400, targets=[2])
    lines = text.splitlines()
    assert lines[0].startswith("video: 20 frames at 10 fps, 200x100")
    assert lines[1].startswith('track 2 "blue square"')  # the target comes first
    assert "event collide: tracks 1 and 2, frame 12 (1.2 s)" in lines
    short = stsg.verbalize(max_tokens=30, targets=[2])
    assert len(short) < len(text)
    assert (len(short) + 3) // 4 <= 30
    words = stsg.verbalize(max_tokens=25, count_tokens=lambda s: len(s.split()))
    assert sum(len(line.split()) for line in words.splitlines()) <= 25
    with pytest.raises(ValueError, match="max_tokens"):
        stsg.verbalize(max_tokens=0)


def test_partial_expression():
    events = [Event("collide", [1, 2], 12, 12), Event("stop", [2], 3, 3)]
    stsg = STSG.from_observations(two_tracks(), events, video=VIDEO)
    text = stsg.partial_expression([1], 10, 15)
    assert text.splitlines()[0].startswith('track 1 "red circle" (colour=red, shape=circle): frames 10-15')
    assert "event collide: tracks 1 and 2" in text
    assert "stop" not in text  # track 2's own event is not about the target
    both = stsg.partial_expression([1, 2], 0, 19)
    assert "relation: track 1 left_of track 2, frames 0-19" in both
    assert "not seen in this window" in STSG.from_observations(
        two_tracks() + [Observation(3, 30, 3.0, (0, 0, 5, 5))], video=VIDEO).partial_expression([3], 0, 5)
    with pytest.raises(KeyError, match="no track"):
        stsg.partial_expression([7])


def test_fast_edge_insertion_builds_the_same_graph_as_networkx():
    from videothought.graph.stsg import _add_keyed_edges

    observations = two_tracks(6) + [Observation(3, f, f / 10, (60, 30, 90, 70)) for f in range(6)]
    stsg = STSG.from_observations(observations, video=VIDEO)
    reference = nx.MultiDiGraph()
    reference.add_nodes_from(stsg.graph.nodes(data=True))
    reference.add_edges_from((u, v, k, dict(d)) for u, v, k, d in stsg.graph.edges(keys=True, data=True))
    assert nx.utils.edges_equal(stsg.graph.edges(keys=True, data=True), reference.edges(keys=True, data=True))
    assert sorted(stsg.graph.in_edges("o:3:2", keys=True)) == sorted(reference.in_edges("o:3:2", keys=True))
    assert nx.node_link_data(stsg.graph, edges="links") == nx.node_link_data(reference, edges="links")
    rebuilt = nx.MultiDiGraph()
    rebuilt.add_nodes_from(["a", "b"])
    _add_keyed_edges(rebuilt, [("a", "b", "near", {"kind": "spatial"}), ("a", "b", "left_of", {"kind": "spatial"})])
    assert rebuilt.number_of_edges("a", "b") == 2 and rebuilt.has_edge("a", "b", key="left_of")
    assert list(rebuilt.predecessors("b")) == ["a"]
