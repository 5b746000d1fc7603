"""Long videos: index once into a library, then ask and chat.

    session = Session("hour.mp4")                    # indexes (or finds it in the library)
    session.ask("What colour is the car that stops?", choices=[...]).answer
    session.chat("Which person walks in first?")              # -> "the man in red"
    session.chat("What does he do right after that?")         # "he" = the previous answer's person
    Session(library="videos.sqlite").ask("...")     # across every video of a library

The index lives in a SQLite library (videothought.library.Library; by default
~/.cache/videothought/sessions/library.sqlite): per segment the tracker's STSG (frame numbers of
the whole video), a text summary, MiniLM and clip embeddings, and the STSG's tracks and events
as rows. A second Session on the same file costs only the file's SHA-256; an interrupted index
continues where it stopped; an unreadable library file is moved aside and rebuilt (logged).

A question retrieves the few segments whose objects and events it names and the graph runs on
their STSGs only: after indexing, the cost of a question does not grow with the video's length.

A session is one LangGraph thread (`session.thread_id`); every turn is checkpointed on it and
`session.history` is what follow-ups see: per turn the question, the answer, the object phrases
the turn was about (the answer's own object when the answer names a tracked object), and the
segments it looked at.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

from videothought.graph.segments import segment_facts
from videothought.graph.words import RESTATED_SUBJECTS, terms
from videothought.library.retrieval import BoundIndex
from videothought.library.store import Library, file_sha256
from videothought.perception.indexing import IndexSettings

logger = logging.getLogger(__name__)

LIBRARY_FILE = "library.sqlite"


def default_cache_dir() -> Path:
    from videothought.agent.llm import cache_root

    return cache_root() / "sessions"


def answer_object(answer: str, doc: dict | None, names_object=None) -> str | None:
    """The answer as an object phrase when every content word of it is a word of one tracked
    object's label or attributes ("the red circle" -> "red circle"), in this turn's STSG or, with
    `names_object` (BoundIndex.names_object), anywhere in the video; None otherwise (an action)."""
    if answer_tracks(answer, doc) or (terms(answer) and names_object is not None and names_object(answer)):
        return re.sub(r"^(the|a|an)\s+", "", answer.strip().rstrip(".?!"), flags=re.IGNORECASE)
    return None


def answer_tracks(answer: str, doc: dict | None) -> list[int]:
    """The tracks of this STSG whose label and attributes hold every content word of the answer."""
    words = set(terms(answer))
    if not words or not doc:
        return []
    return [track["track_id"] for track in segment_facts(doc)[0] if words <= set(track["terms"])]


_AUXILIARIES = ("does", "do", "did", "is", "are", "was", "were", "has", "have", "can", "will")


def answer_statement(question: str, answer: str, subject: str | None = None) -> str | None:
    """The question answered as one statement, for a later "that" to point at; None when the
    question has none of the three shapes below. "it"/"they" become `subject` when given.

        What does the dog do next? + "runs"                      -> "the dog runs next"
        Which ball does she kick after that? + "the blue ball"   -> "she kick the blue ball after that"
        Which car passes the bus first? + "the red car"          -> "the red car passes the bus first"
    """
    text = question.strip().rstrip("?").strip()
    said = answer.strip().rstrip(".").strip()
    if not text or not said:
        return None

    def name(who: str) -> str:
        return subject if subject and who.lower() in RESTATED_SUBJECTS else who

    found = re.match(r"(?i)^(?:what|which \w+)\s+(?:does|do|did)\s+(.+?)\s+do\b(.*)$", text)
    if found:
        if said.lower().startswith(found.group(1).lower() + " "):  # "it stops": the answer has its subject
            said = said[len(found.group(1)) + 1:]
        return f"{name(found.group(1))} {said}{found.group(2)}"
    found = re.match(r"(?i)^(?:which|what)\s+\w+\s+(?:does|do|did)\s+(\S+)\s+(\w+)(.*)$", text)
    if found:
        return f"{name(found.group(1))} {found.group(2)} {said}{found.group(3)}"
    found = re.match(r"(?i)^(?:which|what|who)(?:\s+(\w+))?\s+(\w+)(.*)$", text)
    if found and found.group(2).lower() not in _AUXILIARIES and (found.group(1) or "").lower() not in _AUXILIARIES:
        return f"{said} {found.group(2)}{found.group(3)}"
    return None


def history_entry(question: str, answer: str, state: dict, names_object=None) -> dict:
    """What a later turn sees of this one: {"question", "answer", "targets", "segments", "statement",
    "anchor_frame", "track_ids"} (statement: the question answered as a sentence, see
    answer_statement, None if it has no such shape; anchor_frame and track_ids: the video frame and
    tracks of the happening the answer's claim was checked at, None and [] when there was none)."""
    targets = [t["phrase"] for t in state.get("targets", []) if t.get("track_ids")] or \
        [t["phrase"] for t in state.get("targets", [])]
    named = answer_object(answer, state.get("stsg"), names_object)
    history = state.get("history") or []
    earlier = history[-1]["targets"][0] if history and history[-1].get("targets") else None
    statement = answer_statement(question, answer, earlier and f"the {earlier}")
    if named:
        targets = [named]  # "Which object ...?" -> "the red circle": later "it" is that object
    # the moment and object the answer's claim was checked at (agent/rules/claims.py): where a later
    # "after that" anchors and which tracks a later "it" is
    verification = state.get("verification") or {}
    perception = verification.get("focus") or verification.get("perception") or {}  # program path: "focus"
    frame = perception.get("frame")  # the moment the answer names, taken as said even when the STSG doubts it
    track_ids = [int(t) for t in perception.get("track_ids") or []] if frame is not None or \
        "focus" in verification else []
    if named and not track_ids:
        # nothing checked the answer, but it names one object in view: a later "it" is that object
        matches = answer_tracks(answer, state.get("stsg"))
        track_ids = matches if len(matches) == 1 else []
    segments = list(state.get("segments") or ((state.get("stsg") or {}).get("video") or {}).get("segments") or [])
    return {"question": question, "answer": answer, "targets": targets, "segments": segments,
            "statement": statement, "anchor_frame": None if frame is None else int(frame), "track_ids": track_ids}


class Session:
    """Ask and chat about one (long) video, or across a library of them."""

    def __init__(
        self,
        video_path: str | os.PathLike | None = None,
        *,
        context=None,
        library: Library | str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        segment_seconds: float = IndexSettings.segment_seconds,
        index_fps: float = IndexSettings.index_fps,
        progress: bool = False,
        max_retries: int = 2,
        checkpointer=None,
    ):
        from langgraph.checkpoint.memory import InMemorySaver

        from videothought.agent.context import default_context
        from videothought.perception.video import VideoNotFoundError

        if video_path is not None and not Path(video_path).is_file():
            raise VideoNotFoundError(str(video_path), "no such file")
        if video_path is None and library is None:
            raise ValueError("Session needs a video, a library, or both")
        context = context if context is not None else default_context()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        if isinstance(library, Library):
            self.library = library
        else:
            path = Path(library) if library is not None else self.cache_dir / LIBRARY_FILE
            self.library = Library(path, encoder=context.encoder, rebuild=True)
        self.settings = IndexSettings(segment_seconds=segment_seconds, index_fps=index_fps,
                                      max_side=context.settings.max_side)
        self.index_seconds = 0.0  # seconds this session spent indexing (0: found in the library)
        self.video_path = None
        self.index: BoundIndex | None = None
        self._base_context = context
        self.context = context
        if video_path is not None:
            self.video_path = str(video_path)
            started = time.perf_counter()
            sha256 = file_sha256(self.video_path)
            found = self.library.connection.execute(
                "SELECT status FROM videos WHERE sha256=? AND settings=?", (sha256, self.settings.key())).fetchone()
            record = self.library.add(self.video_path, settings=self.settings, proposer=context.proposer,
                                      tracker=context.tracker, sha256=sha256, progress=progress)
            if not found or found[0] != "complete":
                self.index_seconds = time.perf_counter() - started
            self._bind(record.video_id)
            key = sha256[:16]
        else:
            key = "library"
        self.thread_id = f"session-{key}-{int(time.time() * 1000)}"
        self.max_retries = max_retries
        self.checkpointer = checkpointer or InMemorySaver()
        self.history: list[dict] = []
        self._graph = None

    def _bind(self, video_id: int) -> None:
        self.index = self.library.bind(video_id)
        self.video_path = self.index.record.path
        self.context = self._base_context.with_overrides(index=self.index)

    @property
    def graph(self):
        if self._graph is None:
            from videothought.agent.graph import build_vot_graph

            self._graph = build_vot_graph(max_retries=self.max_retries)
        return self._graph

    def ask(self, question: str, choices=(), *, remember: bool = False, trace_path=None, video=None):
        """Answer one question on the session's thread. With remember=True it joins the chat history.

        video: a library video (id, name, path or sha256 prefix) to ask about; a session opened on
        a library alone picks the video of the best-matching segment when none is named."""
        from videothought.agent.run import run_question

        if video is not None:
            self._bind(self.library.video(video).video_id)
        elif self.index is None:
            phrases = [h["targets"][0] for h in self.history[-1:] if h.get("targets")]
            self._bind(self.library.search(question, phrases, k=1)[0].video_id)
        result = run_question(question, video_path=self.video_path, choices=list(choices), context=self.context,
                              thread_id=self.thread_id, graph=self.graph, checkpointer=self.checkpointer,
                              trace_path=trace_path, history=list(self.history))
        if remember:
            names = self.index.names_object if self.index is not None else None
            self.history.append(history_entry(question, result.answer, result.state, names))
        return result

    def chat(self, message: str) -> str:
        """One chat turn: an open-ended question (or "... ? a | b | c" for choices); returns the answer.
        Follow-ups ("what does it do next?") see the earlier turns in `history`."""
        question, choices = split_choices(message)
        return self.ask(question, choices, remember=True).answer


def split_choices(message: str) -> tuple[str, list[str]]:
    """"Which object stops? the red circle | the blue star" -> (question, [choices])."""
    if "?" in message and "|" in message.split("?", 1)[1]:
        question, rest = message.split("?", 1)
        return question.strip() + "?", [c.strip() for c in rest.split("|") if c.strip()]
    return message.strip(), []
