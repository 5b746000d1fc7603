"""The Video-of-Thought graph: five nodes in order, a bounded verification loop, and a
candidate-proposing step for open-ended questions.

    START ─► identify_targets ─► track ─► analyze_actions ─┬─► rank_answers ─► verify ─► END
                                              ▲            │ (choices == [])   ▲   │
                                              │            └► propose_candidates┘   │ failed, retries left:
                                              └──────── cognition failed ◄─────────┤
                                                   rank_answers ◄── claim refuted ──┘

`build_vot_graph` returns the uncompiled StateGraph: replace a node (`nodes={"track": mine}`),
remove one (`ablate=["analyze_actions"]`, wired around), or add one with `insert_node`, then
compile with any checkpointer:

    app = build_vot_graph().compile(checkpointer=SqliteSaver(...))
    app.invoke({"question": ..., "choices": [...], "video_path": ...},
               config={"configurable": {"thread_id": "q1"}}, context=default_context())
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from langgraph.graph import END, START, StateGraph

from videothought.agent import nodes as vot_nodes
from videothought.agent.context import VoTContext
from videothought.agent.state import VoTState

NODE_ORDER = ("identify_targets", "track", "analyze_actions", "propose_candidates", "rank_answers", "verify")
REQUIRED = ("rank_answers",)  # the node that picks the answer cannot be removed


def build_vot_graph(
    *,
    nodes: dict[str, Callable] | None = None,
    max_retries: int = 2,
    ablate: list[str] | tuple = (),
) -> StateGraph:
    """The uncompiled VoT StateGraph (state VoTState, context_schema VoTContext).

    nodes: replacement functions by node name, each `(state, runtime) -> dict`.
    max_retries: how many times verify may route back before the graph ends with its answer.
    ablate: node names to remove; the graph is wired around them (the eval runner's --ablate).
    """
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
    functions = dict(vot_nodes.NODES)
    for name, function in (nodes or {}).items():
        if name not in functions:
            raise ValueError(f"unknown node {name!r} to replace; the graph's nodes are {list(NODE_ORDER)} "
                             "(add new ones with insert_node)")
        if not callable(function):
            raise TypeError(f"node {name!r} must be a callable (state, runtime) -> dict, got {function!r}")
        functions[name] = function
    unknown = [name for name in ablate if name not in NODE_ORDER]
    if unknown:
        raise ValueError(f"cannot ablate {unknown}: the graph's nodes are {list(NODE_ORDER)}")
    for name in REQUIRED:
        if name in ablate:
            raise ValueError(f"cannot ablate {name!r}: it chooses the answer")

    order = [name for name in NODE_ORDER if name not in ablate]
    graph = StateGraph(VoTState, context_schema=VoTContext)
    for name in order:
        function = functions[name]
        if name == "verify" and "max_retries" in inspect.signature(function).parameters:
            function = functools.wraps(function)(functools.partial(function, max_retries=max_retries))
        graph.add_node(name, function)

    main = [name for name in order if name != "propose_candidates"]
    graph.add_edge(START, main[0])
    for before, after in zip(main, main[1:]):
        if after == "rank_answers" and "propose_candidates" in order:
            graph.add_conditional_edges(before, route_open_ended, {"propose": "propose_candidates", "rank": "rank_answers"})
        else:
            graph.add_edge(before, after)
    if "propose_candidates" in order:
        if main[0] == "rank_answers":  # everything before ranking was ablated
            graph.edges.discard((START, "rank_answers"))
            graph.add_conditional_edges(START, route_open_ended, {"propose": "propose_candidates", "rank": "rank_answers"})
        graph.add_edge("propose_candidates", "rank_answers")
    if "verify" in order:
        back = {
            "analyze_actions": "analyze_actions" if "analyze_actions" in order else "rank_answers",
            "rank_answers": "rank_answers",
        }
        graph.add_conditional_edges("verify", route_after_verify, {**back, "end": END})
    else:
        graph.add_edge("rank_answers", END)
    return graph


def route_open_ended(state: dict) -> str:
    """Open-ended questions (no choices) get candidates proposed once, before the first ranking."""
    return "propose" if not state.get("choices") and not state.get("candidates") else "rank"


def route_after_verify(state: dict) -> str:
    """Back to the node verify named (it only names one while retries are left), else END."""
    route = (state.get("verification") or {}).get("route")
    return route if route in ("analyze_actions", "rank_answers") else "end"


def insert_node(graph: StateGraph, name: str, function: Callable, *, after: str | None = None,
                before: str | None = None) -> StateGraph:
    """Add node `name` on a plain edge: the one leaving `after`, or the one entering `before`
    (e.g. an OCR node after "track", or a re-ranker before "verify"). Give exactly one.

        after=A:   A ─► name ─► (what came after A)       A must have one plain outgoing edge
        before=B:  (what came before B) ─► name ─► B      B must have one plain incoming edge

    Conditional edges are not rewired: insert next to a node whose neighbour edge is plain.
    """
    if (after is None) == (before is None):
        raise ValueError(f"insert_node needs exactly one of after= or before=, got after={after!r}, before={before!r}")
    anchor = after if after is not None else before
    if anchor not in graph.nodes:
        raise ValueError(f"cannot insert {'after' if after else 'before'} {anchor!r}: no such node; nodes: {list(graph.nodes)}")
    if name in graph.nodes:
        raise ValueError(f"the graph already has a node named {name!r}")
    side = 0 if after is not None else 1
    plain = [edge for edge in graph.edges if edge[side] == anchor]
    if len(plain) != 1:
        where = "outgoing" if after is not None else "incoming"
        raise ValueError(f"cannot insert {'after' if after else 'before'} {anchor!r}: it has {len(plain)} plain {where} "
                         f"edges (conditional edges are not rewired); nodes: {list(graph.nodes)}")
    (source, target), = plain
    graph.add_node(name, function)
    graph.edges.discard((source, target))
    graph.add_edge(source, name)
    graph.add_edge(name, target)
    return graph
