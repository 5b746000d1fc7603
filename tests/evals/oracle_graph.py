"""Small, fast, real LangGraph graphs shaped like the VoT agent, for testing the runner.

They "perceive" by reading the world's ground truth (found from video_path) and make
deterministic, key-dependent mistakes, so every step metric has something to measure:

    h = sha256(video | question) as an integer
    identify_targets  the evidence objects (as predicted ids = truth + 100); h % 3 == 0:
                      drops one and adds a spurious id 999
    track             the truth's boxes on even frames, shifted 1 px, ids + 100; events kept
                      when h % 2 == 1
    analyze_actions   names the question's events ("the green triangle enters"), unless h % 5 == 0
    rank_answers      the right answer unless h % 4 == 0 (the next one) or excluded;
                      h % 11 == 0: answer_index -1 (unparsable)
    verify            passes right answers; rejects wrong ones unless h % 6 == 0; one retry

Each trace record carries a fixed latency (0.01 s x the node's position) so reports of two
runs are byte-identical when the graph's decisions are.
"""

from __future__ import annotations

import csv
import functools
import json
import time
import hashlib
from pathlib import Path

from langgraph.graph import END, START, StateGraph

from videothought.agent.state import TraceRecord, VoTState

ORDER = ("identify_targets", "track", "analyze_actions", "rank_answers", "verify")
OFFSET = 100


@functools.lru_cache(maxsize=8)
def _world(root: str) -> tuple[dict, dict]:
    rows = {(r["video"], r["question"]): r for r in csv.DictReader(open(Path(root) / "qa.csv"))}
    evidence = {}
    for line in open(Path(root) / "evidence.jsonl"):
        item = json.loads(line)
        evidence[(item["video"], str(item["qid"]))] = item
    return rows, evidence


def _truth(state: dict) -> tuple[dict, dict, dict, int]:
    video_path = Path(state["video_path"])
    root, video = video_path.parent.parent, video_path.stem
    rows, evidence = _world(str(root))
    row = rows[(video, state["question"])]
    stsg = json.loads((root / "stsg" / f"{video}.json").read_text())
    h = int(hashlib.sha256(f"{video}|{state['question']}".encode()).hexdigest(), 16)
    return row, evidence[(video, row["qid"])], stsg, h


def _record(node: str, state: dict, inputs: dict, outputs: dict, sleep: float) -> dict:
    if sleep:
        time.sleep(sleep)
    return TraceRecord(node=node, inputs=inputs, outputs=outputs, latency_seconds=0.01 * (ORDER.index(node) + 1),
                       attempt=int(state.get("retries", 0) or 0)).to_dict()


def make_nodes(sleep: float = 0.0, wrong_mod: int = 4):
    def identify_targets(state):
        _, evidence, _, h = _truth(state)
        ids = [i + OFFSET for i in evidence["object_ids"]]
        if h % 3 == 0:
            ids = ids[:-1] + [999] if len(ids) > 1 else ids + [999]
        targets = [{"phrase": f"object {i}", "track_ids": [i], "score": 1.0} for i in ids]
        return {"targets": targets, "trace": [_record("identify_targets", state, {}, {"targets": targets}, sleep)]}

    def track(state):
        _, _, truth, h = _truth(state)
        nodes = [
            dict(n, track_id=n["track_id"] + OFFSET, box=[c + 1 for c in n["box"]])
            for n in truth["graph"]["nodes"]
            if n["frame_index"] % 2 == 0
        ]
        events = [dict(e, track_ids=[t + OFFSET for t in e["track_ids"]]) for e in truth["events"]] if h % 2 else []
        stsg = dict(truth, graph={**truth["graph"], "nodes": nodes, "links": []}, events=events,
                    tracks={str(int(k) + OFFSET): v for k, v in truth["tracks"].items()})
        frames = sorted({n["frame_index"] for n in nodes})
        return {"stsg": stsg, "frame_indices": frames,
                "trace": [_record("track", state, {}, {"observations": len(nodes), "events": len(events)}, sleep)]}

    def analyze_actions(state):
        _, evidence, truth, h = _truth(state)
        labels = {int(k): v["label"] for k, v in truth["tracks"].items()}
        words = {"enter": "enters", "collide": "collides with"}
        if h % 5 == 0:
            text = "Nothing notable happens."
        else:
            text = " ".join(
                f"The {labels[e['track_ids'][0]]} {words.get(e['type'], e['type'])} "
                f"{'the ' + labels[e['track_ids'][1]] if len(e['track_ids']) > 1 else ''}."
                for e in evidence["events"]
            ) or "Objects stay where they are."
        return {"action_analysis": text, "trace": [_record("analyze_actions", state, {}, {"text": text}, sleep)]}

    def rank_answers(state):
        row, _, _, h = _truth(state)
        gold, n = int(row["answer"]), len(state["choices"])
        excluded = set(state.get("excluded_answers") or [])
        index = gold if h % wrong_mod else (gold + 1) % n
        while index in excluded:
            index = (index + 1) % n
        if h % 11 == 0:
            index = -1
        answer = state["choices"][index] if index >= 0 else "I am not sure"
        return {"answer": answer, "answer_index": index,
                "trace": [_record("rank_answers", state, {"excluded": sorted(excluded)},
                                  {"answer": answer, "answer_index": index}, sleep)]}

    def verify(state):
        row, _, _, h = _truth(state)
        index, retries = state["answer_index"], int(state.get("retries", 0) or 0)
        passed = index == int(row["answer"]) or h % 6 == 0
        route = None
        excluded = list(state.get("excluded_answers") or [])
        if not passed and retries < 1 and index >= 0:
            route, retries, excluded = "rank_answers", retries + 1, sorted(set(excluded) | {index})
        return {"verification": {"passed": passed, "route": route}, "retries": retries, "excluded_answers": excluded,
                "trace": [_record("verify", state, {"answer_index": index}, {"passed": passed, "route": route}, sleep)]}

    return {"identify_targets": identify_targets, "track": track, "analyze_actions": analyze_actions,
            "rank_answers": rank_answers, "verify": verify}


def build_oracle_graph(ablate=(), *, sleep: float = 0.0, wrong_mod: int = 4) -> StateGraph:
    """identify_targets -> track -> analyze_actions -> rank_answers -> verify (-> rank_answers once)."""
    functions = make_nodes(sleep=sleep, wrong_mod=wrong_mod)
    unknown = [n for n in ablate if n not in ORDER or n in ("rank_answers",)]
    if unknown:
        raise ValueError(f"cannot ablate {unknown}")
    kept = [n for n in ORDER if n not in ablate]
    graph = StateGraph(VoTState)
    for name in kept:
        graph.add_node(name, functions[name])
    graph.add_edge(START, kept[0])
    for a, b in zip(kept, kept[1:]):
        if a != "verify":
            graph.add_edge(a, b)
    if "verify" in kept:
        graph.add_conditional_edges("verify", lambda s: "rank_answers" if (s.get("verification") or {}).get("route") else END,
                                    ["rank_answers", END])
    else:
        graph.add_edge("rank_answers", END)
    return graph


def build_slow_oracle_graph(ablate=()):
    """Each node sleeps 40 ms: a kill lands inside questions, between checkpoints."""
    return build_oracle_graph(ablate, sleep=0.04)


def build_other_oracle_graph(ablate=()):
    """Answers differently (wrong when h % 3 == 0): traces first diverge at rank_answers."""
    return build_oracle_graph(ablate, wrong_mod=3)


def build_compiled_oracle_graph():
    """A factory returning an already compiled graph (no checkpointer): the runner adds its own."""
    return build_oracle_graph().compile()


def build_failing_graph(ablate=()):
    """analyze_actions raises on the colour questions: the runner must record an error, keep the
    steps that ran, and go on."""
    nodes = make_nodes()

    def analyze_actions(state):
        if state["question"].startswith("what colour"):
            raise RuntimeError("detector exploded on a square")
        return nodes["analyze_actions"](state)

    graph = StateGraph(VoTState)
    for name in ORDER:
        graph.add_node(name, analyze_actions if name == "analyze_actions" else nodes[name])
    graph.add_edge(START, "identify_targets")
    for a, b in zip(ORDER, ORDER[1:]):
        graph.add_edge(a, b)
    graph.add_edge("verify", END)
    return graph
