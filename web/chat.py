"""Chat turns run: questions about one video, answered by the VoT graph on one worker thread,
every node's record kept (in web/threads.py's store; what runs is shown live by web/live.py).

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

import functools
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from videothought.web.config import WebConfig
from videothought.web.live import IndexProgress, LiveText, StreamingLanguageModel, watching_node_starts
from videothought.web.media import MediaError, probe_video, resolve_inside
from videothought.web.threads import RUNNING, ChatError, ChatStore

logger = logging.getLogger(__name__)

def verification_summary(verification: dict | None) -> dict:
    """What the page says about an answer's check: `status` supported / refuted / unchecked (an
    answer nothing checked, or a state that does not say, is "unchecked": never "verified"),
    `source` program / llm (where the answer came from, when the state says) and the `reason`."""
    from videothought.agent.state import verdict

    return verdict(verification)


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
