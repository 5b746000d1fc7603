"""The Video-of-Thought nodes on the program path: the LLM writes the question's program, the STSG
executes it, and the answer says where it came from and whether anything checked it.

    track              perception: the STSG of the video (or an indexed long video's retrieved
                       segments), and the names its perception can give
    identify_targets   VoT step 1: the LLM (its "writer" adapter when it has one) reads the question
                       and options into a program (agent/writer.py), constrained to the language's
                       JSON Schema; the program's descriptions grounded to tracks are the targets
    analyze_actions    the program runs on the STSG (graph/execute.py): the executed steps are the
                       analysis; each option's value is scored against what it found (graph/options.py)
    propose_candidates open questions: the executed value said as a user would ("the blue star")
    rank_answers       the option the program supports; where it supports none or several, the LLM's
                       preference (one batched score) decides among them, and the answer is unchecked
    verify             the verdict, three-valued: supported (the STSG agrees with this answer and no
                       other), refuted (it contradicts it), unchecked (nothing could check it). A
                       program that failed or found nothing the options say sends the graph back to
                       the writer for another program (sampled), at most `max_retries` times; the
                       best attempt is kept, so a retry never replaces a supported answer

Every node is a plain `(state, runtime) -> dict`; state stays JSON-safe (the program and its
execution are dicts). Nothing here knows a benchmark: the names come from the scene, the reading
from the LLM, the answer from the executor.
"""

from __future__ import annotations

import math

from videothought.agent.steps import _step, candidates_of, llm_score, text_streamer, watch_frames
from videothought.agent.writer import write_program
from videothought.graph.execute import Executor
from videothought.graph.ground import SceneNames
from videothought.graph.program import ProgramError, describe, parse_program
from videothought.graph.query import SceneQuery
from videothought.graph.values import Execution, value_text

SUPPORTED = 0.5  # an option scored at least this by the executor is supported by the STSG
RETRY_TEMPERATURE = 0.7  # a retried writing samples: the greedy program already failed
STATUS_RANK = {"supported": 3, "unchecked": 2, "refuted": 1}


def _scene(state: dict) -> SceneQuery:
    return SceneQuery.from_document(state.get("stsg"))


def _executor(state: dict, context) -> Executor:
    history = [{"tracks": h.get("track_ids") or [], "frame": h.get("anchor_frame")}
               for h in state.get("history") or []]
    return Executor(_scene(state), matcher=getattr(context, "matcher", None), history=history)


# ---- perception -----------------------------------------------------------------------------------
def track(state: dict, runtime) -> dict:
    """The STSG of the video's frames (or of an indexed long video's retrieved segments)."""
    from videothought.agent.followup import follow_up_frame
    from videothought.agent.perceive import build_stsg

    context = runtime.context
    with _step("track", state) as record:
        record.inputs = {"video_path": state.get("video_path")}
        update: dict = {}
        if context.index is not None:
            anchor = follow_up_frame(state)
            doc, segment_ids = context.index.retrieve(state["question"], [], k=context.settings.segments_per_question,
                                                      **({"around_frame": anchor} if anchor is not None else {}))
            update["segments"] = segment_ids
            frame_indices = sorted({int(n["frame_index"]) for n in doc.get("graph", {}).get("nodes", [])})
            fps = float((doc.get("video") or {}).get("fps") or 25.0)
        else:
            # the program path grounds by the scene's names: no region embeddings to compute
            doc, frame_indices, fps = build_stsg(state["video_path"], context.with_overrides(encoder=None))
        scene = SceneQuery.from_document(doc)
        names = SceneNames.from_query(scene).text()
        record.outputs = {"num_tracks": len(scene.tracks), "num_events": len(doc.get("events", [])), "names": names,
                          **({"segments": update["segments"]} if "segments" in update else {})}
    update.update({"stsg": doc, "frame_indices": [int(f) for f in frame_indices], "fps": float(fps),
                   "scene_names": names, "trace": [record.to_dict()]})
    return update


# ---- VoT step 1: the program ------------------------------------------------------------------------
def identify_targets(state: dict, runtime) -> dict:
    """The question (and options) read into a program by the LLM; its object descriptions grounded."""
    context = runtime.context
    question, choices = state["question"], list(state.get("choices") or [])
    attempt = int(state.get("attempt", 0) or 0)
    with _step("identify_targets", state) as record:
        record.inputs = {"question": question, "choices": choices, "names": state.get("scene_names", "")}
        samples = int(getattr(context.settings, "program_samples", 1)) if attempt == 0 else 1
        names = state.get("scene_names", "")
        kwargs = dict(history=state.get("history"), temperature=0.0 if attempt == 0 else RETRY_TEMPERATURE,
                      seed=attempt or None, frames=watch_frames(state, context),
                      on_text=text_streamer(runtime, "identify_targets"))
        writer = getattr(context, "writer", None)
        if writer is not None:
            found = writer(context.lm, question, choices, names, samples=samples, **kwargs)
        elif samples > 1:
            kwargs.pop("temperature")
            found = write_samples(context.lm, question, choices, names, samples=samples, **kwargs)
        else:
            found = write_program(context.lm, question, choices, names, **kwargs)
        writings = list(found) if isinstance(found, (list, tuple)) else [found]
        written = writings[0]  # the greedy program: the one the trace reads
        record.prompts.append("\n".join(f"[{m['role']}] {m['content']}" for m in written.prompt)[-1500:])
        record.llm_calls += written.calls if written.prompt else 0  # the (batched) write, and the option pass; a program handed in cost none here
        record.prompt_tokens += written.prompt_tokens
        record.completion_tokens += sum(w.completion_tokens for w in writings)
        targets = []
        if written.program is not None:
            executor = _executor(state, context)
            grounder = executor.grounder
            for step in written.program.steps:
                if step.op == "recall" and step.args.get("what") == "object":
                    targets += _recalled_targets(executor)  # "it": the earlier answer's object, by its name
                    continue
                descriptions = [{k: v for k, v in step.args.items() if k in ("name", "adj")}] \
                    if step.op in ("find", "filter") else []
                descriptions += [step.args["with"]] if step.args.get("with") else []
                for description in descriptions:
                    found = grounder.ground(description)
                    targets.append({"phrase": describe(description), "track_ids": list(found.track_ids),
                                    "score": 1.0 if found.track_ids else 0.0, "source": "program",
                                    **({"unknown": found.unknown} if found.unknown else {})})
        else:
            record.errors.append(written.error or "no program")
        record.outputs = {"program": written.program.to_text() if written.program else None,
                          "reply": written.text, "style": written.style, "constrained": written.constrained,
                          "targets": [t["phrase"] for t in targets],
                          **({"samples": [w.program.to_text() if w.program else w.error for w in writings[1:]]}
                             if len(writings) > 1 else {})}
    return {"program": written.program.to_dict() if written.program else None, "program_error": written.error,
            "programs": [w.program.to_dict() if w.program else None for w in writings],
            "targets": targets, "trace": [record.to_dict()]}


def _recalled_targets(executor: Executor) -> list[dict]:
    """The objects a `recall` step brings back (the latest earlier answer's, still in view), as targets
    named by what perception calls them."""
    turn, scene = executor.latest_answer(), executor.scene
    tracks = [t for t in (turn["tracks"] if turn else []) if t in scene.tracks]
    return [{"phrase": scene.tracks[t].name, "track_ids": [t], "score": 1.0, "source": "recall"} for t in tracks]


# ---- executing it ----------------------------------------------------------------------------------
def _execute(state: dict, context) -> tuple[Execution | None, Executor, list]:
    doc = state.get("program")
    executor = _executor(state, context)
    if not doc:
        return None, executor, []
    try:
        program = parse_program(doc)
    except ProgramError as error:  # a program from an older checkpoint or a hand-edited state
        return Execution(None, "unknown", f"the program is not valid: {error}"), executor, []
    execution = executor.run(program)
    return execution, executor, program.options or []


def analyze_actions(state: dict, runtime) -> dict:
    """Run the program on the STSG; score every option's value against what it found."""
    context = runtime.context
    with _step("analyze_actions", state) as record:
        execution, executor, options = _execute(state, context)
        if execution is None:
            reason = state.get("program_error") or "no program was written"
            summary = {"status": "unknown", "reason": reason, "steps": [], "tracks": [], "frames": []}
            scores: list = [None] * len(candidates_of(state))
            answer_text = None
        else:
            summary = execution.to_dict()
            scores = executor.score_options(execution, options) if options else []
            answer_text = value_text(execution.value, execution.scene or executor.scene) \
                if execution.status == "ok" and execution.value is not None else None
        analysis = execution.text() if execution is not None else f"unknown: {summary['reason']}"
        votes = _votes(state, context, len(candidates_of(state)))
        if votes is not None:  # self-consistency: the options as the written programs vote for them
            record.outputs["own_scores"] = scores
            scores = votes
            analysis += f"\nvotes of {len(state.get('programs') or [])} programs: {votes}"
        record.inputs = {"program": (state.get("program") or {}).get("program")}
        record.outputs.update({"execution": summary, "option_scores": scores, "answer_text": answer_text})
        if summary["status"] != "ok":
            record.errors.append(f"the program could not be executed: {summary['reason']}")
    return {"execution": summary, "option_scores": [None if s is None else round(float(s), 4) for s in scores],
            "value_text": answer_text, "action_analysis": analysis, "trace": [record.to_dict()]}


def _votes(state: dict, context, num_options: int) -> list[float] | None:
    """With several programs (settings.program_samples), each option's share of the programs that pick
    an option alone (a unique supported one); None with one program or when no program picks any."""
    documents = [d for d in state.get("programs") or [] if d]
    if len(state.get("programs") or []) < 2 or not num_options:
        return None
    picks = []
    for document in documents:
        try:
            program = parse_program(document)
        except ProgramError:
            continue
        executor = _executor(state, context)
        among, status, _ = decide(executor.score_options(executor.run(program), program.options or []))
        if status == "supported":
            picks.append(among[0])
    if not picks:
        return None
    return [round(picks.count(i) / len(picks), 4) for i in range(num_options)]


def propose_candidates(state: dict, runtime) -> dict:
    """Open questions: the executed value, said as a user would, is the candidate; when the program
    found nothing, the LLM's short answer (which nothing checks)."""
    from videothought.agent import prompts
    from videothought.agent.steps import generate_parsed

    context = runtime.context
    with _step("propose_candidates", state) as record:
        text = state.get("value_text")
        source = "program"
        if not text:
            source = "llm"
            text = generate_parsed(
                context.lm, lambda strict: prompts.answer_context(state["question"], state.get("partial_stsg") or
                                                                  "", "", state.get("history")),
                lambda reply: " ".join(reply.split()) or None, record, 24, 0, "open answer",
                frames=watch_frames(state, context), on_text=text_streamer(runtime, "propose_candidates"))
            text = text or "I cannot tell"
        record.outputs = {"candidates": [text], "source": source}
    return {"candidates": [text], "option_scores": [1.0 if source == "program" else None],
            "trace": [record.to_dict()]}


# ---- choosing and checking --------------------------------------------------------------------------
def _llm_prior(state: dict, context, record, among: list[int]) -> list[float] | None:
    """The LLM's log-likelihood per token of each option in `among`, given the question (one batched call)."""
    from videothought.agent import prompts

    candidates = candidates_of(state)
    continuations = [" " + candidates[i] for i in among]
    scores = llm_score(context.lm, prompts.answer_context(state["question"], state.get("action_analysis") or "",
                                                          "", state.get("history")),
                       continuations, record, frames=watch_frames(state, context))
    if scores is None:
        return None
    return [s / max(1, _token_count(context.lm, c)) for s, c in zip(scores, continuations)]


def _token_count(lm, text: str) -> int:
    try:
        return int(lm.count_tokens(text))
    except Exception:
        return len(text.split())


def decide(scores: list) -> tuple[list[int], str, str]:
    """(the options left to choose among, status, reason) from the executor's option scores."""
    checked = [(i, s) for i, s in enumerate(scores) if s is not None]
    if not checked:
        return list(range(len(scores))), "unchecked", "nothing in the STSG could check the options"
    best = max(s for _, s in checked)
    leaders = [i for i, s in checked if math.isclose(s, best, abs_tol=1e-9)]
    if best >= SUPPORTED:
        if len(leaders) == 1:
            return leaders, "supported", "the program's value agrees with this option and with no other"
        return leaders, "unchecked", f"the program's value fits {len(leaders)} options alike"
    if best > 0:
        return leaders, "unchecked", "the STSG only weakly agrees with any option"
    return leaders, "refuted", "the program's value contradicts every option"


def rank_answers(state: dict, runtime) -> dict:
    """The option the program supports; the LLM's preference decides only among options the program
    cannot tell apart (and then the answer is unchecked)."""
    context = runtime.context
    candidates = candidates_of(state)
    scores = list(state.get("option_scores") or [None] * len(candidates))
    scores += [None] * (len(candidates) - len(scores))
    with _step("rank_answers", state) as record:
        record.inputs = {"candidates": candidates, "option_scores": scores}
        if not candidates:
            record.errors.append("no candidates to rank")
            return {"answer": "", "answer_index": -1, "candidate_scores": [], "trace": [record.to_dict()]}
        among, status, reason = decide(scores)
        source = "program" if status == "supported" or any(s is not None for s in scores) else "llm"
        prior = None
        if len(among) > 1:
            prior = _llm_prior(state, context, record, among)
            source = "program+llm" if source == "program" else "llm"
        if prior is not None:
            choice = among[max(range(len(among)), key=lambda k: prior[k])]
        else:
            choice = among[0]
            if len(among) > 1:
                record.errors.append("the LLM could not score the options; taking the first of those left")
        rows = [{"index": i, "text": c, "program_score": scores[i],
                 "llm_score": (round(prior[among.index(i)], 4) if prior is not None and i in among else None)}
                for i, c in enumerate(candidates)]
        record.outputs = {"answer": candidates[choice], "answer_index": choice, "status": status, "source": source,
                          "reason": reason, "among": among}
    return {"candidate_scores": rows, "answer": candidates[choice], "answer_index": choice,
            "verdict": {"status": status, "source": source, "reason": reason}, "trace": [record.to_dict()]}


def _focus(state: dict, answer_index: int) -> dict:
    """The tracks and moment the answer is about, for a later turn's "it" and "after that": the
    executed value's objects (those the chosen option names, when it names some) or event."""
    execution = state.get("execution") or {}
    steps = execution.get("steps") or []
    if not steps or execution.get("status") != "ok":
        return {"track_ids": [], "frame": None}
    last = steps[-1]
    frames = [f for s in steps for f in s.get("frames") or []]
    tracks = list(last.get("tracks") or [])
    if last.get("type") in ("event", "prediction") and tracks:
        # an event is about its subject, or about the object the question asked after when that is its
        # partner: after "what does it do next?", an answer naming another thing keeps "it" the same object
        topic = next((s.get("tracks") or [] for s in steps if s.get("type") == "objects"), [])
        tracks = [t for t in tracks if t in topic][:1] or tracks[:1]
    if last.get("type") == "objects" and answer_index >= 0:
        program = state.get("program") or {}
        options = program.get("options") or []
        if answer_index < len(options) and "object" in options[answer_index]:
            named = set(_executor(state, None).grounder.ground(options[answer_index]["object"]).track_ids)
            tracks = sorted(named & set(tracks)) or tracks
    return {"track_ids": tracks, "frame": frames[-1] if frames else None}


def verify(state: dict, runtime, *, max_retries: int = 2) -> dict:
    """The three-valued verdict; back to the writer for another program while retries are left and
    the program failed or refutes every option. The best attempt so far is what the graph ends with."""
    retries = int(state.get("retries", 0) or 0)
    with _step("verify", state) as record:
        verdict = dict(state.get("verdict") or {"status": "unchecked", "source": "llm", "reason": "no verdict"})
        attempt = {"answer": state.get("answer", ""), "answer_index": int(state.get("answer_index", -1)),
                   "verdict": verdict, "program": state.get("program"), "execution": state.get("execution"),
                   "option_scores": state.get("option_scores"), "candidate_scores": state.get("candidate_scores")}
        attempts = list(state.get("attempts") or []) + [attempt]
        best = max(attempts, key=lambda a: (STATUS_RANK[a["verdict"]["status"]],
                                            a["verdict"]["source"] != "llm", -attempts.index(a)))
        program_failed = (state.get("execution") or {}).get("status") != "ok"
        route = None
        if best["verdict"]["status"] != "supported" and retries < max_retries and \
                (program_failed or verdict["status"] == "refuted"):
            route = "identify_targets"
            retries += 1
        update = {"answer": best["answer"], "answer_index": best["answer_index"]}
        if best is not attempt:  # an earlier attempt stays the answer
            update.update({key: best[key] for key in ("program", "execution", "option_scores", "candidate_scores")})
        focus = _focus({**state, **update}, best["answer_index"])
        verification = {**best["verdict"], "passed": best["verdict"]["status"] == "supported", "route": route,
                        "attempts": len(attempts), "focus": focus}
        record.inputs = {"answer": state.get("answer"), "verdict": verdict}
        record.outputs = {"status": verification["status"], "source": verification["source"],
                          "reason": verification["reason"], "route": route, "answer": best["answer"]}
    return {**update, "verification": verification, "attempts": attempts, "retries": retries, "attempt": retries,
            "trace": [record.to_dict()]}


def route_after_verify(state: dict) -> str:
    route = (state.get("verification") or {}).get("route")
    return route if route == "identify_targets" else "end"


NODES = {
    "track": track,
    "identify_targets": identify_targets,
    "analyze_actions": analyze_actions,
    "propose_candidates": propose_candidates,
    "rank_answers": rank_answers,
    "verify": verify,
}
