"""Long videos: minutes to an hour, made of episodes, with "needle" questions.

A long video is a sequence of independent episodes (each a sampled scene of
`episode_seconds`, its own background and objects), rendered one frame at a time
straight into the encoder, so memory does not grow with length. Object ids are
unique across the video; labels ("red circle") may repeat across episodes, so
needle questions only name labels that occur exactly once in the whole video:

    when    During which minute does the pink star stop?          -> "in minute 7"
    colour  What colour is the star that collides with the pink hexagon,
            somewhere in the video?                                -> "cyan"
    after   What does the pink star do right after it bounces off the top edge?

The evidence of each lies in one short span (a few frames of one episode).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import numpy as np

from videothought.graph.schema import Observation

from .captions import write_captions
from .config import OBJECT_COLOURS, SHAPES, WorldParams
from .phrases import matches, phrase
from .questions import Draft, PositionDeck, Question, SceneFacts, deal_questions, temporal_after_before
from .render import SceneRenderer
from .simulate import SceneSpec, sample_spec
from .truth import GroundTruth


NEEDLE_ROLES = ("collide_pair", "push_pair", "scripted", "enter", "exit")  # objects that do something


def sample_long_spec(seed: int, index: int, params: WorldParams, video_id: str) -> list[SceneSpec]:
    """The episodes of one long video, with object ids unique across them.

    Over many episodes every label repeats, and a question must name its object
    unambiguously. So a few "needle" labels are reserved: each is given to one active
    object in one randomly chosen episode and to no other object in the video.
    """
    episode_frames = max(2, int(round(params.episode_seconds * params.fps)))
    total_frames = max(2, int(round(params.seconds * params.fps)))
    lengths = []
    start = 0
    while start < total_frames:
        frames = min(episode_frames, total_frames - start)
        if frames < max(2, int(params.fps)) and lengths:  # a tail under a second joins the last episode
            lengths[-1] += frames
        else:
            lengths.append(frames)
        start += frames
    plan_rng = np.random.default_rng([seed, index, 7])
    all_labels = [(c, s) for c in OBJECT_COLOURS for s in SHAPES]
    num_needles = min(len(lengths), max(6, params.questions_per_video), len(all_labels) // 3)
    picks = plan_rng.choice(len(all_labels), size=num_needles, replace=False)
    reserved = [all_labels[int(i)] for i in picks]
    needle_episodes = dict(zip((int(e) for e in plan_rng.choice(len(lengths), size=num_needles, replace=False)),
                               reserved))
    ordinary = [label for label in all_labels if label not in reserved]
    episodes, next_id = [], 0
    for episode_index, frames in enumerate(lengths):
        episode_rng = np.random.default_rng([seed, index, episode_index])
        spec = sample_spec(episode_rng, params, video_id=video_id, num_frames=frames, first_object_id=next_id)
        taken = {(o.colour, o.shape) for o in spec.objects}
        for obj in spec.objects:  # reserved labels appear only where planned
            if (obj.colour, obj.shape) in reserved:
                free = [label for label in ordinary if label not in taken]
                obj.colour, obj.shape = free[int(episode_rng.integers(len(free)))]
                taken.add((obj.colour, obj.shape))
        if episode_index in needle_episodes:
            active = [o for o in spec.objects if o.role in NEEDLE_ROLES] or spec.objects
            chosen = active[int(episode_rng.integers(len(active)))]
            chosen.colour, chosen.shape = needle_episodes[episode_index]
        next_id += len(spec.objects)
        episodes.append(spec)
    return episodes


def generate_long_video(seed: int, index: int, params: WorldParams, *, video_path: Path):
    """Render and write one long video; returns (combined spec, truth, questions, captions, stsg document)."""
    from videothought.perception.video import write_video

    video_id = f"w{seed}_{index:06d}"
    episodes = sample_long_spec(seed, index, params, video_id)
    truths: list[GroundTruth] = []
    starts = list(np.cumsum([0] + [e.num_frames for e in episodes[:-1]]))

    def frames():
        for episode in episodes:
            renderer = SceneRenderer(episode)
            per_frame = []
            for frame, truth in renderer:
                per_frame.append(truth)
                yield frame
            truths.append(GroundTruth.build(episode, renderer.trajectories, per_frame))

    write_video(video_path, frames(), params.fps)
    combined_spec = dataclasses.replace(
        episodes[0], num_frames=int(sum(e.num_frames for e in episodes)),
        objects=[o for e in episodes for o in e.objects], episode_starts=[int(s) for s in starts])
    truth = _combine(combined_spec, truths, starts)
    rng = np.random.default_rng([seed, index, 8])
    questions = write_needle_questions(truth, rng, video_id=video_id, params=params,
                                       max_questions=params.questions_per_video)
    segment_frames = max(1, int(round(params.segment_seconds * params.fps)))
    captions = []
    for episode_truth, start in zip(truths, starts):
        shifted = _shift(episode_truth, start, combined_spec)
        captions += [c for c in write_captions(shifted, rng, video_id=video_id, segment_frames=segment_frames,
                                               frame_offset=int(start), num_frames=episode_truth.spec.num_frames)
                     if c["segment"] is not None]
    summary = (f"A long video of {len(episodes)} episodes, each about {params.episode_seconds:.0f} seconds, "
               f"with {len(truth.tracks)} objects in all.")
    captions.append({"video": video_id, "segment": None, "caption": summary})
    stsg = truth.stsg_document(path=f"videos/{video_id}.mp4")
    return combined_spec, truth, questions, captions, stsg


def _shift(truth: GroundTruth, start: int, spec: SceneSpec) -> GroundTruth:
    """An episode's truth in the long video's frame numbers."""
    fps = spec.fps
    observations = [dataclasses.replace(o, frame_index=o.frame_index + start,
                                        time_seconds=round((o.frame_index + start) / fps, 4))
                    for o in truth.observations]
    events = [dict(e, start_frame=e["start_frame"] + start, end_frame=e["end_frame"] + start) for e in truth.events]
    episode_spec = dataclasses.replace(truth.spec, num_frames=spec.num_frames)
    return GroundTruth(spec=episode_spec, observations=observations, events=events, tracks=truth.tracks)


def _combine(spec: SceneSpec, truths: list[GroundTruth], starts: list[int]) -> GroundTruth:
    observations: list[Observation] = []
    events, tracks = [], {}
    for truth, start in zip(truths, starts):
        shifted = _shift(truth, int(start), spec)
        observations += shifted.observations
        events += shifted.events
        tracks.update(truth.tracks)
    events.sort(key=lambda e: (e["start_frame"], e["end_frame"], e["type"], e["track_ids"]))
    return GroundTruth(spec=spec, observations=observations, events=events, tracks=tracks)


def write_needle_questions(truth: GroundTruth, rng, *, video_id: str, params: WorldParams,
                           max_questions: int) -> list[Question]:
    facts = SceneFacts(truth)
    label_counts = Counter(facts.labels.values())
    unique = [o for o in facts.object_ids if label_counts[facts.labels[o]] == 1]
    drafts = []
    drafts += _needle_when(facts, unique, rng)
    drafts += _needle_colour(facts, unique, rng)
    # "right after / before" about uniquely named objects, with distractors from its own history.
    unique_facts = _restricted(facts, unique)
    drafts += [dataclasses.replace(d, type="needle", subtype=d.subtype)
               for d in temporal_after_before(unique_facts, rng)]
    deck = PositionDeck(rng)
    by_subtype: dict[str, list[Draft]] = {}
    seen_questions = set()
    for draft in drafts:
        if draft.question in seen_questions:  # e.g. the same pair colliding twice
            continue
        seen_questions.add(draft.question)
        by_subtype.setdefault(draft.subtype, []).append(draft)
    for pool in by_subtype.values():
        order = rng.permutation(len(pool))
        pool[:] = [pool[i] for i in order]
    picked = []
    while len(picked) < max_questions and any(by_subtype.values()):
        for subtype in sorted(by_subtype):
            if by_subtype[subtype] and len(picked) < max_questions:
                picked.append(by_subtype[subtype].pop())
    return deal_questions(picked, rng, deck, video_id=video_id, type="needle")


def _restricted(facts: SceneFacts, object_ids: list[int]) -> SceneFacts:
    """The same facts, but only uniquely labelled objects may be the subject or be named."""
    view = SceneFacts.__new__(SceneFacts)
    view.__dict__.update(facts.__dict__)
    allowed = set(object_ids)
    view.object_ids = sorted(allowed)
    view.events = [e for e in facts.events if set(e["track_ids"]) <= allowed or len(e["track_ids"]) == 1]
    view.happenings = {o: [h for h in facts.happenings[o] if h[1][1] is None or h[1][0] == "turn_wall"
                           or h[1][1] in allowed] for o in view.object_ids}
    # An object whose history names an ambiguous label cannot be asked about soundly.
    for o in list(view.object_ids):
        if len(view.happenings[o]) != len(facts.happenings[o]):
            view.object_ids.remove(o)
            del view.happenings[o]
    return view


def _needle_when(facts: SceneFacts, unique: list[int], rng) -> list[Draft]:
    drafts = []
    minutes = int(math.ceil(facts.spec.num_frames / facts.fps / 60))
    if minutes < 5:
        return drafts
    for object_id in unique:
        history = facts.happenings[object_id]
        for frame, key in history:
            if key[1] is not None and key[0] != "turn_wall":
                continue  # keep to label-free verbs: other labels may repeat
            if sum(matches(key, k) for _, k in history) != 1:
                continue
            minute = int(frame / facts.fps // 60)
            low = int(rng.integers(max(0, minute - 4), min(minute, minutes - 5) + 1))
            pool = [f"in minute {m + 1}" for m in range(low, low + 5) if m != minute]
            events = facts.events_for(object_id, key, {frame})
            drafts.append(Draft(f"{facts.the(object_id).capitalize()} {phrase(key, facts.labels)} once in this video. "
                                "In which minute?",
                                f"in minute {minute + 1}", pool, "needle", "when", [object_id], events,
                                [events[0]["start_frame"], events[0]["end_frame"]]))
    return drafts


def _needle_colour(facts: SceneFacts, unique: list[int], rng) -> list[Draft]:
    drafts = []
    for object_id in facts.object_ids:
        shape = facts.attributes[object_id]["shape"]
        for frame, key in facts.happenings[object_id]:
            if key[0] not in ("collide", "push", "pushed", "hidden") or key[1] not in unique:
                continue
            same_shape = [o for o in facts.object_ids if facts.attributes[o]["shape"] == shape]
            said_of = [o for o in same_shape if any(matches(key, k) for _, k in facts.happenings[o])]
            if said_of != [object_id]:
                continue
            colour = facts.attributes[object_id]["colour"]
            pool = [c for c in rng.permutation(list(OBJECT_COLOURS)) if c != colour]
            events = facts.events_for(object_id, key, {frame})
            drafts.append(Draft(
                f"What colour is the {shape} that {phrase(key, facts.labels)}, somewhere in the video?", colour,
                [str(c) for c in pool], "needle", "colour", [object_id, key[1]], events,
                [events[0]["start_frame"], events[0]["end_frame"]]))
    return drafts
