"""What the co-host remembers: the last few exchanges with each viewer and with the whole stream,
so a follow-up ("and what about you?") has its context. Bounded however many viewers come by.

With a path, the exchanges are also kept in SQLite, so a restart of the co-host does not forget who
asked what. The file is not the queue's: the queue's read-then-write transactions would fail at once
("database is locked") whenever another connection wrote in between."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import OrderedDict, deque
from pathlib import Path

from engine.brain.base import Exchange
from engine.chat.message import ChatMessage
from engine.errors import CohostError

log = logging.getLogger(__name__)

MAX_VIEWERS = 1000  # viewers remembered; the least recently heard is forgotten first
_SCHEMA = """CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL, viewer TEXT NOT NULL,
    user TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL)"""


class Memory:
    def __init__(self, turns: int, path: Path | None = None) -> None:
        """Raises CohostError when `path` cannot be opened or read."""
        self.turns = max(0, turns)
        self._viewers: OrderedDict[tuple[str, str], deque[Exchange]] = OrderedDict()
        self._stream: deque[Exchange] = deque(maxlen=self.turns)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None and self.turns:
            self._db = _open(path)
            for platform, viewer, user, question, answer in self._db.execute(
                "SELECT platform, viewer, user, question, answer FROM exchanges ORDER BY id"
            ):
                self._keep((platform, viewer), Exchange(user, question, answer))

    def remember(self, message: ChatMessage, answer: str) -> None:
        if not self.turns or not answer:
            return
        key = _viewer(message)
        with self._lock:
            self._keep(key, Exchange(message.user, message.text, answer))
            if self._db is not None:
                self._store(key, message, answer)

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def recall(self, message: ChatMessage) -> tuple[tuple[Exchange, ...], tuple[Exchange, ...]]:
        """(this viewer's exchanges, the stream's exchanges with others), oldest first."""
        with self._lock:
            viewer = tuple(self._viewers.get(_viewer(message), ()))
            others = tuple(e for e in self._stream if e not in viewer)
        return viewer, others

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _keep(self, key: tuple[str, str], exchange: Exchange) -> None:
        self._stream.append(exchange)
        history = self._viewers.pop(key, None) or deque(maxlen=self.turns)
        history.append(exchange)
        self._viewers[key] = history
        while len(self._viewers) > MAX_VIEWERS:
            self._viewers.popitem(last=False)

    def _store(self, key: tuple[str, str], message: ChatMessage, answer: str) -> None:
        """Adds the exchange and forgets, on disk too, what memory no longer holds: at most `turns`
        exchanges for each of MAX_VIEWERS viewers are kept."""
        assert self._db is not None
        try:
            with self._db:
                cursor = self._db.execute(
                    "INSERT INTO exchanges (platform, viewer, user, question, answer) VALUES (?, ?, ?, ?, ?)",
                    (*key, message.user, message.text, answer),
                )
                assert cursor.lastrowid is not None
                self._db.execute("DELETE FROM exchanges WHERE id <= ?", (cursor.lastrowid - MAX_VIEWERS * self.turns,))
        except sqlite3.Error as e:  # memory is a nicety: the answer was given, go on without it
            log.warning("could not save the co-host's memory of %s: %s", message.user, e)


def _open(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False)
    except (OSError, sqlite3.Error) as e:
        raise CohostError(f"cannot open the co-host's memory {path}: {e}") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        with db:
            db.execute(_SCHEMA)
    except sqlite3.Error as e:
        db.close()
        raise CohostError(f"the co-host's memory {path} is unreadable ({e}); move it away to start afresh") from None
    return db


def memory_path(queue_path: Path) -> Path:
    """The memory's file, beside the queue's: cohost.sqlite3 → cohost-memory.sqlite3."""
    return queue_path.with_name(f"{queue_path.stem}-memory{queue_path.suffix}")


def _viewer(message: ChatMessage) -> tuple[str, str]:
    return message.platform, message.user_id or message.user
