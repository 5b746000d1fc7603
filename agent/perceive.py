"""What the track node of either reader perceives: the STSG of a question's video, built once and
cached, the tracks' region embeddings, and the STSG cut where a question says the video stops.

    doc, frame_indices, fps = build_stsg("clip.mp4", context)   # decoded, tracked, cached by fingerprint
    track_embeddings_of(doc)                                     # {track id: unit region embedding}
    restrict_document(doc, until_frame=60)                       # nothing at or after frame 60

Both readers' `track` nodes call these (agent/program_nodes.py, agent/rules/nodes.py); the
perception itself (decoding, proposals, the tracker) is videothought.perception's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from videothought.graph.events import EVENTS_VERSION

logger = logging.getLogger(__name__)

REGION_OBSERVATIONS = 4  # boxes per track averaged into its region embedding, spread over its life


def track_embeddings_of(doc: dict | None) -> dict[int, list[float]]:
    """Region embeddings the track node stored on the document's tracks ({} when none)."""
    return {int(k): v["region_embedding"] for k, v in ((doc or {}).get("tracks") or {}).items()
            if isinstance(v, dict) and v.get("region_embedding")}


def build_stsg(video_path: str, context) -> tuple[dict, list[int], float]:
    """Decode uniformly spread frames and run the tracker on them: (STSG document, frame indices, fps).

    Documents are cached in the context (and on disk under `context.cache_dir`), keyed by the
    file's fingerprint and the frames tracked: several questions about one video track it once.
    With an encoder, each track gets a region embedding (the mean of a few of its boxes).
    """
    from videothought.agent.llm import file_fingerprint
    from videothought.perception.video import VideoReader

    settings = context.settings
    with VideoReader(video_path, max_side=settings.max_side) as video:
        meta = video.metadata
        num_frames = int(min(settings.num_frames, max(2, meta.duration_seconds * settings.max_frames_per_second)))
        indices = [int(i) for i in video.uniform_indices(num_frames)]
        key = f"{file_fingerprint(Path(video_path))}-{meta.width}x{meta.height}-" + \
            hashlib.sha256(json.dumps(indices).encode()).hexdigest()[:12]
        doc = context.cached_stsg(key)
        if doc is not None and context.stsg_builder is None and doc.get("events_version") != EVENTS_VERSION:
            doc = _with_current_events(doc)  # cached by an older event detector
            context.store_stsg(key, doc)
        wants_regions = context.encoder is not None and settings.region_grounding
        if doc is None or (wants_regions and not track_embeddings_of(doc) and doc.get("tracks")):
            frames = video.get_frames(indices).frames  # (T, H, W, 3)
            if doc is None:
                if context.stsg_builder is not None:
                    doc = context.stsg_builder(frames, indices, meta.fps, proposer=context.proposer,
                                               tracker=context.tracker, video_path=str(video_path))
                else:
                    from videothought.perception.pipeline import track_frames

                    stsg = track_frames(frames, indices, meta.fps, proposer=context.proposer, tracker=context.tracker,
                                        video={"path": str(video_path), "fps": meta.fps, "num_frames": meta.num_frames})
                    doc = stsg.to_dict()
                    doc["events_version"] = EVENTS_VERSION
                doc.setdefault("video", {}).setdefault("fps", meta.fps)
            if wants_regions:
                add_region_embeddings(doc, frames, indices, context.encoder)
            context.store_stsg(key, doc)
    return doc, indices, meta.fps


def _with_current_events(doc: dict) -> dict:
    """The document with its events detected again from its tracks by this code's detector."""
    from videothought.graph.stsg import STSG

    stsg = STSG.from_dict(doc)
    stsg.detect_events()
    return {**doc, "events": [event.to_dict() for event in stsg.events], "events_version": EVENTS_VERSION}


def add_region_embeddings(doc: dict, frames, frame_indices: list[int], encoder) -> None:
    """Store a unit region embedding on each track of `doc` (mean of up to REGION_OBSERVATIONS boxes)."""
    import numpy as np

    position = {int(f): i for i, f in enumerate(frame_indices)}
    by_track: dict[int, list] = {}
    for node in doc.get("graph", {}).get("nodes", []):
        if node.get("kind", "observation") == "observation" and int(node.get("frame_index", -1)) in position \
                and node.get("visible", True):
            by_track.setdefault(int(node["track_id"]), []).append((position[int(node["frame_index"])], node["box"]))
    boxes, owners = [], []
    for track_id, rows in sorted(by_track.items()):
        rows.sort()
        picks = np.linspace(0, len(rows) - 1, min(REGION_OBSERVATIONS, len(rows))).round().astype(int)
        for i in sorted(set(picks.tolist())):
            boxes.append(rows[i])
            owners.append(track_id)
    if not boxes:
        return
    used = sorted({b[0] for b in boxes})
    remap = {p: i for i, p in enumerate(used)}
    try:
        embeddings = np.asarray(encoder.encode_regions([frames[p] for p in used],
                                                       [(remap[p], list(map(float, box))) for p, box in boxes]),
                                dtype=np.float32)  # (N, D)
    except Exception as error:  # the encoder is an aid: grounding goes on with labels and attributes
        logger.warning("region embeddings failed: %s", error)
        return
    embeddings /= np.linalg.norm(embeddings, axis=-1, keepdims=True) + 1e-8
    for track_id in set(owners):
        rows = embeddings[[i for i, owner in enumerate(owners) if owner == track_id]]  # (K, D)
        mean = rows.mean(axis=0)
        mean /= np.linalg.norm(mean) + 1e-8
        info = doc.setdefault("tracks", {}).setdefault(str(track_id), {})
        info["region_embedding"] = [round(float(v), 4) for v in mean]


def restrict_document(doc: dict, until_frame: int) -> dict:
    """The STSG as seen up to `until_frame` (exclusive): later observations, their edges and any
    event reaching the cut are dropped (a predictive question must not see the future)."""
    graph = doc.get("graph", {})
    nodes = [n for n in graph.get("nodes", []) if int(n.get("frame_index", 0)) < until_frame]
    kept = {n["id"] for n in nodes}
    links = [e for e in graph.get("links", []) if e["source"] in kept and e["target"] in kept]
    events = [e for e in doc.get("events", []) if e["end_frame"] < until_frame - 1]
    return {**doc, "graph": {**graph, "nodes": nodes, "links": links}, "events": events}
