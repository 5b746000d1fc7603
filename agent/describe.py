"""The partial STSG as short sentences that name objects, for a small LLM's prompt.

Not videothought.graph.stsg.STSG.verbalize: that one refers to objects by track number
("event collide: tracks 3 and 5"), which a 135M model cannot map back to "the red circle".
Candidates are scored as continuations of the prompt, so the facts use names, not ids.
"""

from __future__ import annotations

from videothought.graph.query import SceneQuery
from videothought.graph.stsg import direction_name

_EVENT_PHRASES = {"enter": "enters", "exit": "leaves", "appear": "appears", "disappear": "disappears",
                  "approach": "approaches", "collide": "collides with", "push": "pushes", "start": "starts moving",
                  "stop": "stops", "turn": "turns", "occluded": "is hidden by"}


def describe_event(scene: SceneQuery, event) -> str:
    names = [scene.tracks[t].name if t in scene.tracks else "something" for t in event.track_ids]
    verb = _EVENT_PHRASES.get(event.type, event.type)
    text = f"At {scene.seconds(event.start_frame):.1f}s the {names[0]} {verb}"
    if len(names) > 1:
        text += f" the {names[1]}" if verb.endswith(("with", "approaches", "pushes", "by")) else f" and the {names[1]}"
    if event.type == "turn" and (side := scene.border_contact(event.track_ids[0], event.start_frame)):
        text += f" at the {side} edge"
    return text + "."


def describe_track(scene: SceneQuery, track_id: int) -> str:
    facts = scene.tracks[track_id]
    boxes = scene.boxes(track_id)
    centres = (boxes[:, 1:3] + boxes[:, 3:5]) / 2  # (N, 2)
    size = float(max(1.0, ((boxes[:, 3] - boxes[:, 1]).mean() + (boxes[:, 4] - boxes[:, 2]).mean()) / 2))
    direction = direction_name(centres[-1] - centres[0], still_below=max(2.0, 0.25 * size))
    motion = "staying still" if direction == "stationary" else f"moving {direction}"
    return (f"The {facts.name} is seen from {scene.seconds(facts.first_frame):.1f}s to "
            f"{scene.seconds(facts.last_frame):.1f}s, {motion}.")


def verbalize(doc: dict | None, track_ids=None, max_tokens: int = 220, *, until_frame: int | None = None) -> str:
    """The targets (all tracks when none), then their events in time order, cut to about
    `max_tokens` tokens (1.3 per word)."""
    if not doc:
        return "Nothing was detected."
    scene = SceneQuery.from_document(doc, until_frame=until_frame)
    focus = [t for t in (track_ids or []) if t in scene.tracks] or sorted(scene.tracks)
    lines = [describe_track(scene, t) for t in focus]
    focus_set = set(focus)
    for event in scene.events():
        if track_ids and not focus_set & set(event.track_ids):
            continue
        lines.append(describe_event(scene, event))
    if not lines:
        return "Nothing was detected."
    out, used = [], 0
    for line in lines:
        cost = int(len(line.split()) * 1.3) + 1
        if used + cost > max_tokens:
            break
        out.append(line)
        used += cost
    return "\n".join(out)
