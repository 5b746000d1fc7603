"""Hand-written STSG documents in the videothought.stsg schema, for the agent's tests."""

from __future__ import annotations

import networkx as nx

from videothought.graph.schema import SCHEMA_NAME, SCHEMA_VERSION, Event, Observation


def scene_document(fps: float = 10.0, num_frames: int = 30) -> dict:
    """A red circle moves right and collides with a blue square at frame 12; a green triangle
    enters at frame 20 and stops at frame 26. Observations every 2 frames."""
    graph = nx.MultiDiGraph()
    tracks = {
        1: ("red circle", {"colour": "red", "shape": "circle"}, range(0, num_frames, 2)),
        2: ("blue square", {"colour": "blue", "shape": "square"}, range(0, num_frames, 2)),
        3: ("green triangle", {"colour": "green", "shape": "triangle"}, range(20, num_frames, 2)),
    }
    for track_id, (label, attributes, frames) in tracks.items():
        previous = None
        for frame in frames:
            x = 4 * frame if track_id == 1 else (50 if track_id == 2 else 60 - frame)
            observation = Observation(track_id, frame, frame / fps, (x, 10, x + 8, 18), label=label, attributes=attributes)
            graph.add_node(observation.node_id, **observation.to_dict())
            if previous is not None:
                graph.add_edge(previous, observation.node_id, kind="temporal", gap_frames=2)
            previous = observation.node_id
    events = [
        Event("collide", [1, 2], 12, 13),
        Event("enter", [3], 20, 20),
        Event("stop", [3], 26, 26),
    ]
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "video": {"path": "scene.mp4", "fps": fps, "num_frames": num_frames, "width": 128, "height": 48},
        "graph": nx.node_link_data(graph, edges="links"),
        "tracks": {str(t): {"label": label, "attributes": attributes} for t, (label, attributes, _) in tracks.items()},
        "events": [event.to_dict() for event in events],
        # what this scene's (imagined) perception can name: more than it happens to see
        "vocabulary": {"label": ["object"], "colour": ["red", "blue", "green", "purple", "white"],
                       "shape": ["circle", "square", "triangle", "star"]},
    }


class DocumentBuilder:
    """A stsg_builder that returns a fixed document and counts its calls (perception stand-in)."""

    def __init__(self, document: dict | None = None):
        self.document = document or scene_document()
        self.calls = 0

    def __call__(self, frames, frame_indices, fps, **kwargs) -> dict:
        self.calls += 1
        assert frames.ndim == 4 and len(frames) == len(frame_indices)
        return dict(self.document)
