"""`vot bench agent --latency`: seconds per question on a 10-second video (with and without its
tracking) and on a 1-minute and a long video (`--long-minutes`, default 60) asked through a
Session, the long ones made by looping world episodes. The result is one dict, the "latency"
entry of the bench's JSON line.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path


def concatenate_videos(paths: list[Path], out: Path, repeat_to_seconds: float, fps: float) -> Path:
    """One long video from world episodes, looping them until `repeat_to_seconds`; streamed, so
    memory stays at one frame however long the video is."""
    import av

    from videothought.perception.video import write_video

    frames_needed = int(repeat_to_seconds * fps)

    def frames():
        written = 0
        while True:
            for path in paths:
                with av.open(str(path)) as source:
                    for frame in source.decode(video=0):
                        yield frame.to_ndarray(format="rgb24")  # (H, W, 3)
                        written += 1
                        if written >= frames_needed:
                            return

    partial = out.with_name(out.stem + ".part.mp4")  # a crash leaves no half-written video behind
    write_video(partial, frames(), fps=fps)
    partial.replace(out)
    return out


def run_latency(args, context, load_questions) -> dict:
    """`load_questions(data_dir, limit)`: the bench's question reader (evals/bench_agent.py),
    passed in so the two modules do not import each other."""
    import tempfile

    from videothought.agent.run import run_question
    from videothought.agent.session import Session
    from videothought.evals.world.dataset import generate_world

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="vot-bench-agent-"))
    result: dict = {}
    # 10-second world videos: per-question latency, tracking included for the first question
    short_dir = work / "ten_seconds"
    if not (short_dir / "qa.csv").is_file():
        generate_world(short_dir, 2, 123, seconds=10.0)
    questions = load_questions(str(short_dir), args.latency_questions)
    cold, warm = [], []
    fresh = context.with_overrides(_stsg_memory={}, cache_dir=None)
    for item in questions:
        start = time.perf_counter()
        run = run_question(item["question"], video_path=item["video"], choices=item["choices"], context=fresh)
        elapsed = time.perf_counter() - start
        track = sum(r["latency_seconds"] for r in run.trace if r["node"] == "track")
        (cold if track > 0.5 else warm).append(elapsed)
    result["ten_second_video"] = {"questions": len(questions), "median_seconds_with_tracking": _median(cold),
                                  "median_seconds_tracked_video": _median(warm)}
    # long videos: 1 minute vs `--long-minutes`, from looped 5-second episodes
    episodes_dir = work / "episodes"
    if not (episodes_dir / "qa.csv").is_file():
        generate_world(episodes_dir, 12, 321)
    episodes = sorted((episodes_dir / "videos").glob("*.mp4"))
    long_questions = load_questions(str(episodes_dir), args.latency_questions)
    for name, minutes in (("one_minute", 1.0), ("long", args.long_minutes)):
        path = work / f"{name}_{minutes:g}min.mp4"
        if not path.is_file():
            concatenate_videos(episodes, path, minutes * 60.0, fps=12.0)
        start = time.perf_counter()
        session = Session(path, context=context, cache_dir=work / "sessions", segment_seconds=10.0, index_fps=2.0)
        index_seconds = time.perf_counter() - start
        latencies, calls = [], []
        for item in long_questions:
            begin = time.perf_counter()
            answer = session.ask(item["question"], item["choices"])
            latencies.append(time.perf_counter() - begin)
            calls.append(answer.llm_calls)
        result[name] = {"minutes": minutes, "segments": len(session.index.segments),
                        "index_seconds": round(index_seconds, 2), "median_seconds_per_question": _median(latencies),
                        "median_llm_calls": statistics.median(calls)}
    if result["one_minute"]["median_seconds_per_question"]:
        result["long_over_one_minute_latency"] = round(
            result["long"]["median_seconds_per_question"] / result["one_minute"]["median_seconds_per_question"], 3)
    return result


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None
