"""A segment of a long video's STSG as rows, and segments merged back into one document.

A long video is tracked in segments (perception/indexing.py); each segment's STSG document
keeps the whole video's frame numbers. What the library stores of a segment besides the
document itself comes from here (its line of text, segment_summary, from graph/verbalize.py):

    segment_facts(doc)      -> tracks: [{track_id, label, attributes, terms, first_frame, last_frame}]
                               events: [{type, track_ids, labels, attributes, terms, start_frame, end_frame}]
    merge_documents(docs, segment_ids, fps) -> one STSG document of several segments

`terms` are the stemmed words of labels, string attribute values and event types (graph/words.py):
what a question's words are matched against. Track ids are per segment; merged, track t of
segment s becomes s * TRACK_ID_STRIDE + t, so segments tracked apart (on different workers)
never collide.
"""

from __future__ import annotations

from videothought.graph.words import terms

TRACK_ID_STRIDE = 100_000  # merged segments: track t of segment s becomes s * stride + t


def value_words(values) -> str:
    """The string values among `values`, joined: what of an attribute dict is words."""
    return " ".join(str(v) for v in values if isinstance(v, str))


def merge_documents(docs: list[dict], segment_ids: list[int], fps: float, video: dict | None = None) -> dict:
    """One STSG document from several segments' (frame indices are the whole video's already;
    track ids are made unique as segment * TRACK_ID_STRIDE + track)."""
    nodes, links, tracks, events = [], [], {}, []
    width = height = None
    for doc, segment in zip(docs, segment_ids):
        offset = segment * TRACK_ID_STRIDE
        info = doc.get("video") or {}
        width, height = width or info.get("width"), height or info.get("height")
        rename = {}
        for node in doc.get("graph", {}).get("nodes", []):
            track_id = int(node["track_id"]) + offset
            new_id = f"o:{track_id}:{int(node['frame_index'])}"
            rename[node["id"]] = new_id
            nodes.append({**node, "id": new_id, "track_id": track_id})
        for link in doc.get("graph", {}).get("links", []):
            if link["source"] in rename and link["target"] in rename:
                links.append({**link, "source": rename[link["source"]], "target": rename[link["target"]]})
        for key, value in doc.get("tracks", {}).items():
            tracks[str(int(key) + offset)] = value
        for event in doc.get("events", []):
            events.append({**event, "track_ids": [int(t) + offset for t in event["track_ids"]]})
    graph = {"directed": True, "multigraph": True, "graph": {}, "nodes": nodes, "links": links}
    info = {**(video or {}), "fps": fps, "width": width, "height": height, "segments": list(segment_ids)}
    merged = {"schema": "videothought.stsg", "version": 1, "video": info, "graph": graph, "tracks": tracks,
              "events": sorted(events, key=lambda e: (e["start_frame"], e["end_frame"]))}
    # what the perception stack can name (one stack indexed every segment): without it a colour no
    # retrieved track has ("the red diamond") would read as just "diamond"
    vocabulary = next((doc["vocabulary"] for doc in docs if doc.get("vocabulary")), None)
    if vocabulary:
        merged["vocabulary"] = vocabulary
    return merged


def segment_facts(doc: dict) -> tuple[list[dict], list[dict]]:
    """The segment's tracks and events as rows: what retrieval matches question words against."""
    spans: dict[int, list[int]] = {}
    for node in doc.get("graph", {}).get("nodes", []):
        if "track_id" not in node:
            continue
        track, frame = int(node["track_id"]), int(node["frame_index"])
        first, last = spans.get(track, (frame, frame))
        spans[track] = [min(first, frame), max(last, frame)]
    tracks = []
    labels = {}
    for key, info in doc.get("tracks", {}).items():
        track = int(key)
        label = str(info.get("label") or "object")
        attributes = {k: v for k, v in (info.get("attributes") or {}).items() if isinstance(v, (str, int, float, bool))}
        labels[track] = label
        first, last = spans.get(track, (0, 0))
        tracks.append({"track_id": track, "label": label, "attributes": attributes,
                       "terms": sorted(set(terms(label + " " + value_words(attributes.values())))),
                       "first_frame": first, "last_frame": last})
    events = []
    for event in doc.get("events", []):
        attributes = {k: v for k, v in (event.get("attributes") or {}).items() if isinstance(v, (str, int, float, bool))}
        names = [labels.get(int(t), "object") for t in event["track_ids"]]
        words = terms(str(event["type"]).replace("_", " ") + " " + value_words(attributes.values()))
        events.append({"type": str(event["type"]), "track_ids": [int(t) for t in event["track_ids"]], "labels": names,
                       "attributes": attributes, "terms": sorted(set(words)),
                       "start_frame": int(event["start_frame"]), "end_frame": int(event["end_frame"])})
    return tracks, events
