"""`vot bench agent`: accuracy by question type, LLM calls and latency of the VoT graph vs two baselines.

    vot bench agent --data WORLD_DIR --limit 200 --rows rows.jsonl
    vot bench agent --latency-only                 # 10-second video, 1-minute vs 60-minute sessions

Three conditions on the same questions, with the same LLM (the embedded SmolLM2 by default):
    blind   the question alone; the five choices scored as continuations (one batched call)
    frames  8 uniform frames described in text by the pixel-level proposer (colour + shape + position
            of every proposal per frame), then the choices scored given that description
    graph   the full VoT graph (identify_targets -> track -> analyze_actions -> rank_answers -> verify)
A choice is "chosen" by the highest per-token log-likelihood (blind, frames) or by the graph.

Per-video perception (the tracker's STSG) is cached, as a Session would: the graph's latency is
reported per question after the video was tracked, and tracking time per video separately.
Rows go to a JSONL file as they finish, so an interrupted bench resumes where it stopped.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import time
from collections import defaultdict
from pathlib import Path

logger = logging.getLogger(__name__)

CONDITIONS = ("blind", "frames", "graph")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="a world directory from `vot world generate` (qa.csv + videos/)")
    parser.add_argument("--limit", type=int, default=200, help="questions (the first N of qa.csv)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated subset of blind,frames,graph")
    parser.add_argument("--rows", default=None, help="JSONL of per-question rows (resumes from it)")
    parser.add_argument("--cache-dir", default=None, help="STSG cache directory (default: next to --rows, or none)")
    parser.add_argument("--lm", default=None, help="language model spec (default: embedded)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the machine is shared)")
    parser.add_argument("--latency", action="store_true", help="also measure 10-second and long-video latency")
    parser.add_argument("--latency-only", action="store_true", help="only the latency measurements")
    parser.add_argument("--long-minutes", type=float, default=60.0, help="length of the long video (minutes)")
    parser.add_argument("--work-dir", default=None, help="where latency videos are written (default: a temp dir)")
    parser.add_argument("--latency-questions", type=int, default=4, help="questions per latency video")


# ---- the baselines -----------------------------------------------------------------------
def choose_by_loglik(lm, prompt, choices: list[str]) -> tuple[int, list[float]]:
    """Per-token log-likelihood of each choice after the prompt (one batched score call)."""
    continuations = [" " + c for c in choices]
    scores = lm.score(prompt, continuations)
    per_token = [s / max(1, lm.count_tokens(c)) for s, c in zip(scores, continuations)]
    return max(range(len(choices)), key=lambda i: per_token[i]), per_token


def describe_frames(video_path: str, proposer, num_frames: int = 8, max_side: int = 320) -> str:
    """Uniform frames as text: per frame, every proposal's colour, shape and position."""
    from videothought.perception.video import VideoReader

    with VideoReader(video_path, max_side=max_side) as video:
        batch = video.sample_uniform(num_frames)
        width, height = video.metadata.width, video.metadata.height
    detections = proposer.propose(batch.frames)
    lines = []
    for seconds, found in zip(batch.timestamps_seconds, detections):
        things = []
        for detection in sorted(found, key=lambda d: -d.score)[:6]:
            attributes = detection.attributes or {}
            name = " ".join(v for v in (attributes.get("colour"), attributes.get("shape")) if v) or detection.label
            x = (detection.box[0] + detection.box[2]) / 2 / width
            y = (detection.box[1] + detection.box[3]) / 2 / height
            where = ("left" if x < 0.33 else "right" if x > 0.67 else "centre") + \
                    (" top" if y < 0.33 else " bottom" if y > 0.67 else "")
            things.append(f"{name} ({where})")
        lines.append(f"{seconds:.1f}s: " + (", ".join(things) if things else "nothing"))
    return "\n".join(lines)


# ---- the accuracy bench ------------------------------------------------------------------
def load_questions(data_dir: str, limit: int) -> list[dict]:
    root = Path(data_dir).resolve()
    qa = root / "qa.csv"
    if not qa.is_file():
        raise SystemExit(f"vot bench agent: {root} has no qa.csv (generate one with `vot world generate`)")
    questions = []
    with open(qa, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            video = (root / "videos" / f"{row['video']}.mp4").resolve()
            if root / "videos" not in video.parents:  # names from a CSV never leave the dataset root
                raise SystemExit(f"vot bench agent: video name {row['video']!r} escapes {root}")
            choices = [row[f"a{i}"] for i in range(5) if row.get(f"a{i}")]
            questions.append({"qid": row["qid"], "video": str(video), "question": row["question"], "choices": choices,
                              "answer": int(row["answer"]), "type": row.get("type") or "unknown"})
            if len(questions) >= limit:
                break
    return questions


def run_accuracy(args, context, conditions: list[str]) -> dict:
    from videothought.agent import prompts
    from videothought.agent.run import run_question
    from videothought.perception.proposals import default_proposer

    questions = load_questions(args.data, args.limit)
    rows_path = Path(args.rows) if args.rows else None
    done: dict[tuple[str, str], dict] = {}
    if rows_path and rows_path.is_file():
        for line in rows_path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[(row["qid"], row["condition"])] = row
    writer = open(rows_path, "a", encoding="utf-8") if rows_path else None
    proposer = context.proposer or default_proposer()
    tracked_seconds: dict[str, float] = {}
    frame_text_cache: dict[str, str] = {}
    try:
        from tqdm import tqdm

        for item in tqdm(questions, desc="agent bench", unit="question", disable=not getattr(args, "progress", True)):
            for condition in conditions:
                if (item["qid"], condition) in done:
                    continue
                start = time.perf_counter()
                row = {"qid": item["qid"], "type": item["type"], "condition": condition, "answer": item["answer"]}
                if condition == "blind":
                    chosen, _ = choose_by_loglik(context.lm, prompts.blind_context(item["question"]), item["choices"])
                    row.update(chosen=chosen, llm_calls=1)
                elif condition == "frames":
                    if item["video"] not in frame_text_cache:
                        frame_text_cache[item["video"]] = describe_frames(item["video"], proposer)
                    prompt = prompts.answer_context(item["question"], frame_text_cache[item["video"]], "")
                    chosen, _ = choose_by_loglik(context.lm, prompt, item["choices"])
                    row.update(chosen=chosen, llm_calls=1)
                else:
                    first_time = item["video"] not in tracked_seconds
                    result = run_question(item["question"], video_path=item["video"], choices=item["choices"],
                                          context=context, thread_id=f"bench-{item['qid']}")
                    track_seconds = sum(r["latency_seconds"] for r in result.trace if r["node"] == "track")
                    if first_time:
                        tracked_seconds[item["video"]] = track_seconds
                    row.update(chosen=result.answer_index, llm_calls=result.llm_calls,
                               verified=bool(result.verification.get("passed")),
                               retries=int(result.state.get("retries", 0)),
                               track_seconds=track_seconds, first_on_video=first_time,
                               errors=sum(len(r["errors"]) for r in result.trace))
                row["seconds"] = time.perf_counter() - start
                row["correct"] = row["chosen"] == item["answer"]
                done[(item["qid"], condition)] = row
                if writer:
                    writer.write(json.dumps(row) + "\n")
                    writer.flush()
    finally:
        if writer:
            writer.close()
    return summarise([done[k] for k in done if k[0] in {q["qid"] for q in questions}], conditions)


def summarise(rows: list[dict], conditions: list[str]) -> dict:
    by = defaultdict(list)
    for row in rows:
        by[row["condition"]].append(row)
    out: dict = {"questions": len({r["qid"] for r in rows})}
    for condition in conditions:
        mine = by.get(condition, [])
        if not mine:
            continue
        per_type = defaultdict(list)
        for row in mine:
            per_type[row["type"]].append(row["correct"])
        summary = {
            "n": len(mine),
            "accuracy": round(sum(r["correct"] for r in mine) / len(mine), 4),
            "by_type": {t: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for t, v in sorted(per_type.items())},
            "median_llm_calls": statistics.median(r["llm_calls"] for r in mine),
            "median_seconds": round(statistics.median(r["seconds"] for r in mine), 3),
        }
        if condition == "graph":
            warm = [r["seconds"] - r["track_seconds"] for r in mine]
            summary["median_seconds_after_tracking"] = round(statistics.median(warm), 3)
            firsts = [r["track_seconds"] for r in mine if r.get("first_on_video")]
            if firsts:
                summary["median_tracking_seconds_per_video"] = round(statistics.median(firsts), 3)
            summary["max_llm_calls"] = max(r["llm_calls"] for r in mine)
            summary["verified_fraction"] = round(sum(r["verified"] for r in mine) / len(mine), 4)
        out[condition] = summary
    if "graph" in out:
        out["graph_beats"] = {c: out["graph"]["accuracy"] > out[c]["accuracy"] for c in ("blind", "frames") if c in out}
    return out


# ---- latency: a 10-second video, a 1-minute and a long video ------------------------------
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


def run_latency(args, context) -> dict:
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


def run(args: argparse.Namespace) -> dict:
    import torch

    from videothought.agent.context import default_context, load_lm

    torch.set_num_threads(max(1, args.threads))
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise SystemExit(f"vot bench agent: unknown conditions {sorted(unknown)}; choose from {CONDITIONS}")
    cache_dir = args.cache_dir or (str(Path(args.rows).with_suffix("")) + "-cache" if args.rows else None)
    context = default_context(lm=load_lm(args.lm), cache_dir=cache_dir)
    out: dict = {"lm": getattr(context.lm, "name", "?"), "encoder": context.encoder is not None}
    if not args.latency_only:
        if not args.data:
            raise SystemExit("vot bench agent: --data WORLD_DIR is required (or --latency-only)")
        out["accuracy"] = run_accuracy(args, context, conditions)
    if args.latency or args.latency_only:
        out["latency"] = run_latency(args, context)
    return out
