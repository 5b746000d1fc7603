"""Frames or a video file in, an STSG out: proposer -> tracker -> STSG -> events.

    stsg = track_video("clip.mp4", fps=12, max_side=320)        # the default proposer and tracker
    stsg = track_frames(frames, frame_indices, fps=12.0)         # frames (T, H, W, 3) uint8 RGB
    write_overlay_video("overlay.mp4", frames, frame_indices, stsg, fps=12.0)

It lives in perception, the upper layer: perception builds on graph (the STSG, its schema),
graph knows nothing of perception. The agent's `track` node calls these. Boxes in the STSG are in the pixels of the frames the
tracker saw; `video` records that size (width/height) plus the file's own fps and length.
"""

from __future__ import annotations

import logging
import os
import time

from pathlib import Path

import numpy as np

from videothought.graph.draw import overlay_frames
from videothought.graph.events import EventConfig
from videothought.graph.schema import check_vocabulary
from videothought.graph.stsg import STSG
from videothought.perception.proposals import check_frames, default_proposer, proposer_vocabulary
from videothought.perception.tracker import default_tracker

logger = logging.getLogger(__name__)


def track_frames(
    frames: np.ndarray,
    frame_indices,
    fps: float,
    *,
    proposer=None,
    tracker=None,
    video: dict | None = None,
    event_config: EventConfig = EventConfig(),
    timings: dict | None = None,
    describe: bool | str = "auto",
) -> STSG:
    """Track objects through `frames` and build their STSG (events detected).

    frame_indices: index of each frame in its video (T,), strictly increasing.
    fps: the video's frame rate (frame index / fps = seconds), not the sampling rate.
    timings: if given, filled with seconds spent in "proposals", "tracking", "stsg", "events".
    describe: describe tracks as a user would and re-link a person's tracks (perception.people:
        clothing colours, size, walking direction, identity); "auto" does it when the
        proposer can name people (real footage), not on the synthetic world's shapes.
    """
    frames = check_frames(frames)
    frame_indices = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
    if len(frame_indices) != len(frames):
        raise ValueError(f"got {len(frames)} frames but {len(frame_indices)} frame indices")
    if not (fps and np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    proposer = proposer or default_proposer()
    tracker = tracker or default_tracker()
    height, width = frames.shape[1:3]
    times = frame_indices / float(fps)
    clock = time.perf_counter()
    detections = proposer.propose(frames)
    if len(detections) != len(frames):
        raise ValueError(f"the proposer returned {len(detections)} detection lists for {len(frames)} frames")
    after_proposals = time.perf_counter()
    observations = tracker.run(detections, frame_indices.tolist(), times.tolist(), frame_size=(width, height))
    after_tracking = time.perf_counter()
    info = {"fps": float(fps), "width": int(width), "height": int(height)}
    info.update({k: v for k, v in (video or {}).items() if v is not None})
    info.setdefault("num_frames", int(frame_indices[-1]) + 1)
    info["sampled_frames"] = [int(f) for f in frame_indices]
    # What this perception can name, asked after propose(): a proposer that picks per clip
    # (AutoProposer) answers for the branch it took.
    vocabulary = proposer_vocabulary(proposer)
    stsg = STSG.from_observations(observations, video=info, vocabulary=vocabulary)
    if describe == "auto":
        from videothought.perception.people import is_person

        describe = any(is_person({"label": label}) for label in (vocabulary or {}).get("label") or [])
    if describe:
        describe_people(stsg, frames, frame_indices, proposer)
    after_stsg = time.perf_counter()
    stsg.detect_events(event_config)
    if timings is not None:
        timings.update(proposals=after_proposals - clock, tracking=after_tracking - after_proposals,
                       stsg=after_stsg - after_tracking, events=time.perf_counter() - after_stsg)
    logger.info("tracked %d frames: %r", len(frames), stsg)
    return stsg


def describe_people(stsg: STSG, frames: np.ndarray, frame_indices, proposer=None) -> None:
    """perception.people's description and identities written into `stsg` (track attributes and
    vocabulary). The background for clothing pixels is the proposer's own (a static camera's
    median frame) when it has one, else none (the middle of each box is read)."""
    from videothought.perception.people import apply_description, describe_tracks, description_vocabulary, relink_tracks

    background = None
    source = getattr(getattr(proposer, "real", proposer), "motion", None)
    if source is not None and hasattr(source, "background"):
        background = source.background(frames)
    described = describe_tracks(frames, frame_indices, stsg, background=background)
    apply_description(stsg, described, relink_tracks(stsg, described))
    vocabulary = dict(stsg.vocabulary or {"label": sorted({str(i.get("label", "object")) for i in stsg.track_info.values()})})
    vocabulary.update(description_vocabulary())
    stsg.vocabulary = check_vocabulary(vocabulary)


def track_video(
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_side: int | None = None,
    start_seconds: float = 0.0,
    end_seconds: float | None = None,
    proposer=None,
    tracker=None,
    event_config: EventConfig = EventConfig(),
) -> STSG:
    """Decode frames of `path` (every frame, or sampled at `fps`, or `num_frames` uniform ones;
    optionally within [start_seconds, end_seconds)) and track them. Video errors arrive as
    videothought.perception.video.VideoError naming the file."""
    from videothought.perception.video import VideoReader

    if fps is not None and num_frames is not None:
        raise ValueError("give fps or num_frames, not both")
    with VideoReader(path, max_side=max_side) as reader:
        meta = reader.metadata
        if start_seconds == 0.0 and end_seconds is None:
            if fps is not None:
                batch = reader.sample_fps(fps)
            elif num_frames is not None:
                batch = reader.sample_uniform(num_frames)
            else:
                batch = reader.get_frames(np.arange(meta.num_frames))
        else:
            end = meta.duration_seconds if end_seconds is None else end_seconds
            batch = reader.sample_window(start_seconds, end, num_frames=num_frames, fps=fps)
    video = {"path": str(path), "fps": meta.fps, "num_frames": meta.num_frames, "width": meta.width,
             "height": meta.height}
    return track_frames(batch.frames, batch.frame_indices, meta.fps, proposer=proposer, tracker=tracker,
                        video=video, event_config=event_config)


def write_overlay_video(path: str | os.PathLike, frames: np.ndarray, frame_indices, stsg: STSG, *,
                        fps: float) -> Path:
    """The frames with the STSG's boxes drawn (graph.draw), as h264 mp4 (odd sizes cropped by a pixel)."""
    from videothought.perception.video import write_video

    return write_video(path, overlay_frames(frames, frame_indices, stsg), fps=fps)
