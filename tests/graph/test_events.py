"""Event detection on hand-made tracks: each kind fires where it should, and only there."""

import numpy as np
import pytest

from videothought.graph.events import EventConfig
from videothought.graph.schema import Observation
from videothought.graph.stsg import STSG

FPS = 10.0
VIDEO = {"fps": FPS, "num_frames": 40, "width": 320, "height": 240}


def path(track_id, centres, frames=None, size=20, hidden=()):
    frames = list(range(len(centres))) if frames is None else frames
    return [Observation(track_id, f, f / FPS, (x - size / 2, y - size / 2, x + size / 2, y + size / 2),
                        visible=f not in hidden) for f, (x, y) in zip(frames, centres)]


def kinds(stsg, track_id=None):
    return [(e.type, e.track_ids, e.start_frame) for e in stsg.detect_events()
            if track_id is None or track_id in e.track_ids]


def test_still_object_has_no_events():
    stsg = STSG.from_observations(path(1, [(100, 100)] * 40), video=VIDEO)
    assert kinds(stsg) == []


def test_enter_and_exit_at_the_frame_edge_appear_and_disappear_inside():
    entering = path(1, [(5 + 6 * t, 100) for t in range(30)], frames=list(range(10, 40)))
    leaving = path(2, [(200 + 6 * t, 50) for t in range(20)])  # box right edge 210 + 6t: 318 at frame 18
    popping = path(3, [(160, 200)] * 10, frames=list(range(15, 25)))
    stsg = STSG.from_observations(entering + leaving + popping, video=VIDEO)
    events = kinds(stsg)
    spans = {(e.type, e.track_ids[0]): (e.start_frame, e.end_frame) for e in stsg.events}
    # enter: from the first frame to the first one clear of the edge (box x1 = -5, 1, 7: frame 12)
    assert spans[("enter", 1)] == (10, 12)
    # exit: from the first frame back at the edge (x2 = 318 >= 320 - 4 at frame 18) to the last
    assert spans[("exit", 2)] == (18, 19)
    assert ("appear", [3], 15) in events
    assert ("disappear", [3], 24) in events
    assert not [e for e in events if e[0] in ("enter", "appear") and e[1] == [2]]  # seen from frame 0


def test_start_stop_and_turn():
    centres = [(50, 100)] * 10  # still for 1 s
    centres += [(50 + 5 * t, 100) for t in range(1, 16)]  # right at 50 px/s
    x = centres[-1][0]
    centres += [(x, 100 + 5 * t) for t in range(1, 16)]  # then down: a 90 degree turn at frame 25
    stsg = STSG.from_observations(path(1, centres), video=VIDEO)
    events = stsg.detect_events()
    starts = [e.start_frame for e in events if e.type == "start"]
    turns = [e for e in events if e.type == "turn"]
    assert len(starts) == 1 and abs(starts[0] - 10) <= 1
    assert len(turns) == 1 and abs(turns[0].start_frame - 25) <= 1
    assert turns[0].attributes["degrees"] == pytest.approx(90, abs=15)
    assert not [e for e in events if e.type == "stop"]
    stopping = STSG.from_observations(path(1, list(reversed(centres[:25]))), video=VIDEO)
    stops = [e.start_frame for e in stopping.detect_events() if e.type == "stop"]
    assert len(stops) == 1 and abs(stops[0] - 15) <= 1


def test_collision_needs_a_change_of_motion():
    # Two 20-pixel boxes touch at frame 10 (centres 20 px apart) and bounce back.
    a = [(100 + 4 * t, 100) if t <= 10 else (140 - 4 * (t - 10), 100) for t in range(20)]
    b = [(200 - 4 * t, 100) if t <= 10 else (160 + 4 * (t - 10), 100) for t in range(20)]
    stsg = STSG.from_observations(path(1, a) + path(2, b), video=VIDEO)
    collisions = [e for e in stsg.detect_events() if e.type == "collide"]
    assert len(collisions) == 1
    assert collisions[0].track_ids == [1, 2]
    assert abs(collisions[0].start_frame - 10) <= 1
    # The same boxes passing through each other without changing course: not a collision.
    a = [(100 + 4 * t, 100) for t in range(30)]
    b = [(220 - 4 * t, 100) for t in range(30)]
    stsg = STSG.from_observations(path(1, a) + path(2, b), video=VIDEO)
    assert not [e for e in stsg.detect_events() if e.type == "collide"]


def test_push_moves_a_resting_object():
    pusher = [(60 + 5 * t, 100) for t in range(25)]
    target = [(150, 100) if t <= 14 else (150 + 5 * (t - 14), 100) for t in range(25)]  # contact at t=14
    stsg = STSG.from_observations(path(1, pusher) + path(2, target), video=VIDEO)
    pushes = [e for e in stsg.detect_events() if e.type == "push"]
    assert len(pushes) == 1
    assert pushes[0].track_ids == [1, 2]  # [pusher, pushed]
    assert abs(pushes[0].start_frame - 14) <= 1 and pushes[0].end_frame == 24
    assert not [e for e in stsg.events if e.type == "collide"]


def test_occluded_names_the_occluder():
    hidden_frames = set(range(10, 15))
    resting = path(1, [(100, 100)] * 25, hidden=hidden_frames)
    floater = [Observation(2, t, t / FPS, (60 + 4 * t - 25, 75, 60 + 4 * t + 25, 125)) for t in range(25)]
    stsg = STSG.from_observations(resting + floater, video=VIDEO)
    occluded = [e for e in stsg.detect_events() if e.type == "occluded"]
    assert len(occluded) == 1
    assert occluded[0].track_ids == [1, 2]
    assert (occluded[0].start_frame, occluded[0].end_frame) == (10, 14)
    # Hidden with nobody in front: a detector miss, not an occlusion.
    alone = STSG.from_observations(path(1, [(100, 100)] * 25, hidden=hidden_frames), video=VIDEO)
    assert not [e for e in alone.detect_events() if e.type == "occluded"]


def test_event_config_rejects_bad_values():
    with pytest.raises(ValueError, match="turn_degrees"):
        EventConfig(turn_degrees=-1)


def test_a_glancing_turn_counts_and_a_jolt_at_the_first_frame_does_not():
    import math

    angle = math.radians(27)  # a glancing hit: a 27 degree change of heading at frame 20
    centres = [(40 + 6 * t, 120) for t in range(21)]
    x = centres[-1][0]
    centres += [(x + 6 * t * math.cos(angle), 120 + 6 * t * math.sin(angle)) for t in range(1, 20)]
    turns = [e.start_frame for e in STSG.from_observations(path(1, centres), video=VIDEO).detect_events() if e.type == "turn"]
    assert len(turns) == 1 and abs(turns[0] - 20) <= 1
    # at 12 frames/s, a box that shifts between its first two frames (the object coming into
    # view), then moves steadily on: one frame of track before the shift is under half the
    # heading window, no heading to turn from
    fps = 12.0
    jolted = [(100, 96)] + [(100 + 6 * t, 100) for t in range(1, 30)]
    observations = [Observation(2, f, f / fps, (x - 10, y - 10, x + 10, y + 10)) for f, (x, y) in enumerate(jolted)]
    stsg = STSG.from_observations(observations, video={**VIDEO, "fps": fps})
    assert not [e for e in stsg.detect_events() if e.type == "turn"]


# ---- real-footage jitter: a pedestrian's box at 5 frames/s -----------------------------------

WALK_FPS = 5.0
WALK_VIDEO = {"fps": WALK_FPS, "num_frames": 400, "width": 768, "height": 576}


def walker(track_id, centres, *, seed=0, jitter=2.0, width=24, height=60, first_frame=0, spikes=()):
    """A pedestrian-sized box (24 x 60 px) along `centres`, with Gaussian position jitter (px)
    and box breathing, as a background-subtraction blob gives it; `spikes`: frames where the
    blob merges with a neighbour (a box twice as wide)."""
    rng = np.random.default_rng(seed)
    observations = []
    for k, (x, y) in enumerate(centres):
        frame = first_frame + k
        x, y = x + rng.normal(0, jitter), y + rng.normal(0, jitter)
        w, h = width * rng.uniform(0.85, 1.15), height * rng.uniform(0.95, 1.05)
        if frame in spikes:
            w, x = 2.2 * w, x + w  # merged with someone beside: box widens to one side
        observations.append(Observation(track_id, frame, frame / WALK_FPS, (x - w / 2, y - h / 2, x + w / 2, y + h / 2)))
    return observations


def walk(start, velocity_px_s, seconds):
    steps = int(round(seconds * WALK_FPS))
    return [(start[0] + velocity_px_s[0] * k / WALK_FPS, start[1] + velocity_px_s[1] * k / WALK_FPS) for k in range(steps)]


def real_events(observations, config=EventConfig()):
    stsg = STSG.from_observations(observations, video=WALK_VIDEO)
    return [(e.type, e.track_ids, e.start_frame) for e in stsg.detect_events(config)]


def test_a_jittering_standing_person_has_no_motion_events():
    standing = walker(1, [(300, 300)] * 100, jitter=2.5, spikes={20, 21, 55, 80})
    assert real_events(standing) == []
    # The same track read the old way (no jitter-set window, states held 0.2 s, no wobble
    # test): the jitter and the merged boxes read as starts, stops and turns.
    raw = EventConfig(jitter_smoothing=0.0, state_windows=1.0, turn_wobble_ratio=0.0, odd_area_high=1e9,
                      odd_area_low=0.0, turn_pause_seconds=0.0)
    assert {kind for kind, _, _ in real_events(standing, raw)} & {"start", "stop", "turn"}


def test_a_walker_who_stands_for_a_while_stops_once_and_starts_once():
    path_ = walk((100, 300), (30, 0), 6) + [(280, 300)] * 25 + walk((280, 300), (30, 0), 6)  # stands frames 30-54
    events = real_events(walker(1, path_, seed=1))
    stops = [f for kind, _, f in events if kind == "stop"]
    starts = [f for kind, _, f in events if kind == "start"]
    assert len(stops) == 1 and abs(stops[0] - 30) <= 3, events
    assert len(starts) == 1 and abs(starts[0] - 55) <= 3, events
    assert not [e for e in events if e[0] == "turn"]


def test_turning_round_through_a_short_pause_is_a_turn_not_a_stop_and_start():
    path_ = walk((100, 300), (30, 0), 6) + [(280, 300)] * 4 + walk((280, 300), (-30, 0), 6)
    events = real_events(walker(1, path_, seed=2))
    kinds = [kind for kind, _, _ in events]
    assert kinds.count("turn") == 1 and "stop" not in kinds and "start" not in kinds, events
    (frame,) = [f for kind, _, f in events if kind == "turn"]
    assert 28 <= frame <= 36


def test_approach_is_meeting_not_passing():
    standing = walker(2, [(400, 300)] * 60, seed=3, jitter=1.0)
    # Walks up to the standing one and stays beside them: an approach.
    meeting = walk((150, 300), (40, 0), 5) + [(372, 300)] * 35
    events = real_events(walker(1, meeting, seed=4) + standing)
    assert [e[:2] for e in events if e[0] == "approach"] == [("approach", [1, 2])], events
    # Walks past at the same distance without stopping (a little lower, in front): no approach.
    passing = walk((150, 330), (40, 0), 12)
    events = real_events(walker(1, passing, seed=5) + standing)
    assert not [e for e in events if e[0] == "approach"], events


def test_one_person_tracked_twice_stops_once():
    path_ = walk((100, 300), (30, 0), 6) + [(280, 300)] * 20
    twin = [(x + 3, y + 2) for x, y in path_]
    events = real_events(walker(1, path_, seed=6) + walker(2, twin, seed=7))
    assert len([e for e in events if e[0] == "stop"]) == 1, events


def test_a_track_broken_on_the_spot_neither_vanishes_nor_appears():
    first = walker(1, walk((100, 300), (30, 0), 4), seed=8, first_frame=10)
    second = walker(2, walk((226, 300), (30, 0), 4), seed=9, first_frame=32)  # 0.4 s later, where it was going
    events = real_events(first + second + walker(3, [(600, 100)] * 80, seed=10, jitter=0.5))
    # The walker appears once (frame 10) and vanishes once (frame 51); the break at 29-32 is silent.
    assert [e for e in events if e[0] in ("appear", "disappear")] == [("appear", [1], 10), ("disappear", [2], 51)]
    # Far from where the first one vanished: a different thing appearing, reported.
    elsewhere = walker(2, walk((600, 450), (30, 0), 4), seed=9, first_frame=32)
    events = real_events(first + elsewhere + walker(3, [(600, 100)] * 80, seed=10, jitter=0.5))
    assert ("appear", [2], 32) in events and ("disappear", [1], 29) in events


def test_crisp_tracks_keep_the_short_window():
    """A shape in the synthetic world (no jitter) still turns at a one-frame bounce: the
    jitter-set window only grows for noisy tracks."""
    from videothought.graph.motion import clean_motion

    centres = [(40 + 6 * t, 120) for t in range(21)] + [(160 - 6 * t, 120) for t in range(1, 20)]
    stsg = STSG.from_observations(path(1, centres), video=VIDEO)
    assert clean_motion(stsg._series(1), EventConfig()).window == pytest.approx(EventConfig().smooth_seconds)
    turns = [e.start_frame for e in stsg.detect_events() if e.type == "turn"]
    assert len(turns) == 1 and abs(turns[0] - 20) <= 1
    noisy = STSG.from_observations(walker(1, [(300, 300)] * 50, jitter=3.0), video=WALK_VIDEO)
    assert clean_motion(noisy._series(1), EventConfig()).window > 0.5
