"""Scene specs and the physics that turns one into trajectories and causal events.

A `SceneSpec` is everything needed to render a video deterministically: objects
(shape, colour, size, start state, scripted actions), background, camera shake,
noise. `sample_spec(rng, params)` draws one with interactions staged on purpose
(pairs aimed to collide, a pusher aimed at a resting object, objects entering
from outside, a large "floating" object passing over a resting one), because
objects moving at random rarely meet in a few seconds.

`simulate(spec)` steps the world one frame at a time (positions in pixels,
velocities in pixels per second) and logs the events it causes, with their causes:

    frame t:  scripted actions (stop/start/turn) -> integrate -> walls -> collisions/pushes

Ground objects (layer 0) collide with each other elastically (mass ~ radius^2);
floating objects (layer 1) pass over ground objects, drawn on top: they occlude.
An object bounces off a wall only once it has been fully inside the frame, so
objects can enter from outside; objects with `bounces=False` leave through a wall.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .config import OBJECT_COLOURS, SHAPES, SIZES, WorldParams, label_of

MOVING_SPEED = 2.0  # pixels per second: slower than this counts as resting
TURN_DEGREES = 20.0  # a direction change above this is a "turn" event
RAMP_FRAMES = 3  # scripted starts and stops take this many frames


@dataclass
class Action:
    """A scripted change of motion at `frame`: stop, start (to `velocity`), turn (by `degrees`)."""

    frame: int
    kind: str  # "stop" | "start" | "turn"
    velocity: tuple[float, float] | None = None
    degrees: float | None = None

    def __post_init__(self):
        if self.kind not in ("stop", "start", "turn"):
            raise ValueError(f"action kind must be stop, start or turn, got {self.kind!r}")


@dataclass
class ObjectSpec:
    object_id: int
    colour: str
    shape: str
    size: str
    radius: float  # bounding-circle radius, pixels
    position: tuple[float, float]  # centre (x, y) at appear_frame, pixels
    velocity: tuple[float, float]  # pixels per second
    acceleration: tuple[float, float] = (0.0, 0.0)  # pixels per second^2, while moving
    layer: int = 0  # 0: ground, collides; 1: floating, drawn on top, passes over
    appear_frame: int = 0
    disappear_frame: int | None = None  # first frame it is gone
    bounces: bool = True
    pushes: bool = False  # on contact with a resting object, carry it along for push_frames
    push_frames: int = 0
    actions: list[Action] = field(default_factory=list)
    role: str = "wander"

    def __post_init__(self):
        if self.colour not in OBJECT_COLOURS:
            raise ValueError(f"object colour must be one of {tuple(OBJECT_COLOURS)}, got {self.colour!r}")
        if self.shape not in SHAPES:
            raise ValueError(f"object shape must be one of {SHAPES}, got {self.shape!r}")
        if self.size not in SIZES:
            raise ValueError(f"object size must be one of {tuple(SIZES)}, got {self.size!r}")
        self.position = tuple(float(v) for v in self.position)
        self.velocity = tuple(float(v) for v in self.velocity)
        self.acceleration = tuple(float(v) for v in self.acceleration)
        self.actions = [a if isinstance(a, Action) else Action(**a) for a in self.actions]

    @property
    def label(self) -> str:
        return label_of(self.colour, self.shape)


@dataclass
class BackgroundSpec:
    kind: str = "plain"  # plain | stripes | checker | blobs
    colour: tuple[int, int, int] = (70, 70, 70)
    second_colour: tuple[int, int, int] = (90, 90, 90)
    scale: int = 16  # texture period, pixels
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per frame: a moving background


@dataclass
class SceneSpec:
    video_id: str
    seed: int  # drives textures, shake and noise at render time
    width: int
    height: int
    fps: float
    num_frames: int
    objects: list[ObjectSpec]
    background: BackgroundSpec = field(default_factory=BackgroundSpec)
    jitter_pixels: int = 0
    noise_sigma: float = 0.0
    episode_starts: list[int] = field(default_factory=lambda: [0])  # long videos: episode boundaries

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> SceneSpec:
        values = dict(record)
        values["objects"] = [ObjectSpec(**o) for o in record["objects"]]
        values["background"] = BackgroundSpec(**{k: tuple(v) if isinstance(v, list) else v
                                                 for k, v in record["background"].items()})
        return cls(**values)

    def object_by_id(self, object_id: int) -> ObjectSpec:
        for obj in self.objects:
            if obj.object_id == object_id:
                return obj
        raise KeyError(f"no object {object_id} in {self.video_id}")


# ---- sampling ----------------------------------------------------------------------------
def sample_spec(rng: np.random.Generator, params: WorldParams | None = None, *, video_id: str = "w0_000000",
                num_frames: int | None = None, first_object_id: int = 0, **overrides) -> SceneSpec:
    """Draw a scene: objects with unique colour+shape labels and staged interactions.

    `params` (or keyword overrides of WorldParams fields) set size, length, object count
    and difficulty. Deterministic in `rng`.
    """
    if params is None:
        params = WorldParams(**overrides)
    elif overrides:
        params = dataclasses.replace(params, **overrides)
    params = params.resolved()
    width, height, fps = params.width, params.height, params.fps
    num_frames = num_frames or max(2, int(round(params.seconds * fps)))
    scale = height / 240.0
    speed_scale = width / 320.0
    low, high = params.speed_range

    def speed() -> float:
        return float(rng.uniform(low, high)) * speed_scale

    def heading() -> float:
        return float(rng.uniform(0, 2 * math.pi))

    num_objects = int(rng.integers(params.min_objects, params.max_objects + 1))
    labels = _sample_labels(rng, num_objects)
    # Roles, in order of preference: interactions first (they make the questions).
    roles = []
    plan = ["collide_pair", "push_pair", "enter", "exit", "scripted", "wander", "appear"]
    remaining = num_objects
    for role in plan:
        if remaining <= 0:
            break
        if role in ("collide_pair", "push_pair"):
            if remaining >= 2 and rng.random() < (0.85 if role == "collide_pair" else 0.5):
                roles += [role + ":a", role + ":b"]
                remaining -= 2
        elif rng.random() < 0.6:
            roles.append(role)
            remaining -= 1
    while remaining > 0:
        roles.append(str(rng.choice(["wander", "scripted", "enter", "exit"])))
        remaining -= 1
    floating = num_objects >= 2 and rng.random() < params.floater_probability

    objects: list[ObjectSpec] = []
    placed: list[tuple[float, float, float]] = []  # (x, y, r) of objects inside at frame 0

    def free_position(radius: float, margin: float) -> tuple[float, float]:
        for _ in range(200):
            x = float(rng.uniform(margin + radius, width - margin - radius))
            y = float(rng.uniform(margin + radius, height - margin - radius))
            if all(math.hypot(x - px, y - py) > radius + pr + 6 for px, py, pr in placed):
                return x, y
        return x, y

    def new_object(index: int, role: str, **kwargs) -> ObjectSpec:
        colour, shape = labels[index]
        size = str(rng.choice(list(SIZES)))
        radius = SIZES[size] * scale
        values = dict(position=(0.0, 0.0), velocity=(0.0, 0.0))
        values.update(kwargs)
        return ObjectSpec(object_id=first_object_id + index, colour=colour, shape=shape, size=size,
                          radius=radius, role=role, **values)

    index = 0
    while index < len(roles):
        role = roles[index]
        if role.endswith(":a"):
            pair = role.split(":")[0]
            a = new_object(index, pair)
            b = new_object(index + 1, pair)
            # Pushes come early: a resting target is soon hit by something else.
            meet_frame = int(rng.uniform(0.3, 0.6) * num_frames if pair == "collide_pair"
                             else rng.uniform(0.12, 0.3) * num_frames)
            meet_seconds = meet_frame / fps
            margin = max(a.radius, b.radius) + 8
            px = float(rng.uniform(0.25 * width, 0.75 * width))
            py = float(rng.uniform(0.25 * height, 0.75 * height))
            if pair == "collide_pair":
                angle_a = heading()
                angle_b = angle_a + math.pi + float(rng.uniform(-1.0, 1.0))  # roughly head-on
                for obj, angle in ((a, angle_a), (b, angle_b)):
                    s = speed()
                    v = (s * math.cos(angle), s * math.sin(angle))
                    # Start so the centres would meet at (px, py) at meet_frame; contact comes just before.
                    obj.velocity = v
                    obj.position = (px - v[0] * meet_seconds, py - v[1] * meet_seconds)
                    obj.bounces = True
            else:  # push: b rests at (px, py), a is aimed at it and carries it along
                angle = heading()
                s = speed()
                v = (s * math.cos(angle), s * math.sin(angle))
                b.position = (px, py)
                b.velocity = (0.0, 0.0)
                gap = a.radius + b.radius
                a.velocity = v
                a.position = (px - v[0] * meet_seconds - gap * math.cos(angle),
                              py - v[1] * meet_seconds - gap * math.sin(angle))
                a.pushes = True
                a.push_frames = int(rng.integers(int(0.5 * fps), int(1.0 * fps) + 1))
            for obj in (a, b):
                x, y = obj.position
                inside = margin <= x <= width - margin and margin <= y <= height - margin
                if inside:
                    placed.append((x, y, obj.radius))
            objects += [a, b]
            index += 2
            continue
        obj = new_object(index, role)
        s, angle = speed(), heading()
        v = (s * math.cos(angle), s * math.sin(angle))
        if role == "enter":
            side = int(rng.integers(4))
            start_frame_offset = float(rng.uniform(0.0, 0.4)) * num_frames / fps
            if side in (0, 1):  # left, right
                x = -obj.radius - s * start_frame_offset if side == 0 else width + obj.radius + s * start_frame_offset
                y = float(rng.uniform(0.2, 0.8) * height)
                direction = 0.0 if side == 0 else math.pi
            else:  # top, bottom
                y = -obj.radius - s * start_frame_offset if side == 2 else height + obj.radius + s * start_frame_offset
                x = float(rng.uniform(0.2, 0.8) * width)
                direction = math.pi / 2 if side == 2 else -math.pi / 2
            direction += float(rng.uniform(-0.4, 0.4))
            obj.position = (x, y)
            obj.velocity = (s * math.cos(direction), s * math.sin(direction))
            obj.bounces = bool(rng.random() < 0.7)
        elif role == "exit":
            obj.position = free_position(obj.radius, 0.25 * min(width, height))
            obj.velocity = v
            obj.bounces = False
            placed.append((*obj.position, obj.radius))
        elif role == "appear":
            obj.position = free_position(obj.radius, 10)
            placed.append((*obj.position, obj.radius))
            obj.velocity = v if rng.random() < 0.5 else (0.0, 0.0)
            if rng.random() < 0.5:
                obj.appear_frame = int(rng.integers(max(1, num_frames // 5), max(2, num_frames // 2)))
            else:
                obj.disappear_frame = int(rng.integers(max(2, num_frames // 2), max(3, num_frames - 2)))
        else:  # wander / scripted
            obj.position = free_position(obj.radius, 10)
            placed.append((*obj.position, obj.radius))
            obj.velocity = v
            if rng.random() < 0.25:  # speeding up or slowing down along its direction
                gain = float(rng.uniform(0.3, 0.8)) * (1 if rng.random() < 0.5 else -0.6)
                obj.acceleration = (v[0] * gain, v[1] * gain)
            if role == "scripted":
                obj.actions = _sample_actions(rng, num_frames, fps, speed, heading)
                if obj.actions and obj.actions[0].kind == "start":
                    obj.velocity = (0.0, 0.0)
        objects.append(obj)
        index += 1

    if floating:
        # A large object on the top layer drifts over a resting (or the first) ground object.
        resting = [o for o in objects if o.velocity == (0.0, 0.0) and o.appear_frame == 0
                   and o.disappear_frame is None] or [o for o in objects if o.role in ("wander", "scripted")]
        if resting:
            target = resting[int(rng.integers(len(resting)))]
            colour, shape = _sample_labels(rng, 1, taken={(o.colour, o.shape) for o in objects})[0]
            over_frame = int(rng.uniform(0.35, 0.7) * num_frames)
            s = speed() * 0.6
            angle = heading()
            v = (s * math.cos(angle), s * math.sin(angle))
            tx, ty = target.position
            floater = ObjectSpec(
                object_id=first_object_id + len(objects), colour=colour, shape=shape, size="large",
                radius=SIZES["large"] * scale * 1.5, layer=1, role="floater",
                position=(tx - v[0] * over_frame / fps, ty - v[1] * over_frame / fps), velocity=v, bounces=False,
            )
            objects.append(floater)

    kind = str(rng.choice(list(params.background_kinds)))
    base = int(rng.integers(45, 95))
    tint = rng.integers(-8, 9, size=3)
    colour = tuple(int(np.clip(base + t, 0, 255)) for t in tint)
    contrast = int(rng.integers(12, 30)) * (1 if rng.random() < 0.5 else -1)
    second = tuple(int(np.clip(c + contrast, 0, 255)) for c in colour)
    moving = rng.random() < params.moving_background_probability
    background = BackgroundSpec(
        kind=kind, colour=colour, second_colour=second, scale=int(rng.integers(8, 28)),
        velocity=(float(rng.uniform(-1.5, 1.5)), float(rng.uniform(-1.0, 1.0))) if moving else (0.0, 0.0),
    )
    return SceneSpec(
        video_id=video_id, seed=int(rng.integers(2**31)), width=width, height=height, fps=fps,
        num_frames=num_frames, objects=objects, background=background,
        jitter_pixels=int(params.jitter_pixels) if rng.random() < 0.5 else 0,
        noise_sigma=float(params.noise_sigma),
    )


def _sample_labels(rng: np.random.Generator, count: int, taken: set | None = None) -> list[tuple[str, str]]:
    """Unique (colour, shape) pairs; colours and shapes may repeat across objects (so both matter)."""
    taken = set(taken or ())
    colours, shapes = list(OBJECT_COLOURS), list(SHAPES)
    # Draw from a few colours and shapes so some repeat and questions must use both attributes.
    colour_pool = list(rng.choice(colours, size=min(len(colours), max(2, count)), replace=False))
    shape_pool = list(rng.choice(shapes, size=min(len(shapes), max(2, count)), replace=False))
    labels = []
    for _ in range(count):
        for _ in range(100):
            pair = (str(rng.choice(colour_pool)), str(rng.choice(shape_pool)))
            if pair not in taken:
                break
        else:
            pair = next((c, s) for c in colours for s in shapes if (c, s) not in taken)
        taken.add(pair)
        labels.append(pair)
    return labels


def _sample_actions(rng, num_frames, fps, speed, heading) -> list[Action]:
    kinds = [["stop"], ["turn"], ["start"], ["stop", "start"], ["turn", "stop"], ["start", "turn"]]
    sequence = kinds[int(rng.integers(len(kinds)))]
    window = np.arange(int(0.15 * num_frames), max(int(0.85 * num_frames), int(0.15 * num_frames) + 1))
    sequence = sequence[: len(window)]
    frames = np.sort(rng.choice(window, size=len(sequence), replace=False))
    # Keep scripted actions well apart so each is its own event.
    for i in range(1, len(frames)):
        frames[i] = max(frames[i], frames[i - 1] + RAMP_FRAMES + 3)
    actions = []
    for kind, frame in zip(sequence, frames):
        frame = int(min(frame, num_frames - 2))
        if kind == "turn":
            degrees = float(rng.uniform(50, 130)) * (1 if rng.random() < 0.5 else -1)
            actions.append(Action(frame=frame, kind="turn", degrees=degrees))
        elif kind == "start":
            s, angle = speed(), heading()
            actions.append(Action(frame=frame, kind="start", velocity=(s * math.cos(angle), s * math.sin(angle))))
        else:
            actions.append(Action(frame=frame, kind="stop"))
    return actions


# ---- simulation --------------------------------------------------------------------------
@dataclass
class Trajectories:
    """Per-frame state: positions (T, N, 2) pixels, velocities (T, N, 2) px/s, alive (T, N)."""

    object_ids: list[int]
    positions: np.ndarray
    velocities: np.ndarray
    alive: np.ndarray
    events: list[dict]  # schema Event dicts with causes in "attributes"


def simulate(spec: SceneSpec) -> Trajectories:
    """Step the scene; positions at frame t are where objects are drawn in frame t."""
    objects = spec.objects
    n, num_frames, fps = len(objects), spec.num_frames, spec.fps
    dt = 1.0 / fps
    width, height = spec.width, spec.height
    pos = np.array([o.position for o in objects], dtype=np.float64).reshape(n, 2)
    vel = np.array([o.velocity for o in objects], dtype=np.float64).reshape(n, 2)
    acc = np.array([o.acceleration for o in objects], dtype=np.float64).reshape(n, 2)
    radius = np.array([o.radius for o in objects])
    mass = radius**2
    walled = np.zeros(n, dtype=bool)
    ramp: dict[int, tuple[np.ndarray, np.ndarray, int, int, dict]] = {}  # i -> (from, to, start, end, event)
    push: dict[int, tuple[int, int, np.ndarray]] = {}  # pusher -> (pushed, release frame, offset)
    pushed_by: dict[int, int] = {}
    used_push = np.zeros(n, dtype=bool)
    events: list[dict] = []
    ids = [o.object_id for o in objects]
    positions = np.zeros((num_frames, n, 2))
    velocities = np.zeros((num_frames, n, 2))
    alive = np.zeros((num_frames, n), dtype=bool)

    def event(kind, members, start, end=None, **attributes):
        record = {"type": kind, "track_ids": [ids[i] for i in members], "start_frame": int(start),
                  "end_frame": int(start if end is None else end), "attributes": attributes}
        events.append(record)
        return record

    def moving(i) -> bool:
        return float(np.hypot(*vel[i])) > MOVING_SPEED

    for t in range(num_frames):
        alive_now = np.array([(o.appear_frame <= t) and (o.disappear_frame is None or t < o.disappear_frame)
                              for o in objects])
        for i, o in enumerate(objects):
            if t == o.appear_frame and t > 0:
                event("appear", [i], t)
            if o.disappear_frame is not None and t == o.disappear_frame:
                event("disappear", [i], t)
        # Scripted actions take effect at their frame.
        for i, o in enumerate(objects):
            if not alive_now[i] or i in pushed_by or i in push:
                continue
            for action in o.actions:
                if action.frame != t:
                    continue
                if action.kind == "stop" and moving(i):
                    end = t + RAMP_FRAMES
                    ramp[i] = (vel[i].copy(), np.zeros(2), t, end, event("stop", [i], t, end, cause="self"))
                elif action.kind == "start" and not moving(i):
                    end = t + RAMP_FRAMES
                    target = np.array(action.velocity)
                    ramp[i] = (vel[i].copy(), target, t, end, event("start", [i], t, end, cause="self"))
                elif action.kind == "turn" and moving(i) and i not in ramp:
                    angle = math.radians(action.degrees)
                    c, s = math.cos(angle), math.sin(angle)
                    vel[i] = (c * vel[i, 0] - s * vel[i, 1], s * vel[i, 0] + c * vel[i, 1])
                    acc[i] = (c * acc[i, 0] - s * acc[i, 1], s * acc[i, 0] + c * acc[i, 1])
                    event("turn", [i], t, cause="self", degrees=round(action.degrees, 1))
        for i, (v_from, v_to, start, end, _) in list(ramp.items()):
            fraction = min(1.0, (t - start + 1) / (end - start + 1))
            vel[i] = v_from + (v_to - v_from) * fraction
            if t >= end:
                vel[i] = v_to
                if not np.any(v_to):
                    acc[i] = 0.0
                del ramp[i]

        positions[t], velocities[t], alive[t] = pos, vel, alive_now
        if t == num_frames - 1:
            break

        # Integrate to frame t + 1.
        for i in range(n):
            if alive_now[i] and moving(i) and i not in ramp and i not in pushed_by:
                speed_before = np.hypot(*vel[i])
                vel[i] = vel[i] + acc[i] * dt
                if np.dot(vel[i], vel[i] - acc[i] * dt) <= 0 or np.hypot(*vel[i]) < MOVING_SPEED:
                    # Deceleration ran out: the object comes to rest.
                    vel[i] = 0.0
                    acc[i] = 0.0
                    if speed_before > MOVING_SPEED:
                        event("stop", [i], t, t + 1, cause="friction")
        pos = pos + vel * dt
        step = t + 1
        # Pushed objects ride in front of their pusher.
        for pusher, (pushed, release, offset) in list(push.items()):
            pos[pushed] = pos[pusher] + offset
            vel[pushed] = vel[pusher]
            if step >= release:
                del push[pusher], pushed_by[pushed]
                # The pusher stops; the pushed object slides on.
                ramp[pusher] = (vel[pusher].copy(), np.zeros(2), step, step + RAMP_FRAMES,
                                event("stop", [pusher], step, step + RAMP_FRAMES, cause="self"))
        # Walls.
        for i in range(n):
            if not alive_now[i] or not objects[i].bounces or objects[i].layer != 0:
                continue
            r = radius[i]
            inside = r <= pos[i, 0] <= width - r and r <= pos[i, 1] <= height - r
            if not walled[i]:
                walled[i] = inside
                continue
            hit = None
            if pos[i, 0] < r and vel[i, 0] < 0:
                pos[i, 0], vel[i, 0], acc[i, 0], hit = 2 * r - pos[i, 0], -vel[i, 0], -acc[i, 0], "left"
            elif pos[i, 0] > width - r and vel[i, 0] > 0:
                pos[i, 0], vel[i, 0], acc[i, 0], hit = 2 * (width - r) - pos[i, 0], -vel[i, 0], -acc[i, 0], "right"
            if pos[i, 1] < r and vel[i, 1] < 0:
                pos[i, 1], vel[i, 1], acc[i, 1], hit = 2 * r - pos[i, 1], -vel[i, 1], -acc[i, 1], "top"
            elif pos[i, 1] > height - r and vel[i, 1] > 0:
                pos[i, 1], vel[i, 1], acc[i, 1], hit = 2 * (height - r) - pos[i, 1], -vel[i, 1], -acc[i, 1], "bottom"
            if hit is not None:
                if i in ramp:  # a wall during a scripted ramp: the ramp's direction flips too
                    v_from, v_to, start, end, record = ramp[i]
                    flip = np.sign(vel[i]) * np.sign(v_from + 1e-12)
                    ramp[i] = (v_from * flip, v_to * flip, start, end, record)
                event("turn", [i], step, cause="wall", wall=hit)
        # Collisions between ground objects (one contact per pair per frame).
        for i in range(n):
            for j in range(i + 1, n):
                if not (alive_now[i] and alive_now[j]) or objects[i].layer != 0 or objects[j].layer != 0:
                    continue
                if i in pushed_by and pushed_by[i] == j or j in pushed_by and pushed_by[j] == i:
                    continue
                delta = pos[j] - pos[i]
                distance = float(np.hypot(*delta))
                if distance >= radius[i] + radius[j] or distance == 0:
                    continue
                normal = delta / distance
                approaching = float(np.dot(vel[i] - vel[j], normal)) > 0
                if not approaching:
                    continue
                # A pusher meeting a resting object carries it along instead of bouncing.
                for pusher, target in ((i, j), (j, i)):
                    if (objects[pusher].pushes and not used_push[pusher] and not moving(target)
                            and target not in pushed_by and target not in push and pusher not in pushed_by):
                        offset = (pos[target] - pos[pusher]) / distance * (radius[i] + radius[j])
                        push[pusher] = (target, step + objects[pusher].push_frames, offset)
                        pushed_by[target] = pusher
                        used_push[pusher] = True
                        ramp.pop(target, None)
                        pos[target] = pos[pusher] + offset
                        vel[target] = vel[pusher]
                        acc[target] = 0.0
                        event("push", [pusher, target], step, step + objects[pusher].push_frames)
                        event("start", [target], step, step, cause="push", cause_track_id=ids[pusher])
                        break
                else:
                    before = {k: vel[k].copy() for k in (i, j)}
                    relative = float(np.dot(vel[i] - vel[j], normal))
                    total = mass[i] + mass[j]
                    vel[i] = vel[i] - (2 * mass[j] / total) * relative * normal
                    vel[j] = vel[j] + (2 * mass[i] / total) * relative * normal
                    overlap = radius[i] + radius[j] - distance
                    pos[i] -= normal * overlap * mass[j] / total
                    pos[j] += normal * overlap * mass[i] / total
                    for k in (i, j):
                        ramp.pop(k, None)
                        acc[k] = 0.0
                    event("collide", sorted([i, j], key=lambda k: ids[k]), step)
                    for k, other in ((i, j), (j, i)):
                        was, now = before[k], vel[k]
                        was_moving = np.hypot(*was) > MOVING_SPEED
                        now_moving = np.hypot(*now) > MOVING_SPEED
                        if not now_moving:
                            vel[k] = 0.0
                        if was_moving and not now_moving:
                            event("stop", [k], step, step, cause="collide", cause_track_id=ids[other])
                        elif not was_moving and now_moving:
                            event("start", [k], step, step, cause="collide", cause_track_id=ids[other])
                        elif was_moving and now_moving:
                            degrees = _angle_between(was, now)
                            if degrees > TURN_DEGREES:
                                event("turn", [k], step, cause="collide", cause_track_id=ids[other],
                                      degrees=round(degrees, 1))
    events.sort(key=lambda e: (e["start_frame"], e["end_frame"], e["type"], e["track_ids"]))
    return Trajectories(object_ids=ids, positions=positions, velocities=velocities, alive=alive, events=events)


def _angle_between(a: np.ndarray, b: np.ndarray) -> float:
    cosine = float(np.dot(a, b) / (np.hypot(*a) * np.hypot(*b)))
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))
