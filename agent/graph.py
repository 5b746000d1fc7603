"""The Video-of-Thought graph: its nodes in order, a bounded verification loop, and a
candidate-proposing step for open-ended questions. Two readers of the question:

reader="program": the LLM writes the question's program, the STSG executes it
(agent/program_nodes.py):

    START ─► track ─► identify_targets ─► analyze_actions ─┬─► rank_answers ─► verify ─► END
                          ▲  (writes the program)   (runs it) │ (choices == [])  ▲      │
                          │                                   └► propose_candidates      │
                          └──────── the program failed or refutes every option ◄─────────┘
                                    (retries sample another program; the best attempt is kept)

reader="rules" (DEFAULT_READER until the program writer measures better): the frozen baseline, a
hand-written English reader (agent/rules/: nodes.py, claims.py):

    START ─► identify_targets ─► track ─► analyze_actions ─┬─► rank_answers ─► verify ─► END
                                              ▲            │ (choices == [])   ▲   │
                                              │            └► propose_candidates┘   │ failed, retries left:
                                              └──────── cognition failed ◄─────────┤
                                                   rank_answers ◄── claim refuted ──┘

`build_vot_graph` returns the uncompiled StateGraph: replace a node (`nodes={"track": mine}`),
remove one (`ablate=["verify"]`, wired around), or add one with `insert_node`, then compile with
any checkpointer:

    app = build_vot_graph().compile(checkpointer=SqliteSaver(...))
    app.invoke({"question": ..., "choices": [...], "video_path": ...},
               config={"configurable": {"thread_id": "q1"}}, context=default_context())
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from langgraph.graph import END, START, StateGraph

from videothought.agent.rules import nodes as vot_nodes
from videothought.agent import program_nodes
from videothought.agent.context import VoTContext
from videothought.agent.state import VoTState

NODE_ORDER = ("identify_targets", "track", "analyze_actions", "propose_candidates", "rank_answers", "verify")
PROGRAM_ORDER = ("track", "identify_targets", "analyze_actions", "propose_candidates", "rank_answers", "verify")
READERS = ("program", "rules")
# The default reader. "rules" until the program writer measures at least as well on the world's
# wording and better on held-out wordings (issue 25; docs/results.md). $VIDEOTHOUGHT_READER overrides.
DEFAULT_READER = "rules"
READER_ENV_VAR = "VIDEOTHOUGHT_READER"


def default_reader() -> str:
    import os

    reader = os.environ.get(READER_ENV_VAR) or DEFAULT_READER
    if reader not in READERS:
        raise ValueError(f"${READER_ENV_VAR} must be one of {READERS}, got {reader!r}")
    return reader
REQUIRED = ("rank_answers",)  # the node that picks the answer cannot be removed


def build_vot_graph(
    *,
    nodes: dict[str, Callable] | None = None,
    max_retries: int = 2,
    ablate: list[str] | tuple = (),
    reader: str | None = None,
) -> StateGraph:
    """The uncompiled VoT StateGraph (state VoTState, context_schema VoTContext).

    nodes: replacement functions by node name, each `(state, runtime) -> dict`.
    max_retries: how many times verify may route back before the graph ends with its answer.
    ablate: node names to remove; the graph is wired around them (the eval runner's --ablate).
    reader: "program" (the LLM writes a program the STSG executes) or "rules" (the frozen
        hand-written reader, a baseline); None: `default_reader()`.
    """
    reader = reader or default_reader()
    if reader not in READERS:
        raise ValueError(f"reader must be one of {READERS}, got {reader!r}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
    if reader == "program":
        return _program_graph(nodes or {}, max_retries, list(ablate))
    functions = _checked_nodes(vot_nodes.NODES, nodes or {}, list(ablate), NODE_ORDER)
    order = [name for name in NODE_ORDER if name not in ablate]
    graph = _graph_of(functions, order, max_retries)

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


def _checked_nodes(functions: dict[str, Callable], replacements: dict[str, Callable], ablate: list[str],
                   order: tuple[str, ...]) -> dict[str, Callable]:
    functions = dict(functions)
    for name, function in replacements.items():
        if name not in functions:
            raise ValueError(f"unknown node {name!r} to replace; the graph's nodes are {list(order)} "
                             "(add new ones with insert_node)")
        if not callable(function):
            raise TypeError(f"node {name!r} must be a callable (state, runtime) -> dict, got {function!r}")
        functions[name] = function
    unknown = [name for name in ablate if name not in order]
    if unknown:
        raise ValueError(f"cannot ablate {unknown}: the graph's nodes are {list(order)}")
    for name in REQUIRED:
        if name in ablate:
            raise ValueError(f"cannot ablate {name!r}: it chooses the answer")
    return functions


def _graph_of(functions: dict[str, Callable], order: list[str], max_retries: int) -> StateGraph:
    """A StateGraph holding the nodes in `order` (verify given max_retries when it takes it); no edges yet."""
    graph = StateGraph(VoTState, context_schema=VoTContext)
    for name in order:
        function = functions[name]
        if name == "verify" and "max_retries" in inspect.signature(function).parameters:
            function = functools.wraps(function)(functools.partial(function, max_retries=max_retries))
        graph.add_node(name, function)
    return graph


def _program_graph(replacements: dict[str, Callable], max_retries: int, ablate: list[str]) -> StateGraph:
    """The program path (see the module docstring); verify routes back to the writer."""
    functions = _checked_nodes(program_nodes.NODES, replacements, ablate, PROGRAM_ORDER)
    order = [name for name in PROGRAM_ORDER if name not in ablate]
    graph = _graph_of(functions, order, max_retries)
    main = [name for name in order if name != "propose_candidates"]
    chain = [START] + main  # START, then the main nodes in order
    for before, after in zip(chain, chain[1:]):
        if after == "rank_answers" and "propose_candidates" in order:
            graph.add_conditional_edges(before, route_open_ended, {"propose": "propose_candidates",
                                                                   "rank": "rank_answers"})
            graph.add_edge("propose_candidates", "rank_answers")
        else:
            graph.add_edge(before, after)
    if "verify" in order:
        back = "identify_targets" if "identify_targets" in order else END
        graph.add_conditional_edges("verify", program_nodes.route_after_verify, {"identify_targets": back, "end": END})
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


def program_graph(**kwargs) -> StateGraph:
    """build_vot_graph(reader="program"): a factory for `vot eval --graph videothought.agent.graph:program_graph`."""
    return build_vot_graph(reader="program", **kwargs)


def rules_graph(**kwargs) -> StateGraph:
    """build_vot_graph(reader="rules"): the frozen rules reader, for `vot eval --graph ...:rules_graph`."""
    return build_vot_graph(reader="rules", **kwargs)
