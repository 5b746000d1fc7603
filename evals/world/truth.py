"""Ground truth of a rendered scene: per-frame observations, events, the STSG document.

Events come from two places. The simulator logs the ones it causes (collide, push,
start, stop, turn, appear, disappear) with their causes in `attributes`
(cause: self | wall | collide | push | friction, cause_track_id, wall). What the
camera sees adds the rest, measured on the rendered silhouettes:

    enter     [first frame partly in view, first frame fully in view]
    exit      [first frame no longer fully in view, last frame in view]
    occluded  [first, last] frame of a run where another object covers most of it
              (track_ids: [hidden, occluder])

Frame spans are inclusive, as in graph/schema.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from videothought.graph.schema import Event, Observation

from .simulate import SceneSpec, Trajectories


@dataclass
class GroundTruth:
    spec: SceneSpec
    observations: list[Observation]
    events: list[dict]  # Event.to_dict() records, sorted by start frame
    tracks: dict[int, dict]  # id -> {"label", "attributes"}
    per_frame: list[dict] = field(default_factory=list)  # frame -> {object id: observation}, for regions

    @classmethod
    def build(cls, spec: SceneSpec, trajectories: Trajectories, frames_truth: list) -> GroundTruth:
        observations = []
        per_frame = []
        series: dict[int, list[tuple[int, dict]]] = defaultdict(list)
        objects = {o.object_id: o for o in spec.objects}
        for truth in frames_truth:
            by_object = {}
            for object_id, record in truth.objects.items():
                obj = objects[object_id]
                observation = Observation(
                    track_id=object_id,
                    frame_index=truth.frame_index,
                    time_seconds=round(truth.frame_index / spec.fps, 4),
                    box=tuple(record["box"]),
                    label=obj.label,
                    attributes={
                        "colour": obj.colour,
                        "shape": obj.shape,
                        "size": obj.size,
                        "visible_fraction": record["visible_fraction"],
                        "in_frame_fraction": record["in_frame_fraction"],
                        "occluder": record["occluder"],
                    },
                    visible=record["visible"],
                )
                observations.append(observation)
                by_object[object_id] = observation
                series[object_id].append((truth.frame_index, record))
            per_frame.append(by_object)
        events = list(trajectories.events)
        events += _visibility_events(series, spec)
        # Events between objects the camera never saw (both off-frame) are not ground truth.
        events = [Event.from_dict(e).to_dict() for e in events if all(t in series for t in e["track_ids"])]
        events.sort(key=lambda e: (e["start_frame"], e["end_frame"], e["type"], e["track_ids"]))
        tracks = {o.object_id: {"label": o.label,
                                "attributes": {"colour": o.colour, "shape": o.shape, "size": o.size,
                                               "layer": o.layer}}
                  for o in spec.objects if o.object_id in series}
        return cls(spec=spec, observations=observations, events=events, tracks=tracks, per_frame=per_frame)

    def stsg_document(self, path: str | None = None) -> dict:
        """The graph/schema.py document, built with videothought.graph.stsg.STSG (spatial edges added)."""
        from videothought.graph.stsg import STSG

        video = {"path": path, "fps": self.spec.fps, "num_frames": self.spec.num_frames,
                 "width": self.spec.width, "height": self.spec.height}
        events = [Event.from_dict(e) for e in self.events]
        return STSG.from_observations(self.observations, events, video=video, tracks=self.tracks,
                                      vocabulary=world_vocabulary()).to_dict()

    def regions(self, frame_index: int, *, visible_only: bool = True) -> list[dict]:
        """Object boxes in one frame with their colour+shape label: training regions for the encoder."""
        return [
            {"track_id": o.track_id, "box": list(o.box), "label": o.label,
             "colour": o.attributes["colour"], "shape": o.attributes["shape"], "visible": o.visible}
            for o in self.per_frame[frame_index].values() if o.visible or not visible_only
        ]


def world_vocabulary() -> dict[str, list[str]]:
    """What the world can contain (graph/schema.py "vocabulary"): every colour-shape label, its
    colours, shapes and sizes. A reader learns from it that "a pink star" is something this world
    could show, so that none in a video means there is none, not that it cannot be seen."""
    from .config import OBJECT_COLOURS, SHAPES, SIZES

    labels = [f"{colour} {shape}" for colour in OBJECT_COLOURS for shape in SHAPES]
    return {"label": labels, "colour": list(OBJECT_COLOURS), "shape": list(SHAPES), "size": list(SIZES)}


def _visibility_events(series: dict[int, list[tuple[int, dict]]], spec: SceneSpec) -> list[dict]:
    events = []
    objects = {o.object_id: o for o in spec.objects}
    for object_id, records in series.items():
        obj = objects[object_id]
        frames = [f for f, _ in records]
        full = [r["in_frame_fraction"] >= 0.999 for _, r in records]
        # Presence runs: contiguous frames with the object (partly) in view.
        runs, start = [], 0
        for k in range(1, len(frames) + 1):
            if k == len(frames) or frames[k] != frames[k - 1] + 1:
                runs.append((start, k - 1))
                start = k
        for first, last in runs:
            appeared = frames[first] == obj.appear_frame and obj.appear_frame > 0
            if frames[first] > 0 and not appeared and not full[first]:
                fully = next((k for k in range(first, last + 1) if full[k]), None)
                if fully is not None:
                    events.append({"type": "enter", "track_ids": [object_id], "start_frame": frames[first],
                                   "end_frame": frames[fully], "attributes": {}})
            vanished = obj.disappear_frame is not None and frames[last] == obj.disappear_frame - 1
            if frames[last] < spec.num_frames - 1 and not vanished and not full[last]:
                fully = next((k for k in range(last, first - 1, -1) if full[k]), None)
                if fully is not None:
                    events.append({"type": "exit", "track_ids": [object_id], "start_frame": frames[fully + 1],
                                   "end_frame": frames[last], "attributes": {}})
        # Occlusion runs, one event per (run, main occluder).
        k = 0
        while k < len(records):
            occluder = records[k][1]["occluder"]
            if occluder is None:
                k += 1
                continue
            end = k
            while end + 1 < len(records) and records[end + 1][1]["occluder"] is not None \
                    and frames[end + 1] == frames[end] + 1:
                end += 1
            occluders = [records[j][1]["occluder"] for j in range(k, end + 1)]
            main = max(set(occluders), key=lambda o: (occluders.count(o), -o))
            events.append({"type": "occluded", "track_ids": [object_id, main], "start_frame": frames[k],
                           "end_frame": frames[end], "attributes": {}})
            k = end + 1
    return events
