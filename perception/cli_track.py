"""`vot track VIDEO --out DIR`: track objects, write the STSG (stsg.json), an overlay video
(overlay.mp4) and a timeline (timeline.png); optionally GraphML and overlay PNGs of chosen frames.

    vot track clip.mp4 --out runs/clip --fps 12 --max-side 480
"""

from __future__ import annotations

import argparse
import json

PROPOSERS = ("auto", "colour", "real", "background", "motion", "hog", "faces", "text")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="a video file")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--fps", type=float, default=None, help="sample frames at this rate (default: every frame)")
    parser.add_argument("--num-frames", type=int, default=None, help="or this many frames spread evenly")
    parser.add_argument("--max-side", type=int, default=480, help="resize frames so the longer side is at most this")
    parser.add_argument("--start", type=float, default=0.0, help="start of the window, seconds")
    parser.add_argument("--end", type=float, default=None, help="end of the window, seconds")
    parser.add_argument("--proposer", choices=PROPOSERS, default="auto")
    parser.add_argument("--graphml", action="store_true", help="also write stsg.graphml")
    parser.add_argument("--png-frames", type=int, nargs="*", default=(),
                        help="frame indices to save as overlay_<frame>.png")
    parser.add_argument("--allow-truncated", action="store_true", help="read the decodable part of a truncated file")


def make_proposer(name: str):
    """auto: colour shapes on palette scenes, else `real` (people, faces, text, moving objects)."""
    from videothought.perception import proposals, scene

    return {
        "auto": proposals.AutoProposer,
        "colour": proposals.ColourSegmentationProposer,
        "real": scene.RealSceneProposer,
        "background": proposals.BackgroundSubtractionProposer,
        "motion": proposals.MotionProposer,
        "hog": proposals.HOGPeopleProposer,
        "faces": scene.FaceProposer,
        "text": scene.TextProposer,
    }[name]()


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    import numpy as np

    from videothought.graph.draw import plot_timeline, save_overlay_png
    from videothought.perception.pipeline import track_frames, write_overlay_video
    from videothought.perception.video import VideoError, VideoReader

    if args.fps is not None and args.num_frames is not None:
        print("vot track: give --fps or --num-frames, not both", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        with VideoReader(args.video, max_side=args.max_side, allow_truncated=args.allow_truncated) as reader:
            meta = reader.metadata
            end = meta.duration_seconds if args.end is None else args.end
            if args.start == 0.0 and args.end is None and args.fps is None and args.num_frames is None:
                batch = reader.get_frames(np.arange(meta.num_frames))
            else:
                batch = reader.sample_window(args.start, end, num_frames=args.num_frames, fps=args.fps)
    except (VideoError, ValueError) as error:
        print(f"vot track: {error}", file=sys.stderr)
        return 2
    video = {"path": str(args.video), "fps": meta.fps, "num_frames": meta.num_frames,
             "width": meta.width, "height": meta.height}
    timings: dict = {}
    stsg = track_frames(batch.frames, batch.frame_indices, meta.fps, proposer=make_proposer(args.proposer),
                        video=video, timings=timings)
    out.mkdir(parents=True, exist_ok=True)
    stsg.save(out / "stsg.json")
    sample_rate = meta.fps if len(batch) < 2 else meta.fps / max(1, int(np.median(np.diff(batch.frame_indices))))
    write_overlay_video(out / "overlay.mp4", batch.frames, batch.frame_indices, stsg, fps=sample_rate)
    plot_timeline(stsg, out / "timeline.png", title=f"{Path(args.video).name}: {len(stsg.track_ids)} tracks, "
                                                       f"{len(stsg.events)} events")
    written = ["stsg.json", "overlay.mp4", "timeline.png"]
    if args.graphml:
        stsg.to_graphml(out / "stsg.graphml")
        written.append("stsg.graphml")
    positions = {int(f): k for k, f in enumerate(batch.frame_indices)}
    for frame_index in args.png_frames:
        if frame_index not in positions:
            print(f"vot track: frame {frame_index} was not among the tracked frames; skipped", file=sys.stderr)
            continue
        save_overlay_png(out / f"overlay_{frame_index}.png", batch.frames[positions[frame_index]], stsg, frame_index)
        written.append(f"overlay_{frame_index}.png")
    print(json.dumps({"out": str(out), "written": written, "frames": len(batch), "tracks": len(stsg.track_ids),
                      "observations": stsg.graph.number_of_nodes(), "events": len(stsg.events),
                      "seconds": {k: round(v, 3) for k, v in timings.items()}}))
    return 0
