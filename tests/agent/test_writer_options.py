"""The writer's option pass: each option read again alone, the written program forced as the reply's opening."""

from __future__ import annotations

import json

import pytest

from tests.agent.llm.test_constrained import assert_fits, tiny_lm  # noqa: F401  (the fixture)
from videothought.agent.writer import Request, Written, _checked, _describes, read_options, reads_options, write_programs, writer_messages
from videothought.graph.program import writer_schema

REQUESTS = [
    Request("What colour is the ball that stops?", ["red", "blue", "green"], "colour: red, blue, green; shape: circle"),
    Request("What happens next?", [], "label: object"),
    Request("Which does the red box hit?", ["the blue box", "the red circle", "the blue circle"],
            "colour: red, blue; shape: square, circle"),
    Request("Which box enters first?", ["the red box", "the blue box"], "colour: red, blue; shape: square"),
]


def test_a_prefill_is_forced_and_the_rest_fits_the_schema(tiny_lm):  # noqa: F811
    conversation = [{"role": "user", "content": "anything"}]
    opening = '{"program":[{"op":"find","name":"circle"}],"options":['
    generation = tiny_lm.generate_batch([conversation, conversation], json_schema=writer_schema(1),
                                        max_new_tokens=400, prefills=[opening, ""])
    assert generation[0].text.startswith(opening[:-2])
    assert json.loads(generation[0].text)["program"] == [{"op": "find", "name": "circle"}]
    for reply in generation:
        assert_fits(reply.text, 1)
    with pytest.raises(ValueError, match="does not fit the schema"):
        tiny_lm.generate_batch([conversation], json_schema=writer_schema(1), prefills=['{"options":['])
    with pytest.raises(ValueError, match="prefills for"):
        tiny_lm.generate_batch([conversation], json_schema=writer_schema(1), prefills=["", ""])


def test_the_option_pass_reads_each_option_alone(tiny_lm):  # noqa: F811
    written = write_programs(tiny_lm, REQUESTS, style="compact", max_new_tokens=600)
    # a random writer seldom names things in an option: the last question's reply is written here
    named = ('{"program":[{"op":"find","name":"square","adj":["red"]},{"op":"events","kind":"collide"},'
             '{"op":"partner"}],"options":[{"object":{"name":"square","adj":["blue"]}},{"text":"red"},'
             '{"object":{"name":"circle","adj":["blue"]}}]}')
    written[-1] = _checked(Written(None, named, None, "compact", True), 3)
    assert written[-1].program is not None
    assert not reads_options(tiny_lm)  # no adapter card says it was trained for the pass
    again = read_options(tiny_lm, REQUESTS, written, max_new_tokens=600)
    assert again[1] is written[1]  # an open question has no options to read
    read = 0
    for request, first, second in zip(REQUESTS, written, again):
        if not request.choices or first.program is None:
            continue
        naming = [k for k, value in enumerate(first.program.options) if _describes(value)]
        if not naming:  # numbers, colours, sides: nothing to mix up, nothing read again
            assert second is first
            continue
        read += 1
        opening = first.text[:first.text.index('"options":[')]
        assert second.text.startswith(opening) and second.first_text == first.text and second.calls == 2
        document = assert_fits(second.text, len(request.choices))
        for k, choice in enumerate(request.choices):  # each value naming things is what the option alone reads to
            if k not in naming:
                assert document["options"][k] == first.program.options[k]
                continue
            alone = tiny_lm.generate_batch([writer_messages(request.question, [choice], request.names)],
                                           json_schema=writer_schema(1), max_new_tokens=600,
                                           prefills=[opening + '"options":['])[0]
            assert document["options"][k] == json.loads(alone.text)["options"][0]
    assert read  # the random writer names things in some option of these questions


def test_the_shipped_writer_card_decides_the_pass():
    from videothought.agent.context import SHIPPED_ADAPTERS
    from videothought.agent.llm.protocol import adapter_card

    class Carded:
        adapter_names = ("writer",)
        adapter_cards = {"writer": {"option_pass": True}}

        def generate_batch(self, *args, **kwargs):
            raise AssertionError("not called")

    assert adapter_card(Carded(), "writer") == {"option_pass": True} and reads_options(Carded())
    card = json.loads((SHIPPED_ADAPTERS / "writer" / "videothought-adapter.json").read_text())
    assert card.get("prompt_style") == "compact" and card.get("option_pass") is True  # the shipped writer reads options alone
