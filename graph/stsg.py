"""`STSG`: the spatial-temporal scene graph over networkx, with queries, events and text.

    observations ──► STSG.from_observations ──► STSG ──► to_dict() (the graph/schema.py document)
                                                  │  ──► queries: tracks(), trajectory(), relations_at() ...
                                                  │  ──► detect_events()
                                                  └─ ──► verbalize(), partial_expression() (text for the LLM)

The graph is a networkx MultiDiGraph. Nodes are observations ("o:{track}:{frame}"); edges
are keyed by what they say: key "next" for a temporal edge from a track's observation to
its next one (attribute gap_frames), and key = the relation name for a spatial edge
(left_of, above, contains, overlapping, touching, near; see graph/relations.py for why
right_of and below are derived, not stored). Track-level facts (label, attributes) and
events sit beside the graph, as in the document.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from videothought.graph import relations as rel
from videothought.graph.events import EventConfig, TrackSeries
from videothought.graph.events import detect_events as _detect_events
from videothought.graph.schema import (
    EVENT_TYPES,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    SPATIAL_RELATIONS,
    Event,
    Observation,
    STSGFormatError,
    check_vocabulary,
    observation_id,
)

TEMPORAL_KEY = "next"
_VIDEO_FIELDS = ("path", "fps", "num_frames", "width", "height")


class STSG:
    """A spatial-temporal scene graph. Build with `from_observations` or `from_dict`."""

    def __init__(
        self,
        graph: nx.MultiDiGraph,
        *,
        tracks: dict[int, dict] | None = None,
        events: Iterable[Event] = (),
        video: dict | None = None,
        vocabulary: dict | None = None,
    ):
        self.graph = graph
        self.video = dict(video or {})
        # What the perception that built this graph can name (graph/schema.py); None: unknown.
        self.vocabulary = check_vocabulary(vocabulary) if vocabulary is not None else None
        self.events: list[Event] = list(events)
        self._index()
        self.track_info: dict[int, dict] = {}
        derived = _derive_track_info(self)
        for track_id in self._by_track:
            info = dict((tracks or {}).get(track_id) or derived[track_id])
            info.setdefault("label", derived[track_id]["label"])
            info.setdefault("attributes", derived[track_id]["attributes"])
            self.track_info[track_id] = info
        for track_id, info in (tracks or {}).items():
            self.track_info.setdefault(int(track_id), dict(info))

    def _index(self) -> None:
        by_track: dict[int, list[tuple[int, str]]] = defaultdict(list)
        by_frame: dict[int, list[str]] = defaultdict(list)
        for node, data in self.graph.nodes(data=True):
            by_track[data["track_id"]].append((data["frame_index"], node))
            by_frame[data["frame_index"]].append(node)
        self._by_track = {t: [n for _, n in sorted(v)] for t, v in sorted(by_track.items())}
        self._by_frame = dict(sorted(by_frame.items()))

    # ---- building ----------------------------------------------------------------------
    @classmethod
    def from_observations(
        cls,
        observations: Iterable[Observation],
        events: Iterable[Event] = (),
        video: dict | None = None,
        *,
        tracks: dict[int, dict] | None = None,
        relation_config: rel.RelationConfig = rel.RelationConfig(),
        vocabulary: dict | None = None,
    ) -> STSG:
        """Nodes from observations, temporal edges along each track, spatial edges per frame.

        Hidden observations (visible=False) get temporal edges but no spatial relations:
        where an occluded object is, is a guess. Duplicate (track, frame) pairs are an error.
        """
        observations = list(observations)
        graph = nx.MultiDiGraph()
        node_ids = []
        for obs in observations:
            if not isinstance(obs, Observation):
                raise TypeError(f"from_observations takes Observation objects, got {type(obs).__name__}")
            node_ids.append(observation_id(obs.track_id, obs.frame_index))
        if len(set(node_ids)) != len(node_ids):
            seen = set()
            for obs, node in zip(observations, node_ids):
                if node in seen:
                    raise STSGFormatError(f"two observations of track {obs.track_id} in frame {obs.frame_index}")
                seen.add(node)
        graph.add_nodes_from(zip(node_ids, (obs.to_dict() for obs in observations)))

        by_track: dict[int, list[int]] = defaultdict(list)  # track id -> positions in `observations`
        by_frame: dict[int, list[int]] = defaultdict(list)  # frame -> positions of visible observations
        for position, obs in enumerate(observations):
            by_track[obs.track_id].append(position)
            if obs.visible:
                by_frame[obs.frame_index].append(position)
        edges = []
        for positions in by_track.values():
            positions.sort(key=lambda p: observations[p].frame_index)
            for a, b in zip(positions, positions[1:]):
                gap = observations[b].frame_index - observations[a].frame_index
                edges.append((node_ids[a], node_ids[b], TEMPORAL_KEY, {"kind": "temporal", "gap_frames": gap}))
        _add_keyed_edges(graph, edges)
        _add_spatial_edges(graph, observations, node_ids, by_frame, relation_config)
        return cls(graph, tracks=tracks, events=events, video=video, vocabulary=vocabulary)

    # ---- the document ------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The graph/schema.py document: JSON-safe, lossless through `from_dict`."""
        doc = {
            "schema": SCHEMA_NAME,
            "version": SCHEMA_VERSION,
            "video": dict(self.video),
            "graph": nx.node_link_data(self.graph, edges="links"),
            "tracks": {str(t): _json_copy(info) for t, info in self.track_info.items()},
            "events": [e.to_dict() for e in self.events],
        }
        if self.vocabulary is not None:
            doc["vocabulary"] = _json_copy(self.vocabulary)
        return doc

    @classmethod
    def from_dict(cls, doc: Any) -> STSG:
        """Validate and load a document; a malformed one raises STSGFormatError naming the problem."""
        if not isinstance(doc, dict):
            raise STSGFormatError(f"an STSG document is a JSON object, got {type(doc).__name__}")
        if doc.get("schema") != SCHEMA_NAME:
            raise STSGFormatError(f"'schema' must be {SCHEMA_NAME!r}, got {doc.get('schema')!r}")
        if doc.get("version") != SCHEMA_VERSION:
            raise STSGFormatError(f"unsupported 'version' {doc.get('version')!r} (this code reads {SCHEMA_VERSION})")
        video = doc.get("video", {})
        if not isinstance(video, dict):
            raise STSGFormatError(f"'video' must be an object, got {type(video).__name__}")
        graph = _graph_from_node_link(doc.get("graph"))
        tracks_doc = doc.get("tracks", {})
        if not isinstance(tracks_doc, dict):
            raise STSGFormatError(f"'tracks' must be an object keyed by track id, got {type(tracks_doc).__name__}")
        tracks = {}
        for key, info in tracks_doc.items():
            try:
                track_id = int(key)
            except (TypeError, ValueError):
                raise STSGFormatError(f"'tracks' key {key!r} is not an integer track id") from None
            if not isinstance(info, dict):
                raise STSGFormatError(f"tracks[{key!r}] must be an object, got {type(info).__name__}")
            tracks[track_id] = info
        events_doc = doc.get("events", [])
        if not isinstance(events_doc, list):
            raise STSGFormatError(f"'events' must be a list, got {type(events_doc).__name__}")
        events = []
        for i, record in enumerate(events_doc):
            if not isinstance(record, dict):
                raise STSGFormatError(f"events[{i}] must be an object, got {type(record).__name__}")
            try:
                events.append(Event.from_dict(record))
            except STSGFormatError as error:
                raise STSGFormatError(f"events[{i}]: {error}") from None
            except (TypeError, ValueError) as error:
                raise STSGFormatError(f"events[{i}]: bad value ({error})") from None
        vocabulary = doc.get("vocabulary")
        return cls(graph, tracks=tracks, events=events, video=video,
                   vocabulary=check_vocabulary(vocabulary) if vocabulary is not None else None)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> STSG:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such STSG file")
        try:
            doc = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise STSGFormatError(f"{path}: not a JSON document ({error})") from None
        try:
            return cls.from_dict(doc)
        except STSGFormatError as error:
            raise STSGFormatError(f"{path}: {error}") from None

    def to_graphml(self, path: str | os.PathLike) -> Path:
        """GraphML for Gephi/yEd/Cytoscape. GraphML holds scalars only: boxes become x1..y2
        columns, attribute dicts become a JSON string; use to_dict() for the lossless form."""
        flat = nx.MultiDiGraph()
        for node, data in self.graph.nodes(data=True):
            x1, y1, x2, y2 = data["box"]
            flat.add_node(
                node,
                kind="observation",
                track_id=int(data["track_id"]),
                frame_index=int(data["frame_index"]),
                time_seconds=float(data["time_seconds"]),
                x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2),
                label=str(data["label"]),
                score=float(data["score"]),
                visible=bool(data["visible"]),
                attributes=json.dumps(data.get("attributes", {}), sort_keys=True),
                embedding_ref=data.get("embedding_ref") or "",
            )
        for u, v, key, data in self.graph.edges(keys=True, data=True):
            if data["kind"] == "temporal":
                flat.add_edge(u, v, key=key, kind="temporal", relation="", gap_frames=int(data["gap_frames"]))
            else:
                flat.add_edge(u, v, key=key, kind="spatial", relation=data["relation"], gap_frames=0)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        nx.write_graphml(flat, path)
        return path

    # ---- basic views -------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"STSG({len(self._by_track)} tracks, {self.graph.number_of_nodes()} observations, "
                f"{self.graph.number_of_edges()} edges, {len(self.events)} events)")

    def __eq__(self, other) -> bool:
        return isinstance(other, STSG) and self.to_dict() == other.to_dict()

    @property
    def track_ids(self) -> list[int]:
        return list(self._by_track)

    @property
    def frame_indices(self) -> list[int]:
        return list(self._by_frame)

    @property
    def fps(self) -> float | None:
        fps = self.video.get("fps")
        return float(fps) if fps else None

    def observation(self, track_id: int, frame_index: int) -> Observation | None:
        node = observation_id(track_id, frame_index)
        if node not in self.graph:
            return None
        return Observation.from_dict(self.graph.nodes[node])

    def observations(self, track_id: int | None = None) -> list[Observation]:
        if track_id is None:
            nodes = [n for frame_nodes in self._by_frame.values() for n in frame_nodes]
        else:
            nodes = self._by_track.get(int(track_id), [])
        return [Observation.from_dict(self.graph.nodes[n]) for n in nodes]

    def observations_at(self, frame_index: int) -> list[Observation]:
        """Every observation (visible or hidden) in one frame, by track id."""
        nodes = self._by_frame.get(int(frame_index), [])
        return sorted((Observation.from_dict(self.graph.nodes[n]) for n in nodes), key=lambda o: o.track_id)

    def _require_track(self, track_id: int) -> list[str]:
        try:
            return self._by_track[int(track_id)]
        except KeyError:
            raise KeyError(f"no track {track_id!r} in this STSG (tracks: {self.track_ids})") from None

    # ---- queries -----------------------------------------------------------------------
    def tracks(self, label: str | None = None, **attributes) -> list[int]:
        """Track ids whose label contains `label` (case-insensitive, whole words) and whose
        attributes equal the given ones, e.g. tracks("circle", colour="red")."""
        wanted = label.lower().split() if label else []
        found = []
        for track_id, info in self.track_info.items():
            if track_id not in self._by_track:
                continue
            words = str(info.get("label", "")).lower().split()
            if wanted and not _contains_run(words, wanted):
                continue
            track_attributes = info.get("attributes", {})
            if any(track_attributes.get(k) != v for k, v in attributes.items()):
                continue
            found.append(track_id)
        return found

    def trajectory(self, track_id: int) -> list[dict]:
        """[{frame_index, time_seconds, box, centre, visible}] in frame order."""
        out = []
        for node in self._require_track(track_id):
            data = self.graph.nodes[node]
            x1, y1, x2, y2 = data["box"]
            out.append({
                "frame_index": data["frame_index"],
                "time_seconds": data["time_seconds"],
                "box": list(data["box"]),
                "centre": [(x1 + x2) / 2, (y1 + y2) / 2],
                "visible": data["visible"],
            })
        return out

    def relations_at(self, frame_index: int, *, inverse: bool = False) -> list[dict]:
        """Spatial facts in one frame: [{subject, relation, object}] as track ids.
        inverse=True adds the derived right_of / below (and the other side of symmetric ones)."""
        facts = []
        for node in self._by_frame.get(int(frame_index), []):
            subject = self.graph.nodes[node]["track_id"]
            for _, target, key, data in self.graph.out_edges(node, keys=True, data=True):
                if data["kind"] != "spatial":
                    continue
                obj = self.graph.nodes[target]["track_id"]
                facts.append({"subject": subject, "relation": data["relation"], "object": obj})
                if inverse and data["relation"] in rel.INVERSE_RELATIONS and data["relation"] != "contains":
                    facts.append({"subject": obj, "relation": rel.INVERSE_RELATIONS[data["relation"]], "object": subject})
        facts.sort(key=lambda f: (f["subject"], f["object"], f["relation"]))
        return facts

    def relations_in(self, start_frame: int, end_frame: int, *, inverse: bool = False) -> list[dict]:
        """Spatial facts in [start_frame, end_frame] (inclusive) merged into spans:
        [{subject, relation, object, start_frame, end_frame, num_frames}]. A fact's span continues
        across frames the graph has no observations for, and breaks where it stops holding."""
        frames = [f for f in self._by_frame if start_frame <= f <= end_frame]
        open_spans: dict[tuple, dict] = {}
        closed = []
        for frame in frames:
            present = set()
            for fact in self.relations_at(frame, inverse=inverse):
                key = (fact["subject"], fact["relation"], fact["object"])
                present.add(key)
                if key in open_spans:
                    open_spans[key]["end_frame"] = frame
                    open_spans[key]["num_frames"] += 1
                else:
                    open_spans[key] = {**fact, "start_frame": frame, "end_frame": frame, "num_frames": 1}
            for key in [k for k in open_spans if k not in present]:
                closed.append(open_spans.pop(key))
        closed += open_spans.values()
        closed.sort(key=lambda s: (s["start_frame"], s["subject"], s["object"], s["relation"]))
        return closed

    def events_in(self, start_frame: int | None = None, end_frame: int | None = None, type: str | None = None) -> list[Event]:
        """Events overlapping [start_frame, end_frame] (inclusive), optionally of one type."""
        if type is not None and type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}; known: {EVENT_TYPES}")
        lo = -math.inf if start_frame is None else start_frame
        hi = math.inf if end_frame is None else end_frame
        return [e for e in self.events
                if e.end_frame >= lo and e.start_frame <= hi and (type is None or e.type == type)]

    def interactions(self, a: int, b: int) -> dict:
        """How tracks a and b relate over time: relation spans between them (both directions),
        events involving both, their closest approach (frame, gap in px) and shared frames."""
        self._require_track(a)
        self._require_track(b)
        frames_a = {self.graph.nodes[n]["frame_index"]: n for n in self._by_track[int(a)]}
        frames_b = {self.graph.nodes[n]["frame_index"]: n for n in self._by_track[int(b)]}
        shared = sorted(set(frames_a) & set(frames_b))
        spans = []
        if shared:
            spans = [s for s in self.relations_in(shared[0], shared[-1], inverse=True)
                     if s["subject"] == int(a) and s["object"] == int(b)]
        closest = None
        if shared:
            boxes_a = np.array([self.graph.nodes[frames_a[f]]["box"] for f in shared])  # (K, 4)
            boxes_b = np.array([self.graph.nodes[frames_b[f]]["box"] for f in shared])  # (K, 4)
            gaps, _ = rel.box_gaps(boxes_a, boxes_b)
            distance = np.hypot(gaps[:, 0], gaps[:, 1])  # (K,)
            k = int(np.argmin(distance))
            closest = {"frame_index": shared[k], "gap_px": float(distance[k])}
        events = [e.to_dict() for e in self.events if int(a) in e.track_ids and int(b) in e.track_ids]
        return {"tracks": [int(a), int(b)], "shared_frames": len(shared), "relations": spans,
                "events": events, "closest": closest}

    def subgraph(self, track_ids: Iterable[int], start_frame: int | None = None, end_frame: int | None = None) -> STSG:
        """The STSG restricted to `track_ids` in [start_frame, end_frame]: their observations,
        the edges among them, and the events that involve any of them and overlap the window
        (an event may name a partner track that is not in the subgraph: "3 collides with 5")."""
        wanted = {int(t) for t in track_ids}
        lo = -math.inf if start_frame is None else start_frame
        hi = math.inf if end_frame is None else end_frame
        nodes = [n for t in wanted for n in self._by_track.get(t, [])
                 if lo <= self.graph.nodes[n]["frame_index"] <= hi]
        graph = self.graph.subgraph(nodes).copy()
        events = [e for e in self.events
                  if set(e.track_ids) & wanted and e.end_frame >= lo and e.start_frame <= hi]
        tracks = {t: _json_copy(self.track_info[t]) for t in wanted if t in self.track_info}
        return STSG(graph, tracks=tracks, events=events, video=self.video, vocabulary=self.vocabulary)

    def track_summary(self, track_id: int) -> dict:
        """A track in one dict: label, attributes, first/last frame, trajectory (centres),
        mean and max speed (px/s), direction of travel, distance, visibility spans."""
        series = self._series(int(track_id))
        centres = series.centres  # (N, 2)
        times = series.times_seconds
        summary = {
            "track_id": int(track_id),
            "label": self.track_info.get(int(track_id), {}).get("label", "object"),
            "attributes": _json_copy(self.track_info.get(int(track_id), {}).get("attributes", {})),
            "first_frame": int(series.frame_indices[0]),
            "last_frame": int(series.frame_indices[-1]),
            "num_observations": len(series.frame_indices),
            "trajectory": [[int(f), round(float(x), 2), round(float(y), 2)]
                           for f, (x, y) in zip(series.frame_indices, centres)],
        }
        if len(times) > 1 and times[-1] > times[0]:
            steps = np.hypot(*np.diff(centres, axis=0).T)  # (N-1,) px
            durations = np.diff(times)  # (N-1,) s
            step_speed = steps / np.maximum(durations, 1e-9)
            summary["distance_px"] = float(steps.sum())
            summary["mean_speed_px_s"] = float(steps.sum() / (times[-1] - times[0]))
            summary["max_speed_px_s"] = float(step_speed.max())
        else:
            summary["distance_px"] = summary["mean_speed_px_s"] = summary["max_speed_px_s"] = 0.0
        displacement = centres[-1] - centres[0]
        summary["displacement_px"] = [float(displacement[0]), float(displacement[1])]
        size = float(np.median(series.sizes)) if len(series.sizes) else 0.0
        summary["direction"] = direction_name(displacement, still_below=max(2.0, 0.25 * size))
        summary["visible_spans"] = _spans(series.frame_indices, series.visible)
        summary["hidden_spans"] = _spans(series.frame_indices, ~series.visible)
        return summary

    def _series(self, track_id: int) -> TrackSeries:
        nodes = self._require_track(track_id)
        data = [self.graph.nodes[n] for n in nodes]
        frames = np.array([d["frame_index"] for d in data], dtype=np.int64)
        times = np.array([d["time_seconds"] for d in data], dtype=np.float64)
        return TrackSeries(
            track_id=int(track_id),
            frame_indices=frames,
            times_seconds=times,
            boxes=np.array([d["box"] for d in data], dtype=np.float64).reshape(-1, 4),
            visible=np.array([d["visible"] for d in data], dtype=bool),
        )

    def detect_events(self, config: EventConfig = EventConfig(), *, replace: bool = True) -> list[Event]:
        """Events from the tracks (see graph/events.py); stored on the graph when `replace`."""
        frame_size = None
        if self.video.get("width") and self.video.get("height"):
            frame_size = (int(self.video["width"]), int(self.video["height"]))
        video_frames = None
        if self._by_frame:
            first = 0 if self.video.get("num_frames") else min(self._by_frame)
            last = int(self.video["num_frames"]) - 1 if self.video.get("num_frames") else max(self._by_frame)
            # The footage looked at may be a window of the video: take the frames we have.
            video_frames = (max(first, min(self._by_frame)), min(last, max(self._by_frame)))
        events = _detect_events([self._series(t) for t in self.track_ids], frame_size=frame_size,
                                video_frames=video_frames, config=config)
        if replace:
            self.events = events
        return events

    # ---- text --------------------------------------------------------------------------
    def verbalize(self, max_tokens: int = 512, targets: Iterable[int] | None = None, *, count_tokens=None) -> str:
        """Compact text of the graph for an LLM prompt, most relevant lines first, cut to fit
        `max_tokens` (counted by `count_tokens(text) -> int`, default ~4 characters a token)."""
        from videothought.graph.verbalize import verbalize

        return verbalize(self, max_tokens=max_tokens, targets=targets, count_tokens=count_tokens)

    def partial_expression(self, track_ids: Iterable[int], start_frame: int | None = None,
                           end_frame: int | None = None, *, max_tokens: int | None = None) -> str:
        """VoT's "partial STSG expression": the target tracks' trajectories, their relations
        to each other and the events they take part in, within the window, as text."""
        from videothought.graph.verbalize import partial_expression

        return partial_expression(self, track_ids, start_frame, end_frame, max_tokens=max_tokens)


# ---- helpers ---------------------------------------------------------------------------
def direction_name(displacement, still_below: float = 2.0) -> str:
    """Compass word for a displacement in image coordinates (y down): "right", "up-left", ...
    or "stationary" when it is shorter than `still_below` pixels."""
    dx, dy = float(displacement[0]), float(displacement[1])
    if math.hypot(dx, dy) < still_below:
        return "stationary"
    angle = math.degrees(math.atan2(-dy, dx)) % 360  # 0 = right, 90 = up
    names = ["right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right"]
    return names[int((angle + 22.5) // 45) % 8]


def _spans(frames: np.ndarray, mask: np.ndarray) -> list[list[int]]:
    out, start = [], None
    for i, flag in enumerate(mask):
        if flag and start is None:
            start = i
        if not flag and start is not None:
            out.append([int(frames[start]), int(frames[i - 1])])
            start = None
    if start is not None:
        out.append([int(frames[start]), int(frames[-1])])
    return out


def _contains_run(words: list[str], wanted: list[str]) -> bool:
    k = len(wanted)
    return any(words[i : i + k] == wanted for i in range(len(words) - k + 1))


def _json_copy(value):
    return json.loads(json.dumps(value))


def _derive_track_info(stsg: STSG) -> dict[int, dict]:
    """Majority label and per-key majority attributes over a track's visible observations."""
    info = {}
    for track_id, nodes in stsg._by_track.items():
        data = [stsg.graph.nodes[n] for n in nodes]
        seen = [d for d in data if d["visible"]] or data
        label = Counter(d["label"] for d in seen).most_common(1)[0][0]
        votes: dict[str, Counter] = defaultdict(Counter)
        for d in seen:
            for key, value in (d.get("attributes") or {}).items():
                if isinstance(value, (str, int, float, bool)):
                    votes[key][value] += 1
        info[track_id] = {"label": label, "attributes": {k: c.most_common(1)[0][0] for k, c in sorted(votes.items())}}
    return info


_PAIR_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _add_spatial_edges(graph, observations, node_ids, by_frame: dict[int, list[int]],
                       config: rel.RelationConfig) -> None:
    """Spatial edges for every frame, with the relation maths vectorised over all pairs of all frames."""
    first, second = [], []
    for positions in by_frame.values():
        n = len(positions)
        if n < 2:
            continue
        if n not in _PAIR_CACHE:
            _PAIR_CACHE[n] = np.triu_indices(n, k=1)
        i, j = _PAIR_CACHE[n]
        chosen = np.asarray(positions)
        first.append(chosen[i])
        second.append(chosen[j])
    if not first:
        return
    first_index = np.concatenate(first)  # (P,) positions in `observations`
    second_index = np.concatenate(second)
    boxes = np.array([o.box for o in observations], dtype=np.float64).reshape(-1, 4)  # (M, 4)
    tracks = np.array([o.track_id for o in observations])  # (M,)
    directional, contact = rel.relation_codes(boxes[first_index], boxes[second_index],
                                              tracks[first_index], tracks[second_index], config)
    ids = np.array(node_ids, dtype=object)  # (M,)
    succ, pred = graph._succ, graph._pred
    for codes, table in ((directional, "directional"), (contact, "contact")):
        for code in np.unique(codes[codes != 0]).tolist():
            name = rel.decode(code, table)
            chosen = np.flatnonzero(codes == code)
            sources, targets = ids[first_index[chosen]], ids[second_index[chosen]]
            if code < 0:
                sources, targets = targets, sources
            # Same as _add_keyed_edges, inlined: this loop runs once per spatial fact. Each pair
            # gets at most one directional fact, written first, so those pairs are always new.
            if table == "directional":
                for u, v in zip(sources.tolist(), targets.tolist()):
                    succ[u][v] = pred[v][u] = {name: {"kind": "spatial", "relation": name}}
                continue
            for u, v in zip(sources.tolist(), targets.tolist()):
                keydict = succ[u].get(v)
                if keydict is None:
                    keydict = succ[u][v] = {}
                    pred[v][u] = keydict
                keydict[name] = {"kind": "spatial", "relation": name}


def _add_keyed_edges(graph: nx.MultiDiGraph, edges: list[tuple[str, str, str, dict]]) -> None:
    """graph.add_edges_from for (u, v, key, data) edges between existing nodes, with distinct
    (u, v, key): written straight into the adjacency networkx documents for multigraphs
    (G.adj[u][v] is a dict key -> edge data; a MultiDiGraph's successor and predecessor maps
    share that dict). add_edges_from spends ~7 us an edge on key bookkeeping we do not need:
    12 of 15 seconds when building a 10,000-frame x 10-object graph. Tests check that both
    ways build equal graphs."""
    succ, pred = graph._succ, graph._pred
    for u, v, key, data in edges:
        keydict = succ[u].get(v)
        if keydict is None:
            keydict = succ[u][v] = {}
            pred[v][u] = keydict
        keydict[key] = data


def _graph_from_node_link(data: Any) -> nx.MultiDiGraph:
    if not isinstance(data, dict):
        raise STSGFormatError(f"'graph' must be a node-link object, got {type(data).__name__}")
    nodes = data.get("nodes")
    links = data.get("links")
    if not isinstance(nodes, list):
        raise STSGFormatError("'graph.nodes' must be a list")
    if not isinstance(links, list):
        raise STSGFormatError("'graph.links' must be a list (node-link data with edges='links')")
    graph = nx.MultiDiGraph()
    graph.graph.update(data.get("graph") or {})
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or "id" not in node:
            raise STSGFormatError(f"graph.nodes[{i}] must be an object with an 'id'")
        attributes = {k: v for k, v in node.items() if k != "id"}
        if attributes.get("kind", "observation") != "observation":
            raise STSGFormatError(f"graph.nodes[{i}] has kind {attributes.get('kind')!r}; only 'observation' is known")
        for required in ("track_id", "frame_index", "time_seconds", "box"):
            if required not in attributes:
                raise STSGFormatError(f"graph.nodes[{i}] ({node['id']!r}) is missing {required!r}")
        try:
            obs = Observation.from_dict(attributes)
        except STSGFormatError as error:
            raise STSGFormatError(f"graph.nodes[{i}] ({node['id']!r}): {error}") from None
        except (TypeError, ValueError) as error:
            raise STSGFormatError(f"graph.nodes[{i}] ({node['id']!r}): bad value ({error})") from None
        if node["id"] != obs.node_id:
            raise STSGFormatError(f"graph.nodes[{i}] id {node['id']!r} does not match its track/frame ({obs.node_id!r})")
        if node["id"] in graph:
            raise STSGFormatError(f"graph.nodes[{i}]: duplicate node id {node['id']!r}")
        # Keep the stored attributes (extra keys survive the round trip), normalised the same way.
        attributes.update(obs.to_dict())
        graph.add_node(node["id"], **attributes)
    for i, link in enumerate(links):
        if not isinstance(link, dict):
            raise STSGFormatError(f"graph.links[{i}] must be an object")
        source, target = link.get("source"), link.get("target")
        for end, name in ((source, "source"), (target, "target")):
            if end not in graph:
                raise STSGFormatError(f"graph.links[{i}] {name} {end!r} is not a node of the graph")
        attributes = {k: v for k, v in link.items() if k not in ("source", "target", "key")}
        kind = attributes.get("kind")
        if kind == "temporal":
            gap = attributes.get("gap_frames")
            if not isinstance(gap, int) or isinstance(gap, bool) or gap < 1:
                raise STSGFormatError(f"graph.links[{i}] temporal edge needs integer gap_frames >= 1, got {gap!r}")
        elif kind == "spatial":
            if attributes.get("relation") not in SPATIAL_RELATIONS:
                raise STSGFormatError(
                    f"graph.links[{i}] relation {attributes.get('relation')!r} is not one of {SPATIAL_RELATIONS}")
        else:
            raise STSGFormatError(f"graph.links[{i}] kind must be 'temporal' or 'spatial', got {kind!r}")
        key = link.get("key")
        if key is None:
            key = TEMPORAL_KEY if kind == "temporal" else attributes["relation"]
        graph.add_edge(source, target, key=key, **attributes)
    return graph
