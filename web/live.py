"""What the page sees while a turn runs: the LLM's text as it is written, the node that is
running, and a long video's indexing progress. None of it is stored; it is read live.

    live = LiveText()                         # per thread: the running node's text, versioned
    with watching_node_starts(on_start):      # on_start(node) as each LangGraph node starts
        run_question(...)
    lm = StreamingLanguageModel(context.lm)   # every generated piece also goes to lm.sink
    IndexProgress(library, video, emit)       # "indexing: k of n segments", read from SQLite
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

@dataclass
class LiveText:
    """What the LLM has written so far in the node that is running (not stored; cleared per node),
    and which node that is."""

    turn: int = 0
    node: str | None = None
    text: str = ""
    version: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def append(self, turn: int, piece: str) -> None:
        with self.lock:
            if turn != self.turn:
                self.turn, self.text, self.node = turn, "", None
            self.text += piece
            self.version += 1

    def clear(self, turn: int, node: str | None = None) -> None:
        """Empty the buffer; `node` is the node whose text comes next (None between nodes)."""
        with self.lock:
            self.turn, self.text, self.node = turn, "", node
            self.version += 1

    def finish(self, turn: int, node: str) -> None:
        """`node`'s record arrived: its text is done (the next node's, if it already started, stays)."""
        with self.lock:
            if self.turn != turn or self.node in (node, None):
                self.turn, self.text, self.node = turn, "", None
                self.version += 1

    def snapshot(self) -> dict:
        """{"version", "turn", "node", "text"} at one moment."""
        with self.lock:
            return {"version": self.version, "turn": self.turn, "node": self.node, "text": self.text}


_NODE_STARTS = contextvars.ContextVar("videothought_web_node_starts", default=None)
_node_starts_hook = threading.Lock()
_node_starts_registered = False


def watching_node_starts(on_start: Callable[[str], None]):
    """A context manager: inside it, every LangGraph node that starts (of any graph, whatever its
    nodes) calls `on_start(node name)` before it runs, so the page can say which node is running.

    It is a LangChain callback handler, added to every run started in this context through
    langchain_core's `register_configure_hook` (the mechanism tracers use): `run_question` and the
    graph stay as they are. A node's own run is the one whose name is its `langgraph_node`."""
    global _node_starts_registered
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.tracers.context import register_configure_hook

    with _node_starts_hook:
        if not _node_starts_registered:
            register_configure_hook(_NODE_STARTS, inheritable=True)
            _node_starts_registered = True

    class NodeStarts(BaseCallbackHandler):
        run_inline = True  # called in the node's thread, before the node runs

        def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, tags=None, metadata=None,
                           **kwargs) -> None:
            node = (metadata or {}).get("langgraph_node")
            if node and kwargs.get("name") == node:
                on_start(node)

    @contextlib.contextmanager
    def scope():
        token = _NODE_STARTS.set(NodeStarts())
        try:
            yield
        finally:
            _NODE_STARTS.reset(token)

    return scope()


class StreamingLanguageModel:
    """The run context's LLM, with every generated piece also sent to `sink` (the page).

    Generation goes through videothought.agent.llm.protocol.call_generate, so a backend that
    streams (`on_text`) feeds the page token by token and one that does not still shows its
    reply once it is complete. `generate` takes the keywords the wrapped model's `generate` takes
    (and `on_text`): a caller that asks whether the model takes one (the program writer asks for
    `json_schema`) gets the wrapped model's answer. Everything else is the wrapped model's."""

    def __init__(self, lm):
        self._lm = lm
        self.sink: Callable[[str], None] | None = None
        self.generate = self._mirrored_generate()

    @property
    def wrapped(self):
        return self._lm

    def _mirrored_generate(self) -> Callable:
        """`_generate` under the wrapped generate's signature, with `on_text` added when it lacks one."""
        try:
            signature = inspect.signature(self._lm.generate)
        except (TypeError, ValueError):  # a builtin or C callable: take anything, as it may
            return self._generate
        parameters = list(signature.parameters.values())
        kinds = {p.kind for p in parameters}
        if "on_text" not in signature.parameters and inspect.Parameter.VAR_KEYWORD not in kinds:
            on_text = inspect.Parameter("on_text", inspect.Parameter.KEYWORD_ONLY, default=None)
            parameters.append(on_text)

        def generate(messages, *args, **kwargs):
            return self._generate(messages, *args, **kwargs)

        generate.__signature__ = signature.replace(parameters=parameters)
        return generate

    def _generate(self, messages, *args, on_text=None, **kwargs):
        from videothought.agent.llm.protocol import call_generate

        sink = self.sink

        def forward(piece: str) -> None:
            if on_text is not None:
                on_text(piece)
            if sink is not None:
                sink(piece)

        wanted = on_text is not None or sink is not None
        if args:  # keywords given by position: name them, as the wrapped signature does
            bound = inspect.signature(self._lm.generate).bind_partial(messages, *args)
            kwargs = {**{k: v for k, v in bound.arguments.items() if k != "messages"}, **kwargs}
        return call_generate(self._lm, messages, on_text=forward if wanted else None, **kwargs)

    def score(self, prompt, continuations, **kwargs):
        return self._lm.score(prompt, continuations, **kwargs)

    def count_tokens(self, text):
        return self._lm.count_tokens(text)

    def __getattr__(self, name):  # name, accepts_frames, adapter_names, use_adapter, ...
        return getattr(self._lm, name)


class IndexProgress:
    """Reports "indexing: k of n segments" while a Session indexes a video, by reading the
    library's SQLite file (its `videos` and `segments` tables; one transaction per segment) from
    a second connection once a second. Reading only: the indexer is not slowed or changed."""

    def __init__(self, library: Path, video_path: Path, emit, interval_seconds: float = 1.0):
        self.library, self.video_path, self.emit = library, str(video_path), emit
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="vot-web-index-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _count(self) -> tuple[int, int] | None:
        if not self.library.is_file():
            return None
        try:
            connection = sqlite3.connect(f"file:{self.library}?mode=ro", uri=True, timeout=0.5)
            try:
                row = connection.execute(
                    "SELECT v.num_segments, (SELECT COUNT(*) FROM segments s WHERE s.video_id = v.video_id) "
                    "FROM videos v WHERE v.path = ? ORDER BY v.video_id DESC LIMIT 1", (self.video_path,)).fetchone()
            finally:
                connection.close()
        except sqlite3.Error:  # not created yet, locked, or another schema: no progress line, no harm
            return None
        return (int(row[1]), int(row[0])) if row else None

    def _watch(self) -> None:
        last = None
        while not self._stop.wait(self.interval_seconds):
            counts = self._count()
            if counts and counts != last:
                last = counts
                self.emit("status", {"text": f"indexing: {counts[0]} of {counts[1]} segments", "indexing": True,
                                     "done": counts[0], "total": counts[1]})
