"""Generating a world dataset on disk and loading it back.

    DIR/videos/<video>.mp4     h264, a keyframe every second (perception.video.write_video)
    DIR/qa.csv                 NExT-QA columns: video,frame_count,width,height,question,answer,qid,type,a0..a4
    DIR/evidence.jsonl         per question: qid, video, type, subtype, object_ids, events, frame_span
    DIR/stsg/<video>.json      ground-truth STSG document (graph/schema.py)
    DIR/captions.jsonl         {"video", "segment": [start_frame, end_frame] | null, "caption"}
    DIR/specs/<video>.json     the scene spec: render_video(SceneSpec.from_dict(...)) redraws it in memory
    DIR/meta.json              generator version and every parameter

Video ids are "w{seed}_{index:06d}": splits made with different seeds never collide.
Each video draws from its own generator seeded by (seed, index), so a video does not
depend on how many others were generated with it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import WorldParams
from .questions import NUM_OPTIONS, Question

logger = logging.getLogger(__name__)

GENERATOR_VERSION = "1.0"
QA_COLUMNS = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type",
              "a0", "a1", "a2", "a3", "a4")
_VIDEO_ID = re.compile(r"w\d+_\d{6}")


class WorldFormatError(ValueError):
    """A world directory that is missing files or holds malformed records; the message names them."""


@dataclass
class WorldVideo:
    video_id: str
    path: Path
    fps: float
    width: int
    height: int
    num_frames: int
    stsg: dict  # the ground-truth STSG document
    questions: list[Question] = field(default_factory=list)
    captions: list[dict] = field(default_factory=list)
    spec: dict | None = None  # SceneSpec.to_dict(); None when the directory has no specs/

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def render(self):
        """Redraw the video in memory: (frames (T, H, W, 3) uint8, GroundTruth), identical to the mp4's source."""
        from .render import render_video
        from .simulate import SceneSpec

        if self.spec is None:
            raise WorldFormatError(f"{self.video_id}: no scene spec stored; cannot re-render")
        return render_video(SceneSpec.from_dict(self.spec))


def video_id_for(seed: int, index: int) -> str:
    return f"w{seed}_{index:06d}"


def generate_video(seed: int, index: int, params: WorldParams):
    """One short video: (spec, frames iterator factory, truth, questions, captions), all in memory."""
    from .captions import write_captions
    from .questions import SceneFacts, write_questions
    from .render import render_video
    from .simulate import sample_spec

    video_id = video_id_for(seed, index)
    rng = np.random.default_rng([seed, index])
    spec = sample_spec(rng, params, video_id=video_id)
    frames, truth = render_video(spec)
    facts = SceneFacts(truth)
    questions = write_questions(facts, rng, video_id=video_id, max_questions=params.questions_per_video)
    segment_frames = max(1, int(round(params.segment_seconds * spec.fps)))
    captions = write_captions(truth, rng, video_id=video_id, segment_frames=segment_frames)
    return spec, frames, truth, questions, captions


def iter_world(num_videos: int, seed: int, *, start_index: int = 0, **params):
    """Scenes rendered in memory, no files: yields (spec, frames (T, H, W, 3) uint8, truth, captions).

    The same videos `generate_world` writes for this seed (same ids, frames and truth), for
    training on frames, regions (`truth.regions(frame_index)`) and captions without an mp4 round trip.
    """
    world_params = WorldParams(**params)
    if world_params.long:
        raise ValueError("iter_world renders short videos; long videos stream to disk with generate_world")
    for index in range(start_index, start_index + num_videos):
        spec, frames, truth, _, captions = generate_video(seed, index, world_params)
        yield spec, frames, truth, captions


def generate_world(out_dir: str | os.PathLike, num_videos: int, seed: int, *, progress: bool = False,
                   **params) -> Path:
    """Write `num_videos` videos with their truth, questions and captions under `out_dir`.

    `params` are WorldParams fields (seconds, max_objects, difficulty, long, ...).
    Returns `out_dir`. Existing files of the same names are overwritten.
    """
    from videothought.perception.video import write_video

    if num_videos < 1:
        raise ValueError(f"num_videos must be at least 1, got {num_videos!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed!r}")
    world_params = WorldParams(**params)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory")
    for sub in ("videos", "stsg", "specs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows, evidence, captions_all, video_ids = [], [], [], []
    total_frames = 0
    indices = range(num_videos)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="world", unit="video")
    for index in indices:
        if world_params.long:
            from .long import generate_long_video

            video_id = video_id_for(seed, index)
            spec, truth, questions, captions, stsg = generate_long_video(
                seed, index, world_params, video_path=out / "videos" / f"{video_id}.mp4")
        else:
            spec, frames, truth, questions, captions = generate_video(seed, index, world_params)
            video_id = spec.video_id
            write_video(out / "videos" / f"{video_id}.mp4", frames, spec.fps)
            stsg = truth.stsg_document(path=f"videos/{video_id}.mp4")
        total_frames += spec.num_frames
        video_ids.append(video_id)
        (out / "stsg" / f"{video_id}.json").write_text(json.dumps(stsg, allow_nan=False))
        (out / "specs" / f"{video_id}.json").write_text(json.dumps(spec.to_dict(), allow_nan=False))
        for question in questions:
            rows.append({"video": video_id, "frame_count": spec.num_frames, "width": spec.width,
                         "height": spec.height, "question": question.question, "answer": question.answer,
                         "qid": question.qid, "type": question.type,
                         **{f"a{i}": option for i, option in enumerate(question.options)}})
            evidence.append(question.evidence())
        captions_all += captions
    with open(out / "qa.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=QA_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "evidence.jsonl", "w") as handle:
        for record in evidence:
            handle.write(json.dumps(record) + "\n")
    with open(out / "captions.jsonl", "w") as handle:
        for record in captions_all:
            handle.write(json.dumps(record) + "\n")
    meta = {
        "generator": "videothought.evals.world",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "num_videos": num_videos,
        "params": world_params.to_dict(),
        "resolved_params": world_params.resolved().to_dict(),
        "videos": video_ids,  # load_world reads these (stale files from an earlier run are ignored)
        "num_questions": len(rows),
        "num_frames": total_frames,
        "seconds_to_generate": round(time.perf_counter() - start, 3),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    logger.info("wrote %d videos, %d questions to %s", num_videos, len(rows), out)
    return out


def load_world(directory: str | os.PathLike) -> list[WorldVideo]:
    """Read a generated world back: videos in qa/meta order with their truth, questions, captions."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such world directory")
    for name in ("meta.json", "qa.csv", "evidence.jsonl", "captions.jsonl"):
        if not (root / name).is_file():
            raise WorldFormatError(f"{root}: missing {name} (not a directory written by `vot world generate`)")
    meta = json.loads((root / "meta.json").read_text())
    evidence = {}
    for line_number, line in enumerate((root / "evidence.jsonl").read_text().splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
                evidence[record["qid"]] = record
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise WorldFormatError(f"{root / 'evidence.jsonl'} line {line_number}: {error}") from None
    questions: dict[str, list[Question]] = {}
    with open(root / "qa.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != QA_COLUMNS:
            raise WorldFormatError(f"{root / 'qa.csv'}: columns {reader.fieldnames} are not {list(QA_COLUMNS)}")
        for row_number, row in enumerate(reader, start=2):
            video_id = _checked_video_id(row["video"], root)
            qid = row["qid"]
            if qid not in evidence:
                raise WorldFormatError(f"{root / 'qa.csv'} row {row_number}: qid {qid!r} has no evidence record")
            try:
                answer = int(row["answer"])
            except ValueError:
                raise WorldFormatError(f"{root / 'qa.csv'} row {row_number}: answer {row['answer']!r} is not 0-4") from None
            if not 0 <= answer < NUM_OPTIONS:
                raise WorldFormatError(f"{root / 'qa.csv'} row {row_number}: answer {answer} is not 0-4")
            record = evidence[qid]
            questions.setdefault(video_id, []).append(Question(
                qid=qid, video=video_id, question=row["question"], options=[row[f"a{i}"] for i in range(NUM_OPTIONS)],
                answer=answer, type=row["type"], subtype=record.get("subtype", ""),
                object_ids=record.get("object_ids", []), events=record.get("events", []),
                frame_span=record.get("frame_span", [0, 0]),
            ))
    captions: dict[str, list[dict]] = {}
    for line in (root / "captions.jsonl").read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            captions.setdefault(record["video"], []).append(record)
    video_ids = meta.get("videos")
    if not isinstance(video_ids, list):
        raise WorldFormatError(f"{root / 'meta.json'}: no 'videos' list")
    videos = []
    for video_id in video_ids:
        _checked_video_id(str(video_id), root)
        stsg_path = root / "stsg" / f"{video_id}.json"
        if not stsg_path.is_file():
            raise WorldFormatError(f"{root}: video {video_id} has no stsg/{video_id}.json")
        stsg = json.loads(stsg_path.read_text())
        info = stsg.get("video", {})
        spec_path = root / "specs" / f"{video_id}.json"
        videos.append(WorldVideo(
            video_id=video_id, path=root / "videos" / f"{video_id}.mp4", fps=float(info["fps"]),
            width=int(info["width"]), height=int(info["height"]), num_frames=int(info["num_frames"]),
            stsg=stsg, questions=questions.get(video_id, []), captions=captions.get(video_id, []),
            spec=json.loads(spec_path.read_text()) if spec_path.is_file() else None,
        ))
    missing = sorted(set(questions) - set(video_ids))
    if missing:
        raise WorldFormatError(f"{root}: qa.csv names videos that meta.json does not list: {missing[:5]}")
    return videos


def _checked_video_id(video_id: str, root: Path) -> str:
    """Video ids become file names: only the generator's own pattern is accepted (no paths)."""
    if not _VIDEO_ID.fullmatch(video_id):
        raise WorldFormatError(f"{root}: video id {video_id!r} is not of the form w<seed>_<6 digits>")
    return video_id
