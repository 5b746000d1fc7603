"""The program writer: the LLM reads a question (and its options) into a program of the typed
language in graph/program.py, under constrained decoding against the language's JSON Schema.

    written = write_program(lm, "What colour is the ball that stops?", ["red", "blue", ...],
                            names="colour: red, blue, ...; shape: circle, ...")
    written.program       # a checked graph.program.Program, or None
    written.error         # why not (unparsable, ill-typed), for the trace

Two prompt styles, one language:
    compact   the question, its options and the names perception can give here; what the trained
              writer adapter (`vot train nodes`, adapter "writer") was trained on
    few-shot  the same, after the language's reference (generated from the operator table) and a
              few worked examples: what an untrained or large model reads, zero-shot from the schema

Backends that take `json_schema=` (local models with xgrammar, OpenAI-compatible servers through
`response_format`) always return schema-valid JSON; others are asked in words and their reply's
first JSON object is parsed. Types, step references and option counts are checked by
`parse_program` either way: a reply that fails is an error, never a silent guess.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

from videothought.graph.program import Program, ProgramError, parse_program, reference, writer_schema

logger = logging.getLogger(__name__)

ADAPTER = "writer"  # the post-trained writer's adapter name (agent/adapters/writer)
MAX_PROGRAM_TOKENS = 320  # the longest gold program with five event options is ~210 tokens
SYSTEM = ("You write a program that answers a question about a video, as JSON. The program runs on the "
          "video's scene graph: tracked objects, their names and attributes, and events.")
COMPACT_SYSTEM = "Write the question's program as JSON."  # what the trained writer reads: every token costs

# Worked examples for the few-shot prompt: general questions about any video, not a benchmark's.
EXAMPLES = [
    ("What colour is the ball that stops first?", ["red", "blue", "green"], "colour: red, blue, green; shape: circle",
     {"program": [{"op": "find", "name": "circle"}, {"op": "events", "kind": "stop"}, {"op": "first"},
                  {"op": "subject"}, {"op": "attribute", "name": "colour"}],
      "options": [{"text": "red"}, {"text": "blue"}, {"text": "green"}]}),
    ("How many people walk to the left?", ["one", "two", "three"], "label: person; upper_colour: red, blue",
     {"program": [{"op": "find", "name": "person"}, {"op": "moving", "direction": "left"}, {"op": "count"}],
      "options": [{"number": 1}, {"number": 2}, {"number": 3}]}),
    ("What does the large square do right after it reaches the edge?", ["it stops", "it runs into the red circle"],
     "colour: red, yellow; shape: square, circle",
     {"program": [{"op": "find", "name": "square", "adj": ["large"]}, {"op": "events", "kind": "turn"},
                  {"op": "first"}, {"op": "after", "of": 0}, {"op": "first"}],
      "options": [{"event": {"kind": "stop"}}, {"event": {"kind": "collide", "with": {"name": "circle", "adj": ["red"]}}}]}),
    ("Why does the yellow ball stop?", ["it runs into the box", "it stops by itself", "it reaches the left side"],
     "colour: yellow, red; shape: circle, square",
     {"program": [{"op": "find", "name": "circle", "adj": ["yellow"]}, {"op": "events", "kind": "stop"},
                  {"op": "first"}, {"op": "cause"}],
      "options": [{"cause": {"by": "collide", "with": {"name": "square"}}}, {"cause": {"by": "self"}},
                  {"cause": {"by": "edge", "side": "left"}}]}),
    ("Who enters first?", [], "label: person; upper_colour: red, blue",
     {"program": [{"op": "events", "kind": "enter"}, {"op": "first"}, {"op": "subject"}]}),
]


@dataclass
class Written:
    """One writing: the checked program (or None), the raw reply, why it failed, what it cost."""

    program: Program | None
    text: str
    error: str | None = None
    style: str = "compact"
    constrained: bool = False
    prompt: list[dict] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    calls: int = 1  # LLM calls it took: 2 when the option pass read the options again
    first_text: str | None = None  # the one-call reply, when the option pass read its options again

    def to_dict(self) -> dict:
        return {"program": self.program.to_dict() if self.program else None, "text": self.text, "error": self.error,
                "style": self.style, "constrained": self.constrained,
                **({"first_text": self.first_text} if self.first_text is not None else {})}


def question_text(question: str, choices: list[str], names: str, history: list[dict] | None = None) -> str:
    """The user message: the names perception can give in this video, earlier turns, the question, its options."""
    lines = [f"Names: {names or 'none'}"]
    for turn in (history or [])[-2:]:
        lines.append(f"Earlier: {turn.get('question', '')} -> {turn.get('answer', '')}")
    lines.append(f"Question: {question}")
    if choices:
        lines.append("Options:")
        lines += [f"{i + 1}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def parse_question_text(text: str) -> tuple[str, list[str], str, list[dict]]:
    """(question, choices, names, history) back from `question_text`'s message: training data
    derives its other prompts (one option alone) from the prompts it already holds."""
    lines = text.split("\n")
    if not lines or not lines[0].startswith("Names: "):
        raise ValueError(f"not a writer prompt (no 'Names:' line): {text[:80]!r}")
    names = lines[0][len("Names: "):]
    names = "" if names == "none" else names
    history, position = [], 1
    while position < len(lines) and lines[position].startswith("Earlier: "):
        asked, _, answer = lines[position][len("Earlier: "):].rpartition(" -> ")
        history.append({"question": asked, "answer": answer})
        position += 1
    rest = "\n".join(lines[position:])
    if not rest.startswith("Question: "):
        raise ValueError(f"not a writer prompt (no 'Question:' line): {text[:80]!r}")
    question, _, options = rest[len("Question: "):].partition("\nOptions:\n")
    choices = [line.split(". ", 1)[1] for line in options.split("\n")] if options else []
    return question, choices, names, history


def writer_messages(question: str, choices: list[str], names: str, *, history: list[dict] | None = None,
                    style: str = "compact") -> list[dict]:
    """The chat messages of one writing, in `style` ("compact" or "few-shot")."""
    if style not in ("compact", "few-shot"):
        raise ValueError(f"style must be 'compact' or 'few-shot', got {style!r}")
    system = COMPACT_SYSTEM
    if style == "few-shot":
        shots = "\n\n".join(f"{question_text(q, c, n)}\nProgram: {json.dumps(p, separators=(',', ':'))}"
                            for q, c, n, p in EXAMPLES)
        system = (f"{SYSTEM}\n\n{reference()}\n\nGive one option value per option, in order, of the kind the "
                  f"program's answer has. Name objects with the names listed when they mean the same.\n\n"
                  f"Examples:\n\n{shots}")
    return [{"role": "system", "content": system},
            {"role": "user", "content": question_text(question, choices, names, history)}]


def prompt_style(lm) -> str:
    """"compact" when the backend carries the trained writer adapter (its card may say otherwise), else "few-shot"."""
    from videothought.agent.llm.protocol import adapter_card

    card = adapter_card(lm, ADAPTER)
    if not card:
        return "few-shot"
    return str(card.get("prompt_style") or "compact")


def reads_options(lm) -> bool:
    """Whether the writer's option pass runs: its adapter was trained for it (card "option_pass") and the
    backend decodes batches under a schema with a forced opening (local models)."""
    from videothought.agent.llm.protocol import adapter_card

    return bool(adapter_card(lm, ADAPTER).get("option_pass")) and hasattr(lm, "generate_batch")


OPTIONS_OPENING = '"options":['
OPTION_READ_TOKENS = 96  # the longest option value (an event with who, with, side and time) is ~60 tokens


def _describes(value) -> bool:
    """Whether an option value names things ({"name", "adj"} descriptions): where one reply mixes options up."""
    if isinstance(value, dict):
        return "name" in value or "adj" in value or any(_describes(v) for v in value.values())
    return isinstance(value, list) and any(_describes(v) for v in value)


def read_options(lm, requests: list[Request], written: list[Written], *, batch_size: int = 16,
                 max_new_tokens: int = OPTION_READ_TOKENS) -> list[Written]:
    """The option pass: every option that names things, of every written program, read again ALONE (the question, that one
    option, and the written program forced as the reply's opening), greedy, in batched decodes; the
    values read replace the program's. One reply of five long event options is where a small writer
    mixes up whose colour and shape is whose ("the orange square" written as an orange triangle); read
    alone, an option has nothing to be mixed with. Options that name nothing (numbers, colours, sides)
    keep their values. Writings without options, failed ones and ones the grammar did not constrain are
    left as they were, and so is one whose new options do not check.
    Needs a writer trained on single-option readings (training/nodes/writer_data.py option_examples)."""
    import time

    from videothought.agent.llm.protocol import adapter_scope

    jobs: list[tuple[int, int, str]] = []  # (writing, option, the reply's forced opening)
    for index, (request, writing) in enumerate(zip(requests, written)):
        cut = writing.text.find(OPTIONS_OPENING)
        if writing.program is None or not writing.constrained or len(request.choices) < 2 or cut < 0:
            continue
        first = writing.program.options or []
        jobs += [(index, k, writing.text[:cut + len(OPTIONS_OPENING)]) for k in range(len(request.choices))
                 if k < len(first) and _describes(first[k])]
    if not jobs:
        return written
    start = time.perf_counter()
    values: dict[tuple[int, int], dict] = {}
    tokens: dict[int, int] = {}
    with adapter_scope(lm, ADAPTER):
        for offset in range(0, len(jobs), batch_size):
            chunk = jobs[offset:offset + batch_size]
            conversations = [writer_messages(requests[i].question, [requests[i].choices[k]], requests[i].names,
                                             history=requests[i].history, style="compact") for i, k, _ in chunk]
            try:
                generations = lm.generate_batch(conversations, json_schema=writer_schema(1),
                                                max_new_tokens=max_new_tokens, temperature=0.0,
                                                prefills=[opening for _, _, opening in chunk])
            except Exception as error:  # like the write itself, a failing backend costs the pass, not the program
                logger.warning("the option pass failed (%s: %s); the one-call options stand", type(error).__name__, error)
                continue
            for (i, k, opening), generation in zip(chunk, generations):
                tokens[i] = tokens.get(i, 0) + generation.completion_tokens
                try:
                    values[(i, k)] = json.loads(generation.text)["options"][0]
                except (json.JSONDecodeError, KeyError, IndexError, TypeError):
                    logger.warning("the option pass read no value for option %d of %r", k + 1, requests[i].question)
    seconds = (time.perf_counter() - start) / len({i for i, _, _ in jobs})
    out = list(written)
    for index in sorted({i for i, _, _ in jobs}):
        writing, count = written[index], len(requests[index].choices)
        first = writing.program.options
        read = [values.get((index, k), None if _describes(first[k]) else first[k]) for k in range(count)]
        if any(value is None for value in read):
            continue
        opening = next(o for i, _, o in jobs if i == index)
        text = opening + ",".join(json.dumps(v, separators=(",", ":")) for v in read) + "]}"
        again = _checked(Written(None, text, None, writing.style, True, writing.prompt, writing.prompt_tokens,
                                 writing.completion_tokens + tokens.get(index, 0), writing.seconds + seconds,
                                 calls=writing.calls + 1, first_text=writing.text), count)
        if again.program is not None:
            out[index] = again
    return out


def first_json_object(text: str) -> str | None:
    """The first balanced {...} of a reply (for backends that cannot be constrained)."""
    start = text.find("{")
    while start >= 0:
        depth, in_string, escaped = 0, False, False
        for position in range(start, len(text)):
            char = text[position]
            if in_string:
                escaped = char == "\\" and not escaped
                if char == '"' and not escaped:
                    in_string = False
                continue
            if char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start:position + 1]
        start = text.find("{", start + 1)
    return None


@dataclass
class Request:
    """One question to write a program for (the batched writer's input)."""

    question: str
    choices: list[str]
    names: str
    history: list[dict] | None = None


def _checked(written: Written, num_options: int) -> Written:
    candidate = written.text if written.constrained else first_json_object(
        re.sub(r"^```(?:json)?|```$", "", written.text.strip()))
    if candidate is None:
        written.error = f"no JSON object in the writer's reply: {written.text[:120]!r}"
        return written
    try:
        written.program = parse_program(candidate, num_options=num_options)
    except ProgramError as error:
        written.error = f"the written program is not valid: {error}"
    return written


def write_programs(lm, requests: list[Request], *, style: str | None = None, temperature: float | list[float] = 0.0,
                   seeds: list[int] | None = None, max_new_tokens: int = MAX_PROGRAM_TOKENS,
                   batch_size: int = 8, messages: list[list[dict]] | None = None) -> list[Written]:
    """Programs for many questions: batched decodes (one per `batch_size` questions with the same
    number of options) on a local backend with `generate_batch`, else one `write_program` each.
    Greedy batched replies equal the one-at-a-time ones (tests/agent/test_writer_batch.py).
    `messages`: the prompts already written (training rows carry theirs), one per request.
    `temperature`: one for all, or one per request (a greedy program and samples in one decode)."""
    from videothought.agent.llm.protocol import adapter_scope

    if messages is not None and len(messages) != len(requests):
        raise ValueError(f"{len(messages)} prompts for {len(requests)} requests")
    style = style if messages is not None else (style or prompt_style(lm))
    seeds = list(seeds) if seeds is not None else [None] * len(requests)
    temperatures = list(temperature) if isinstance(temperature, (list, tuple)) else [float(temperature)] * len(requests)
    if len(temperatures) != len(requests):
        raise ValueError(f"{len(temperatures)} temperatures for {len(requests)} requests")
    if not hasattr(lm, "generate_batch"):
        if messages is not None:
            raise ValueError("prompts given as messages need a backend with generate_batch")
        return [write_program(lm, r.question, r.choices, r.names, history=r.history, style=style,
                              temperature=t, seed=s, max_new_tokens=max_new_tokens)
                for r, s, t in zip(requests, seeds, temperatures)]
    results: list[Written | None] = [None] * len(requests)
    by_options: dict[int, list[int]] = {}
    for position, request in enumerate(requests):
        by_options.setdefault(len(request.choices), []).append(position)
    with adapter_scope(lm, ADAPTER):
        for count, positions in by_options.items():
            for start in range(0, len(positions), batch_size):
                chunk = positions[start:start + batch_size]
                conversations = [messages[p] if messages is not None else
                                 writer_messages(requests[p].question, requests[p].choices, requests[p].names,
                                                 history=requests[p].history, style=style) for p in chunk]
                generations = lm.generate_batch(conversations, json_schema=writer_schema(count),
                                                max_new_tokens=max_new_tokens,
                                                temperature=[temperatures[p] for p in chunk],
                                                seeds=[seeds[p] if seeds[p] is not None else p for p in chunk])
                for position, conversation, generation in zip(chunk, conversations, generations):
                    written = Written(None, generation.text.strip(), None, style, True, conversation,
                                      generation.prompt_tokens, generation.completion_tokens,
                                      generation.latency_seconds)
                    results[position] = _checked(written, count)
    if messages is None and style == "compact" and reads_options(lm):
        results = read_options(lm, requests, results, batch_size=max(batch_size, 8))
    return results  # type: ignore[return-value]


SAMPLE_TEMPERATURE = 0.7  # the extra programs of self-consistency: varied, still mostly well-formed


def write_samples(lm, question: str, choices: list[str], names: str, *, samples: int, history=None,
                  seed: int | None = None, max_new_tokens: int = MAX_PROGRAM_TOKENS, **kwargs) -> list[Written]:
    """The greedy program and `samples - 1` sampled ones, in ONE batched decode on a backend with
    `generate_batch` (a decode step costs about the same for 5 rows as for 1 on a CPU); a backend
    without it writes the greedy program alone (no extra calls)."""
    if samples <= 1 or not hasattr(lm, "generate_batch"):
        return [write_program(lm, question, choices, names, history=history, seed=seed,
                              max_new_tokens=max_new_tokens, **kwargs)]
    base = 0 if seed is None else int(seed) * 1000
    return write_programs(lm, [Request(question, choices, names, history)] * samples,
                          temperature=[0.0] + [SAMPLE_TEMPERATURE] * (samples - 1),
                          seeds=[base + k for k in range(samples)], max_new_tokens=max_new_tokens, batch_size=samples)


def write_program(lm, question: str, choices: list[str], names: str, *, history: list[dict] | None = None,
                  style: str | None = None, temperature: float = 0.0, seed: int | None = None,
                  max_new_tokens: int = MAX_PROGRAM_TOKENS, on_text=None, frames=None) -> Written:
    """One writing by `lm` (its "writer" adapter active when it has one). Never raises for a bad
    reply or a failing backend: `Written.error` says what went wrong."""
    import time

    from videothought.agent.llm.protocol import adapter_scope, call_generate, takes_keyword

    style = style or prompt_style(lm)
    messages = writer_messages(question, choices, names, history=history, style=style)
    schema = writer_schema(len(choices))
    constrained = takes_keyword(lm.generate, "json_schema")
    kwargs: dict = {"max_new_tokens": max_new_tokens, "temperature": temperature, "stop": None}
    if constrained:
        kwargs["json_schema"] = schema
    if seed is not None and takes_keyword(lm.generate, "seed"):
        kwargs["seed"] = seed
    start = time.perf_counter()
    try:
        with adapter_scope(lm, ADAPTER):
            generation = call_generate(lm, messages, on_text=on_text, frames=frames, **kwargs)
    except Exception as error:  # a failing backend is recorded, the node goes on without a program
        return Written(None, "", f"the writer's backend failed: {type(error).__name__}: {error}", style, constrained,
                       messages, seconds=time.perf_counter() - start)
    written = _checked(Written(None, generation.text.strip(), None, style, constrained, messages,
                               generation.prompt_tokens, generation.completion_tokens, time.perf_counter() - start),
                       len(choices))
    if style == "compact" and reads_options(lm):
        written = read_options(lm, [Request(question, choices, names, history)], [written])[0]
    return written
