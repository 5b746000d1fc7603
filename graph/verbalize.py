"""An STSG as text for an LLM (or a retrieval index): the one place where a scene graph is put into words.

Three ways, by who reads the text:

    verbalize(stsg, max_tokens=, targets=)   one fact per line by track number, most relevant first,
    partial_expression(stsg, track_ids, ...)   cut to a token budget (4 characters a token): exact, for
                                              logs, large LLMs and VoT's partial STSG of a window
    named_facts(doc, track_ids, max_tokens)  short sentences that name objects ("At 1.6s the red circle
    describe_event(scene, event)               pushes the blue square."), for a small LLM: a
    describe_track(scene, track_id)            135M model cannot map "track 3" back to "the red circle",
                                              and candidates are scored as continuations of the prompt
    segment_summary(start, end, tracks, events)  one line per segment of a long video ("0:10-0:20. Seen:
                                              ... Events: ..."), embedded for retrieval (perception/indexing.py)

verbalize's line order (each group sorted by relevance inside):
    1. the target tracks (given by the caller, e.g. the objects a question names)
    2. events involving targets, then other events (collisions before motion changes)
    3. relations between targets (spans)
    4. the remaining tracks, longest-lived first

    video: 250 frames at 25 fps, 320x240
    track 3 "red circle" (colour=red, shape=circle): frames 0-249 (0.0-10.0 s), moves right, 31 px/s, ...
    event collide: tracks 3 and 5, frames 40-42 (1.6-1.7 s)
    relation: track 3 left_of track 5, frames 0-39

Times are given in seconds as well as frames: questions talk in seconds, the graph in frames. The
named sentences are the rules reader's prompt (agent/rules/nodes.py), frozen with it: their words
and their budget (1.3 tokens a word) are as they were.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from videothought.graph.query import SceneQuery
from videothought.graph.segments import value_words
from videothought.graph.stsg import direction_name

_EVENT_PRIORITY = {"collide": 0, "push": 0, "approach": 1, "enter": 2, "exit": 2, "appear": 3, "disappear": 3,
                   "turn": 4, "start": 5, "stop": 5, "occluded": 6}


def approximate_tokens(text: str) -> int:
    """About 4 characters per token for English and numbers with BPE tokenizers."""
    return max(1, (len(text) + 3) // 4)


def _seconds(stsg, frame: int) -> str:
    fps = stsg.fps
    return f"{frame / fps:.1f} s" if fps else f"frame {frame}"


def _span_text(stsg, start: int, end: int) -> str:
    if stsg.fps:
        return f"frames {start}-{end} ({start / stsg.fps:.1f}-{end / stsg.fps:.1f} s)"
    return f"frames {start}-{end}"


def track_line(stsg, track_id: int, summary: dict | None = None) -> str:
    s = summary or stsg.track_summary(track_id)
    attrs = ", ".join(f"{k}={v}" for k, v in s["attributes"].items())
    attrs = f" ({attrs})" if attrs else ""
    motion = "stays still" if s["direction"] == "stationary" else f"moves {s['direction']}"
    line = (f"track {track_id} \"{s['label']}\"{attrs}: {_span_text(stsg, s['first_frame'], s['last_frame'])}, "
            f"{motion}, mean speed {s['mean_speed_px_s']:.0f} px/s")
    first, last = s["trajectory"][0], s["trajectory"][-1]
    line += f", from ({first[1]:.0f}, {first[2]:.0f}) to ({last[1]:.0f}, {last[2]:.0f})"
    if s["hidden_spans"]:
        line += ", hidden " + "; ".join(f"{a}-{b}" for a, b in s["hidden_spans"])
    return line


def event_line(stsg, event) -> str:
    who = " and ".join(str(t) for t in event.track_ids)
    noun = "tracks" if len(event.track_ids) > 1 else "track"
    when = (f"frame {event.start_frame} ({_seconds(stsg, event.start_frame)})" if event.start_frame == event.end_frame
            else _span_text(stsg, event.start_frame, event.end_frame))
    return f"event {event.type}: {noun} {who}, {when}"


def relation_line(stsg, span: dict) -> str:
    return (f"relation: track {span['subject']} {span['relation']} track {span['object']}, "
            f"{_span_text(stsg, span['start_frame'], span['end_frame'])}")


def _fit(lines: list[str], max_tokens: int | None, count_tokens: Callable[[str], int], *,
         skip_leading: bool = True) -> str:
    """The first lines that fit `max_tokens` together. A line too long to fit on its own is skipped
    while nothing is kept yet (`skip_leading`), else the text ends before it."""
    kept, used = [], 0
    for line in lines:
        cost = count_tokens(line + "\n")
        if max_tokens is not None and used + cost > max_tokens:
            if kept or not skip_leading:
                break
            continue
        kept.append(line)
        used += cost
    return "\n".join(kept)


def verbalize(stsg, *, max_tokens: int = 512, targets: Iterable[int] | None = None,
              count_tokens: Callable[[str], int] | None = None) -> str:
    count_tokens = count_tokens or approximate_tokens
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens!r}")
    targets = [int(t) for t in (targets or []) if int(t) in stsg.track_ids]
    target_set = set(targets)
    lines = []
    v = stsg.video
    if v:
        size = f", {v['width']}x{v['height']}" if v.get("width") and v.get("height") else ""
        fps = f" at {float(v['fps']):g} fps" if v.get("fps") else ""
        frames = f"{v['num_frames']} frames" if v.get("num_frames") else f"{len(stsg.frame_indices)} frames"
        lines.append(f"video: {frames}{fps}{size}, {len(stsg.track_ids)} tracks, {len(stsg.events)} events")
    summaries = {t: stsg.track_summary(t) for t in stsg.track_ids}
    lines += [track_line(stsg, t, summaries[t]) for t in targets]

    def event_rank(event):
        involved = len(target_set & set(event.track_ids))
        return (-involved, _EVENT_PRIORITY.get(event.type, 9), event.start_frame)

    events = sorted(stsg.events, key=event_rank)
    target_events = [e for e in events if target_set & set(e.track_ids)]
    other_events = [e for e in events if not target_set & set(e.track_ids)]
    lines += [event_line(stsg, e) for e in target_events]
    if len(targets) > 1:
        for i, a in enumerate(targets):
            for b in targets[i + 1:]:
                for span in stsg.interactions(a, b)["relations"]:
                    lines.append(relation_line(stsg, span))
    others = sorted((t for t in stsg.track_ids if t not in target_set),
                    key=lambda t: (-summaries[t]["num_observations"], t))
    # Interleave: a few important other events, then tracks, then the rest of the events.
    lines += [event_line(stsg, e) for e in other_events if _EVENT_PRIORITY.get(e.type, 9) <= 1]
    lines += [track_line(stsg, t, summaries[t]) for t in others]
    lines += [event_line(stsg, e) for e in other_events if _EVENT_PRIORITY.get(e.type, 9) > 1]
    return _fit(lines, max_tokens, count_tokens)


def partial_expression(stsg, track_ids, start_frame=None, end_frame=None, *, max_tokens=None,
                       count_tokens: Callable[[str], int] | None = None) -> str:
    """The targets' part of the graph in the window, as text: VoT's partial STSG expression."""
    count_tokens = count_tokens or approximate_tokens
    wanted = [int(t) for t in track_ids]
    missing = [t for t in wanted if t not in stsg.track_ids]
    if missing:
        raise KeyError(f"no track(s) {missing} in this STSG (tracks: {stsg.track_ids})")
    sub = stsg.subgraph(wanted, start_frame, end_frame)
    lines = []
    for track_id in wanted:
        if track_id in sub.track_ids:
            lines.append(track_line(sub, track_id))
        else:
            lines.append(f"track {track_id}: not seen in this window")
    for event in sorted(sub.events, key=lambda e: (e.start_frame, _EVENT_PRIORITY.get(e.type, 9))):
        lines.append(event_line(sub, event))
    present = [t for t in wanted if t in sub.track_ids]
    for i, a in enumerate(present):
        for b in present[i + 1:]:
            for span in sub.interactions(a, b)["relations"]:
                lines.append(relation_line(sub, span))
    if not lines:
        return ""
    return _fit(lines, max_tokens, count_tokens)


# ---- named sentences, for a small LLM ---------------------------------------------------------------
_EVENT_VERBS = {"enter": "enters", "exit": "leaves", "appear": "appears", "disappear": "disappears",
                "approach": "approaches", "collide": "collides with", "push": "pushes", "start": "starts moving",
                "stop": "stops", "turn": "turns", "occluded": "is hidden by"}


def describe_event(scene: SceneQuery, event) -> str:
    """"At 1.6s the red circle pushes the blue square." (a turn at a frame edge names the edge)."""
    names = [scene.tracks[t].name if t in scene.tracks else "something" for t in event.track_ids]
    verb = _EVENT_VERBS.get(event.type, event.type)
    text = f"At {scene.seconds(event.start_frame):.1f}s the {names[0]} {verb}"
    if len(names) > 1:
        text += f" the {names[1]}" if verb.endswith(("with", "approaches", "pushes", "by")) else f" and the {names[1]}"
    if event.type == "turn" and (side := scene.border_contact(event.track_ids[0], event.start_frame)):
        text += f" at the {side} edge"
    return text + "."


def describe_track(scene: SceneQuery, track_id: int) -> str:
    """"The red circle is seen from 0.0s to 9.9s, moving right." (its net motion, first to last box)."""
    facts = scene.tracks[track_id]
    boxes = scene.boxes(track_id)
    centres = (boxes[:, 1:3] + boxes[:, 3:5]) / 2  # (N, 2)
    size = float(max(1.0, ((boxes[:, 3] - boxes[:, 1]).mean() + (boxes[:, 4] - boxes[:, 2]).mean()) / 2))
    direction = direction_name(centres[-1] - centres[0], still_below=max(2.0, 0.25 * size))
    motion = "staying still" if direction == "stationary" else f"moving {direction}"
    return (f"The {facts.name} is seen from {scene.seconds(facts.first_frame):.1f}s to "
            f"{scene.seconds(facts.last_frame):.1f}s, {motion}.")


def _word_tokens(text: str) -> int:
    """The named sentences' token estimate: 1.3 tokens a word, plus one for the line break."""
    return int(len(text.split()) * 1.3) + 1


def named_facts(doc: dict | None, track_ids=None, max_tokens: int = 220, *, until_frame: int | None = None) -> str:
    """The targets (all tracks when none), then their events in time order, as named sentences
    cut to about `max_tokens` tokens; "Nothing was detected." when there is nothing to say."""
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
    return _fit(lines, max_tokens, _word_tokens, skip_leading=False)


# ---- one line per segment of a long video, for retrieval ----------------------------------------------
def segment_summary(start_seconds: float, end_seconds: float, tracks: list[dict], events: list[dict],
                    max_events: int) -> str:
    """One line of plain text: the objects seen, then what happened (repeats counted).

    "0:10-0:20. Seen: cyan square, green hexagon. Events: cyan square collide green hexagon;
    cyan square turn wall top (x3); green hexagon exit."
    """
    def clock(seconds: float) -> str:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"

    seen = list(dict.fromkeys(t["label"] for t in tracks))
    lines = Counter()
    for event in events:
        extra = value_words(v for k, v in sorted(event["attributes"].items()) if k != "cause_track_id")
        who = " ".join(event["labels"][:1])
        rest = " ".join(event["labels"][1:])
        lines[" ".join(x for x in (who, event["type"], rest, extra) if x)] += 1
    # rarer events first: a collision says more about a segment than its tenth turn
    ordered = sorted(lines.items(), key=lambda item: (item[1], item[0]))[:max_events]
    events_text = "; ".join(f"{text} (x{count})" if count > 1 else text for text, count in ordered)
    return (f"{clock(start_seconds)}-{clock(end_seconds)}. Seen: {', '.join(seen) or 'nothing tracked'}. "
            f"Events: {events_text or 'none'}.")
