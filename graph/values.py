"""The typed values of a program run (graph/execute.py): what flows from one operator to the next
(`Value`, whose events are `Occurrence`s), what a run records (`StepRecord`, `Execution`), how a
value reads in the trace and to a user (`occurrence_text`, `value_text`), and `Unknown`, the
exception an operator raises when the scene cannot answer its step. Plain data; no operator here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from videothought.graph.query import SceneQuery


class Unknown(Exception):
    """The scene cannot answer this step; the message says why."""


@dataclass(frozen=True)
class Occurrence:
    """One track's view of an event: `kind` (push seen from the pushed side is "pushed"; an
    occlusion is the hidden track's), with `partner`, from `frame` to `end_frame`. `inferred`:
    located from the motion, not reported by the event detector. `cause`: the event's own record
    of what caused it, when the STSG carries one (attributes "cause", "cause_track_id", "wall")."""

    kind: str
    subject: int
    partner: int | None
    frame: int
    end_frame: int
    inferred: bool = False
    cause: tuple | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "subject": self.subject, "partner": self.partner, "frame": self.frame,
                "end_frame": self.end_frame, **({"inferred": True} if self.inferred else {})}


@dataclass
class Value:
    """A typed value. data: objects tuple[int]; events list[Occurrence]; event Occurrence; number int;
    text str; bool; direction str; time float seconds; cause dict; removal tuple[int]; prediction dict."""

    type: str
    data: Any = None
    presupposed: tuple | None = None  # events: (kind, subjects) a question takes for granted
    candidates: list = field(default_factory=list)  # event: the time-ordered events it was picked from

    def tracks(self) -> list[int]:
        if self.type in ("objects", "removal"):
            return list(self.data)
        if self.type == "event":
            return [t for t in (self.data.subject, self.data.partner) if t is not None]
        if self.type == "events":
            return sorted({t for o in self.data for t in (o.subject, o.partner) if t is not None})
        if self.type == "prediction":
            return [self.data["track"]] + ([self.data["with"]] if self.data.get("with") is not None else [])
        return []

    def frames(self) -> list[int]:
        if self.type == "event":
            return [self.data.frame]
        if self.type == "events":
            return [o.frame for o in self.data]
        return []

    def summary(self, scene: SceneQuery) -> str:
        name = lambda t: scene.tracks[t].name if t in scene.tracks else f"track {t}"
        if self.type in ("objects", "removal"):
            return ", ".join(f"{name(t)} (#{t})" for t in self.data) or "nothing"
        if self.type == "event":
            return occurrence_text(self.data, scene)
        if self.type == "events":
            shown = [occurrence_text(o, scene) for o in self.data[:4]]
            return "; ".join(shown) + (f"; ... ({len(self.data)} in all)" if len(self.data) > 4 else "") or "none"
        if self.type == "time":
            return f"{self.data:.1f} s"
        return str(self.data)


def occurrence_text(occurrence: Occurrence, scene: SceneQuery) -> str:
    name = lambda t: scene.tracks[t].name if t in scene.tracks else f"track {t}"
    text = f"{name(occurrence.subject)} {occurrence.kind}"
    if occurrence.partner is not None:
        text += f" with {name(occurrence.partner)}"
    text += f" at {scene.seconds(occurrence.frame):.1f} s (frame {occurrence.frame})"
    return text + (" (from its motion)" if occurrence.inferred else "")


@dataclass
class StepRecord:
    index: int
    step: str
    value: str
    type: str
    tracks: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"index": self.index, "step": self.step, "type": self.type, "value": self.value,
                "tracks": self.tracks, "frames": self.frames}


@dataclass
class Execution:
    """What running a program found: the value, "ok" or "unknown" (with the reason), each step."""

    value: Value | None
    status: str
    reason: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    scene: Any = field(default=None, repr=False, compare=False)  # what the last step saw (after a `watch`)

    @property
    def tracks(self) -> list[int]:
        return sorted({t for s in self.steps for t in s.tracks})

    @property
    def frames(self) -> list[int]:
        return sorted({f for s in self.steps for f in s.frames})

    def to_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, "type": self.value.type if self.value else None,
                "value": self.steps[-1].value if self.steps and self.value else None,
                "steps": [s.to_dict() for s in self.steps], "tracks": self.tracks, "frames": self.frames}

    def text(self) -> str:
        """The executed program as lines, for traces and the LLM."""
        lines = [f"{s.index} {s.step} -> {s.value}" for s in self.steps]
        if self.status != "ok":
            lines.append(f"unknown: {self.reason}")
        return "\n".join(lines)


def value_text(value: Value, scene: SceneQuery) -> str:
    """An executed value as a user would say it ("the blue star", "3", "it hits the left edge"),
    never by track number: the open answer when a question has no options."""
    def name(track: int) -> str:
        return f"the {scene.tracks[track].name}" if track in scene.tracks else "something"

    if value.type == "objects":
        names = list(dict.fromkeys(name(t) for t in value.data))
        return " and ".join(names) if names else "nothing"
    if value.type == "event":
        o = value.data
        text = f"{name(o.subject)} {o.kind}s" if o.kind not in ("pushed",) else f"{name(o.subject)} is pushed"
        return text + (f" {'by' if o.kind == 'pushed' else 'with'} {name(o.partner)}" if o.partner is not None else "") \
            + f" at {scene.seconds(o.frame):.1f} seconds"
    if value.type == "events":
        return "; ".join(value_text(Value("event", o), scene) for o in value.data[:3]) or "nothing"
    if value.type == "cause":
        by = value.data["by"]
        if by == "edge":
            return f"it hits the {value.data.get('side')} edge"
        if by in ("collide", "push"):
            return f"{'it collides with' if by == 'collide' else 'it is pushed by'} {name(value.data.get('with'))}"
        return "it does so on its own"
    if value.type == "time":
        return f"at {value.data:.1f} seconds"
    if value.type == "bool":
        return "yes" if value.data else "no"
    if value.type == "prediction":
        p = value.data
        if p["kind"] == "contact":
            return f"it will meet {name(p['with'])}"
        if p["kind"] == "border":
            return f"it will reach the {p['side']} edge"
        return "it stays still" if p["kind"] == "still" else "nothing can be told"
    if value.type == "removal":
        return "without " + value_text(Value("objects", value.data), scene)
    return str(value.data)

