"""The question program: a small typed language over the STSG, written by the LLM, run by
graph/execute.py. JSON, versioned, with a JSON Schema generated from the operator table below.

A program is a list of steps. Each step is one operator; it reads the value of the step before
it (its *input*) and gives a typed value. A step can also name an earlier step by its index
(`"of": 0`). The last step's value is the program's answer; the question's options are written
as values of the same kinds and compared with it (graph/options.py).

    "What does the red circle do right after it stops?"
        0 find      name=circle adj=[red]      -> objects   {3}
        1 events    kind=stop                  -> events    [stop of 3 at frame 40]
        2 first                                -> event     stop of 3 at frame 40
        3 after     of=0                       -> events    [events of 3 after frame 40]
        4 first                                -> event     collide of 3 with 5 at frame 46
    options: {"event": {"kind": "collide", "with": {"name": "star", "adj": ["blue"]}}}, ...

The writer's output is one JSON object (`writer_schema`): {"program": [steps], "options": [values]}.
Objects are named by *descriptions*, {"name": noun, "adj": [words]}, in the question's own words:
the executor grounds them in the scene (the STSG's labels and attribute values, through a text
matcher), so the language carries no vocabulary of any dataset. Event kinds, sides, directions
and attribute names are the STSG schema's own closed sets.

Types (what a step gives):

    objects     a set of tracks                     events    a time-ordered list of events
    event       one event (with the track it is about: its subject)
    number  text  bool  direction  time  cause       plain values
    removal     "without these objects" (a counterfactual, compared with event options)
    prediction  where the subject's motion leads (compared with event options)
    none        no value (`watch` only restricts what later steps may see)

Nothing here runs anything: `parse_program` validates a document (operator names, arguments,
references, types) and raises ProgramError naming the step and what is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

PROGRAM_SCHEMA = "videothought.program"
PROGRAM_VERSION = 1

# Closed sets of the language (the STSG schema's own: graph/schema.py EVENT_TYPES, plus "pushed",
# a push seen from the pushed object's side).
EVENT_KINDS = ("enter", "exit", "appear", "disappear", "approach", "collide", "push", "pushed", "start", "stop",
               "turn", "occluded")
SIDES = ("left", "right", "top", "bottom")
DIRECTIONS = ("left", "right", "up", "down", "towards", "away", "still")
# Track attributes perception may write (graph/schema.py documents them); "label" is the track's label.
ATTRIBUTES = ("colour", "shape", "size", "label", "upper_colour", "lower_colour", "text")
MEASURES = ("size", "speed", "events")  # what `most` / `least` rank objects by
CAUSES = ("collide", "push", "edge", "self")  # what made a thing start, stop or turn
RECALLS = ("object", "moment")  # what `recall` brings back from the previous turn

MAX_STEPS = 10  # the longest question we write needs 6; a cap keeps a runaway writer short
MAX_WORDS = 4  # adjectives per description
MAX_TEXT = 40  # characters of a name, adjective or text value

TYPES = ("none", "objects", "events", "event", "number", "text", "bool", "direction", "time", "cause",
         "removal", "prediction")


class ProgramError(ValueError):
    """A malformed program. The message names the step (or option) and what is wrong."""


# ---- the operators ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arg:
    """One argument of an operator: its JSON Schema and whether it must be given."""

    schema: dict
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Operator:
    """An operator's signature: which input types it takes ("none": it starts a chain and reads
    no input), what it gives, its arguments."""

    name: str
    takes: tuple[str, ...]
    gives: str
    doc: str
    args: dict[str, Arg] = field(default_factory=dict)

    def output_type(self, input_type: str, args: dict) -> str:
        if self.name == "recall":
            return "objects" if args.get("what") == "object" else "event"
        if self.name in ("first", "last", "nth") and input_type == "objects":
            return "objects"
        return self.gives


def _string(max_length: int = MAX_TEXT) -> dict:
    # The pattern keeps control characters, quotes and backslashes out of the words: JSON forbids raw
    # control characters in strings, and a grammar engine's string rule may let them through (xgrammar
    # 0.2.9 does; found by tests/agent/llm/test_constrained.py's property test).
    # (a pattern alone: xgrammar ignores minLength/maxLength beside one, and the pattern bounds the length)
    return {"type": "string", "pattern": f'^[^"\\\\\\x00-\\x1f]{{1,{max_length}}}$'}


def _enum(values: tuple[str, ...]) -> dict:
    return {"type": "string", "enum": list(values)}


DESCRIPTION_SCHEMA = {
    "type": "object",
    "properties": {"name": _string(), "adj": {"type": "array", "items": _string(), "maxItems": MAX_WORDS}},
    "additionalProperties": False,
}
STEP_REF = {"type": "integer", "minimum": 0, "maximum": MAX_STEPS - 1}
_ANCHORS = ("event", "events", "time")

OPERATORS: dict[str, Operator] = {op.name: op for op in (
    Operator("find", ("none",), "objects", "the tracks a description names (no name: any object)",
             {"name": Arg(_string(), doc="a noun of the question, e.g. 'person', 'ball'; omit for 'object'/'thing'"),
              "adj": Arg(DESCRIPTION_SCHEMA["properties"]["adj"], doc="its adjectives: colour, size, ...")}),
    Operator("filter", ("objects",), "objects", "the input objects that a description also names",
             {"name": Arg(_string()), "adj": Arg(DESCRIPTION_SCHEMA["properties"]["adj"])}),
    Operator("events", ("none", "objects"), "events",
             "events of a kind (all kinds if none), of the input objects when there are any, optionally with a partner",
             {"kind": Arg(_enum(EVENT_KINDS)), "with": Arg(DESCRIPTION_SCHEMA, doc="the other object of the event"),
              "side": Arg(_enum(SIDES), doc="the frame edge a turn happens at")}),
    Operator("after", _ANCHORS, "events", "events after the input moment (of step `of`'s objects; of a kind)",
             {"kind": Arg(_enum(EVENT_KINDS)), "of": Arg(STEP_REF, doc="the step whose objects the events are of")}),
    Operator("before", _ANCHORS, "events", "events before the input moment (of step `of`'s objects; of a kind)",
             {"kind": Arg(_enum(EVENT_KINDS)), "of": Arg(STEP_REF)}),
    Operator("first", ("events", "objects"), "event", "the earliest event (objects: the one seen first)"),
    Operator("last", ("events", "objects"), "event", "the latest event (objects: the one seen last)"),
    Operator("nth", ("events",), "event", "the n-th event in time (1 = first)",
             {"n": Arg({"type": "integer", "minimum": 1, "maximum": 20}, required=True)}),
    Operator("subject", ("event", "events"), "objects", "the objects the events are about"),
    Operator("partner", ("event", "events"), "objects", "the other objects of the events"),
    Operator("count", ("objects", "events"), "number", "how many distinct objects or events"),
    Operator("exists", ("objects", "events"), "bool", "whether there is any"),
    Operator("attribute", ("objects",), "text", "an attribute of the object (its colour, shape, ...)",
             {"name": Arg(_enum(ATTRIBUTES), required=True)}),
    Operator("direction", ("objects",), "direction", "which way the object moves overall"),
    Operator("moving", ("objects",), "objects", "the input objects that move that way overall",
             {"direction": Arg(_enum(DIRECTIONS), required=True)}),
    Operator("time", ("event",), "time", "when the event happens"),
    Operator("cause", ("event",), "cause", "what made the event (a start, stop or turn) happen"),
    Operator("without", ("objects",), "removal", "the scene without the input objects (which events depend on them)"),
    Operator("predict", ("objects",), "prediction", "what the object's motion leads to next"),
    Operator("watch", ("none",), "none", "see only the first `until` seconds of the video (must be step 0)",
             {"until": Arg({"type": "number", "minimum": 0, "maximum": 86400}, required=True)}),
    Operator("recall", ("none",), "objects", "the previous turn's answer: its object, or its moment (an event)",
             {"what": Arg(_enum(RECALLS), required=True)}),
    Operator("most", ("objects",), "objects", "the input object with the most of a measure",
             {"by": Arg(_enum(MEASURES), required=True)}),
    Operator("least", ("objects",), "objects", "the input object with the least of a measure",
             {"by": Arg(_enum(MEASURES), required=True)}),
    Operator("near", ("objects",), "objects", "other objects that come close to the input objects"),
    Operator("together", ("objects",), "bool", "whether the input objects move together"),
)}
SOURCES = tuple(name for name, op in OPERATORS.items() if "none" in op.takes)


# ---- option values ------------------------------------------------------------------------------
EVENT_PATTERN_SCHEMA = {
    "type": "object",
    "properties": {  # in the order a program writes them: constrained decoding admits keys in schema order
        "who": DESCRIPTION_SCHEMA,  # the subject, when the option names it ("the red circle stops at 2 s")
        "kind": _enum(EVENT_KINDS),
        "with": DESCRIPTION_SCHEMA,  # the other object
        "side": _enum(SIDES),  # the frame edge of a bounce
        "at": {"type": "number", "minimum": 0, "maximum": 86400},  # seconds
    },
    "required": ["kind"],
    "additionalProperties": False,
}
OPTION_KINDS: dict[str, dict] = {
    "number": {"type": "integer", "minimum": 0, "maximum": 1000},
    "text": _string(),
    "object": DESCRIPTION_SCHEMA,
    "event": EVENT_PATTERN_SCHEMA,
    "cause": {"type": "object", "properties": {"by": _enum(CAUSES), "with": DESCRIPTION_SCHEMA, "side": _enum(SIDES)},
              "required": ["by"], "additionalProperties": False},
    "direction": _enum(DIRECTIONS),
    "time": {"type": "object", "properties": {"minute": {"type": "integer", "minimum": 1, "maximum": 1440},
                                              "seconds": {"type": "number", "minimum": 0, "maximum": 86400}},
             "additionalProperties": False},
    "bool": {"type": "boolean"},
}


# ---- programs -----------------------------------------------------------------------------------
@dataclass
class Step:
    op: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"op": self.op, **self.args}

    def to_text(self) -> str:
        return " ".join([self.op] + [f"{k}={_arg_text(v)}" for k, v in self.args.items()])


def _arg_text(value) -> str:
    if isinstance(value, dict):
        return describe(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def describe(description: dict | None) -> str:
    """A description as words: {"name": "circle", "adj": ["red"]} -> "red circle"."""
    if not description:
        return "object"
    return " ".join(list(description.get("adj") or []) + [description.get("name") or "object"])


@dataclass
class Program:
    """A checked program: its steps, each step's output type, and the option values."""

    steps: list[Step]
    types: list[str]
    options: list[dict] | None = None
    version: int = PROGRAM_VERSION

    @property
    def answer_type(self) -> str:
        return self.types[-1]

    def to_dict(self) -> dict:
        doc = {"schema": PROGRAM_SCHEMA, "version": self.version, "program": [s.to_dict() for s in self.steps]}
        if self.options is not None:
            doc["options"] = [dict(o) for o in self.options]
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def writer_json(self) -> str:
        """What the writer writes (no schema/version keys): the training target of the writer."""
        doc = {"program": [s.to_dict() for s in self.steps]}
        if self.options is not None:
            doc["options"] = self.options
        return json.dumps(doc, separators=(",", ":"))

    def to_text(self) -> str:
        """The program as numbered lines, the form traces print."""
        lines = [f"{i} {step.to_text()}  -> {kind}" for i, (step, kind) in enumerate(zip(self.steps, self.types))]
        for letter, option in zip("ABCDEFGHIJ", self.options or []):
            lines.append(f"({letter}) {option_text(option)}")
        return "\n".join(lines)


def option_text(option: dict) -> str:
    """One option value in words, for traces: {"event": {"kind": "collide", "with": ...}} -> "event collide with red circle"."""
    (kind, value), = option.items()
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            parts.append(f"{key} {describe(item) if isinstance(item, dict) else item}")
        return f"{kind} " + " ".join(parts)
    return f"{kind} {value}"


def parse_program(doc: Any, *, num_options: int | None = None) -> Program:
    """Check a program document (a dict or JSON text) and return it typed.

    Accepts what the writer writes ({"program": [...], "options": [...]}) and the stored form
    (with "schema" and "version"). `num_options`: the number of options the question has (the
    document must give that many values; None: any, 0: the document must give none).
    """
    if isinstance(doc, (str, bytes)):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as error:
            raise ProgramError(f"the program is not valid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise ProgramError(f"a program is a JSON object, got {type(doc).__name__}")
    if "schema" in doc and doc["schema"] != PROGRAM_SCHEMA:
        raise ProgramError(f"'schema' must be {PROGRAM_SCHEMA!r}, got {doc['schema']!r}")
    version = doc.get("version", PROGRAM_VERSION)
    if version != PROGRAM_VERSION:
        raise ProgramError(f"unsupported program version {version!r} (this code reads {PROGRAM_VERSION})")
    unknown = set(doc) - {"schema", "version", "program", "options"}
    if unknown:
        raise ProgramError(f"unknown keys {sorted(unknown)} in the program document")
    raw_steps = doc.get("program")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ProgramError("'program' must be a non-empty list of steps")
    if len(raw_steps) > MAX_STEPS:
        raise ProgramError(f"the program has {len(raw_steps)} steps, more than {MAX_STEPS}")
    steps, types = [], []
    for index, raw in enumerate(raw_steps):
        step = _check_step(index, raw)
        types.append(_check_types(index, step, types))
        steps.append(step)
    options = doc.get("options")
    if options is not None:
        if not isinstance(options, list):
            raise ProgramError("'options' must be a list of values")
        options = [_check_option(i, o) for i, o in enumerate(options)]
    if num_options is not None:
        given = len(options or [])
        if given != num_options:
            raise ProgramError(f"the question has {num_options} options but the program gives {given} values")
    return Program(steps, types, options)


def _check_step(index: int, raw: Any) -> Step:
    where = f"step {index}"
    if not isinstance(raw, dict) or "op" not in raw:
        raise ProgramError(f"{where} must be an object with an 'op', got {raw!r}")
    name = raw["op"]
    if name not in OPERATORS:
        raise ProgramError(f"{where}: unknown operator {name!r}; known: {sorted(OPERATORS)}")
    operator = OPERATORS[name]
    args = {k: v for k, v in raw.items() if k != "op"}
    extra = set(args) - set(operator.args)
    if extra:
        raise ProgramError(f"{where} ({name}): unknown arguments {sorted(extra)}; it takes {sorted(operator.args)}")
    for arg_name, spec in operator.args.items():
        if arg_name not in args or args[arg_name] is None:
            args.pop(arg_name, None)
            if spec.required:
                raise ProgramError(f"{where} ({name}): argument {arg_name!r} is required")
            continue
        problem = check_value(args[arg_name], spec.schema)
        if problem:
            raise ProgramError(f"{where} ({name}): argument {arg_name!r} {problem}")
    if "of" in args and args["of"] >= index:
        raise ProgramError(f"{where} ({name}): 'of' must name an earlier step, got {args['of']}")
    if name == "watch" and index != 0:
        raise ProgramError(f"{where}: 'watch' must be the first step (it limits what every later step sees)")
    return Step(name, args)


def _check_types(index: int, step: Step, types: list[str]) -> str:
    operator = OPERATORS[step.op]
    previous = types[-1] if types else "none"
    # a step reads the previous value when it takes that type; a source ("find", "events", ...)
    # that does not take it starts a new chain
    reads = previous if previous in operator.takes else "none"
    if reads not in operator.takes:
        raise ProgramError(f"step {index} ({step.op}) takes {' or '.join(operator.takes)}, "
                           f"but step {index - 1} gives {previous}")
    if "of" in step.args and types[step.args["of"]] != "objects":
        raise ProgramError(f"step {index} ({step.op}): 'of' must name a step that gives objects, "
                           f"step {step.args['of']} gives {types[step.args['of']]}")
    return operator.output_type(reads, step.args)


def input_type(program: Program, index: int) -> str:
    """The type a step reads: the previous step's, or "none" when it starts a chain."""
    if index == 0:
        return "none"
    previous = program.types[index - 1]
    operator = OPERATORS[program.steps[index].op]
    return previous if previous in operator.takes else "none"


def _check_option(index: int, raw: Any) -> dict:
    where = f"option {index}"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ProgramError(f"{where} must be an object with one key ({', '.join(OPTION_KINDS)}), got {raw!r}")
    (kind, value), = raw.items()
    if kind not in OPTION_KINDS:
        raise ProgramError(f"{where}: unknown kind {kind!r}; known: {list(OPTION_KINDS)}")
    problem = check_value(value, OPTION_KINDS[kind])
    if problem:
        raise ProgramError(f"{where} ({kind}): {problem}")
    if kind == "time" and not value:
        raise ProgramError(f"{where} (time): give 'minute' or 'seconds'")
    return {kind: value}


def check_value(value: Any, schema: dict) -> str | None:
    """Why `value` does not fit `schema` (the small JSON Schema subset this language uses), or None."""
    if "enum" in schema:
        return None if value in schema["enum"] else f"must be one of {schema['enum']}, got {value!r}"
    kind = schema.get("type")
    if kind == "string":
        if not isinstance(value, str):
            return f"must be a string, got {value!r}"
        if not value.strip():
            return f"must not be empty, got {value!r}"
        if len(value) > MAX_TEXT:
            return f"must be at most {MAX_TEXT} characters, got {value!r}"
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            return f"must be plain words (no quotes, backslashes or control characters), got {value!r}"
        return None
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {value!r}"
        return _check_range(value, schema)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return f"must be a number, got {value!r}"
        return _check_range(value, schema)
    if kind == "boolean":
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if kind == "array":
        if not isinstance(value, list):
            return f"must be a list, got {value!r}"
        if len(value) > schema.get("maxItems", 10**9):
            return f"must have at most {schema['maxItems']} items, got {len(value)}"
        for item in value:
            problem = check_value(item, schema["items"])
            if problem:
                return f"item {item!r} {problem}"
        return None
    if kind == "object":
        if not isinstance(value, dict):
            return f"must be an object, got {value!r}"
        properties = schema.get("properties", {})
        extra = set(value) - set(properties)
        if extra and schema.get("additionalProperties") is False:
            return f"has unknown keys {sorted(extra)} (known: {sorted(properties)})"
        for key in schema.get("required", []):
            if key not in value:
                return f"needs {key!r}"
        for key, item in value.items():
            problem = check_value(item, properties[key])
            if problem:
                return f"key {key!r} {problem}"
        return None
    raise ProgramError(f"the language's schema has an unknown type {kind!r}")  # a bug in this file


def _check_range(value, schema: dict) -> str | None:
    if "minimum" in schema and value < schema["minimum"]:
        return f"must be >= {schema['minimum']}, got {value!r}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"must be <= {schema['maximum']}, got {value!r}"
    return None


# ---- JSON Schema ---------------------------------------------------------------------------------
def step_schema(name: str) -> dict:
    """The JSON Schema of one operator's step."""
    operator = OPERATORS[name]
    properties = {"op": {"const": name}}
    properties.update({arg: spec.schema for arg, spec in operator.args.items()})
    required = ["op"] + [arg for arg, spec in operator.args.items() if spec.required]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def writer_schema(num_options: int | None = None) -> dict:
    """The JSON Schema of what the writer writes. `num_options`: exactly that many option values
    (0: none, for an open question; None: any number). Generated from OPERATORS and OPTION_KINDS,
    so the schema and the checker cannot drift apart; `parse_program` adds what a JSON Schema
    cannot say (references to earlier steps, the types steps pass on)."""
    step = {"anyOf": [step_schema(name) for name in OPERATORS]}
    option = {"anyOf": [{"type": "object", "properties": {kind: schema}, "required": [kind],
                         "additionalProperties": False} for kind, schema in OPTION_KINDS.items()]}
    properties: dict[str, Any] = {"program": {"type": "array", "items": step, "minItems": 1, "maxItems": MAX_STEPS}}
    required = ["program"]
    if num_options != 0:
        options: dict[str, Any] = {"type": "array", "items": option}
        if num_options is not None:
            options.update(minItems=num_options, maxItems=num_options)
        properties["options"] = options
        required.append("options")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "videothought question program v1",
            "type": "object", "properties": properties, "required": required, "additionalProperties": False}


def reference() -> str:
    """The language in a few lines per operator, generated from OPERATORS: the writer's prompt
    and docs/program.md quote it."""
    lines = ["Operators (each reads the previous step's value; 'of' names an earlier step by index):"]
    for operator in OPERATORS.values():
        args = ", ".join(f"{name}{'' if spec.required else '?'}" for name, spec in operator.args.items())
        takes = "/".join(operator.takes)
        lines.append(f"  {operator.name}({args}): {takes} -> {operator.gives}. {operator.doc}")
    lines.append("Descriptions: {\"name\": noun, \"adj\": [adjectives]}, in the question's words.")
    lines.append(f"Event kinds: {', '.join(EVENT_KINDS)}. Sides: {', '.join(SIDES)}. "
                 f"Directions: {', '.join(DIRECTIONS)}. Attributes: {', '.join(ATTRIBUTES)}.")
    lines.append("Option values: " + "; ".join([
        '{"number": 3}', '{"text": "red"}', '{"object": description}',
        '{"event": {"who"?, "kind", "with"?, "side"?, "at"? seconds}}', '{"cause": {"by": collide|push|edge|self, '
        '"with"?, "side"?}}', '{"direction": "left"}', '{"time": {"minute": 2} or {"seconds": 4.5}}', '{"bool": true}']))
    return "\n".join(lines)
