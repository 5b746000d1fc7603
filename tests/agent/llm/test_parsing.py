"""Parsing of messy small-model output and the bounded, stricter retry."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videothought.agent.llm import FakeLanguageModel
from videothought.agent.llm.parsing import (
    ParseError,
    extract_choice,
    extract_json,
    extract_rating,
    generate_choice,
    generate_json,
    generate_rating,
)

USER = [{"role": "user", "content": "List the objects."}]


# ----------------------------------------------------------------------------- JSON


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! Here it is:\n```json\n{"targets": ["red car", "man"]}\n```\nHope it helps.', {"targets": ["red car", "man"]}),
        ('{"targets": ["red car",],}', {"targets": ["red car"]}),
        ("{'targets': ['man'], 'ok': True, 'x': None}", {"targets": ["man"], "ok": True, "x": None}),
        ('{targets: ["dog"], count: 2}', {"targets": ["dog"], "count": 2}),
        ('{"ok": true, "none": null}', {"ok": True, "none": None}),
        ('The answer {"a": "has } brace"} done', {"a": "has } brace"}),
        ('{"targets": ["man", "bicy', {"targets": ["man", "bicy"]}),  # truncated at the token limit
        ('{"a": {"b": [1, 2', {"a": {"b": [1, 2]}}),
        ("I don't know. {\"a\": 2}", {"a": 2}),  # an apostrophe in prose is not a string quote
    ],
)
def test_extract_json_repairs_messy_output(text, expected):
    assert extract_json(text) == expected


def test_extract_json_prefers_a_complete_value_over_a_truncated_one():
    assert extract_json('{"a": 1} and then {"b": [2') == {"a": 1}


def test_extract_json_list_and_kind():
    assert extract_json('targets: ["a", "b"]', expect="list") == ["a", "b"]
    assert extract_json('[1, 2] {"k": 3}', expect="object") == {"k": 3}
    assert extract_json('x [1] y', expect=None) == [1]
    with pytest.raises(ParseError, match="no JSON object"):
        extract_json("[1, 2, 3]", expect="object")


@pytest.mark.parametrize("text", ["", "no json here", "{not: valid: at all}", "}{", "{{{{"])
def test_extract_json_failures_are_parse_errors(text):
    with pytest.raises(ParseError):
        extract_json(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(value=st.dictionaries(st.text(max_size=8), json_values, max_size=5), prefix=st.sampled_from(["", "Sure: ", "Output:\n"]),
       fenced=st.booleans())
def test_extract_json_round_trips_any_object_in_prose(value, prefix, fenced):
    body = json.dumps(value)
    text = prefix + (f"```json\n{body}\n```" if fenced else body) + "\nThat is all."
    assert extract_json(text) == value


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_extract_json_never_raises_anything_but_parse_error(text):
    try:
        extract_json(text, expect=None)
    except ParseError:
        pass


# ----------------------------------------------------------------------------- choices


@pytest.mark.parametrize(
    "text, expected",
    [
        ("B", 1),
        ("(C)", 2),
        ("A) the man rides a bike", 0),
        ("The answer is (B) because the man turns left.", 1),
        ("Answer: D", 3),
        ("the correct option is c)", 2),
        ("I think option 2 is right", 1),
        ("Choice: 3.", 2),
        ("After looking, (A).", 0),
    ],
)
def test_extract_choice(text, expected):
    assert extract_choice(text, num_choices=4) == expected


def test_extract_choice_by_option_text():
    choices = ["walks away", "rides a bike", "rides a red bike"]
    assert extract_choice("He walks away from the camera.", 3, choices) == 0
    # "rides a bike" is not in the reply; "rides a red bike" is.
    assert extract_choice("The man rides a red bike.", 3, choices) == 2
    with pytest.raises(ParseError, match="several options"):
        extract_choice("He walks away, then rides a bike.", 3, choices)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("Answer: E", "only 4 options"),
        ("option 7", "1..4"),
        ("(A) or (B)", "several options"),
        ("I am not sure about this one.", "no option"),
    ],
)
def test_extract_choice_failures(text, match):
    with pytest.raises(ParseError, match=match):
        extract_choice(text, num_choices=4)


# ----------------------------------------------------------------------------- ratings


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8/10", 8.0),
        ("Rationality: 7 / 10. The man is riding.", 7.0),
        ("Rating: 9", 9.0),
        ("I would rate it 6 because", 6.0),
        ("**5** - plausible", 5.0),
        ("It is 7.5 out of 10", 7.5),
        ("The answer deserves a 4.", 4.0),
    ],
)
def test_extract_rating(text, expected):
    assert extract_rating(text) == expected


@pytest.mark.parametrize("text, match", [("11/10", "outside"), ("Rating: 0", "outside"), ("no idea", "no rating"),
                                         ("between 3 and 5", "several")])
def test_extract_rating_failures(text, match):
    with pytest.raises(ParseError, match=match):
        extract_rating(text)


# ----------------------------------------------------------------------------- generate + retry


def test_generate_json_retries_with_a_stricter_prompt_then_succeeds():
    lm = FakeLanguageModel(replies=["The objects are a man and a bike.", '{"targets": ["man", "bike"]}'])
    outcome = generate_json(lm, USER, schema_keys=["targets"], retries=2)
    value, attempts, errors = outcome
    assert value == {"targets": ["man", "bike"]} and attempts == 2 and len(errors) == 1
    assert "attempt 1" in errors[0] and "no JSON object" in errors[0]
    retry_messages = lm.calls[1]["messages"]
    assert retry_messages[:1] == USER
    assert retry_messages[1] == {"role": "assistant", "content": "The objects are a man and a bike."}
    assert "ONLY one JSON object" in retry_messages[2]["content"] and '"targets"' in retry_messages[2]["content"]
    assert outcome.completion_tokens == sum(g.completion_tokens for g in outcome.generations) > 0
    assert outcome.prompts[0] == USER[0]["content"] and outcome.prompts[1] == retry_messages[2]["content"]


def test_generate_json_missing_keys_count_as_failure_and_attempts_are_bounded():
    lm = FakeLanguageModel(replies=['{"objects": []}'])
    outcome = generate_json(lm, USER, schema_keys=["targets"], retries=2)
    assert outcome.value is None and not outcome.ok
    assert outcome.attempts == 3 and len(lm.calls) == 3 and len(outcome.errors) == 3
    assert all("lacks key(s) ['targets']" in e for e in outcome.errors)


def test_generate_choice_and_rating():
    lm = FakeLanguageModel(replies=["Hmm, hard to say.", "B"])
    outcome = generate_choice(lm, USER, ["left", "right", "straight"])
    assert (outcome.value, outcome.attempts) == (1, 2)
    assert "letter of one option (A, B, C)" in lm.calls[1]["messages"][-1]["content"]
    lm = FakeLanguageModel(replies=["Rating: 8/10. The rider turns left as the tracks show."])
    outcome = generate_rating(lm, USER, retries=0)
    assert outcome.value == 8.0 and outcome.attempts == 1 and "turns left" in outcome.text


def test_retries_zero_means_one_attempt():
    lm = FakeLanguageModel(replies=["nothing"])
    assert generate_rating(lm, USER, retries=0).attempts == 1
    with pytest.raises(ValueError, match="retries"):
        generate_rating(lm, USER, retries=-1)


def test_generate_json_with_the_real_small_model_never_crashes(smollm):
    """SmolLM2-135M may or may not produce valid JSON; either way the outcome is recorded."""
    messages = [
        {"role": "system", "content": "You extract objects. Reply with JSON only."},
        {"role": "user", "content": 'Question: "Why does the man on the red bike stop?" '
                                    'Reply as {"targets": ["phrase", ...]}.'},
    ]
    outcome = generate_json(smollm, messages, schema_keys=["targets"], retries=1, max_new_tokens=24)
    assert 1 <= outcome.attempts <= 2 and len(outcome.generations) == outcome.attempts
    if outcome.ok:
        assert "targets" in outcome.value and len(outcome.errors) == outcome.attempts - 1
    else:
        assert len(outcome.errors) == outcome.attempts == 2


def test_a_backend_failure_is_recorded_not_raised():
    import socket

    from videothought.agent.llm.http import HTTPLanguageModel

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = HTTPLanguageModel(f"http://127.0.0.1:{port}/v1", model="m", max_retries=0)
    outcome = generate_json(down, USER, schema_keys=["targets"], retries=2)
    assert outcome.value is None and outcome.backend_failed
    assert outcome.attempts == 1 and outcome.generations == []  # no stricter re-prompt for a dead server
    assert "BackendUnavailableError" in outcome.errors[0] and "could not connect" in outcome.errors[0]
