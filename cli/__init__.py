"""The `vot` console script: one command, many subcommands, each a thin layer over library calls.

Subcommands live in the package that owns them (agent, perception, training, evals); this
package only dispatches, by module name, so no library package needs to know another's
commands (the agent, in particular, knows nothing of the benchmarks in evals). Each
subcommand module defines `configure(parser)` and `run(args) -> int`, and imports
heavy libraries inside `run`, so `vot --help` stays fast. Benchmarks (`vot bench NAME`)
define `configure(parser)` and `run(args) -> dict`; the dict is printed as the last
line of output, one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("videothought.agent.demo", "answer a question about a sample clip with the embedded default stack"),
    "info": ("videothought.perception.cli", "print a video's metadata as one JSON object"),
    "frames": ("videothought.perception.cli", "write sampled frames as PNG"),
    "ask": ("videothought.agent.cli_ask", "answer a question about a video, with a step-wise trace"),
    "chat": ("videothought.agent.cli_chat", "chat about a (long) video"),
    "index": ("videothought.library.cli", "index videos into a SQLite library for long-video chat (resumable; --ray)"),
    "world": ("videothought.evals.world.cli", "generate synthetic videos with ground truth"),
    "track": ("videothought.perception.cli_track", "track objects and write the STSG, an overlay and a timeline"),
    "train": ("videothought.training.cli", "train the encoder or post-train the LLM nodes"),
    "eval": ("videothought.evals.cli_eval", "run a benchmark, resumably, with step-wise traces"),
    "report": ("videothought.evals.cli_report", "markdown tables and plots across runs"),
    "serve": ("videothought.evals.serve", "a local web app: chat with a video, live node traces, eval runs"),
    "llm": ("videothought.agent.llm.server", "serve a language model over the OpenAI-compatible API (vot llm serve)"),
    "bench": ("videothought.cli", "speed and quality benchmarks; prints one JSON object last"),
}

# commands that run models: the thread policy (graph/threads.py; `vot --threads N`) is applied before them
THREADED = ("demo", "ask", "chat", "index", "track", "train", "eval", "serve", "llm", "bench")

# name -> (module, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "video": ("videothought.perception.bench", "our reader vs raw decord vs PyAV; segment-iteration memory"),
    "world": ("videothought.evals.world.bench", "synthetic world rendering speed"),
    "tracking": ("videothought.perception.bench_tracking", "tracker and STSG quality and speed on world videos"),
    "events": ("videothought.evals.real.bench_events", "event precision/recall: hand-labelled vtest minute and world truth"),
    "encoder": ("videothought.perception.encoder.bench", "packed vs padded, vs ViT, AoE vs MoE"),
    "grounding": ("videothought.evals.bench_grounding", "target grounding P/R with and without encoder region embeddings"),
    "index": ("videothought.library.bench", "indexing throughput: serial vs Ray workers, identical library, record bytes"),
    "agent": ("videothought.evals.bench_agent", "the VoT graph vs blind, frames, reference and ceiling, original and reworded"),
    "writer": ("videothought.evals.bench_writer", "the program writer: valid, exact and executed accuracy vs gold programs"),
    "llm": ("videothought.agent.llm.bench", "LLM prefill/decode tok/s: ours (float32, bf16, int8) vs transformers vs llama.cpp"),
}


def _load(module_name: str, what: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise SystemExit(f"vot: {what} is not available in this installation ({module_name} is missing)")
        raise


def _usage(table: dict[str, tuple[str, str]], prog: str) -> str:
    width = max(len(name) for name in table)
    lines = [f"usage: {prog} COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in table.items()]
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    """`vot bench NAME`: the bench's own options follow its name."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(COMMANDS, "vot"))
        return 0
    if argv[0] == "--threads" or argv[0].startswith("--threads="):  # the thread setting (graph/threads.py)
        value = argv[0].split("=", 1)[1] if "=" in argv[0] else (argv[1] if len(argv) > 1 else "")
        argv = argv[1:] if "=" in argv[0] else argv[2:]
        from videothought.graph.threads import THREADS_ENV, configured_threads

        previous = os.environ.get(THREADS_ENV)
        os.environ[THREADS_ENV] = value
        try:
            configured_threads()
        except ValueError as error:  # a bad value is named and not left behind in the environment
            if previous is None:
                del os.environ[THREADS_ENV]
            else:
                os.environ[THREADS_ENV] = previous
            print(f"vot: --threads: {error}", file=sys.stderr)
            return 2
        if not argv:
            print(_usage(COMMANDS, "vot"), file=sys.stderr)
            return 2
    command, rest = argv[0], argv[1:]
    if command in THREADED:
        from videothought.graph.threads import apply_threads

        apply_threads()
    if command not in COMMANDS:
        print(_usage(COMMANDS, "vot"), file=sys.stderr)
        print(f"\nvot: unknown command {command!r}", file=sys.stderr)
        return 2
    if command == "bench":
        return _bench(rest)
    module = _load(COMMANDS[command][0], f"`vot {command}`")
    if not hasattr(module, "configure") and hasattr(module, "main"):  # a module with its own argument parser
        return int(module.main(rest) or 0)
    parser = argparse.ArgumentParser(prog=f"vot {command}", description=COMMANDS[command][1])
    # A module serving several commands names its functions configure_<command> / run_<command>.
    configure_parser = getattr(module, f"configure_{command}", None) or module.configure
    run_command = getattr(module, f"run_{command}", None) or module.run
    configure_parser(parser)
    return int(run_command(parser.parse_args(rest)) or 0)


def _bench(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in BENCHES:
        print(_usage(BENCHES, "vot bench"))
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    name, rest = argv[0], argv[1:]
    module = _load(BENCHES[name][0], f"`vot bench {name}`")
    parser = argparse.ArgumentParser(prog=f"vot bench {name}", description=BENCHES[name][1])
    module.configure(parser)
    result = module.run(parser.parse_args(rest))
    print(json.dumps(result, sort_keys=False))
    return 0

