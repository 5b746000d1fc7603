"""`vot bench agent` (evals/bench_agent.py): conditions on original and reworded questions, exact
expectations with stub models, resumable rows, safe paths, the table (evals/bench_table.py)."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from videothought.evals import bench_agent as bench
from videothought.evals.bench_table import LABELS, summarise, table


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """A one-video world (seed 5) and its held-out rewording."""
    from videothought.evals.world.dataset import generate_world
    from videothought.evals.world.reword import reword_world

    root = tmp_path_factory.mktemp("bench")
    original = generate_world(root / "original", 1, 5)
    reword_world(original, root / "heldout", family="heldout", seed=0)
    return original, root / "heldout"


def arguments(worlds, rows, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.configure(parser)
    return parser.parse_args(["--data", str(worlds[0]), "--reworded", str(worlds[1]), "--limit", "4",
                              "--rows", str(rows), "--no-progress", *extra])


class ShortestChoiceLM:
    """A stub LLM: every choice scores minus its length in characters, one token per word, so the
    shortest choice wins (the first of equals). Records every prompt it is shown."""

    name = "shortest-choice"

    def __init__(self):
        self.prompts = []

    def score(self, prompt, continuations):
        self.prompts.append(prompt[-1]["content"])
        return [-float(len(c)) * len(c.split()) for c in continuations]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None):
        raise AssertionError("the baselines only score")


def test_oracle_is_the_ceiling_and_the_world_solver_breaks_on_rewording(worlds, tmp_path):
    out = bench.run_accuracy(arguments(worlds, tmp_path / "rows.jsonl", "--conditions", "world-solver,oracle"),
                             ["world-solver", "oracle"], {"original": str(worlds[0]), "reworded": str(worlds[1])})
    assert out["questions"] == {"original": 4, "reworded": 4}
    assert out["oracle"]["original"]["accuracy"] == 1.0 and out["oracle"]["reworded"]["accuracy"] == 1.0
    # The solver parses the world's wording only: every reworded question is outside its grammar.
    assert out["world-solver"]["reworded"] == {**out["world-solver"]["reworded"], "accuracy": 0.0, "unparsable": 4}
    assert out["world-solver"]["median_llm_calls"] == 0 and out["oracle"]["label"].endswith("(ceiling)")
    assert "reference only" in out["world-solver"]["label"]


def test_world_solver_rows_are_the_solver_on_the_tracked_stsg(worlds, tmp_path):
    from videothought.evals.world.tracked_solver import solve, track_video

    rows = tmp_path / "rows.jsonl"
    bench.run_accuracy(arguments(worlds, rows), ["world-solver"], {"original": str(worlds[0])})
    questions = bench.load_questions(str(worlds[0]), 4)
    doc = track_video(questions[0]["video"])
    expected = [solve(q["question"], q["choices"], doc) for q in questions]
    written = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [r["chosen"] for r in written] == [-1 if e is None else e for e in expected]
    assert [r["correct"] for r in written] == [e == q["answer"] for e, q in zip(expected, questions)]
    assert (tmp_path / "rows-cache" / "world-solver" / "w5_000000.json").is_file()  # tracked once, cached


def test_blind_and_frames_choose_by_likelihood_within_the_graph_budget(worlds, tmp_path):
    from videothought.agent.context import default_context

    args = arguments(worlds, tmp_path / "rows.jsonl")
    runner = bench.Bench(args, ["blind", "frames"])
    lm = ShortestChoiceLM()
    runner._context = default_context(lm=lm, encoder=None, context_tokens=12)
    questions = bench.load_questions(str(worlds[0]), 4)
    for item in questions:
        shortest = min(range(5), key=lambda i: (len(item["choices"][i]) * len(item["choices"][i].split()), i))
        blind = runner.answer(item, "blind")
        assert blind == {"chosen": shortest, "llm_calls": 1}
        assert lm.prompts[-1] == f"Question: {item['question']}\nAnswer:"
        frames = runner.answer(item, "frames")
        assert frames["chosen"] == shortest and frames["evidence_tokens"] <= 12
        description = lm.prompts[-1].split("Frames of the video, in order:\n", 1)[1].split("\nQuestion:")[0]
        assert description and lm.count_tokens(description) <= 12 and re.match(r"\d+\.\ds: ", description)


def test_within_budget_keeps_frames_spread_over_the_clip():
    lm = ShortestChoiceLM()
    lines = [f"{t}.0s: red circle (left)" for t in range(8)]  # 4 words each
    assert bench.within_budget(lines, lm, 100) == "\n".join(lines)
    assert bench.within_budget(lines, lm, 16) == "\n".join(lines[::2])  # every other frame: 4 lines, 16 words
    assert bench.within_budget(lines, lm, 5) == "\n".join(lines[::8])
    assert bench.within_budget(lines, lm, 2) == "0.0s: red"


def test_rows_resume_without_recomputing(worlds, tmp_path):
    rows = tmp_path / "rows.jsonl"
    args = arguments(worlds, rows)
    datasets = {"original": str(worlds[0]), "reworded": str(worlds[1])}
    first = bench.run_accuracy(args, ["oracle"], datasets)
    assert len(rows.read_text().splitlines()) == 8
    lines = rows.read_text().splitlines()
    tampered = [json.loads(line) for line in lines]
    tampered[0]["correct"] = not tampered[0]["correct"]  # a stored row wins over recomputing
    rows.write_text("".join(json.dumps(r) + "\n" for r in tampered))
    again = bench.run_accuracy(args, ["oracle"], datasets)
    assert len(rows.read_text().splitlines()) == 8
    assert again["oracle"]["original"]["accuracy"] == first["oracle"]["original"]["accuracy"] - 0.25


def test_adapters_condition_is_skipped_with_a_note_when_there_are_none(worlds, tmp_path):
    empty = tmp_path / "adapters"
    empty.mkdir()
    out = bench.run_accuracy(arguments(worlds, tmp_path / "rows.jsonl", "--adapters", str(empty)),
                             ["graph+adapters"], {"original": str(worlds[0])})
    assert "graph+adapters" not in out and out["notes"]["graph+adapters"].startswith("skipped: no trained node adapters")
    (empty / "rank_answers").mkdir()
    (empty / "rank_answers" / "adapter_config.json").write_text("{}")
    assert bench.find_adapters(str(empty)) == {"rank_answers": str(empty / "rank_answers")}
    with pytest.raises(SystemExit, match="is not a directory"):
        bench.find_adapters(str(tmp_path / "missing"))


def test_datasets_from_the_command_line(worlds, tmp_path):
    parser = argparse.ArgumentParser()
    bench.configure(parser)
    twice = parser.parse_args(["--data", "a", "--data", "b"])
    assert bench.datasets_of(twice) == {"original": "a", "reworded": "b"}
    assert bench.datasets_of(parser.parse_args(["--data", "a", "--reworded", "b"])) == {"original": "a", "reworded": "b"}
    assert bench.datasets_of(parser.parse_args(["--data", "a"])) == {"original": "a"}
    with pytest.raises(SystemExit, match="give --data once"):
        bench.datasets_of(parser.parse_args(["--data", "a", "--data", "b", "--reworded", "c"]))
    with pytest.raises(SystemExit, match="--data WORLD_DIR is required"):
        bench.datasets_of(parser.parse_args([]))
    with pytest.raises(SystemExit, match="not the original's"):
        bench.run_accuracy(arguments(worlds, tmp_path / "r.jsonl"), ["oracle"],
                           {"original": str(worlds[0]), "reworded": str(_other_world(tmp_path))})


def _other_world(tmp_path):
    from videothought.evals.world.dataset import generate_world

    return generate_world(tmp_path / "other", 1, 6)


def test_video_names_cannot_leave_the_dataset(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "qa.csv").write_text("video,question,answer,qid,type,a0,a1\n../../etc/passwd,Q?,0,q0,descriptive,a,b\n")
    with pytest.raises(SystemExit, match="escapes"):
        bench.load_questions(str(tmp_path), 5)
    with pytest.raises(SystemExit, match="has no qa.csv"):
        bench.load_questions(str(tmp_path / "videos"), 5)


def test_summarise_and_the_table():
    rows = [{"data": data, "qid": f"q{i}", "type": "causal" if i < 2 else "temporal", "condition": c,
             "correct": (c == "graph" and (data == "original" or i == 0)) or (c == "blind" and i == 3),
             "llm_calls": {"blind": 1, "graph": 4}[c], "seconds": 2.0 if c == "graph" else 0.5,
             "track_seconds": 1.5, "first_on_video": i == 0, "verified": i != 1}
            for i in range(4) for c in ("blind", "graph") for data in ("original", "reworded")]
    out = summarise(rows, ["blind", "frames", "graph"])
    assert out["questions"] == {"original": 4, "reworded": 4} and "frames" not in out
    assert out["graph"]["original"]["accuracy"] == 1.0 and out["graph"]["reworded"]["accuracy"] == 0.25
    assert out["graph"]["reworded"]["by_type"] == {"causal": {"n": 2, "accuracy": 0.5}, "temporal": {"n": 2, "accuracy": 0.0}}
    assert out["blind"]["original"]["accuracy"] == 0.25 and out["blind"]["median_llm_calls"] == 1
    assert out["graph"]["median_seconds_after_tracking"] == 0.5 and out["graph"]["verified_fraction"] == 0.75
    text = table(out, ["blind", "frames", "graph", "graph+adapters"], {"graph+adapters": "skipped: none"})
    lines = text.splitlines()
    assert lines[0].startswith("| condition | original | reworded | temporal (orig / rew) | causal (orig / rew)")
    assert lines[2] == "| LLM blind (question only) | 25.0% (4) | 25.0% (4) | 50% / 50% | 0% / 0% | 1 | 0.50 |"
    assert lines[3] == "| rules reader (frozen baseline), untrained LLM | 100.0% (4) | 25.0% (4) | 100% / 0% | 100% / 50% | 4 | 2.00 |"
    assert lines[4].startswith("| rules reader (frozen baseline) + its node adapters | skipped: none |")
    assert len(lines) == 5  # frames: no rows, no note, no line


@pytest.mark.slow
def test_every_condition_end_to_end_with_the_fake_lm(worlds, tmp_path, capsys):
    from videothought.cli import main

    rows = tmp_path / "rows.jsonl"
    everything = ",".join(bench.CONDITIONS)
    assert main(["bench", "agent", "--data", str(worlds[0]), "--data", str(worlds[1]), "--limit", "2",
                 "--rows", str(rows), "--lm", "fake", "--no-progress", "--conditions", everything,
                 "--writer-adapter", str(tmp_path / "no-writer")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    result = json.loads(printed[-1])["accuracy"]
    rows_printed = [line for line in printed if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in rows_printed[1:]] == ["| " + LABELS[c] for c in bench.CONDITIONS]
    written = [json.loads(line) for line in rows.read_text().splitlines()]
    assert len(written) == 2 * 2 * 7  # 2 datasets x 2 questions x 7 conditions (no adapters, no writer: skipped)
    assert "no trained writer adapter" in result["notes"]["program"]
    assert result["oracle"]["original"]["accuracy"] == 1.0 == result["oracle"]["reworded"]["accuracy"]
    assert result["graph"]["max_llm_calls"] >= 1 and result["blind"]["median_llm_calls"] == 1
    # gold programs need no LLM call unless the STSG cannot tell the options apart
    assert result["gold-program"]["median_llm_calls"] <= 2
    # the fake cannot write a program: the few-shot writer's answers are the LLM's, unchecked
    assert result["program-few-shot"]["status_share"]["unchecked"] == 1.0
    # a program written ahead in a batch: its share of the batch's time is in the question's seconds
    few_shot = [r for r in written if r["condition"] == "program-few-shot"]
    assert few_shot and all(0 < r["write_seconds"] <= r["seconds"] for r in few_shot)
    assert all("write_seconds" not in r for r in written if r["condition"] in ("graph", "gold-program"))
    from videothought.agent.context import VoTSettings

    assert result["evidence_budget_tokens"] == VoTSettings().context_tokens  # the graph's partial-STSG budget


def test_programs_are_written_ahead_a_chunk_at_a_time(worlds, tmp_path, monkeypatch):
    # rows stream: a chunk's programs are written, its questions answered, then the next chunk's
    from videothought.evals.bench_programs import Prewritten

    rows = tmp_path / "rows.jsonl"
    calls = []
    original = Prewritten.write_all

    def recording(self, lm, requests):
        calls.append((len(requests), len(rows.read_text().splitlines()) if rows.exists() else 0))
        return original(self, lm, requests)

    monkeypatch.setattr(Prewritten, "write_all", recording)
    monkeypatch.setattr(bench, "PREPARE_CHUNK", 3)
    args = arguments(worlds, rows, "--lm", "fake", "--conditions", "program-few-shot")
    bench.run_accuracy(args, ["program-few-shot"], {"original": str(worlds[0]), "reworded": str(worlds[1])})
    assert [n for n, _ in calls] == [3, 3, 2]  # 8 questions (4 per wording) in chunks of 3
    assert [seen for _, seen in calls] == [0, 3, 6]  # each chunk answered before the next is written
    assert len(rows.read_text().splitlines()) == 8


def test_a_backend_that_sees_pixels_gets_the_frames_too(worlds, tmp_path):
    from videothought.agent.context import default_context

    class SeeingLM(ShortestChoiceLM):
        accepts_frames = True

        def score(self, prompt, continuations, frames=None):
            self.frames = frames
            return super().score(prompt, continuations)

        def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None, frames=None):
            raise AssertionError("the baselines only score")

    runner = bench.Bench(arguments(worlds, tmp_path / "rows.jsonl"), ["frames"])
    lm = SeeingLM()
    runner._context = default_context(lm=lm, encoder=None)
    item = bench.load_questions(str(worlds[0]), 1)[0]
    runner.answer(item, "frames")
    assert lm.frames.shape[0] == bench.FRAME_COUNT and lm.frames.shape[-1] == 3 and str(lm.frames.dtype) == "uint8"
    runner.answer(item, "blind")  # question only: no frames
    assert lm.frames is None


def test_the_verification_loop_ablation(worlds, tmp_path, capsys):
    from videothought.cli import main

    rows = tmp_path / "rows.jsonl"
    assert main(["bench", "agent", "--data", str(worlds[0]), "--limit", "2", "--conditions", "graph",
                 "--rows", str(rows), "--lm", "fake", "--no-progress", "--max-retries", "0"]) == 0
    written = [json.loads(line) for line in rows.read_text().splitlines()]
    assert len(written) == 2 and all(r["max_retries"] == 0 and r["retries"] == 0 for r in written)
    parser = argparse.ArgumentParser()
    bench.configure(parser)
    for bad in ("-1", "two"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--data", "a", "--max-retries", bad])
    assert "--max-retries must be" in capsys.readouterr().err
