"""Pictures of an STSG: boxes and track ids over frames (PNG, MP4) and a timeline of tracks
and events (matplotlib).

    overlay = draw_observations(frame, stsg, frame_index)        # (H, W, 3) uint8 copy
    drawn = overlay_frames(frames, frame_indices, stsg)          # iterator of drawn frames
    plot_timeline(stsg, "timeline.png")

Hidden observations (kept through occlusion) are drawn dashed-looking (thin, grey label).
Colours are fixed per track id, so a track looks the same in every picture.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# 12 distinct colours (RGB), cycled by track id.
_PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40),
]


def track_colour(track_id: int) -> tuple[int, int, int]:
    return _PALETTE[int(track_id) % len(_PALETTE)]


def draw_observations(frame: np.ndarray, stsg, frame_index: int, *, show_labels: bool = True,
                      events: bool = True) -> np.ndarray:
    """A copy of `frame` (H, W, 3) uint8 RGB with the STSG's boxes at `frame_index` drawn on it.

    Boxes are in the pixels of the frames the tracker saw; frames of another size are drawn
    on with boxes scaled to fit."""
    import cv2

    canvas = np.ascontiguousarray(frame.copy())
    height, width = canvas.shape[:2]
    scale_x = width / float(stsg.video.get("width") or width)
    scale_y = height / float(stsg.video.get("height") or height)
    thickness = max(1, round(min(height, width) / 240))
    font_scale = max(0.35, min(height, width) / 600)
    for obs in stsg.observations_at(frame_index):
        data = {"track_id": obs.track_id, "visible": obs.visible}
        x1, y1, x2, y2 = obs.box
        p1 = (int(round(x1 * scale_x)), int(round(y1 * scale_y)))
        p2 = (int(round(x2 * scale_x)), int(round(y2 * scale_y)))
        colour = track_colour(data["track_id"])
        if data["visible"]:
            cv2.rectangle(canvas, p1, p2, colour, thickness)
        else:
            _dashed_rectangle(canvas, p1, p2, colour, thickness)
        if show_labels:
            text = f"{data['track_id']}"
            label = stsg.track_info.get(data["track_id"], {}).get("label")
            if label and label != "object":
                text += f" {label}"
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
            ty = max(th + 2, p1[1] - 3)
            cv2.rectangle(canvas, (p1[0], ty - th - 2), (p1[0] + tw + 2, ty + base - 1), colour, -1)
            cv2.putText(canvas, text, (p1[0] + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1,
                        cv2.LINE_AA)
    if events:
        # Events happening now (spans) or within the last half second (instants); "approach"
        # spans are long and would bury the rest.
        recent = int(round(0.5 * (stsg.fps or 2)))
        lines = [f"{e.type} {'+'.join(map(str, e.track_ids))}"
                 for e in stsg.events_in(frame_index - recent, frame_index)
                 if e.type != "approach" and (e.end_frame > e.start_frame or e.start_frame <= frame_index)]
        for k, text in enumerate(lines[:6]):
            cv2.putText(canvas, text, (4, height - 6 - k * int(22 * font_scale + 6)), cv2.FONT_HERSHEY_SIMPLEX,
                        font_scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def _dashed_rectangle(canvas, p1, p2, colour, thickness, dash: int = 4) -> None:
    import cv2

    (x1, y1), (x2, y2) = p1, p2
    for a, b, fixed, horizontal in ((x1, x2, y1, True), (x1, x2, y2, True), (y1, y2, x1, False), (y1, y2, x2, False)):
        for start in range(min(a, b), max(a, b), 2 * dash):
            end = min(start + dash, max(a, b))
            if horizontal:
                cv2.line(canvas, (start, fixed), (end, fixed), colour, thickness)
            else:
                cv2.line(canvas, (fixed, start), (fixed, end), colour, thickness)


def save_overlay_png(path: str | os.PathLike, frame: np.ndarray, stsg, frame_index: int) -> Path:
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(draw_observations(frame, stsg, frame_index)).save(path)
    return path


def overlay_frames(frames: np.ndarray, frame_indices, stsg, *, even: bool = True):
    """Yield each frame (H, W, 3) with the STSG's boxes drawn on it. even=True crops odd sizes
    by a pixel, as h264 (yuv420p) needs: hand the result to a video writer, e.g.
    videothought.perception.pipeline.write_overlay_video."""
    frames = np.asarray(frames)
    height, width = frames.shape[1], frames.shape[2]
    if even:
        height, width = height // 2 * 2, width // 2 * 2
    for frame, frame_index in zip(frames, frame_indices):
        yield draw_observations(frame, stsg, int(frame_index))[:height, :width]


_EVENT_MARKERS = {"enter": ">", "exit": "<", "appear": "o", "disappear": "x", "approach": "3", "collide": "*",
                  "push": "P", "start": "^", "stop": "v", "turn": "d", "occluded": "s"}


def plot_timeline(stsg, path: str | os.PathLike, *, max_tracks: int = 40, title: str | None = None) -> Path:
    """One row per track: bars where it is visible, hatched where hidden; events as markers
    on their tracks' rows. The x axis is seconds when the fps is known, else frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fps = stsg.fps
    unit = (lambda f: f / fps) if fps else (lambda f: f)
    track_ids = sorted(stsg.track_ids, key=lambda t: stsg.track_summary(t)["first_frame"])[:max_tracks]
    rows = {t: k for k, t in enumerate(track_ids)}
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.35 * max(1, len(track_ids))), dpi=100)
    step = 1
    if len(stsg.frame_indices) > 1:
        step = int(np.median(np.diff(stsg.frame_indices)))
    for track_id in track_ids:
        summary = stsg.track_summary(track_id)
        colour = np.array(track_colour(track_id)) / 255
        for spans, hatch, alpha in ((summary["visible_spans"], None, 0.9), (summary["hidden_spans"], "///", 0.35)):
            bars = [(unit(a), unit(b + step) - unit(a)) for a, b in spans]
            ax.broken_barh(bars, (rows[track_id] - 0.35, 0.7), facecolors=colour, alpha=alpha, hatch=hatch,
                           edgecolor="black" if hatch else None, linewidth=0.3)
    used = set()
    for event in stsg.events:
        marker = _EVENT_MARKERS.get(event.type, "o")
        for track_id in event.track_ids[:1] if event.type == "occluded" else event.track_ids:
            if track_id not in rows:
                continue
            label = event.type if event.type not in used else None
            used.add(event.type)
            ax.scatter([unit((event.start_frame + event.end_frame) / 2)], [rows[track_id]], marker=marker, s=45,
                       color="black", zorder=3, label=label)
    ax.set_yticks(range(len(track_ids)))
    ax.set_yticklabels([f"{t} {stsg.track_info.get(t, {}).get('label', '')}".strip() for t in track_ids], fontsize=8)
    ax.set_ylim(-0.7, max(0.7, len(track_ids) - 0.3))
    ax.invert_yaxis()
    ax.set_xlabel("seconds" if fps else "frame")
    if used:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or f"{len(stsg.track_ids)} tracks, {len(stsg.events)} events", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
