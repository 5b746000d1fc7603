"""Long videos in evaluation: the library index for `vot eval`, and the needle retrieval benchmark.

`vot eval` answers a question about a video longer than LONG_VIDEO_SECONDS through the same
library index a chat Session uses (videothought.library): the video is indexed once into
RUN_DIR/library.sqlite (or $VIDEOTHOUGHT_LIBRARY) and the graph's track node retrieves segments.

The retrieval benchmark measures, on `vot world generate --long` worlds, whether the segments a
needle question retrieves hold its evidence, and what indexing costs:

    python -m videothought.evals.long_videos WORLD_DIR [WORLD_DIR ...] --out long.json [--k 1 3 5]
    python -m videothought.evals.long_videos M1 M60 --latency 8 --out latency.json   # after indexing

Per world: index build seconds (and per video-hour), the indexing process's peak resident memory
(indexing runs in a child process, measured with getrusage), retrieval latency per question, and
recall@k: the share of needle questions whose top k segments hold every evidence event.

The needle suite answers needle questions through the graph at several video lengths with the
SAME question mix at each (so accuracy at 60 minutes compares with accuracy at 1):

    vot world generate --long --seconds 60   --videos 2 --seed 1001 --out runs/long/m1-a   (and m1-b: --seed 1002)
    vot world generate --long --seconds 600  --videos 1 --seed 1003 --out runs/long/m10-a  (and m10-b ...)
    vot world generate --long --seconds 3600 --videos 1 --seed 1005 --out runs/long/m60-a  (and m60-b ...)
    python -m videothought.evals.long_videos runs/long/m* --suite --out suite.json

Worlds are grouped by their videos' length (meta.json); each length needs --min-worlds held-out
worlds (2; a development seed is refused). The mix is, per needle subtype, the fewest questions
any length offers, taken in (world, video, question) order; a subtype some length lacks (a
"when" question needs five minutes of video) is left out everywhere and named. Each length must
keep --min-needles (24) questions. Questions run round-robin over the lengths (a shared machine's
load falls on all alike), after every video is indexed (build time apart); per length: accuracy,
the share whose graph saw every evidence segment (`segments_hold_evidence`, of the k the track node
retrieved), retrieval recall@1/3, latency as the median of at least --min-latency (20) questions,
and the process's peak memory; ratios compare the longest length with the shortest.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

LONG_VIDEO_SECONDS = 30.0  # longer videos are indexed: 64 frames at 12 fps see only ~5 s of them
LIBRARY_ENV = "VIDEOTHOUGHT_LIBRARY"


class LongVideoContexts:
    """The run context per question: with `index` bound to the question's video when it is long."""

    def __init__(self, run_dir: str | os.PathLike, min_seconds: float = LONG_VIDEO_SECONDS):
        self.library_path = Path(os.environ.get(LIBRARY_ENV) or Path(run_dir) / "library.sqlite")
        self.min_seconds = min_seconds
        self._library = None
        self._bound: dict[str, object] = {}
        self._durations: dict[str, float] = {}

    def _duration(self, video_path: str, sample) -> float:
        if video_path not in self._durations:
            frames, fps = sample.metadata.get("frame_count"), None
            from videothought.perception.video import VideoReader

            with VideoReader(video_path) as reader:
                fps = reader.metadata.fps
                frames = reader.metadata.num_frames if not frames else frames
            self._durations[video_path] = float(frames) / float(fps)
        return self._durations[video_path]

    def context_for(self, sample, context):
        """`context` itself for short videos (or no context); a copy with the bound index for long ones."""
        if context is None or not hasattr(context, "with_overrides") or not sample.video_path:
            return context
        try:
            long_video = self._duration(sample.video_path, sample) > self.min_seconds
        except Exception as error:  # an unreadable video fails in the graph, with its own error
            logger.info("%s: no duration (%s); answered without the index", sample.video_path, error)
            return context
        if not long_video:
            return context
        if sample.video_path not in self._bound:
            from videothought.library import IndexSettings, Library

            if self._library is None:
                self._library = Library(self.library_path, encoder=context.encoder, rebuild=True)
            settings = IndexSettings(max_side=context.settings.max_side)
            logger.info("indexing %s into %s", sample.video_path, self.library_path)
            record = self._library.add(sample.video_path, settings=settings, proposer=context.proposer,
                                       tracker=context.tracker)
            self._bound[sample.video_path] = self._library.bind(record.video_id)
        return context.with_overrides(index=self._bound[sample.video_path])


# ---- the needle retrieval benchmark ----------------------------------------------------------
def evidence_segments(evidence: dict, fps: float, segment_seconds: float) -> list[set[int]]:
    """For each evidence event of a question, the segments its frames fall in."""
    per_segment = segment_seconds * fps
    spans = [(e["start_frame"], e["end_frame"]) for e in evidence.get("events", [])]
    if not spans and evidence.get("frame_span"):
        spans = [tuple(evidence["frame_span"])]
    return [set(range(int(start // per_segment), int(end // per_segment) + 1)) for start, end in spans]


def index_in_child(library: Path, video: Path, *, no_encoder: bool = False) -> dict:
    """Index one video in a child process; its wall seconds and peak resident memory (MB)."""
    command = [sys.executable, "-m", "videothought.library.cli", str(library), str(video), "--no-progress"]
    if no_encoder:
        command.append("--no-encoder")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"indexing {video} failed: {done.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    record = json.loads(done.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the largest child so far: exact for the first, an upper bound after
    return {"wall_seconds": round(wall, 2), "peak_rss_mb": round(max(peak, before) / 1024, 1),
            "peak_is_exact": peak > before, "record": record}


def measure_world(world: Path, library: Path, ks: list[int], *, encoder=None, no_encoder: bool = False) -> dict:
    from videothought.library import IndexSettings, Library, RetrievalWeights
    from videothought.evals.datasets import load_world

    samples = [s for s in load_world(world) if s.question_type == "needle"]
    videos = sorted({s.video_path for s in samples})
    builds = {video: index_in_child(library, Path(video), no_encoder=no_encoder) for video in videos}
    lib = Library(library, encoder=encoder)
    settings = IndexSettings()
    hits = {k: 0 for k in ks}
    latencies, rows = [], []
    for sample in samples:
        bound = lib.bind(builds[sample.video_path]["record"]["video_id"])
        record = bound.record
        started = time.perf_counter()
        ranked = bound.search(sample.question, [], k=max(ks))
        latencies.append(time.perf_counter() - started)
        needed = evidence_segments(sample.evidence or {}, record.fps, settings.segment_seconds)
        order = [h.segment for h in ranked]
        row = {"key": sample.key, "subtype": (sample.evidence or {}).get("subtype"), "needed": [sorted(n) for n in needed],
               "ranked": order}
        for k in ks:
            top = set(order[:k])
            found = bool(needed) and all(n & top for n in needed)
            hits[k] += found
            row[f"hit@{k}"] = found
        rows.append(row)
    lib.close()
    ablation = {}
    for name, weights in (("facts only", RetrievalWeights(1, 0, 0)), ("text only", RetrievalWeights(0, 1, 0)),
                          ("clip only", RetrievalWeights(0, 0, 1))):
        if name == "clip only" and encoder is None:
            continue
        with Library(library, encoder=encoder, weights=weights) as alone:
            found = {k: 0 for k in ks}
            for sample, row in zip(samples, rows):
                bound = alone.bind(builds[sample.video_path]["record"]["video_id"])
                order = [h.segment for h in bound.search(sample.question, [], k=max(ks))]
                for k in ks:
                    found[k] += bool(row["needed"]) and all(set(n) & set(order[:k]) for n in row["needed"])
        ablation[name] = {f"@{k}": round(found[k] / max(1, len(samples)), 4) for k in ks}
    hours = sum(b["record"]["duration_seconds"] for b in builds.values()) / 3600
    build_seconds = sum(b["record"]["build_seconds"] for b in builds.values())
    latencies_sorted = sorted(latencies)
    return {
        "world": str(world),
        "videos": len(videos),
        "minutes_per_video": round(hours * 60 / max(1, len(videos)), 1),
        "questions": len(samples),
        "recall": {f"@{k}": round(hits[k] / max(1, len(samples)), 4) for k in ks},
        "recall_one_signal": ablation,
        "retrieval_latency_ms": {"median": round(1000 * latencies_sorted[len(latencies) // 2], 2) if latencies else None,
                                 "max": round(1000 * max(latencies), 2) if latencies else None},
        "index_build_seconds": round(build_seconds, 1),
        "index_wall_seconds": round(sum(b["wall_seconds"] for b in builds.values()), 1),
        "build_seconds_per_video_hour": round(build_seconds / hours, 1) if hours else None,
        "peak_rss_mb_indexing": max(b["peak_rss_mb"] for b in builds.values()),
        "library_mb": round(library.stat().st_size / 2**20, 2),
        "load_average": os.getloadavg(),
        "rows": rows,
    }


def graph_latency(worlds: list[Path], per_world: int, context=None) -> dict:
    """Seconds per needle question through the default graph, after indexing, per world.

    Questions are taken round-robin across the worlds (1 from each, then the next...) so a
    shared machine's load falls on every world alike; each world's library must be built.
    Reading a video's index into memory (once per process, like loading the models) is timed
    apart as `load_seconds`; `node_median_seconds` splits a question's time by graph node, and
    `ratio_*` compare the last world with the first.
    """
    from videothought.agent.context import default_context
    from videothought.agent.session import Session
    from videothought.evals.datasets import load_world

    context = context or default_context()
    queues, sessions = {}, {}
    for world in worlds:
        samples = [s for s in load_world(world) if s.question_type == "needle"][:per_world]
        queues[world] = samples
    seconds = {world: [] for world in worlds}
    loads = {world: [] for world in worlds}
    nodes: dict[Path, dict[str, list[float]]] = {world: {} for world in worlds}
    correct = {world: 0 for world in worlds}
    for position in range(per_world):
        for world in worlds:
            if position >= len(queues[world]):
                continue
            sample = queues[world][position]
            key = (world, sample.video_path)
            if key not in sessions:
                sessions[key] = Session(sample.video_path, context=context, library=Path(world) / "library.sqlite")
                started = time.perf_counter()
                sessions[key].library._arrays(sessions[key].index.video_id)
                loads[world].append(time.perf_counter() - started)
            started = time.perf_counter()
            result = sessions[key].ask(sample.question, sample.choices)
            seconds[world].append(time.perf_counter() - started)
            correct[world] += result.answer_index == sample.answer_index
            for record in result.state.get("trace") or []:
                nodes[world].setdefault(record["node"], []).append(float(record.get("latency_seconds") or 0.0))
    out = {}
    for world in worlds:
        values = sorted(seconds[world])
        out[str(world)] = {"questions": len(values), "median_seconds": round(values[len(values) // 2], 2) if values else None,
                           "mean_seconds": round(sum(values) / len(values), 2) if values else None,
                           "accuracy": round(correct[world] / len(values), 4) if values else None,
                           "load_seconds": [round(v, 3) for v in loads[world]],
                           "node_median_seconds": {node: round(sorted(v)[len(v) // 2], 3)
                                                   for node, v in sorted(nodes[world].items())}}
    first, last = out[str(worlds[0])], out[str(worlds[-1])]
    if len(worlds) > 1 and first["median_seconds"] and last["median_seconds"]:
        out["ratio_median"] = round(last["median_seconds"] / first["median_seconds"], 3)
        out["ratio_mean"] = round(last["mean_seconds"] / first["mean_seconds"], 3)
    out["load_average"] = os.getloadavg()
    return out


# ---- the needle suite: the same mix at every length -----------------------------------------------
DEV_SEEDS = frozenset({9001})  # RetrievalWeights were chosen on this seed: never a reported number


class SuiteError(ValueError):
    """The worlds cannot give the suite asked for (too few worlds, needles, or a development seed)."""


def world_minutes(world: Path) -> float:
    """The length of a `--long` world's videos, in minutes (meta.json's resolved seconds)."""
    meta = json.loads((Path(world) / "meta.json").read_text())
    params = meta.get("resolved_params") or meta.get("params") or {}
    if not params.get("long"):
        raise SuiteError(f"{world}: not a --long world (meta.json says long={params.get('long')!r})")
    if int(meta.get("seed", -1)) in DEV_SEEDS:
        raise SuiteError(f"{world}: seed {meta['seed']} is a development seed (retrieval weights were chosen on it); "
                         "generate held-out worlds with other seeds")
    return round(float(params["seconds"]) / 60, 2)


def needle_mix(worlds: list[Path], *, min_needles: int = 24, min_worlds: int = 2) -> dict:
    """The same needle mix at every length: {"mix": {subtype: n}, "left_out": [...], "lengths":
    {minutes: [Sample, ...]}, "worlds": {minutes: [world, ...]}}. Raises SuiteError with what to generate."""
    from videothought.evals.datasets import load_world

    by_length: dict[float, list[Path]] = {}
    for world in worlds:
        by_length.setdefault(world_minutes(Path(world)), []).append(Path(world))
    few = {m: len(w) for m, w in by_length.items() if len(w) < min_worlds}
    if few:
        raise SuiteError(f"each length needs {min_worlds} held-out worlds; have {few} (minutes: worlds)")
    pools: dict[float, dict[str, list]] = {}
    for minutes, group in sorted(by_length.items()):
        pools[minutes] = {}
        for world in sorted(group):
            for sample in load_world(world):
                if sample.question_type == "needle":
                    subtype = (sample.evidence or {}).get("subtype") or "needle"
                    pools[minutes].setdefault(subtype, []).append(sample)
    subtypes = sorted({t for pool in pools.values() for t in pool})
    mix = {t: min(len(pool.get(t, [])) for pool in pools.values()) for t in subtypes}
    left_out = [t for t in subtypes if mix[t] == 0]
    mix = {t: n for t, n in mix.items() if n}
    total = sum(mix.values())
    if total < min_needles:
        offered = {m: {t: len(v) for t, v in pool.items()} for m, pool in pools.items()}
        raise SuiteError(f"the common mix {mix} has {total} needles, fewer than {min_needles}: generate more videos "
                         f"per length (offered per length: {offered}; left out, missing at some length: {left_out})")
    lengths = {m: [s for t in sorted(mix) for s in pools[m][t][: mix[t]]] for m in pools}
    return {"mix": mix, "left_out": left_out, "lengths": lengths,
            "worlds": {m: [str(w) for w in sorted(by_length[m])] for m in by_length}}


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    return round(ordered[len(ordered) // 2], 3) if ordered else None


def needle_suite(worlds: list[Path], *, min_needles: int = 24, min_worlds: int = 2, min_latency: int = 20,
                 context=None, limit: int | None = None) -> dict:
    """Answer the common needle mix at every length through the graph (see the module docstring).
    limit: at most this many questions per length (a smoke run; the result says it is partial)."""
    from videothought.agent.context import default_context
    from videothought.agent.session import Session
    from videothought.library import IndexSettings

    plan = needle_mix(worlds, min_needles=min_needles, min_worlds=min_worlds)
    lengths = {m: samples[:limit] if limit else samples for m, samples in plan["lengths"].items()}
    if min(len(v) for v in lengths.values()) < min_latency:
        raise SuiteError(f"latency needs {min_latency} questions per length; the mix gives "
                         f"{ {m: len(v) for m, v in lengths.items()} }")
    context = context or default_context()
    settings = IndexSettings()
    sessions, build_seconds = {}, {m: 0.0 for m in lengths}
    for minutes, samples in lengths.items():  # index everything first: answering time excludes it
        for sample in samples:
            key = sample.video_path
            if key not in sessions:
                library = Path(sample.video_path).parent.parent / "library.sqlite"
                sessions[key] = Session(sample.video_path, context=context, library=library)
                build_seconds[minutes] += sessions[key].index_seconds
    rows = {m: [] for m in lengths}
    peak_mb = {}
    for position in range(max(len(v) for v in lengths.values())):
        for minutes, samples in lengths.items():
            if position >= len(samples):
                continue
            sample = samples[position]
            session = sessions[sample.video_path]
            started = time.perf_counter()
            result = session.ask(sample.question, sample.choices)
            seconds = time.perf_counter() - started
            record = session.index.record
            needed = evidence_segments(sample.evidence or {}, record.fps, settings.segment_seconds)
            seen = set(result.state.get("segments") or [])
            ranked = [h.segment for h in session.index.search(sample.question, [], k=3)]
            rows[minutes].append({
                "key": sample.key, "subtype": (sample.evidence or {}).get("subtype"), "seconds": round(seconds, 3),
                "correct": result.answer_index == sample.answer_index, "answer_index": result.answer_index,
                "segments": sorted(seen), "needed": [sorted(n) for n in needed],
                "segments_hold_evidence": bool(needed) and all(n & seen for n in needed),
                "hit@1": bool(needed) and all(n & set(ranked[:1]) for n in needed),
                "hit@3": bool(needed) and all(n & set(ranked[:3]) for n in needed)})
            peak_mb[minutes] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out = {"mix": plan["mix"], "left_out": plan["left_out"], "worlds": {str(m): w for m, w in plan["worlds"].items()},
           "partial": limit is not None, "lengths": {}}
    for minutes, answered in rows.items():
        count = len(answered)
        out["lengths"][str(minutes)] = {
            "questions": count,
            "accuracy": round(sum(r["correct"] for r in answered) / count, 4),
            "segments_hold_evidence": round(sum(r["segments_hold_evidence"] for r in answered) / count, 4),
            "recall@1": round(sum(r["hit@1"] for r in answered) / count, 4),
            "recall@3": round(sum(r["hit@3"] for r in answered) / count, 4),
            "median_seconds": _median([r["seconds"] for r in answered]),
            "index_build_seconds": round(build_seconds[minutes], 1),
            "peak_rss_mb_so_far": peak_mb.get(minutes),
            "rows": answered}
    first, last = out["lengths"][str(min(rows))], out["lengths"][str(max(rows))]
    if len(rows) > 1:
        out["ratio_accuracy"] = round(last["accuracy"] / first["accuracy"], 3) if first["accuracy"] else None
        out["ratio_median_seconds"] = round(last["median_seconds"] / first["median_seconds"], 3) \
            if first["median_seconds"] else None
    out["load_average"] = os.getloadavg()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m videothought.evals.long_videos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("worlds", nargs="+", help="directories written by `vot world generate --long`")
    parser.add_argument("--out", required=True, help="JSON results (rewritten after every world)")
    parser.add_argument("--library", default=None, help="library file (default: <world>/library.sqlite)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--no-encoder", action="store_true", help="no clip embeddings")
    parser.add_argument("--latency", type=int, default=0, metavar="N",
                        help="instead: N needle questions per world through the graph (round-robin), "
                             "seconds per question after indexing")
    parser.add_argument("--suite", action="store_true",
                        help="instead: the needle suite, the same mix at every length (see above)")
    parser.add_argument("--min-needles", type=int, default=24, help="with --suite: needles per length, at least")
    parser.add_argument("--min-worlds", type=int, default=2, help="with --suite: held-out worlds per length")
    parser.add_argument("--min-latency", type=int, default=20, help="with --suite: questions behind each median")
    parser.add_argument("--limit", type=int, default=None, help="with --suite: questions per length (smoke runs)")
    parser.add_argument("--context", default=None,
                        help="with --suite: module:function returning the run context (default: the agent's)")
    args = parser.parse_args(argv)
    if args.suite:
        logging.basicConfig(level=logging.WARNING)
        context = None
        if args.context:
            from videothought.evals.runner import import_object

            context = import_object(args.context, "--context")()
        try:
            result = needle_suite([Path(w) for w in args.worlds], min_needles=args.min_needles,
                                  min_worlds=args.min_worlds, min_latency=args.min_latency, limit=args.limit,
                                  context=context)
        except SuiteError as error:
            print(f"long_videos --suite: {error}", file=sys.stderr)
            return 2
        Path(args.out).write_text(json.dumps(result, indent=1))
        print(json.dumps({k: v for k, v in result.items() if k != "lengths"}
                         | {"lengths": {m: {k: v for k, v in r.items() if k != "rows"}
                                        for m, r in result["lengths"].items()}}))
        return 0
    if args.latency:
        logging.basicConfig(level=logging.WARNING)
        result = graph_latency([Path(w) for w in args.worlds], args.latency)
        Path(args.out).write_text(json.dumps(result, indent=1))
        print(json.dumps(result))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    encoder = None
    if not args.no_encoder:
        from videothought.perception.encoder import load_default_encoder

        encoder = load_default_encoder()
    results = []
    for world in args.worlds:
        library = Path(args.library) if args.library else Path(world) / "library.sqlite"
        result = measure_world(Path(world), library, args.k, encoder=encoder, no_encoder=args.no_encoder)
        results.append(result)
        Path(args.out).write_text(json.dumps(results, indent=1))
        summary = {k: v for k, v in result.items() if k != "rows"}
        logger.info("%s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
