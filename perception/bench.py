"""`vot bench video`: our reader vs raw decord vs PyAV, and segment-iteration memory.

Times are medians of repeated runs in this process, so ratios compare like with like
on a noisy machine. Each measurement opens the file anew (a question opens a video once).
Peak memory of iterating 1-second segments over a 1-hour video is measured in a child
process, so the parent's own allocations do not count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .samples import sample_video
from .video import VideoReader, write_video

CACHE = Path.home() / ".cache" / "videothought" / "bench"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per reader (median is reported)")
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--hour-seconds", type=float, default=3600.0, help="length of the long video")
    parser.add_argument("--cache", default=str(CACHE), help="where generated videos are kept between runs")


def synthetic_video(path: Path, seconds: float, fps: float = 25.0, width: int = 320, height: int = 240) -> Path:
    """A generated test video (moving gradient squares over noise); cached by file name."""
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    background = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
    num_frames = int(round(seconds * fps))

    def frames():
        for index in range(num_frames):
            frame = np.roll(background, index % width, axis=1)  # (H, W, 3)
            x = (index * 3) % (width - 40)
            y = (index * 2) % (height - 40)
            frame[y : y + 40, x : x + 40] = (255, (index * 5) % 255, 60)
            yield frame

    tmp = path.with_suffix(".partial.mp4")
    write_video(tmp, frames(), fps, crf=28, preset="ultrafast")
    tmp.rename(path)
    return path


def _median_seconds(function, repeats: int) -> float:
    function()  # warm the page cache and libraries
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_readers(path: Path, num_frames: int, repeats: int) -> dict:
    import av
    import decord

    with VideoReader(path) as video:
        indices = video.uniform_indices(num_frames).tolist()

    def ours():
        with VideoReader(path) as video:
            return video.get_frames(indices).frames

    def raw_decord():
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=0)
        return reader.get_batch(indices).asnumpy()

    def pyav():
        wanted, frames = set(indices), []
        with av.open(str(path)) as container:
            for frame_index, frame in enumerate(container.decode(video=0)):
                if frame_index in wanted:
                    frames.append(frame.to_ndarray(format="rgb24"))
                if frame_index >= indices[-1]:
                    break
        return np.stack(frames)

    assert np.array_equal(ours(), raw_decord()), "our reader must return decord's frames"
    result = {name: _median_seconds(fn, repeats) for name, fn in [("ours", ours), ("decord", raw_decord), ("pyav", pyav)]}
    return {
        "ours_seconds": round(result["ours"], 4),
        "decord_seconds": round(result["decord"], 4),
        "pyav_seconds": round(result["pyav"], 4),
        "ours_over_decord": round(result["ours"] / result["decord"], 3),
        "pyav_over_decord": round(result["pyav"] / result["decord"], 3),
    }


_SEGMENT_CHILD = """
import resource, sys, json
from videothought.perception.video import VideoReader
frames = 0
with VideoReader(sys.argv[1]) as video:
    for segment in video.iter_segments(segment_seconds=1.0):
        frames += len(segment)
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"frames": frames, "peak_rss_mb": peak_kib / 1024}))
"""


def segment_memory(path: Path) -> dict:
    start = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-c", _SEGMENT_CHILD, str(path)], check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb"] = round(result["peak_rss_mb"], 1)
    return result


def run(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    steps = tqdm(total=4, desc="bench video", file=sys.stderr)
    bikes = compare_readers(sample_video("bikes.mp4"), args.num_frames, args.repeats)
    steps.update()
    ten_minutes = synthetic_video(cache / "ten_minutes_320x240_25fps.mp4", 600.0)
    steps.update()
    long_video = compare_readers(ten_minutes, args.num_frames, max(3, args.repeats // 2))
    steps.update()
    hour = synthetic_video(cache / f"long_{int(args.hour_seconds)}s_320x240_25fps.mp4", args.hour_seconds)
    memory = segment_memory(hour)
    steps.update()
    steps.close()
    return {
        "bench": "video",
        "bikes_16_frames": bikes,
        "ten_minute_16_frames": long_video,
        "hour_segments": {"video_seconds": args.hour_seconds, **memory},
        "ours_over_decord_max": max(bikes["ours_over_decord"], long_video["ours_over_decord"]),
        "segment_peak_rss_mb": memory["peak_rss_mb"],
    }
