"""STSG as text for LLM prompts: one fact per line, most relevant first, cut to a token budget.

Line order (each group sorted by relevance inside):
    1. the target tracks (given by the caller, e.g. the objects a question names)
    2. events involving targets, then other events (collisions before motion changes)
    3. relations between targets (spans)
    4. the remaining tracks, longest-lived first

    video: 250 frames at 25 fps, 320x240
    track 3 "red circle" (colour=red, shape=circle): frames 0-249 (0.0-10.0 s), moves right, 31 px/s, ...
    event collide: tracks 3 and 5, frames 40-42 (1.6-1.7 s)
    relation: track 3 left_of track 5, frames 0-39

Times are given in seconds as well as frames: questions talk in seconds, the graph in frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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


def _fit(lines: list[str], max_tokens: int | None, count_tokens: Callable[[str], int]) -> str:
    kept, used = [], 0
    for line in lines:
        cost = count_tokens(line + "\n")
        if max_tokens is not None and used + cost > max_tokens:
            if kept:
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
