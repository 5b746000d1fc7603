"""Chat threads in one SQLite file: threads, their turns, and every turn's events, in order.

    store = ChatStore(state_dir / "web.sqlite")
    thread = store.add_thread("/media/clip.mp4", "clip.mp4")
    turn = store.add_turn(thread["id"], "What happens?", [])
    store.add_event(thread["id"], turn, "record", {...})
    store.events_after(thread["id"], 0)      # what a reloaded page replays

Safe to share between threads (one connection behind a lock); the turns that were queued or
running when the server stopped are `unfinished_turns()`, run again at start (web/chat.py).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

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
