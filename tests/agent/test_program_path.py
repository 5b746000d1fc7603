"""The program path: the writer, the graph that runs its program on the STSG, honest verdicts, follow-ups."""

from __future__ import annotations

import json

import pytest

from tests.agent.graph.helpers import DocumentBuilder
from tests.conftest import moving_square_frames
from videothought.agent.context import VoTContext, VoTSettings
from videothought.agent.llm import FakeLanguageModel
from videothought.agent.run import run_question
from videothought.agent.writer import first_json_object, write_program, writer_messages
from videothought.graph.program import writer_schema
from videothought.perception.video import write_video

# scene_document(): a red circle moves right and collides with a blue square at frame 12; a green
# triangle enters at frame 20 and stops at frame 26.
QUESTION = "Which object does the ball bump into?"
CHOICES = ["the blue box", "the green triangle", "the white star"]
PARTNER = {"program": [{"op": "find", "name": "circle"}, {"op": "events", "kind": "collide"}, {"op": "first"},
                       {"op": "partner"}],
           "options": [{"object": {"name": "square", "adj": ["blue"]}}, {"object": {"name": "triangle", "adj": ["green"]}},
                       {"object": {"name": "star", "adj": ["white"]}}]}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("program") / "scene.mp4", moving_square_frames(30), fps=10.0)


def context(replies, scores=None) -> VoTContext:
    lm = FakeLanguageModel(replies=[json.dumps(r) if isinstance(r, dict) else r for r in replies], scores=scores or {})
    return VoTContext(lm=lm, stsg_builder=DocumentBuilder(), settings=VoTSettings())


def ask(video, ctx, question=QUESTION, choices=CHOICES, **kwargs):
    return run_question(question, video_path=video, choices=choices, context=ctx, reader="program", **kwargs)


# ---- the writer ----------------------------------------------------------------------------------
def test_the_writer_prompt_names_what_perception_can_give_and_the_few_shot_one_teaches_the_language():
    compact = writer_messages(QUESTION, CHOICES, "colour: red, blue; shape: circle, square", style="compact")
    user = compact[-1]["content"]
    assert user.startswith("Names: colour: red, blue; shape: circle, square")
    assert "Question: Which object does the ball bump into?" in user and "3. the white star" in user
    few_shot = writer_messages(QUESTION, CHOICES, "colour: red", style="few-shot")
    assert "after(kind?, of?)" in few_shot[0]["content"] and "Examples:" in few_shot[0]["content"]
    assert len(few_shot[0]["content"]) > 5 * len(compact[0]["content"])
    with pytest.raises(ValueError, match="style"):
        writer_messages(QUESTION, CHOICES, "", style="verbose")


def test_the_writer_asks_a_constraining_backend_for_the_languages_schema():
    lm = FakeLanguageModel(replies=[json.dumps(PARTNER)])
    written = write_program(lm, QUESTION, CHOICES, "colour: red")
    assert written.error is None and written.program.types[-1] == "objects"
    assert written.constrained and lm.calls[0]["json_schema"] == writer_schema(3)
    assert written.style == "few-shot"  # no trained writer adapter on this backend


def test_a_written_program_that_is_ill_typed_or_miscounted_is_an_error_not_a_guess():
    ill_typed = {"program": [{"op": "find"}, {"op": "time"}], "options": [{"number": 1}] * 3}
    written = write_program(FakeLanguageModel(replies=[json.dumps(ill_typed)]), QUESTION, CHOICES, "")
    assert written.program is None and "takes event" in written.error
    short = {**PARTNER, "options": PARTNER["options"][:2]}
    written = write_program(FakeLanguageModel(replies=[json.dumps(short)]), QUESTION, CHOICES, "")
    assert written.program is None and "3 options but the program gives 2" in written.error


def test_a_backend_that_cannot_be_constrained_is_asked_in_words_and_its_first_json_object_read():
    class PlainModel:
        name = "plain"

        def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None):
            from videothought.agent.llm.protocol import Generation

            return Generation(f"Sure! Here it is: ```json\n{json.dumps(PARTNER)}\n``` Hope that helps.", 10, 10, 0.0)

        def score(self, prompt, continuations):
            return [0.0] * len(continuations)

        def count_tokens(self, text):
            return len(text.split())

    written = write_program(PlainModel(), QUESTION, CHOICES, "")
    assert not written.constrained and written.program is not None
    assert first_json_object('x {"a": "}{", "b": {"c": 1}} tail {"d": 2}') == '{"a": "}{", "b": {"c": 1}}'
    assert first_json_object("no json here") is None


def test_a_failing_backend_is_recorded_not_raised():
    class Broken(FakeLanguageModel):
        def generate(self, *args, **kwargs):
            raise ConnectionError("server went away")

    written = write_program(Broken(), QUESTION, CHOICES, "")
    assert written.program is None and "server went away" in written.error


# ---- the graph ---------------------------------------------------------------------------------------
def test_the_program_answers_and_the_stsg_supports_it_with_one_llm_call(video):
    ctx = context([PARTNER])
    result = ask(video, ctx)
    assert (result.answer_index, result.answer) == (0, "the blue box")
    assert [r["node"] for r in result.trace] == ["track", "identify_targets", "analyze_actions", "rank_answers", "verify"]
    verification = result.verification
    assert verification["status"] == "supported" and verification["source"] == "program" and verification["passed"]
    assert verification["focus"] == {"track_ids": [2], "frame": 12}
    assert result.state["option_scores"] == [1.0, -1.0, -1.0]
    assert result.llm_calls == 1
    assert {t["phrase"]: t["track_ids"] for t in result.state["targets"]} == {"circle": [1]}
    assert "3 partner -> blue square (#2)" in result.state["action_analysis"]


def test_what_the_program_cannot_check_is_answered_by_the_llm_and_marked_unchecked(video):
    dog = {"program": [{"op": "find", "name": "dog"}, {"op": "events", "kind": "collide"}, {"op": "first"},
                       {"op": "partner"}], "options": PARTNER["options"]}
    ctx = context([dog], scores={" the green triangle": -0.1})
    result = ask(video, ctx, max_retries=1)
    verification = result.verification
    assert verification["status"] == "unchecked" and verification["source"] == "llm" and not verification["passed"]
    assert result.answer == "the green triangle"  # the LLM's preference, said to be unchecked
    assert "cannot name 'dog'" in result.state["execution"]["reason"]
    writers = [r for r in result.trace if r["node"] == "identify_targets"]
    assert len(writers) == 2  # the failed program was written again once (max_retries=1), sampled
    second = [c for c in ctx.lm.calls if c["kind"] == "generate"][1]
    assert second["temperature"] > 0 and second["seed"] == 1


def test_a_retry_never_replaces_a_supported_answer_and_a_refuted_one_is_replaced(video):
    wrong = {"program": [{"op": "events", "kind": "enter"}, {"op": "first"}, {"op": "subject"}],
             "options": [{"object": {"name": "circle"}}, {"object": {"name": "star"}}, {"object": {"name": "square"}}]}
    ctx = context([wrong, PARTNER])
    result = ask(video, ctx)
    assert result.verification["status"] == "supported" and result.answer_index == 0
    assert result.verification["attempts"] == 2
    assert [a["verdict"]["status"] for a in result.state["attempts"]] == ["refuted", "supported"]


def test_an_open_question_is_answered_in_words_a_user_would_use(video):
    ctx = context([{"program": PARTNER["program"]}])
    result = ask(video, ctx, choices=[])
    assert result.answer == "the blue square"
    assert result.verification["status"] == "supported"


def test_a_follow_up_program_resolves_it_to_the_previous_answer(video):
    ctx = context([{"program": [{"op": "recall", "what": "object"}, {"op": "events", "kind": "collide"},
                                {"op": "partner"}],
                    "options": [{"object": {"name": "circle", "adj": ["red"]}}, {"object": {"name": "triangle"}}]}])
    history = [{"question": QUESTION, "answer": "the blue box", "targets": ["blue square"], "track_ids": [2],
                "anchor_frame": 12}]
    result = ask(video, ctx, question="What does it hit?", choices=["the red ball", "the triangle"], history=history,
                 thread_id="follow-up")
    assert result.answer_index == 0 and result.verification["status"] == "supported"
    assert "Earlier: Which object does the ball bump into? -> the blue box" in \
        [c for c in ctx.lm.calls if c["kind"] == "generate"][0]["messages"][-1]["content"]
    # the turn is about the recalled object: its first target is that object, named as perception names it
    assert result.state["targets"][0] == {"phrase": "blue square", "track_ids": [2], "score": 1.0, "source": "recall"}


def test_after_what_it_does_next_it_stays_the_same_object(video):
    """An event answer hands a later "it" the object the question asked after, not the event's partner."""
    ctx = context([{"program": [{"op": "recall", "what": "object"}, {"op": "recall", "what": "moment"},
                                {"op": "after", "of": 0}, {"op": "first"}],
                    "options": [{"event": {"kind": "collide", "with": {"name": "circle", "adj": ["red"]}}},
                                {"event": {"kind": "stop"}}]}])
    history = [{"question": "Which object moves first?", "answer": "the blue square", "targets": ["blue square"],
                "track_ids": [2], "anchor_frame": 0}]
    result = ask(video, ctx, question="What does it do next?", choices=["bumps into the red ball", "stops"],
                 history=history, thread_id="next")
    assert result.answer_index == 0 and result.verification["status"] == "supported"
    focus = result.verification["focus"]
    assert focus["track_ids"] == [2] and focus["frame"] == 12


def test_several_programs_vote_and_the_majority_is_supported(video):
    from videothought.agent.writer import Written
    from videothought.graph.program import parse_program

    wrong = {"program": [{"op": "events", "kind": "enter"}, {"op": "first"}, {"op": "subject"}],
             "options": PARTNER["options"]}  # the green triangle enters: option 1
    programs = [PARTNER, wrong, PARTNER]
    calls = []

    def writer(lm, question, choices, names, *, samples=1, **kwargs):
        calls.append(samples)
        return [Written(parse_program(p, num_options=3), json.dumps(p), None, prompt=[{"role": "user", "content": "q"}])
                for p in programs[:samples]]

    ctx = context([PARTNER])
    ctx = ctx.with_overrides(writer=writer, settings=VoTSettings(program_samples=3))
    result = ask(video, ctx, thread_id="votes")
    assert calls == [3] and result.answer_index == 0
    assert result.state["option_scores"] == [round(2 / 3, 4), round(1 / 3, 4), 0.0]
    assert result.verification["status"] == "supported"
    assert len(result.state["programs"]) == 3
