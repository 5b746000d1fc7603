"""`vot bench index`: indexing throughput, serial against Ray workers, in one run; the libraries
must be identical; what a cluster would move per segment.

    vot bench index                                  # 2 world videos of 2 minutes (generated, cached)
    vot bench index --videos 3 --seconds 300 --workers 2
    vot bench index --world runs/long-w1001          # the videos of a `vot world generate --long` folder

One process runs both builds on the same videos with the embedded stack (the AoE encoder,
MiniLM, the default proposer): first serially (`Library.add`, as `vot index` does), then on a
local Ray cluster (`add_videos_ray`, as `vot index --ray` does). The serial build runs torch
with --serial-threads (default 1: a worker's thread policy, so the encoder's floats, which
depend on the thread count, can be compared exactly; pass 2 to see the serial build at full
width). Printed: seconds of video per second of wall time for each and their ratio, the
cluster's start-up apart; whether the two libraries are identical row for row (timings
aside); per segment the record's pickled bytes (what a worker sends the writer over the
network on a real cluster), the video bytes a worker reads, and the writer's commit time, from
which the writer's ceiling in segments per second follows; the load average before and after
(the machine is shared: read ratios, not absolute times).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import time
from pathlib import Path

CACHE = Path.home() / ".cache" / "videothought" / "bench" / "index"
TIMINGS = {"build_seconds", "added_at"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", default=None, help="index this world's videos (default: generate long ones)")
    parser.add_argument("--videos", type=int, default=2, help="generated long videos")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each generated video")
    parser.add_argument("--seed", type=int, default=4242, help="world seed of the generated videos")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (a local cluster of this many CPUs)")
    parser.add_argument("--segments-per-task", type=int, default=3)
    parser.add_argument("--serial-threads", type=int, default=1, help="torch threads of the serial build")
    parser.add_argument("--cache", default=str(CACHE), help="where generated videos and the libraries go")


def _videos(args) -> list[str]:
    if args.world:
        found = sorted(str(p) for p in (Path(args.world) / "videos").glob("*.mp4"))
        if not found:
            raise SystemExit(f"vot bench index: {args.world} has no videos/*.mp4")
        return found
    from videothought.evals.world import generate_world

    root = Path(args.cache) / f"w{args.seed}-{args.videos}x{int(args.seconds)}s"
    if not (root / "meta.json").is_file():
        generate_world(root, args.videos, args.seed, long=True, seconds=args.seconds)
    return sorted(str(p) for p in (root / "videos").glob("*.mp4"))


def library_rows(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows, timings left out, in key order."""
    out = {}
    with sqlite3.connect(path) as db:
        for table in ("videos", "segments", "tracks", "events"):
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[1] not in TIMINGS]
            out[table] = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1, 2, 3").fetchall()
    return out


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def run(args: argparse.Namespace) -> dict:
    import torch

    from videothought.library.cluster import ray_session
    from videothought.library.distributed import WorkerSpec, add_videos_ray
    from videothought.library.store import Library
    from videothought.perception.encoder import load_default_encoder
    from videothought.perception.indexing import IndexSettings

    videos = _videos(args)
    settings = IndexSettings()
    work = Path(args.cache)
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()

    # serial: this process, one streaming pass per video, as `vot index` runs it; the clock
    # starts before the models load, as Ray's starts before its workers load theirs
    threads = torch.get_num_threads()
    torch.set_num_threads(args.serial_threads)
    try:
        started = time.perf_counter()
        encoder = load_default_encoder()
        serial_path = _fresh(work / "serial.sqlite")
        with Library(serial_path, encoder=encoder) as library:
            library.embedders.text(["warm-up"])
            serial_load_seconds = time.perf_counter() - started
            records = [library.add(video, settings=settings) for video in videos]
            serial_seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    video_seconds = sum(r.duration_seconds for r in records)
    segments = sum(r.segments_done for r in records)
    serial_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Ray: a local cluster of `workers` CPUs; the clock includes the workers' model loading
    started = time.perf_counter()
    with ray_session(None, num_cpus=args.workers):
        cluster_start_seconds = time.perf_counter() - started
        ray_path = _fresh(work / "ray.sqlite")
        with Library(ray_path) as library:
            report = add_videos_ray(library, videos, settings=settings, spec=WorkerSpec(), workers=args.workers,
                                    segments_per_task=args.segments_per_task)
    if report.failures:
        raise SystemExit(f"vot bench index: the Ray build failed: {report.failures}")
    ray_seconds = report.seconds
    serial_work, ray_work = serial_seconds - serial_load_seconds, ray_seconds - report.startup_seconds

    serial_rows, ray_rows = library_rows(serial_path), library_rows(ray_path)
    differing = {table: sum(a != b for a, b in zip(serial_rows[table], ray_rows[table]))
                 + abs(len(serial_rows[table]) - len(ray_rows[table])) for table in serial_rows}
    record_bytes = sorted(report.record_bytes)
    video_bytes = sum(Path(v).stat().st_size for v in videos)
    commit_per_segment = report.commit_seconds / max(1, report.segments_committed)
    per_worker_rate = report.segments_committed / ray_seconds / max(1, report.workers)  # segments/s, one worker
    return {
        "videos": len(videos),
        "video_seconds": round(video_seconds, 1),
        "segments": segments,
        "serial_threads": args.serial_threads,
        "workers": report.workers,
        # whole builds: models loaded inside the clock (Ray: actors started, models loaded in each)
        "serial_seconds": round(serial_seconds, 2),
        "ray_seconds": round(ray_seconds, 2),
        "serial_video_seconds_per_second": round(video_seconds / serial_seconds, 2),
        "ray_video_seconds_per_second": round(video_seconds / ray_seconds, 2),
        "speedup_ray_over_serial": round(serial_seconds / ray_seconds, 3),
        # after the models are loaded: the rate a long build settles at
        "serial_model_load_seconds": round(serial_load_seconds, 2),
        "ray_worker_startup_seconds": round(report.startup_seconds, 2),
        "serial_video_seconds_per_second_loaded": round(video_seconds / serial_work, 2),
        "ray_video_seconds_per_second_loaded": round(video_seconds / ray_work, 2),
        "speedup_ray_over_serial_loaded": round(serial_work / ray_work, 3),
        # starting a local cluster for the run (an already running `ray start --head` costs nothing here)
        "ray_cluster_start_seconds": round(cluster_start_seconds, 2),
        "speedup_with_cluster_start": round(serial_seconds / (ray_seconds + cluster_start_seconds), 3),
        "identical": not any(differing.values()),
        "rows": {table: len(rows) for table, rows in serial_rows.items()},
        "rows_differing": differing,
        "record_bytes_per_segment": {"median": statistics.median(record_bytes), "max": record_bytes[-1],
                                     "total": sum(record_bytes)},
        "video_bytes_per_segment": round(video_bytes / max(1, segments)),
        "writer_commit_ms_per_segment": round(1000 * commit_per_segment, 2),
        "writer_ceiling_segments_per_second": round(1 / commit_per_segment, 1) if commit_per_segment else None,
        "workers_one_writer_keeps_up_with": int(1 / commit_per_segment / per_worker_rate) if commit_per_segment else None,
        "process_peak_rss_mb_after_serial": round(serial_rss_mb, 1),
        "worker_peak_rss_mb": [s["peak_rss_mb"] for s in report.worker_stats],
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
