"""Chat threads: questions about one video, answered by the VoT graph, every node's record kept.

    store = ChatStore(state_dir / "web.sqlite")
    service = ChatService(config, store, context_factory=lambda: default_context())
    thread = service.new_thread({"kind": "sample", "name": "bikes.mp4"})
    service.ask(thread["id"], "Which way do the objects move?", ["left", "right"])
    store.events_after(thread["id"], 0)      # turn, status, record..., visuals, answer (or error)

One chat thread is one LangGraph thread on a SqliteSaver file, so follow-ups see the earlier turns
(`history`) and an interrupted run continues from its last finished node: a turn that was running
when the server stopped is queued again at start, and a turn that failed (a backend that went
away mid-run) can be retried; both resume from the checkpoint instead of starting over.

Events are rows in SQLite (the page replays them after a reload, then follows new ones over
server-sent events). Each node announces itself as it starts (a "status" event naming the node:
the page shows what is running, not what last finished); its trace record follows when it ends.
The LLM's text while a node runs is not stored: it is a per-thread "live" buffer, labelled with
the running node, that the event stream sends as it grows, cleared when the node's record arrives.
A page that reloads or closes mid-run only drops its event stream: the run goes on in the worker,
and the reloaded page replays the stored events and follows the rest.

One worker thread runs the turns one at a time: the models live in one run context and a CPU
runs one graph at a time anyway.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import logging
import queue
import sqlite3
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videothought.web.config import WebConfig
from videothought.web.media import MediaError, probe_video, resolve_inside

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    id TEXT PRIMARY KEY, video_path TEXT NOT NULL, label TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL, question TEXT NOT NULL,
    choices TEXT NOT NULL, status TEXT NOT NULL, answer TEXT, targets TEXT, error TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL, turn_id INTEGER NOT NULL,
    kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_thread ON events (thread_id, seq);
"""
RUNNING = ("queued", "running")


class ChatError(ValueError):
    """A chat request that cannot be served (unknown thread, empty question, ...). The message is for the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ChatStore:
    """Threads, turns and their events in one SQLite file; safe to share between threads."""

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(str(path), check_same_thread=False)
        self._connection.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._connection.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _execute(self, sql: str, parameters: tuple = ()) -> sqlite3.Cursor:
        with self._lock, self._connection:
            return self._connection.execute(sql, parameters)

    def _rows(self, sql: str, parameters: tuple = ()) -> list[dict]:
        with self._lock:
            return [dict(row) for row in self._connection.execute(sql, parameters).fetchall()]

    # threads ----------------------------------------------------------------------------
    def add_thread(self, video_path: str, label: str) -> dict:
        thread = {"id": "web-" + uuid.uuid4().hex[:16], "video_path": video_path, "label": label, "created": time.time()}
        self._execute("INSERT INTO threads (id, video_path, label, created) VALUES (?, ?, ?, ?)",
                      (thread["id"], video_path, label, thread["created"]))
        return thread

    def thread(self, thread_id: str) -> dict:
        rows = self._rows("SELECT * FROM threads WHERE id = ?", (thread_id,))
        if not rows:
            raise ChatError(f"no chat thread {thread_id!r} (it may belong to another state folder)", status=404)
        return rows[0]

    def threads(self) -> list[dict]:
        """Every thread, newest first, with its number of turns and its first question (None before one)."""
        return self._rows("SELECT t.*, (SELECT COUNT(*) FROM turns WHERE thread_id = t.id) AS turns, "
                          "(SELECT question FROM turns WHERE thread_id = t.id ORDER BY id LIMIT 1) AS first_question "
                          "FROM threads t ORDER BY created DESC")

    # turns ------------------------------------------------------------------------------
    def add_turn(self, thread_id: str, question: str, choices: list[str]) -> int:
        cursor = self._execute("INSERT INTO turns (thread_id, question, choices, status, created) VALUES (?, ?, ?, ?, ?)",
                               (thread_id, question, json.dumps(choices), "queued", time.time()))
        return int(cursor.lastrowid)

    def turn(self, turn_id: int) -> dict:
        rows = self._rows("SELECT * FROM turns WHERE id = ?", (turn_id,))
        if not rows:
            raise ChatError(f"no turn {turn_id}", status=404)
        return _decode_turn(rows[0])

    def turns(self, thread_id: str) -> list[dict]:
        return [_decode_turn(row) for row in self._rows("SELECT * FROM turns WHERE thread_id = ? ORDER BY id", (thread_id,))]

    def unfinished_turns(self) -> list[dict]:
        return [_decode_turn(row) for row in self._rows("SELECT * FROM turns WHERE status IN (?, ?) ORDER BY id", RUNNING)]

    def set_turn(self, turn_id: int, **values) -> None:
        known = ("status", "answer", "targets", "error")
        if set(values) - set(known):
            raise ValueError(f"unknown turn columns {sorted(set(values) - set(known))}")
        values = {k: json.dumps(v) if k == "targets" else v for k, v in values.items()}
        assignments = ", ".join(f"{k} = ?" for k in values)
        self._execute(f"UPDATE turns SET {assignments} WHERE id = ?", (*values.values(), turn_id))

    # events -----------------------------------------------------------------------------
    def add_event(self, thread_id: str, turn_id: int, kind: str, payload: dict) -> int:
        text = json.dumps(payload, default=_json_default)
        return int(self._execute("INSERT INTO events (thread_id, turn_id, kind, payload) VALUES (?, ?, ?, ?)",
                                 (thread_id, turn_id, kind, text)).lastrowid)

    def events_after(self, thread_id: str, seq: int, limit: int = 500) -> list[dict]:
        rows = self._rows("SELECT * FROM events WHERE thread_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                          (thread_id, seq, limit))
        return [{"seq": r["seq"], "turn": r["turn_id"], "kind": r["kind"], "payload": json.loads(r["payload"])}
                for r in rows]


def _decode_turn(row: dict) -> dict:
    row["choices"] = json.loads(row["choices"])
    row["targets"] = json.loads(row["targets"]) if row.get("targets") else []
    return row


def _json_default(value: Any):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


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


def verification_summary(verification: dict | None) -> dict:
    """What the page says about an answer's check: `status` supported / refuted / unchecked (an
    answer nothing checked, or a state that does not say, is "unchecked": never "verified"),
    `source` program / llm (where the answer came from, when the state says) and the `reason`."""
    from videothought.agent.state import verdict

    return verdict(verification)


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


def friendly_error(error: BaseException) -> str:
    """One line for the page: what failed, in the words of the library's own error."""
    from videothought.agent.llm.protocol import LanguageModelError
    from videothought.perception.video import VideoError

    if isinstance(error, VideoError):
        return f"The video cannot be read: {getattr(error, 'problem', error)}"
    if isinstance(error, LanguageModelError):
        return f"The language model failed mid-run ({type(error).__name__}: {error}). Retry resumes from the last finished step."
    if isinstance(error, (MediaError, ChatError)):
        return str(error)
    return f"The run failed: {type(error).__name__}: {error}. Retry resumes from the last finished step."


class ChatService:
    """Creates threads, queues questions, and runs them on one worker thread.

    context_factory: builds the VoT run context once, on the first question (loading the
    embedded LLM takes seconds; the page shows it as a status line).
    """

    def __init__(self, config: WebConfig, store: ChatStore, *, context_factory: Callable[[], Any] | None = None):
        self.config = config
        self.store = store
        self.context_factory = context_factory or self._default_context
        self.live: dict[str, LiveText] = {}
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._context = None
        self._lm: StreamingLanguageModel | None = None
        self._graph = None
        self._saver_scope = None
        self._saver = None
        self._sessions: dict[str, Any] = {}
        self._worker: threading.Thread | None = None
        self.stopping = threading.Event()  # set when the server shuts down: event streams end at once

    # public API --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker; turns left running by a stopped server are queued again (they resume)."""
        from videothought.agent.run import sqlite_checkpointer

        self._saver_scope = sqlite_checkpointer(self.config.state_dir / "checkpoints.sqlite")
        self._saver = self._saver_scope.__enter__()
        for turn in self.store.unfinished_turns():
            logger.info("queueing the unfinished turn %d of %s again", turn["id"], turn["thread_id"])
            self._queue.put(turn["id"])
        self._worker = threading.Thread(target=self._work, name="vot-web-worker", daemon=True)
        self._worker.start()

    def stop(self, timeout_seconds: float = 1.0) -> None:
        """Stop taking turns. A run still going after `timeout_seconds` is left to die with the
        process (daemon thread); its turn stays "running" and resumes from its checkpoint at the next start."""
        self.stopping.set()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(timeout_seconds)
        if self._saver_scope is not None:
            self._saver_scope.__exit__(None, None, None)
            self._saver_scope = None

    def samples(self) -> dict[str, Path]:
        from videothought.perception.samples import available_samples

        return available_samples()

    def resolve_video(self, choice: dict) -> tuple[Path, str]:
        """(path, label) of {"kind": "sample"|"media", "name": ...}; MediaError when not allowed."""
        kind, name = (choice or {}).get("kind"), (choice or {}).get("name")
        if kind == "sample":
            samples = self.samples()
            if name not in samples:
                raise MediaError(f"no sample clip {name!r}; available: {sorted(samples)}")
            return samples[name], f"sample: {name}"
        if kind == "media":
            path = resolve_inside(self.config.media_dir, name)
            if not path.is_file():
                raise MediaError(f"{name!r} is not a file in the media folder", status=404)
            return path, name
        raise MediaError(f"pick a sample clip, a media file or an upload (got kind {kind!r})")

    def new_thread(self, choice: dict) -> dict:
        path, label = self.resolve_video(choice)
        return self.store.add_thread(str(path), label)

    def ask(self, thread_id: str, question: str, choices: list[str] | None = None) -> dict:
        self.store.thread(thread_id)  # raises for an unknown thread
        question = (question or "").strip()
        if not question:
            raise ChatError("the question is empty")
        choices = [str(c).strip() for c in (choices or []) if str(c).strip()]
        if len(choices) == 1:
            raise ChatError("give two or more choices, or none for an open question")
        busy = [t for t in self.store.turns(thread_id) if t["status"] in RUNNING]
        if busy:
            raise ChatError("this thread is still answering; wait for the answer (or open a new chat)", status=409)
        turn_id = self.store.add_turn(thread_id, question, choices)
        self.store.add_event(thread_id, turn_id, "turn", {"question": question, "choices": choices})
        self._queue.put(turn_id)
        return self.store.turn(turn_id)

    def retry(self, thread_id: str, turn_id: int) -> dict:
        """Run a failed turn again: it resumes from the last node its checkpoint holds."""
        turn = self.store.turn(turn_id)
        if turn["thread_id"] != thread_id:
            raise ChatError(f"turn {turn_id} is not in thread {thread_id}", status=404)
        if turn["status"] != "error":
            raise ChatError(f"turn {turn_id} is {turn['status']}, only a failed turn can be retried", status=409)
        self.store.set_turn(turn_id, status="queued", error=None)
        self.store.add_event(thread_id, turn_id, "status", {"text": "retrying: resuming from the last finished step"})
        self._queue.put(turn_id)
        return self.store.turn(turn_id)

    def live_text(self, thread_id: str) -> LiveText:
        return self.live.setdefault(thread_id, LiveText())

    # the worker ----------------------------------------------------------------------------
    def _default_context(self):
        from videothought.agent.context import default_context, load_lm

        overrides = {"lm": load_lm(self.config.lm)}
        if self.config.num_frames:
            overrides["num_frames"] = self.config.num_frames
        return default_context(**overrides)

    def _work(self) -> None:
        try:  # load the models before the first question arrives (the embedded stack takes seconds)
            self._load_models()
        except Exception as error:  # shown to the user with the first question, which tries again
            logger.warning("the models did not load at start: %s", error)
        while True:
            turn_id = self._queue.get()
            if turn_id is None:
                return
            try:
                self._run_turn(turn_id)
            except Exception:  # the worker must survive anything a turn does
                logger.exception("turn %s failed outside the run", turn_id)

    def _ensure_models(self, thread_id: str, turn_id: int) -> None:
        if self._context is None:
            self.store.add_event(thread_id, turn_id, "status", {"text": "loading the models (once per server)"})
            self._load_models()

    def _load_models(self) -> None:
        from videothought.agent.graph import build_vot_graph

        if self._context is not None:
            return
        context = self.context_factory()
        self._lm = StreamingLanguageModel(context.lm)
        self._context = context.with_overrides(lm=self._lm)
        self._graph = build_vot_graph(max_retries=self.config.max_retries)

    def _run_turn(self, turn_id: int) -> None:
        from videothought.agent.run import run_question

        turn = self.store.turn(turn_id)
        thread = self.store.thread(turn["thread_id"])
        thread_id = thread["id"]
        emit = functools.partial(self.store.add_event, thread_id, turn_id)
        live = self.live_text(thread_id)
        self.store.set_turn(turn_id, status="running")
        started = time.perf_counter()
        try:
            self._ensure_models(thread_id, turn_id)
            context = self._context_for(thread, emit)
            history = [{"question": t["question"], "answer": t["answer"], "targets": t["targets"]}
                       for t in self.store.turns(thread_id) if t["status"] == "done" and t["id"] < turn_id]
            emit("status", {"text": "running the graph"})
            live.clear(turn_id)
            self._lm.sink = lambda piece: live.append(turn_id, piece)

            def on_start(node: str) -> None:  # the page's status names it; its LLM text is labelled with it
                live.clear(turn_id, node)
                emit("status", {"text": f"running {node}", "node": node})

            def on_step(node: str, record) -> None:
                live.finish(turn_id, node)
                emit("record", {"node": node, "record": record.to_dict(), "text": _format_record(record)})

            with watching_node_starts(on_start):
                result = run_question(turn["question"], video_path=thread["video_path"], choices=turn["choices"],
                                      context=context, thread_id=thread_id, graph=self._graph,
                                      checkpointer=self._saver, history=history, on_step=on_step)
        except Exception as error:
            if self.stopping.is_set():  # the server is going down under the run: it resumes at the next start
                logger.info("turn %d of %s stopped with the server; it resumes at the next start", turn_id, thread_id)
                return
            logger.warning("turn %d of %s failed: %s", turn_id, thread_id, "".join(
                traceback.format_exception_only(type(error), error)).strip())
            live.clear(turn_id)
            message = friendly_error(error)
            self.store.set_turn(turn_id, status="error", error=message)
            emit("error", {"message": message, "retry": True})
            return
        finally:
            if self._lm is not None:
                self._lm.sink = None
        targets = [t.get("phrase") for t in result.state.get("targets", []) if t.get("track_ids")]
        emit("status", {"text": "drawing the frames that matter"})
        try:
            visuals = draw_visuals(result.state, thread["video_path"], self.config.state_dir / "pictures" / thread_id,
                                   prefix=f"turn{turn_id}", frames_shown=self.config.frames_shown)
            if visuals:
                emit("visuals", visuals)
        except Exception as error:  # pictures are a bonus: the answer stands without them
            logger.warning("could not draw the pictures of turn %d: %s", turn_id, error)
            emit("status", {"text": f"no pictures: {type(error).__name__}: {error}"})
        # Errors the nodes caught and worked around (a backend that failed, unparsable output):
        # the page repeats them under the answer so a fallback answer is not taken for the model's.
        warnings = [f"{record.get('node')}: {error}" for record in result.trace for error in record.get("errors", [])]
        # The turn is done before the page hears so: a page that reloads on the answer sees it done.
        self.store.set_turn(turn_id, status="done", answer=result.answer, targets=targets)
        emit("answer", {"answer": result.answer, "answer_index": result.answer_index, "warnings": warnings[:6],
                        "verification": verification_summary(result.verification), "llm_calls": result.llm_calls,
                        "graph_seconds": round(result.latency_seconds, 2),
                        "wall_seconds": round(time.perf_counter() - started, 2), "resumed": result.resumed})

    def _context_for(self, thread: dict, emit):
        """The run context for the thread's video: long videos are indexed once into the app's
        library (videothought.agent.session.Session) and questions retrieve segments; short ones
        are tracked per question."""
        path = Path(thread["video_path"])
        metadata = probe_video(path)
        if metadata["duration_seconds"] <= self.config.long_video_seconds:
            return self._context
        if str(path) not in self._sessions:
            from videothought.agent.session import Session

            library = self.config.state_dir / "library.sqlite"
            emit("status", {"text": f"indexing a {metadata['duration_seconds']:.0f} s video (once: the library "
                                    "keeps it)", "indexing": True})
            started = time.perf_counter()
            watcher = IndexProgress(library, path, emit)
            watcher.start()
            try:
                session = Session(path, context=self._context, library=library, checkpointer=self._saver)
            finally:
                watcher.stop()
            emit("status", {"text": f"indexed in {time.perf_counter() - started:.1f} s", "indexing": False})
            self._sessions[str(path)] = session
        return self._sessions[str(path)].context


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


def _format_record(record) -> str:
    """The record as `vot ask` prints it (videothought.agent.trace.format_trace)."""
    from videothought.agent.trace import format_trace

    return format_trace([record])


def draw_visuals(state: dict, video_path: str, folder: Path, *, prefix: str, frames_shown: int = 4) -> dict:
    """The frames that matter, with the grounded targets' boxes drawn, and the targets' STSG
    timeline, as PNG files in `folder`. Returns {"frames": [{"file", "frame_index"}],
    "timeline": file or None, "targets": [{"phrase", "track_ids"}]}, or {} without an STSG.

    Frames that matter: frames the graph looked at where a target track is observed, spread
    evenly; without grounded targets, the frames looked at, spread evenly, with every track."""
    import numpy as np
    from PIL import Image

    from videothought.graph.draw import draw_observations, plot_timeline
    from videothought.graph.stsg import STSG
    from videothought.perception.video import VideoReader

    document = state.get("stsg")
    if not document:
        return {}
    stsg = STSG.from_dict(document)
    targets = [{"phrase": t.get("phrase"), "track_ids": [int(i) for i in t.get("track_ids", [])]}
               for t in state.get("targets", [])]
    target_ids = sorted({i for t in targets for i in t["track_ids"] if i in stsg.track_ids})
    shown = stsg.subgraph(target_ids) if target_ids else stsg
    looked_at = [int(i) for i in state.get("frame_indices") or stsg.frame_indices]
    observed = sorted({o.frame_index for o in shown.observations()} & set(looked_at)) if target_ids else looked_at
    candidates = observed or looked_at
    if not candidates:
        return {}
    picks = sorted({candidates[int(round(k))] for k in np.linspace(0, len(candidates) - 1, min(frames_shown, len(candidates)))})
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    with VideoReader(video_path, max_side=480, allow_truncated=True) as reader:
        batch = reader.get_frames(picks)
        for frame, frame_index in zip(batch.frames, picks):
            name = f"{prefix}-frame{frame_index}.png"
            Image.fromarray(draw_observations(frame, shown, frame_index)).save(folder / name)
            frames.append({"file": name, "frame_index": frame_index,
                           "seconds": round(frame_index / stsg.fps, 2) if stsg.fps else None})
    timeline = None
    if shown.track_ids:
        timeline = f"{prefix}-timeline.png"
        title = "targets' timeline" if target_ids else None
        plot_timeline(shown, folder / timeline, title=title)
    return {"frames": frames, "timeline": timeline, "targets": targets}
