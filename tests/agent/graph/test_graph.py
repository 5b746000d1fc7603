"""The VoT graph with LangGraph itself, a scripted fake LM and a hand-written STSG."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.runtime import Runtime

from tests.agent.graph.helpers import DocumentBuilder, scene_document
from tests.conftest import moving_square_frames
from videothought.agent.context import VoTContext, VoTSettings, default_context
from videothought.agent.followup import follow_up_frame
from videothought.agent.graph import NODE_ORDER, build_vot_graph, insert_node
from videothought.agent.llm import FakeLanguageModel
from videothought.agent.perceive import build_stsg
from videothought.agent.rules import nodes
from videothought.agent.run import question_input, run_question
from videothought.agent.trace import stream_steps
from videothought.perception.video import write_video

CHOICES = ["it collides with the blue square", "it stops", "it enters the scene", "it turns", "it disappears"]
QUESTION = "What does the red circle do?"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("agent") / "scene.mp4", moving_square_frames(30), fps=10.0)


def context(replies=None, scores=None, builder=None, **settings) -> VoTContext:
    settings.setdefault("llm_targets", "always")  # every node asks the LLM: the scripted replies line up
    lm = FakeLanguageModel(replies=replies or ["red circle", "The red circle hits the blue square.", "8 - it hits it", "yes"],
                           scores=scores or {})
    return VoTContext(lm=lm, stsg_builder=builder or DocumentBuilder(), settings=VoTSettings(**settings))


def nodes_of(trace):
    return [(record["node"], record["attempt"]) for record in trace]


def test_graph_has_the_vot_nodes_and_context_schema():
    graph = build_vot_graph()
    assert set(graph.nodes) == set(NODE_ORDER)
    assert graph.context_schema is VoTContext
    assert ("identify_targets", "track") in graph.edges and ("track", "analyze_actions") in graph.edges


def test_multiple_choice_run_grounds_targets_and_answers(video):
    ctx = context()
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=ctx)
    assert (result.answer_index, result.answer) == (0, CHOICES[0])
    assert nodes_of(result.trace) == [(n, 0) for n in ("identify_targets", "track", "analyze_actions", "rank_answers", "verify")]
    assert result.state["targets"][0] == {"phrase": "red circle", "track_ids": [1], "score": 1.0, "source": "code"}
    assert result.verification["passed"] and result.verification["perception"]["supported"]
    # identify, analyze, one batched score; no rating (a clear margin) and no cognition check (the
    # STSG supports the answer's claims)
    assert result.llm_calls == 3
    assert ctx.stsg_builder.calls == 1
    assert sorted(result.state["frame_indices"]) == result.state["frame_indices"] and len(result.state["frame_indices"]) == 30


def test_candidates_are_scored_in_one_batched_call(video):
    ctx = context()
    run_question(QUESTION, video_path=video, choices=CHOICES, context=ctx)
    score_calls = [call for call in ctx.lm.calls if call["kind"] == "score"]
    assert len(score_calls) == 1
    assert score_calls[0]["continuations"] == [" " + c for c in CHOICES]


def test_garbage_llm_output_is_retried_bounded_recorded_and_never_crashes(video):
    garbage = "}}{{ ### ]]] <<>> 0 0 0"
    ctx = context(replies=[garbage])
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=ctx)
    assert result.answer_index == 0  # the STSG evidence still decides
    by_node = {record["node"]: record for record in result.trace}
    assert by_node["identify_targets"]["llm_calls"] == 2  # one try + one stricter retry (parse_retries=1)
    assert any("unparsable target list" in e for e in by_node["identify_targets"]["errors"])
    assert by_node["analyze_actions"]["llm_calls"] == 2
    assert any("no readable analysis" in e for e in by_node["analyze_actions"]["errors"])
    assert "red circle" in result.state["action_analysis"]  # fell back to the verbalised events


def test_rating_and_cognition_run_where_the_stsg_cannot_decide(video):
    ctx = context(replies=["nice", "Shapes move around.", "9/10 - it is", "no", "Shapes move around again.", "no"])
    result = run_question("Is this a nice video?", video_path=video, choices=["yes", "no"], context=ctx, max_retries=1)
    by_node = [(r["node"], r["attempt"], r["llm_calls"]) for r in result.trace]
    assert by_node == [("identify_targets", 0, 1), ("track", 0, 0), ("analyze_actions", 0, 1), ("rank_answers", 0, 2),
                       ("verify", 0, 1), ("analyze_actions", 1, 1), ("rank_answers", 1, 1), ("verify", 1, 1)]
    # the retry re-analyses (the cognition check failed), then ranks the one answer left: no rating
    first_rank = [r for r in result.trace if r["node"] == "rank_answers"][0]
    assert first_rank["outputs"]["rating"] == {"index": first_rank["outputs"]["answer_index"], "rating": 9, "rationale": "it is"}
    assert first_rank["outputs"]["answer_index"] != result.answer_index  # the cognition "no" excluded it
    assert result.verification["cognition"] == {"checked": True, "verdict": "no"}
    assert not result.verification["passed"] and result.state["retries"] == 1


def test_garbage_rating_and_verdict_are_recorded():
    from langgraph.runtime import Runtime

    ctx = context(replies=["}}{{ ###"])
    state = {"question": "Is this a nice video?", "choices": ["yes", "no"], "partial_stsg": "Shapes move.",
             "action_analysis": "Shapes move."}
    ranked = nodes.rank_answers(state, Runtime(context=ctx))
    assert any("no rating parsed" in e for e in ranked["trace"][0]["errors"])
    verified = nodes.verify({**state, **ranked}, Runtime(context=ctx))
    assert any("cognition verdict unparsable" in e for e in verified["trace"][0]["errors"])
    assert verified["verification"]["cognition"] == {"checked": False, "verdict": None}


class BrokenModel(FakeLanguageModel):
    def generate(self, messages, **kwargs):
        raise ConnectionError("server went away")

    def score(self, prompt, continuations):
        return [float("nan")] * len(continuations)


def test_backend_failures_are_recorded_not_raised(video):
    ctx = VoTContext(lm=BrokenModel(), stsg_builder=DocumentBuilder())
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=ctx)
    assert result.answer_index == 0
    errors = [e for record in result.trace for e in record["errors"]]
    assert any("ConnectionError: server went away" in e for e in errors)
    assert any("non-finite" in e for e in errors)


def test_verification_routes_back_with_the_refuted_answer_excluded(video):
    # The LLM strongly prefers "it enters the scene", which the STSG refutes for the red circle;
    # evidence weight 0 so only verification can catch it.
    ctx = context(scores={" it enters the scene": 0.0, " it stops": -1.0}, evidence_weight=0.0, rate_candidates=False)
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=ctx)
    # one trip back: "it stops", "it turns" and "it disappears" are refuted too, so they are
    # excluded with the answer instead of being tried one retry at a time
    assert nodes_of(result.trace)[3:] == [("rank_answers", 0), ("verify", 0), ("rank_answers", 1), ("verify", 1)]
    assert [r["outputs"]["answer_index"] for r in result.trace if r["node"] == "rank_answers"] == [2, 0]
    assert result.state["excluded_answers"] == [1, 2, 3, 4] and result.answer_index == 0
    assert result.verification["passed"]
    first_verify = [r for r in result.trace if r["node"] == "verify"][0]
    assert first_verify["outputs"]["route"] == "rank_answers"
    assert "enter of red circle did not happen" in first_verify["outputs"]["contradicted"]


def test_a_refuted_answer_stays_when_every_candidate_is_refuted(video):
    # Without the one right choice, nothing left would pass: the ranking's leader is kept,
    # unverified, rather than swapped down the ranking for a worse-scored answer.
    choices = CHOICES[1:]
    scores = {" it enters the scene": 0.0, " it stops": -0.5, " it turns": -0.7, " it disappears": -0.9}
    ctx = context(scores=scores, evidence_weight=0.0, rate_candidates=False)
    result = run_question(QUESTION, video_path=video, choices=choices, context=ctx)
    verifies = [r for r in result.trace if r["node"] == "verify"]
    assert len(verifies) == 1 and verifies[0]["outputs"]["route"] is None
    assert verifies[0]["outputs"]["kept"] == "every other candidate is refuted too"
    assert result.answer == "it enters the scene" and not result.verification["passed"]
    assert result.state["retries"] == 0 and result.state["excluded_answers"] == []


def test_retries_are_bounded_by_max_retries(video):
    # The STSG is silent on every choice and the LLM's cognition check says "no" to each: the
    # graph goes back to analyze_actions until max_retries, then ends unverified.
    choices = ["a calm mood", "a tense mood", "a cheerful mood"]
    ctx = context(replies=["video", "Shapes move.", "no"], rate_candidates=False)
    result = run_question("What mood does the video have?", video_path=video, choices=choices, context=ctx,
                          max_retries=1)
    verifies = [r for r in result.trace if r["node"] == "verify"]
    assert [r["outputs"]["route"] for r in verifies] == ["analyze_actions", None]
    assert result.state["retries"] == 1 and not result.verification["passed"]
    assert len(result.state["excluded_answers"]) == 1


def test_open_ended_question_proposes_then_ranks(video):
    ctx = context(replies=["red circle", "The red circle hits the blue square.", "it hits the blue square\nit flies",
                           "8 - yes", "yes"])
    result = run_question(QUESTION, video_path=video, choices=[], context=ctx)
    names = [n for n, _ in nodes_of(result.trace)]
    assert names == ["identify_targets", "track", "analyze_actions", "propose_candidates", "rank_answers", "verify"]
    candidates = result.state["candidates"]
    assert "the red circle collides with the blue square" in candidates and "it flies" in candidates
    assert result.answer == "the red circle collides with the blue square"


def test_how_many_open_ended_proposes_the_stsg_count(video):
    ctx = context(replies=["shapes", "Three shapes move.", "five\nseven", "7", "yes"])
    result = run_question("How many objects are there?", video_path=video, choices=[], context=ctx)
    assert result.state["candidates"][0] == "3" and result.answer == "3"


@pytest.mark.parametrize("ablated", ["identify_targets", "track", "analyze_actions", "verify", "propose_candidates"])
def test_ablation_wires_around_the_node(video, ablated):
    graph = build_vot_graph(ablate=[ablated])
    assert ablated not in graph.nodes
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=context(), graph=graph)
    names = [n for n, _ in nodes_of(result.trace)]
    assert ablated not in names and "rank_answers" in names
    # the STSG still decides without any one reasoning node; without perception nothing can be
    # checked, and the fake LM's equal scores leave the first choice
    assert result.answer_index == 0
    if ablated == "track":
        assert all(row["evidence"] == 0 for row in result.state["candidate_scores"])
    else:
        assert [row["evidence"] for row in result.state["candidate_scores"]][:2] == [1.0, -0.7]


def test_ablating_track_loses_the_evidence(video):
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=context(), ablate=["track"])
    assert "stsg" not in result.state
    assert all(row["evidence"] == 0 for row in result.state["candidate_scores"])


def test_bad_graph_arguments_are_named():
    with pytest.raises(ValueError, match="cannot ablate \\['ocr'\\]"):
        build_vot_graph(ablate=["ocr"])
    with pytest.raises(ValueError, match="cannot ablate 'rank_answers'"):
        build_vot_graph(ablate=["rank_answers"])
    with pytest.raises(ValueError, match="unknown node 'ocr' to replace"):
        build_vot_graph(nodes={"ocr": lambda s, r: {}})
    with pytest.raises(ValueError, match="max_retries must be >= 0"):
        build_vot_graph(max_retries=-1)
    with pytest.raises(TypeError, match="unknown overrides \\['colour'\\]"):
        default_context(lm=FakeLanguageModel(), colour="red")
    with pytest.raises(ValueError, match="num_frames must be at least 2"):
        VoTSettings(num_frames=1)
    with pytest.raises(ValueError, match="question must be a non-empty string"):
        question_input("  ", "x.mp4")


def test_replaced_node_is_used(video):
    seen = []

    def my_track(state, runtime):
        seen.append(state["targets"])
        return {"stsg": scene_document(), "partial_stsg": "The red circle collides with the blue square.",
                "trace": [{"node": "track", "attempt": 0, "llm_calls": 0}]}

    graph = build_vot_graph(nodes={"track": my_track})
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=context(), graph=graph)
    assert seen and seen[0][0]["phrase"] == "red circle"
    assert result.answer_index == 0


def test_insert_node_takes_over_the_plain_edge(video):
    def ocr(state, runtime):
        return {"frame_text": ["EXIT"], "trace": [{"node": "ocr", "attempt": 0}]}

    graph = insert_node(build_vot_graph(), "ocr", ocr, after="track")
    assert ("track", "ocr") in graph.edges and ("ocr", "analyze_actions") in graph.edges
    assert ("track", "analyze_actions") not in graph.edges
    ctx = context()
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=ctx, graph=graph)
    assert [n for n, _ in nodes_of(result.trace)][:4] == ["identify_targets", "track", "ocr", "analyze_actions"]
    analyze_prompt = ctx.lm.calls[1]["messages"][-1]["content"]
    assert "Text seen in the video: EXIT" in analyze_prompt
    with pytest.raises(ValueError, match="cannot insert after 'analyze_actions'"):
        insert_node(build_vot_graph(), "x", ocr, after="analyze_actions")


def test_stream_steps_yields_each_node_as_it_finishes(video):
    app = build_vot_graph().compile(checkpointer=InMemorySaver())
    steps = list(stream_steps(app, question_input(QUESTION, str(video), CHOICES), config={"configurable": {"thread_id": "s"}},
                              context=context()))
    assert [node for node, _ in steps] == ["identify_targets", "track", "analyze_actions", "rank_answers", "verify"]
    assert all(record.node == node for node, record in steps)


def test_a_node_runs_alone_with_a_runtime():
    ctx = context(replies=["blue square, green triangle"])
    update = nodes.identify_targets({"question": "Did the blue square hit the green triangle?", "choices": []},
                                    Runtime(context=ctx))
    assert [t["phrase"] for t in update["targets"]] == ["blue square", "green triangle"]
    assert update["trace"][0]["node"] == "identify_targets" and update["trace"][0]["llm_calls"] == 1


def test_llm_phrases_not_in_the_question_are_dropped():
    ctx = context(replies=["purple star, red circle"])
    update = nodes.identify_targets({"question": "What does the red circle do?", "choices": ["it stops"]}, Runtime(context=ctx))
    assert [t["phrase"] for t in update["targets"]] == ["red circle"]


def test_follow_up_question_reuses_the_previous_targets():
    ctx = context(replies=["it"])
    state = {"question": "What did it do next?", "choices": [],
             "history": [{"question": "Which object enters?", "answer": "the green triangle", "targets": ["green triangle"]}]}
    update = nodes.identify_targets(state, Runtime(context=ctx))
    assert update["targets"][0]["phrase"] == "green triangle"


def test_llm_targets_fallback_asks_only_when_code_finds_no_object():
    ctx = context(replies=["the man, the bicycle", "the man"], llm_targets="fallback")
    found = nodes.identify_targets({"question": "What does the red circle do?", "choices": []}, Runtime(context=ctx))
    assert found["trace"][0]["llm_calls"] == 0 and [t["phrase"] for t in found["targets"]] == ["red circle"]
    # no content word in the question or choices: the LLM is asked (and retried once); the objects
    # it names appear nowhere in the text, so they are rejected, not invented
    asked = nodes.identify_targets({"question": "What happens?", "choices": ["it stops", "it turns"]}, Runtime(context=ctx))
    assert asked["trace"][0]["llm_calls"] == 2
    assert asked["targets"] == [] and "unparsable target list" in asked["trace"][0]["errors"][0]


def test_claims_are_checked_against_the_stsg():
    from videothought.agent.rules.claims import check_claims

    doc = scene_document()
    question = "What does the red circle do?"
    assert check_claims("it collides with the blue square", question, doc)["score"] == 1.0
    assert check_claims("it bumps into the blue block", question, doc)["score"] == 1.0  # other words, same claim
    assert check_claims("it collides with the purple star", question, doc)["contradicted"] == ["not in the video: purple star"]
    assert check_claims("it stops", question, doc)["score"] < 0
    assert check_claims("moves to the right", "Which way does the red circle move?", doc)["score"] == 1.0
    assert check_claims("moves to the left", "Which way does the red circle move?", doc)["score"] == -1.0
    assert check_claims("3", "How many objects enter the scene?", doc)["score"] < 0
    assert check_claims("1", "How many objects enter the scene?", doc)["score"] == 1.0
    assert check_claims("one", "How many things come into view?", doc)["score"] == 1.0
    assert check_claims("the green triangle", "Which object enters the scene first?", doc)["score"] == 1.0
    assert check_claims("the red circle", "Which object enters the scene first?", doc)["score"] < 0
    assert check_claims("stops", "What does the green triangle do right after it enters the scene?", doc)["score"] == 1.0
    assert check_claims("comes to a halt", "Once the green triangle has arrived, what does it do next?", doc)["score"] == 1.0
    assert check_claims("collides with the red circle", "What does the green triangle do right after it enters the scene?",
                        doc)["score"] < 0
    assert check_claims("blue", "What colour is the square?", doc)["score"] == 1.0
    assert check_claims("red", "Which colour does the block have?", doc)["score"] == -1.0


def test_insert_node_before_a_node(video):
    def rerank(state, runtime):
        return {"trace": [{"node": "rerank", "attempt": 0}]}

    graph = insert_node(build_vot_graph(ablate=["propose_candidates"]), "rerank", rerank, before="analyze_actions")
    assert ("track", "rerank") in graph.edges and ("rerank", "analyze_actions") in graph.edges
    result = run_question(QUESTION, video_path=video, choices=CHOICES, context=context(), graph=graph)
    assert [n for n, _ in nodes_of(result.trace)][:4] == ["identify_targets", "track", "rerank", "analyze_actions"]
    with pytest.raises(ValueError, match="exactly one of after= or before="):
        insert_node(build_vot_graph(), "x", rerank, after="track", before="verify")
    with pytest.raises(ValueError, match="no such node"):
        insert_node(build_vot_graph(), "x", rerank, before="nope")


def test_a_second_question_on_a_thread_starts_clean(video, tmp_path):
    """The first question's verification loop excluded four answers and retried; the second
    question on the same thread must see none of its candidates, exclusions, retries or scores."""
    ctx = context(scores={" it enters the scene": 0.0, " it stops": -1.0}, evidence_weight=0.0, rate_candidates=False)
    db = tmp_path / "thread.sqlite"
    first = run_question(QUESTION, video_path=video, choices=CHOICES, context=ctx, db_path=db, thread_id="t")
    assert first.state["excluded_answers"] == [1, 2, 3, 4] and first.state["retries"] == 1
    second_choices = ["the blue square", "the green triangle"]
    second = run_question("Which object enters the scene first?", video_path=video, choices=second_choices,
                          context=context(), db_path=db, thread_id="t")
    assert second.state["excluded_answers"] == [] and second.state["retries"] == 0
    assert [row["text"] for row in second.state["candidate_scores"]] == second_choices
    assert second.answer == "the green triangle"
    assert [r["node"] for r in second.trace][0] == "identify_targets" and len(second.trace) == 5


def test_a_swapped_llm_that_does_not_fit_the_protocol_fails_when_loaded():
    from videothought.agent.llm import LanguageModelError

    class NoScore:
        name = "no-score"

        def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None):
            return "ok"

        def count_tokens(self, text):
            return 1

    with pytest.raises(LanguageModelError, match="score"):
        default_context(lm=NoScore(), encoder=None, proposer=None)
    fits = default_context(lm=FakeLanguageModel(), encoder=None, proposer=None)
    assert fits.lm.name
    from videothought.perception.text_match import EmbeddingMatcher

    assert isinstance(fits.matcher, EmbeddingMatcher)  # the text model ships with the embedded stack
    assert default_context(lm=FakeLanguageModel(), encoder=None, proposer=None, matcher=None).matcher is None


def test_a_follow_up_that_refers_back_keeps_the_previous_targets():
    ctx = context(llm_targets="fallback")
    state = {"question": "Which object does it hit after that?", "choices": [],
             "history": [{"question": "Which object enters first?", "answer": "the green triangle",
                          "targets": ["green triangle"]}]}
    found = nodes.identify_targets(state, Runtime(context=ctx))
    assert [t["phrase"] for t in found["targets"]] == ["green triangle"]  # "object" names no target of its own
    fresh = nodes.identify_targets({**state, "question": "What does the red circle do?"}, Runtime(context=ctx))
    assert [t["phrase"] for t in fresh["targets"]] == ["red circle"]  # a new subject: nothing carried over


def test_a_follow_up_looks_around_the_chat_s_latest_answer_moment():
    history = [{"question": "Which object enters first?", "answer": "the green triangle", "anchor_frame": 20},
               {"question": "What does it do then?", "answer": "nothing", "anchor_frame": None}]
    assert follow_up_frame({"question": "What does it do right after that?", "history": history}) == 20
    assert follow_up_frame({"question": "What does the red circle do?", "history": history}) is None
    assert follow_up_frame({"question": "What does it do next?", "history": []}) is None


def test_a_cached_stsg_from_an_older_event_detector_gets_its_events_detected_again(video, tmp_path):
    import json

    from videothought.graph.events import EVENTS_VERSION
    from videothought.perception.proposals import default_proposer

    first, _, _ = build_stsg(video, VoTContext(lm=None, proposer=default_proposer(), cache_dir=tmp_path))
    assert first["events_version"] == EVENTS_VERSION and first["events"], "the square moves: there are events"
    [cached] = (tmp_path / "stsg").glob("*.json")
    stale = json.loads(cached.read_text())
    stale.pop("events_version")
    stale["events"] = []  # what an older detector found
    cached.write_text(json.dumps(stale))
    again, _, _ = build_stsg(video, VoTContext(lm=None, proposer=default_proposer(), cache_dir=tmp_path))
    assert again["events"] == first["events"] and again["graph"] == first["graph"]
    assert json.loads(cached.read_text())["events_version"] == EVENTS_VERSION  # stored back
