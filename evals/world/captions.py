"""Captions per segment and per video, from varied templates over the ground truth.

Segment captions list what is in view and what happens inside the segment, in
order; the video caption summarises objects, then the main events. Templates are
chosen by the scene's rng, so the same seed gives the same wording.
"""

from __future__ import annotations

from .phrases import happenings

# Past-tense wordings per happening kind; "{}" is the other object's label or the wall.
_PAST_VARIANTS = {
    "collide": ("collided with the {}", "bumped into the {}", "hit the {}"),
    "push": ("pushed the {}", "shoved the {}", "pushed the {} along"),
    "hidden": ("went behind the {}", "was hidden by the {}", "passed under the {}"),
    "turn_wall": ("bounced off the {} edge", "rebounded from the {} edge", "hit the {} edge and bounced back"),
    "turn": ("changed direction", "turned", "veered off"),
    "stop": ("stopped", "came to a halt", "came to rest"),
    "start": ("started moving", "began to move", "set off"),
    "exit": ("left the scene", "moved out of view", "exited the frame"),
    "enter": ("entered the scene", "came into view", "moved into the frame"),
    "appear": ("appeared", "popped into view", "suddenly appeared"),
    "disappear": ("vanished", "disappeared", "suddenly vanished"),
}


def past_phrase(key: tuple, labels: dict[int, str], rng) -> str:
    kind, argument = key
    template = _PAST_VARIANTS[kind][int(rng.integers(len(_PAST_VARIANTS[kind])))]
    if "{}" not in template:
        return template
    return template.format(argument if kind == "turn_wall" else labels[argument])

_SCENE_OPENERS = (
    "{objects} {are} on a {background} background.",
    "A {background} scene with {objects}.",
    "We see {objects} over a {background} background.",
    "{objects_cap} {move} around a {background} floor.",
)
_EMPTY = ("Nothing notable happens.", "The objects keep moving.", "No events in this part.")
_BACKGROUNDS = {"plain": "plain", "stripes": "striped", "checker": "checkered", "blobs": "mottled"}
_CONNECTORS = ("Then", "After that", "Next", "Later")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def describe_events(events: list[dict], labels: dict[int, str], rng, start: int, end: int) -> list[str]:
    """One sentence per happening in [start, end], in frame order; pairs told once."""
    sentences, told = [], set()
    for event in events:
        if not (start <= event["start_frame"] <= end):
            continue
        subject = event["track_ids"][0]
        if event["type"] == "collide":
            key = ("collide", tuple(event["track_ids"]), event["start_frame"])
            if key in told:
                continue
            told.add(key)
        if event["type"] == "turn" and (event.get("attributes") or {}).get("cause") == "collide":
            continue  # told with the collision
        for frame, happening in happenings([event], subject):
            if happening[0] == "pushed":
                continue
            sentences.append(f"the {labels[subject]} {past_phrase(happening, labels, rng)}")
    text = []
    for index, sentence in enumerate(sentences):
        if index == 0:
            text.append(sentence[0].upper() + sentence[1:] + ".")
        else:
            text.append(f"{_CONNECTORS[int(rng.integers(len(_CONNECTORS)))]} {sentence}.")
    return text


def write_captions(truth, rng, *, video_id: str, segment_frames: int, frame_offset: int = 0,
                   object_ids: list[int] | None = None, num_frames: int | None = None) -> list[dict]:
    """[{"video", "segment": [start, end] or None (whole video), "caption"}]: segments first."""
    spec = truth.spec
    wanted = set(object_ids if object_ids is not None else truth.tracks)
    labels = {i: truth.tracks[i]["label"] for i in truth.tracks}
    events = [e for e in truth.events if set(e["track_ids"]) <= wanted]
    num_frames = num_frames or spec.num_frames
    in_view: dict[int, set[int]] = {}
    for obs in truth.observations:
        if obs.track_id in wanted and obs.visible:
            in_view.setdefault(obs.frame_index, set()).add(obs.track_id)
    background = _BACKGROUNDS[spec.background.kind]
    if any(spec.background.velocity) and spec.background.kind != "plain":
        background = "moving " + background
    records = []
    for start in range(frame_offset, frame_offset + num_frames, segment_frames):
        end = min(frame_offset + num_frames, start + segment_frames) - 1
        seen = sorted(set().union(*(in_view.get(f, set()) for f in range(start, end + 1))))
        parts = []
        if seen:
            parts.append(_opener([labels[i] for i in seen], background, rng))
        parts += describe_events(events, labels, rng, start, end) or [_EMPTY[int(rng.integers(len(_EMPTY)))]]
        records.append({"video": video_id, "segment": [start, end], "caption": " ".join(parts)})
    everyone = sorted(wanted & set(truth.tracks))
    summary = [_opener([labels[i] for i in everyone], background, rng)]
    summary += describe_events(events, labels, rng, frame_offset, frame_offset + num_frames - 1)[:8]
    records.append({"video": video_id, "segment": None, "caption": " ".join(summary)})
    return records


def _opener(names: list[str], background: str, rng) -> str:
    objects = _join([f"{'an' if n[0] in 'aeiou' else 'a'} {n}" for n in names])
    template = _SCENE_OPENERS[int(rng.integers(len(_SCENE_OPENERS)))]
    text = template.format(objects=objects, objects_cap=objects[0].upper() + objects[1:],
                           are="is" if len(names) == 1 else "are", move="moves" if len(names) == 1 else "move",
                           background=background)
    return text[0].upper() + text[1:]
