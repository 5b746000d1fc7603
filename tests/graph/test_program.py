"""The program language: the schema generated from the operator table, parsing and its errors."""

from __future__ import annotations

import json

import jsonschema
import pytest

from videothought.graph.program import (
    OPERATORS,
    OPTION_KINDS,
    PROGRAM_SCHEMA,
    PROGRAM_VERSION,
    ProgramError,
    parse_program,
    reference,
    writer_schema,
)

AFTER_STOP = {
    "program": [{"op": "find", "name": "circle", "adj": ["red"]}, {"op": "events", "kind": "stop"}, {"op": "first"},
                {"op": "after", "of": 0}, {"op": "first"}],
    "options": [{"event": {"kind": "collide", "with": {"name": "star", "adj": ["blue"]}}}, {"event": {"kind": "stop"}},
                {"event": {"kind": "turn", "side": "top"}}],
}


def test_a_program_round_trips_through_its_stored_form_and_json():
    program = parse_program(AFTER_STOP, num_options=3)
    assert program.types == ["objects", "events", "event", "events", "event"]
    stored = program.to_dict()
    assert stored["schema"] == PROGRAM_SCHEMA and stored["version"] == PROGRAM_VERSION
    again = parse_program(json.loads(program.to_json()))
    assert again.to_dict() == stored
    assert json.loads(program.writer_json()) == AFTER_STOP


def test_the_writer_schema_accepts_what_the_parser_accepts_and_bounds_the_options():
    schema = writer_schema(3)
    jsonschema.validate(AFTER_STOP, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**AFTER_STOP, "options": AFTER_STOP["options"][:2]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"program": [{"op": "find", "colour": "red"}], "options": []}, writer_schema(0))
    open_question = {"program": [{"op": "events", "kind": "enter"}, {"op": "count"}]}
    jsonschema.validate(open_question, writer_schema(0))
    jsonschema.Draft202012Validator.check_schema(writer_schema(None))


def test_every_operator_and_option_kind_is_in_the_schema_and_the_reference():
    schema = writer_schema(None)
    ops = {branch["properties"]["op"]["const"] for branch in schema["properties"]["program"]["items"]["anyOf"]}
    assert ops == set(OPERATORS)
    kinds = {next(iter(branch["properties"])) for branch in schema["properties"]["options"]["items"]["anyOf"]}
    assert kinds == set(OPTION_KINDS)
    text = reference()
    assert all(f"  {name}(" in text for name in OPERATORS)


@pytest.mark.parametrize("doc, message", [
    ("{not json", "not valid JSON"),
    ({"program": []}, "non-empty list"),
    ({"program": [{"op": "fly"}]}, "unknown operator 'fly'"),
    ({"program": [{"op": "find", "colour": "red"}]}, "unknown arguments ['colour']"),
    ({"program": [{"op": "find"}, {"op": "attribute"}]}, "'name' is required"),
    ({"program": [{"op": "find"}, {"op": "attribute", "name": "weight"}]}, "must be one of"),
    ({"program": [{"op": "events", "kind": "stop"}, {"op": "nth", "n": 0}]}, "must be >= 1"),
    ({"program": [{"op": "find"}, {"op": "after", "of": 1}]}, "'of' must name an earlier step"),
    ({"program": [{"op": "find"}, {"op": "watch", "until": 2}]}, "'watch' must be the first step"),
    ({"program": [{"op": "find"}, {"op": "time"}]}, "takes event"),
    ({"program": [{"op": "events"}, {"op": "first"}, {"op": "after", "of": 1}]}, "must name a step that gives objects"),
    ({"program": [{"op": "find", "name": ""}]}, "must not be empty"),
    ({"program": [{"op": "find"}], "options": [{"colour": "red"}]}, "unknown kind 'colour'"),
    ({"program": [{"op": "find"}], "options": [{"number": "3"}]}, "must be an integer"),
    ({"program": [{"op": "find"}], "options": [{"time": {}}]}, "give 'minute' or 'seconds'"),
    ({"program": [{"op": "find"}], "extra": 1}, "unknown keys ['extra']"),
    ({"schema": "other", "program": [{"op": "find"}]}, "'schema' must be"),
    ({"version": 2, "program": [{"op": "find"}]}, "unsupported program version 2"),
])
def test_malformed_programs_are_refused_naming_the_problem(doc, message):
    with pytest.raises(ProgramError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        parse_program(doc)


def test_the_number_of_option_values_must_match_the_question():
    with pytest.raises(ProgramError, match="5 options but the program gives 3"):
        parse_program(AFTER_STOP, num_options=5)
    with pytest.raises(ProgramError, match="0 options but the program gives 3"):
        parse_program(AFTER_STOP, num_options=0)


def test_a_source_step_starts_a_new_chain_and_the_text_form_reads_as_a_trace():
    program = parse_program({"program": [{"op": "find", "name": "box"}, {"op": "events", "kind": "enter"},
                                         {"op": "subject"}, {"op": "count"}]})
    assert program.types == ["objects", "events", "objects", "number"]
    text = program.to_text()
    assert text.splitlines()[0] == "0 find name=box  -> objects"
    assert "3 count  -> number" in text
