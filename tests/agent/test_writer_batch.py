"""The batched writer gives the programs one-at-a-time writing gives (greedy), much cheaper."""

from __future__ import annotations

import pytest

from tests.agent.llm.test_constrained import assert_fits, tiny_lm  # noqa: F401  (the fixture)
from videothought.agent.writer import Request, write_program, write_programs

QUESTIONS = [
    Request("What colour is the ball that stops?", ["red", "blue"], "colour: red, blue; shape: circle"),
    Request("How many people walk left?", ["1", "2", "3"], "label: person"),
    Request("Which box enters first?", ["the red box", "the blue box"], "colour: red, blue; shape: square"),
    Request("What happens next?", [], "label: object"),
]


def test_batched_greedy_writing_equals_writing_one_at_a_time(tiny_lm):  # noqa: F811
    from videothought.agent.llm.constrained import SchemaDecoder
    from videothought.agent.writer import writer_messages
    from videothought.graph.program import writer_schema

    batched = write_programs(tiny_lm, QUESTIONS, style="compact", max_new_tokens=600, batch_size=3)
    decoder = SchemaDecoder.for_tokenizer(tiny_lm.tokenizer, len(tiny_lm.tokenizer))
    for request, written in zip(QUESTIONS, batched):
        prompt = tiny_lm.encode(tiny_lm.render(writer_messages(request.question, request.choices, request.names)))
        # one at a time without jump-forward: forced text tokenised as a chunk can differ from the model's own tokens
        alone = decoder.decode(tiny_lm.model, prompt, writer_schema(len(request.choices)), max_new_tokens=600,
                               jump_forward=False)
        assert written.text == tiny_lm.tokenizer.decode(alone.token_ids, skip_special_tokens=True)
        assert_fits(written.text, len(request.choices))
    assert write_program(tiny_lm, QUESTIONS[0].question, QUESTIONS[0].choices, QUESTIONS[0].names,
                         style="compact", max_new_tokens=600).constrained


def test_sampled_batched_writing_is_seeded(tiny_lm):  # noqa: F811
    first = write_programs(tiny_lm, QUESTIONS[:2], style="compact", temperature=1.0, seeds=[3, 4], max_new_tokens=600)
    again = write_programs(tiny_lm, QUESTIONS[:2], style="compact", temperature=1.0, seeds=[3, 4], max_new_tokens=600)
    other = write_programs(tiny_lm, QUESTIONS[:2], style="compact", temperature=1.0, seeds=[5, 6], max_new_tokens=600)
    assert [w.text for w in first] == [w.text for w in again]
    assert [w.text for w in first] != [w.text for w in other]
    with pytest.raises(Exception):
        write_programs(tiny_lm, QUESTIONS[:1], temperature=-1.0)


def test_the_shipped_writer_writes_the_same_program_alone_as_in_a_batch():
    """Jump-forward forces the grammar's fixed text, split as the tokenizer splits the whole reply and
    less its last token (left to the model to merge with what follows): a trained writer then writes
    alone what it writes in a batch, with no jump. Forcing '"' on its own once made it close every
    step at once ({"op":"find"}, options {"object":{}})."""
    from videothought.agent.context import SHIPPED_ADAPTERS
    from videothought.agent.llm.local import LocalLanguageModel

    if not (SHIPPED_ADAPTERS / "writer" / "adapter_model.safetensors").is_file():
        pytest.skip("no shipped writer adapter in this install")
    lm = LocalLanguageModel.embedded(dtype="float32", adapters={"writer": str(SHIPPED_ADAPTERS / "writer")})
    names = "colour: blue, green, red; shape: circle, square, star"
    requests = [Request("Which thing bumps into the green star first?", ["the red circle", "the blue square"], names),
                Request("How often does the blue square change direction?", ["0", "1", "2"], names)]
    batched = write_programs(lm, requests, batch_size=2)
    for request, written in zip(requests, batched):
        alone = write_program(lm, request.question, request.choices, request.names)
        assert alone.text == written.text and alone.program is not None, (alone.text, written.text)
        assert any(step.args for step in alone.program.steps)  # it names what it looks for
