"""The questions waiting for the co-host, kept in SQLite so a crash or a restart loses none.

Order: priority first (manual lines, then paid, then chat), then first come first served, unless
the streamer moves a question. Every call that changes the queue has committed when it returns.

When full, a new question takes the place of the lowest-priority, oldest waiting one, provided it
ranks at least as high (a fresh chat question is more relevant than a stale one); a question ranked
below everything waiting is refused. Questions expire `expire_s` after being queued, except manual
lines: the streamer typed them on purpose, so they wait until spoken or skipped.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.chat.message import ChatMessage
from engine.errors import CohostError

PRIORITY_STREAMER = 4  # the streamer asked the co-host out loud: before everything else
PRIORITY_LINE = 3  # a line from the control API, spoken as is
PRIORITY_PAID = 2
PRIORITY_CHAT = 1


@dataclass(frozen=True)
class Question:
    id: str  # short unique id
    message: ChatMessage
    priority: int  # higher first
    verbatim: bool  # True: a manual line spoken as is (no brain); False: a question for the brain
    approved: bool  # False while waiting for approval (approve mode)
    created: float  # wall time when queued


_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id TEXT PRIMARY KEY,
    message TEXT NOT NULL,          -- the ChatMessage as JSON
    priority INTEGER NOT NULL,
    verbatim INTEGER NOT NULL,
    approved INTEGER NOT NULL,
    created REAL NOT NULL,
    rank INTEGER NOT NULL,          -- order within a priority; move() renumbers it
    answering INTEGER NOT NULL      -- handed out by next(), not yet done()
)
"""
_COLUMNS = "id, message, priority, verbatim, approved, created, rank, answering"
_ORDER = "ORDER BY priority DESC, rank"


def _to_json(message: ChatMessage) -> str:
    return json.dumps(dataclasses.asdict(message))  # ASCII escapes keep any odd character intact


def _from_json(text: str) -> ChatMessage:
    fields = json.loads(text)
    return ChatMessage(**{**fields, "badges": tuple(fields["badges"])})


def _question(row: sqlite3.Row) -> Question:
    return Question(
        id=row["id"],
        message=_from_json(row["message"]),
        priority=row["priority"],
        verbatim=bool(row["verbatim"]),
        approved=bool(row["approved"]),
        created=row["created"],
    )


class QuestionQueue:
    def __init__(self, path: Path, max_size: int, expire_s: float, clock: Callable[[], float] = time.time):
        self._path = path
        self.max_size = max_size
        self._expire_s = expire_s
        self._clock = clock
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise CohostError(f"cannot open the question queue {path}: {e}") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: every commit reaches the disk before it returns, so not even a power cut loses a
            # queued question (about 0.6 ms a commit here; NORMAL would lose the last ones).
            self._db.execute("PRAGMA synchronous=FULL")
            with self._db:
                self._db.execute(_SCHEMA)
                self._db.execute(f"SELECT {_COLUMNS} FROM questions LIMIT 1").fetchall()
                self._requeue_answering()
        except sqlite3.Error as e:
            self._db.close()
            # Never wiped: the streamer decides whether the file is worth saving.
            raise CohostError(f"question queue {path} is unreadable ({e}); move it away to start afresh") from None

    def _requeue_answering(self) -> None:
        """Questions handed out when the process died were never fully answered: back to the
        front of their priority, the earliest first."""
        rows = self._db.execute(f"SELECT id, priority FROM questions WHERE answering {_ORDER} DESC").fetchall()
        for row in rows:
            self._db.execute(
                "UPDATE questions SET answering = 0, rank = "
                "(SELECT COALESCE(MIN(rank), 0) - 1 FROM questions WHERE priority = ? AND NOT answering) "
                "WHERE id = ?",
                (row["priority"], row["id"]),
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:  # commits on return, rolls back on an exception
            yield self._db

    def _waiting(self, where: str = "", args: tuple = ()) -> list[sqlite3.Row]:
        return self._db.execute(
            f"SELECT {_COLUMNS} FROM questions WHERE NOT answering {where} {_ORDER}", args
        ).fetchall()

    def _drop_expired(self) -> list[Question]:
        rows = self._waiting("AND NOT verbatim AND created <= ?", (self._clock() - self._expire_s,))
        self._db.executemany("DELETE FROM questions WHERE id = ?", [(row["id"],) for row in rows])
        return [_question(row) for row in rows]

    def push(
        self, message: ChatMessage, priority: int, *, verbatim: bool = False, approved: bool = True
    ) -> Question | None:
        """Queues `message`; None when the queue is full of questions that all outrank it."""
        with self._transaction() as db:
            self._drop_expired()
            waiting = db.execute("SELECT COUNT(*) FROM questions WHERE NOT answering").fetchone()[0]
            if waiting >= self.max_size:
                victim = db.execute(
                    "SELECT id, priority FROM questions WHERE NOT answering ORDER BY priority, created, rank LIMIT 1"
                ).fetchone()
                if victim is None or victim["priority"] > priority:
                    return None
                db.execute("DELETE FROM questions WHERE id = ?", (victim["id"],))
            qid = secrets.token_hex(4)
            while db.execute("SELECT 1 FROM questions WHERE id = ?", (qid,)).fetchone():
                qid = secrets.token_hex(4)
            question = Question(qid, message, priority, verbatim, approved, self._clock())
            db.execute(
                f"INSERT INTO questions ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(rank), 0) + 1 FROM questions), 0)",
                (qid, _to_json(message), priority, verbatim, approved, question.created),
            )
            return question

    def next(self, *, include_verbatim: bool = True) -> Question | None:
        """The first approved question in order, marked as being answered (still stored until
        done(), so a crash while answering puts it back). Without `include_verbatim`, manual lines
        are passed over: they wait for the streamer's "say next"."""
        with self._transaction() as db:
            self._drop_expired()
            rows = self._waiting("AND approved" if include_verbatim else "AND approved AND NOT verbatim")
            if not rows:
                return None
            db.execute("UPDATE questions SET answering = 1 WHERE id = ?", (rows[0]["id"],))
            return _question(rows[0])

    def done(self, qid: str) -> None:
        """The question was answered (or given up): forgotten."""
        with self._transaction() as db:
            db.execute("DELETE FROM questions WHERE id = ?", (qid,))

    def list(self) -> list[Question]:
        """Waiting questions, approved or not, in the order they would be answered."""
        with self._transaction():
            self._drop_expired()
            return [_question(row) for row in self._waiting()]

    def approve(self, qid: str) -> bool:
        with self._transaction() as db:
            return db.execute("UPDATE questions SET approved = 1 WHERE id = ? AND NOT answering", (qid,)).rowcount > 0

    def approve_next(self) -> Question | None:
        """Approves the first question waiting for approval, in answer order."""
        with self._transaction() as db:
            self._drop_expired()
            rows = self._waiting("AND NOT approved")
            if not rows:
                return None
            db.execute("UPDATE questions SET approved = 1 WHERE id = ?", (rows[0]["id"],))
            return dataclasses.replace(_question(rows[0]), approved=True)

    def skip(self, qid: str) -> bool:
        """Removes a waiting question without answering it."""
        with self._transaction() as db:
            return db.execute("DELETE FROM questions WHERE id = ? AND NOT answering", (qid,)).rowcount > 0

    def move(self, qid: str, position: int) -> bool:
        """Puts a waiting question at `position` of list() (clamped). Order is priority first, so a
        question moved among others of another priority takes their priority."""
        with self._transaction() as db:
            self._drop_expired()
            rows = self._waiting()
            ids = [row["id"] for row in rows]
            if qid not in ids:
                return False
            moving = rows[ids.index(qid)]
            rest = [row for row in rows if row["id"] != qid]
            position = max(0, min(position, len(rest)))
            priority = moving["priority"]
            if position > 0:
                priority = min(priority, rest[position - 1]["priority"])
            if position < len(rest):
                priority = max(priority, rest[position]["priority"])
            order = [row["id"] for row in rest[:position]] + [qid] + [row["id"] for row in rest[position:]]
            db.execute("UPDATE questions SET priority = ? WHERE id = ?", (priority, qid))
            # Renumbered from the top: a queue is short, and moves are rare (a streamer's click).
            db.executemany("UPDATE questions SET rank = ? WHERE id = ?", [(i, q) for i, q in enumerate(order)])
            return True

    def expire(self) -> list[Question]:
        """Drops the questions older than expire_s (manual lines never expire) and returns them."""
        with self._transaction():
            return self._drop_expired()

    def clear(self) -> int:
        """Drops every waiting question; returns how many."""
        with self._transaction() as db:
            return db.execute("DELETE FROM questions WHERE NOT answering").rowcount

    def __len__(self) -> int:
        with self._transaction() as db:
            self._drop_expired()
            return db.execute("SELECT COUNT(*) FROM questions WHERE NOT answering").fetchone()[0]

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        with self._lock:
            self._db.close()
