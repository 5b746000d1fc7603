"""The renderer and physics against hand-built scenes, and the picture against the truth."""

from __future__ import annotations

import numpy as np
import pytest

from videothought.evals.world import OBJECT_COLOURS, SceneSpec, render_video, sample_spec
from videothought.evals.world.render import render_truth
from videothought.evals.world.simulate import Action, BackgroundSpec, ObjectSpec
from videothought.perception.video import VideoReader, write_video

BACKGROUND = BackgroundSpec(kind="plain", colour=(70, 70, 70), second_colour=(70, 70, 70))


def scene(objects, num_frames=30, **kwargs) -> SceneSpec:
    return SceneSpec(video_id="w9_000000", seed=1, width=160, height=120, fps=10.0, num_frames=num_frames,
                     objects=objects, background=kwargs.pop("background", BACKGROUND), **kwargs)


def ball(object_id, x, y, vx=0.0, vy=0.0, colour="red", shape="circle", radius=10.0, **kwargs) -> ObjectSpec:
    return ObjectSpec(object_id=object_id, colour=colour, shape=shape, size="medium", radius=radius,
                      position=(x, y), velocity=(vx, vy), **kwargs)


def events_of(truth, kind):
    return [e for e in truth.events if e["type"] == kind]


def test_head_on_collision_turns_both_with_the_other_as_cause():
    # 15 frames: after the walls send them back they would meet again.
    _, truth = render_video(scene([ball(0, 40, 60, 60, 0), ball(1, 120, 60, -60, 0, colour="blue")], num_frames=15))
    collisions = events_of(truth, "collide")
    assert len(collisions) == 1 and collisions[0]["track_ids"] == [0, 1]
    # Equal masses head-on: both reverse, each turned by the other.
    turns = {e["track_ids"][0]: e["attributes"] for e in events_of(truth, "turn")
             if e["attributes"]["cause"] == "collide"}
    assert turns[0]["cause_track_id"] == 1 and turns[1]["cause_track_id"] == 0
    assert turns[0]["degrees"] > 170
    frame = collisions[0]["start_frame"]
    box_a, box_b = (truth.per_frame[frame][i].box for i in (0, 1))
    assert box_b[0] - box_a[2] < 2.0  # touching when they collide (no gap, at most rounding)


def test_moving_ball_hitting_resting_equal_ball_stops_and_starts_it():
    _, truth = render_video(scene([ball(0, 30, 60, 80, 0), ball(1, 90, 60)]))
    stop = [e for e in events_of(truth, "stop") if e["track_ids"] == [0]]
    start = [e for e in events_of(truth, "start") if e["track_ids"] == [1]]
    assert stop and stop[0]["attributes"] == {"cause": "collide", "cause_track_id": 1}
    assert start and start[0]["attributes"] == {"cause": "collide", "cause_track_id": 0}


def test_wall_bounce_is_a_turn_with_the_wall_named():
    _, truth = render_video(scene([ball(0, 130, 60, 80, 0)], num_frames=12))
    turns = events_of(truth, "turn")
    assert [t["attributes"] for t in turns] == [{"cause": "wall", "wall": "right"}]
    xs = [truth.per_frame[f][0].box[2] for f in range(12)]
    assert max(xs) <= 160.0  # never leaves the frame


def test_pusher_carries_resting_object_then_stops():
    pusher = ball(0, 20, 60, 60, 0, pushes=True, push_frames=8)
    _, truth = render_video(scene([pusher, ball(1, 70, 60, colour="green", shape="square")], num_frames=40))
    push = events_of(truth, "push")
    assert len(push) == 1 and push[0]["track_ids"] == [0, 1]
    assert push[0]["end_frame"] - push[0]["start_frame"] == 8
    started = [e for e in events_of(truth, "start") if e["track_ids"] == [1]]
    assert started[0]["attributes"] == {"cause": "push", "cause_track_id": 0}
    assert any(e["track_ids"] == [0] for e in events_of(truth, "stop"))
    # While pushing they move together: the gap between them stays constant.
    gaps = [truth.per_frame[f][1].box[0] - truth.per_frame[f][0].box[2]
            for f in range(push[0]["start_frame"] + 1, push[0]["end_frame"])]
    assert max(gaps) - min(gaps) < 0.5


def test_enter_and_exit_spans_follow_the_border():
    entering = ball(0, -30, 40, 50, 0)  # starts outside on the left, walls ignore it until inside
    leaving = ball(1, 120, 90, 60, 0, colour="yellow", bounces=False)
    _, truth = render_video(scene([entering, leaving]))
    enter = events_of(truth, "enter")
    exit_ = events_of(truth, "exit")
    assert [e["track_ids"] for e in enter] == [[0]] and [e["track_ids"] for e in exit_] == [[1]]
    first_seen = min(f for f in range(30) if 0 in truth.per_frame[f])
    assert enter[0]["start_frame"] == first_seen
    assert truth.per_frame[enter[0]["end_frame"]][0].attributes["in_frame_fraction"] == 1.0
    last_seen = max(f for f in range(30) if 1 in truth.per_frame[f])
    assert exit_[0]["end_frame"] == last_seen < 29
    # Entirely outside the frame: no observation at all.
    assert all(1 not in truth.per_frame[f] for f in range(last_seen + 1, 30))


def test_scripted_stop_start_and_turn():
    actions = [Action(frame=5, kind="turn", degrees=90.0), Action(frame=12, kind="stop"),
               Action(frame=20, kind="start", velocity=(-30.0, 0.0))]
    _, truth = render_video(scene([ball(0, 60, 40, 30, 0, actions=actions)]))
    kinds = [(e["type"], e["start_frame"], e["attributes"].get("cause")) for e in truth.events]
    assert ("turn", 5, "self") in kinds and ("stop", 12, "self") in kinds and ("start", 20, "self") in kinds
    centre = [truth.per_frame[f][0].box for f in (16, 18, 20)]
    assert centre[0] == centre[1] == centre[2]  # resting between the stop ramp and the start


def test_occluded_object_is_marked_invisible_and_hidden_in_the_picture():
    resting = ball(0, 80, 60, colour="red", shape="square", radius=10.0)
    floater = ball(1, 20, 60, 60, 0, colour="white", shape="circle", radius=22.0, layer=1, bounces=False)
    frames, truth = render_video(scene([resting, floater]))
    hidden = [f for f in range(30) if not truth.per_frame[f][0].visible]
    assert hidden, "the floater passes over the square"
    occluded = events_of(truth, "occluded")
    assert occluded and occluded[0]["track_ids"] == [0, 1]
    assert occluded[0]["start_frame"] <= hidden[0] and hidden[-1] <= occluded[0]["end_frame"]
    red = np.array(OBJECT_COLOURS["red"])

    def red_pixels(f):
        x1, y1, x2, y2 = (int(round(v)) for v in truth.per_frame[f][0].box)
        crop = frames[f, y1:y2, x1:x2].astype(int)
        return int((np.abs(crop - red).sum(axis=2) < 60).sum())

    unoccluded = red_pixels(0)
    for f in range(30):
        if truth.per_frame[f][0].visible:
            assert red_pixels(f) > 0.5 * unoccluded
        else:
            assert red_pixels(f) < 0.5 * unoccluded
    # The square is never collided with: layers do not interact.
    assert not events_of(truth, "collide")


def test_box_is_the_drawn_extent():
    frames, truth = render_video(scene([ball(0, 50.3, 40.7, 0, 0, shape="triangle", radius=15.0)], num_frames=2))
    # Pixels at least half covered (anti-aliased edges fade out).
    ys, xs = np.nonzero(np.abs(frames[0].astype(int) - 70).sum(axis=2) > 150)
    x1, y1, x2, y2 = truth.per_frame[0][0].box
    assert abs(xs.min() - x1) <= 1.0 and abs(xs.max() + 1 - x2) <= 1.0
    assert abs(ys.min() - y1) <= 1.0 and abs(ys.max() + 1 - y2) <= 1.0


@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_rendering_is_deterministic(difficulty):
    spec_a = sample_spec(np.random.default_rng([4, 2]), seconds=2.0, difficulty=difficulty)
    spec_b = sample_spec(np.random.default_rng([4, 2]), seconds=2.0, difficulty=difficulty)
    assert spec_a.to_dict() == spec_b.to_dict()
    frames_a, truth_a = render_video(spec_a)
    frames_b, truth_b = render_video(spec_b)
    assert np.array_equal(frames_a, frames_b)
    assert truth_a.events == truth_b.events and truth_a.observations == truth_b.observations
    truth_only = render_truth(spec_a)  # the no-pixels path used for counterfactual re-simulation
    assert truth_only.events == truth_a.events and truth_only.observations == truth_a.observations
    other = sample_spec(np.random.default_rng([4, 3]), seconds=2.0, difficulty=difficulty)
    assert not np.array_equal(render_video(other)[0], frames_a)


def test_colour_dominates_inside_every_visible_box_after_h264(tmp_path):
    """Decoded mp4 pixels, nearest object colour: the object's own colour wins in its box."""
    names = list(OBJECT_COLOURS)
    palette = np.array([OBJECT_COLOURS[n] for n in names], dtype=np.float32)
    checked = 0
    for index, difficulty in enumerate(["default", "hard", "hard"]):
        spec = sample_spec(np.random.default_rng([11, index]), seconds=3.0, difficulty=difficulty, max_objects=6)
        frames, truth = render_video(spec)
        path = write_video(tmp_path / f"{index}.mp4", frames, spec.fps)
        with VideoReader(path, backend="pyav") as reader:
            decoded = reader.get_frames(np.arange(spec.num_frames)).frames
        for obs in truth.observations:
            if not obs.visible:
                continue
            x1, y1, x2, y2 = obs.box
            crop = decoded[obs.frame_index, int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))]
            pixels = crop.reshape(-1, 3).astype(np.float32)
            distance = np.linalg.norm(pixels[:, None, :] - palette[None], axis=2)  # (P, C)
            close = distance.min(axis=1) < 80
            counts = np.bincount(distance.argmin(axis=1)[close], minlength=len(names))
            own = names.index(obs.attributes["colour"])
            assert counts.argmax() == own, (obs, dict(zip(names, counts)))
            assert counts[own] >= 0.15 * len(pixels), (obs, counts[own], len(pixels))
            checked += 1
    assert checked > 200
