"""The question queue: order, approval, the streamer's edits, bounds, expiry, and a restart or a
crash losing nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from engine.chat.message import ChatMessage
from engine.conversation.queue import PRIORITY_CHAT, PRIORITY_LINE, PRIORITY_PAID, QuestionQueue
from engine.errors import CohostError

ROOT = Path(__file__).resolve().parent.parent


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "state" / "cohost.sqlite3"


@pytest.fixture
def queue(db_path, clock):
    q = QuestionQueue(db_path, max_size=50, expire_s=300.0, clock=clock)
    yield q
    q.close()


def _msg(text: str, user: str = "alice", **kw) -> ChatMessage:
    return ChatMessage(platform="twitch", user=user, text=text, time=1_700_000_000.0, **kw)


def _texts(queue: QuestionQueue) -> list[str]:
    return [q.message.text for q in queue.list()]


def test_questions_come_out_by_priority_then_first_come(queue):
    queue.push(_msg("chat 1"), PRIORITY_CHAT)
    queue.push(_msg("paid 1", kind="superchat", amount=5), PRIORITY_PAID)
    queue.push(_msg("chat 2"), PRIORITY_CHAT)
    queue.push(_msg("line 1"), PRIORITY_LINE, verbatim=True)
    queue.push(_msg("paid 2", kind="gift"), PRIORITY_PAID)
    assert _texts(queue) == ["line 1", "paid 1", "paid 2", "chat 1", "chat 2"]
    answered = []
    while (question := queue.next()) is not None:
        answered.append(question.message.text)
        queue.done(question.id)
    assert answered == ["line 1", "paid 1", "paid 2", "chat 1", "chat 2"]
    assert len(queue) == 0


def test_the_question_being_answered_leaves_the_list_until_done(queue):
    first = queue.push(_msg("first"), PRIORITY_CHAT)
    queue.push(_msg("second"), PRIORITY_CHAT)
    assert queue.next() == first
    assert _texts(queue) == ["second"] and len(queue) == 1
    assert queue.next().message.text == "second"  # the next call hands out the next one
    queue.done(first.id)
    assert queue.skip(first.id) is False


def test_pushed_questions_carry_their_fields(queue, clock):
    message = _msg("hello", kind="superchat", amount=4.5, currency="USD", user_id="u1", badges=("vip",), id="m1")
    question = queue.push(message, PRIORITY_PAID, approved=False)
    assert (question.message, question.priority, question.verbatim, question.approved, question.created) == (
        message,
        PRIORITY_PAID,
        False,
        False,
        clock.now,
    )
    assert len(question.id) <= 12 and queue.list() == [question]


def test_next_can_pass_over_manual_lines(queue):
    line = queue.push(_msg("my line"), PRIORITY_LINE, verbatim=True)
    chat = queue.push(_msg("chat"), PRIORITY_CHAT)
    assert queue.next(include_verbatim=False) == chat
    assert queue.next(include_verbatim=False) is None
    assert queue.next() == line


def test_unapproved_questions_are_never_handed_out(queue):
    waiting = queue.push(_msg("needs approval"), PRIORITY_PAID, approved=False)
    queue.push(_msg("approved chat"), PRIORITY_CHAT)
    first = queue.next()
    assert first.message.text == "approved chat"
    queue.done(first.id)
    assert queue.next() is None
    assert queue.list() == [waiting]
    assert queue.approve(waiting.id) is True
    assert queue.next().id == waiting.id


def test_approve_next_approves_the_first_unapproved_in_order(queue):
    queue.push(_msg("approved"), PRIORITY_CHAT)
    chat = queue.push(_msg("chat"), PRIORITY_CHAT, approved=False)
    paid = queue.push(_msg("paid", amount=1), PRIORITY_PAID, approved=False)
    assert queue.approve_next().id == paid.id
    assert queue.approve_next().id == chat.id
    assert queue.approve_next() is None
    assert all(q.approved for q in queue.list())
    assert queue.approve("nope") is False


def test_skip_removes_a_waiting_question(queue):
    a = queue.push(_msg("a"), PRIORITY_CHAT)
    queue.push(_msg("b"), PRIORITY_CHAT)
    assert queue.skip(a.id) is True
    assert queue.skip(a.id) is False
    assert _texts(queue) == ["b"]


@pytest.mark.parametrize(
    "letter, position, order",
    [
        ("d", 0, "dabc"),
        ("a", 3, "bcda"),
        ("a", 99, "bcda"),  # clamped
        ("d", -5, "dabc"),
        ("a", 2, "bcad"),
        ("c", 1, "acbd"),
    ],
)
def test_move_puts_a_question_at_a_position(queue, letter, position, order):
    ids = {x: queue.push(_msg(x), PRIORITY_CHAT).id for x in "abcd"}
    assert queue.move(ids[letter], position) is True
    assert "".join(_texts(queue)) == order
    assert [q.id for q in queue.list()].index(ids[letter]) == order.index(letter)


def test_moving_across_priorities_takes_the_neighbours_priority(queue):
    queue.push(_msg("line"), PRIORITY_LINE, verbatim=True)
    queue.push(_msg("paid"), PRIORITY_PAID)
    chat = queue.push(_msg("chat"), PRIORITY_CHAT)
    assert queue.move(chat.id, 0)
    assert _texts(queue) == ["chat", "line", "paid"]
    assert queue.list()[0].priority == PRIORITY_LINE
    # It stays put as new questions arrive: they go after their equals.
    queue.push(_msg("another line"), PRIORITY_LINE, verbatim=True)
    assert _texts(queue) == ["chat", "line", "another line", "paid"]
    assert queue.move(queue.list()[1].id, 3)
    assert _texts(queue) == ["chat", "another line", "paid", "line"]
    assert queue.list()[3].priority == PRIORITY_PAID
    assert queue.move("nope", 0) is False


def test_a_full_queue_of_chat_drops_the_oldest_for_fresh_chat(db_path, clock):
    queue = QuestionQueue(db_path, max_size=3, expire_s=300.0, clock=clock)
    for x in "abc":
        clock.now += 1
        queue.push(_msg(x), PRIORITY_CHAT)
    assert queue.push(_msg("d"), PRIORITY_CHAT) is not None
    assert _texts(queue) == ["b", "c", "d"]


def test_a_full_queue_makes_room_for_a_higher_priority_but_refuses_a_lower(db_path, clock):
    queue = QuestionQueue(db_path, max_size=3, expire_s=300.0, clock=clock)
    queue.push(_msg("chat"), PRIORITY_CHAT)
    queue.push(_msg("paid 1"), PRIORITY_PAID)
    queue.push(_msg("paid 2"), PRIORITY_PAID)
    assert queue.push(_msg("paid 3"), PRIORITY_PAID) is not None  # the chat question goes
    assert queue.push(_msg("late chat"), PRIORITY_CHAT) is None  # below everything waiting
    assert _texts(queue) == ["paid 1", "paid 2", "paid 3"]
    assert queue.push(_msg("line"), PRIORITY_LINE, verbatim=True) is not None
    assert _texts(queue) == ["line", "paid 2", "paid 3"]


def test_the_queue_stays_bounded_under_ten_thousand_pushes(db_path, clock):
    queue = QuestionQueue(db_path, max_size=50, expire_s=300.0, clock=clock)
    paid = [queue.push(_msg(f"paid {i}"), PRIORITY_PAID).id for i in range(5)]
    for i in range(10_000):
        clock.now += 0.01
        assert queue.push(_msg(f"chat {i}", user=f"viewer{i}"), PRIORITY_CHAT) is not None
        assert len(queue) <= 50
    listed = queue.list()
    assert len(listed) == 50
    assert [q.id for q in listed[:5]] == paid  # the paid ones were never the oldest of the lowest
    assert [q.message.text for q in listed[5:]] == [f"chat {i}" for i in range(10_000 - 45, 10_000)]


def test_stale_questions_expire_but_manual_lines_wait(queue, clock):
    queue.push(_msg("old chat"), PRIORITY_CHAT)
    queue.push(_msg("my line"), PRIORITY_LINE, verbatim=True)
    clock.now += 200
    queue.push(_msg("newer chat"), PRIORITY_CHAT)
    clock.now += 100
    expired = queue.expire()
    assert [q.message.text for q in expired] == ["old chat"]
    assert _texts(queue) == ["my line", "newer chat"]
    clock.now += 300
    assert _texts(queue) == ["my line"]  # list() drops the stale too
    first = queue.next()
    queue.done(first.id)
    assert queue.next() is None


def test_next_skips_expired_questions(queue, clock):
    queue.push(_msg("stale"), PRIORITY_PAID)
    clock.now += 250
    queue.push(_msg("fresh"), PRIORITY_CHAT)
    clock.now += 60
    assert queue.next().message.text == "fresh"


def test_clear_drops_every_waiting_question(queue):
    answering = queue.push(_msg("being answered"), PRIORITY_CHAT)
    for x in "abc":
        queue.push(_msg(x), PRIORITY_CHAT)
    assert queue.next() == answering
    assert queue.clear() == 3
    assert len(queue) == 0 and queue.list() == []


def test_a_restart_keeps_every_question_in_order(db_path, clock):
    queue = QuestionQueue(db_path, max_size=50, expire_s=300.0, clock=clock)
    queue.push(_msg("chat", badges=("subscriber/12", "vip"), user_id="7", id="abc"), PRIORITY_CHAT)
    queue.push(_msg("paid 你好 😀", kind="superchat", amount=30.0, currency="CNY"), PRIORITY_PAID, approved=False)
    queue.push(_msg("line"), PRIORITY_LINE, verbatim=True)
    queue.push(_msg("moved"), PRIORITY_CHAT)
    queue.move(queue.list()[-1].id, 1)
    before = queue.list()
    queue.close()
    reopened = QuestionQueue(db_path, max_size=50, expire_s=300.0, clock=clock)
    assert reopened.list() == before
    assert reopened.list()[-1].message.badges == ("subscriber/12", "vip")
    reopened.close()


def _child(db_path: Path, body: str) -> subprocess.Popen:
    """A process that runs `body` against the queue, prints "ready" and waits to be killed."""
    code = (
        textwrap.dedent(
            f"""
        import sys, time
        from pathlib import Path
        from engine.chat.message import ChatMessage
        from engine.conversation.queue import QuestionQueue
        q = QuestionQueue(Path({str(db_path)!r}), max_size=50, expire_s=300.0)
        """
        )
        + textwrap.dedent(body)
        + "\nprint('ready', flush=True)\ntime.sleep(600)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def _kill_when_ready(child: subprocess.Popen) -> None:
    try:
        assert child.stdout.readline().strip() == "ready"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL


def test_a_killed_process_loses_no_pushed_question(db_path):
    child = _child(
        db_path,
        """
        for i in range(20):
            q.push(ChatMessage(platform="bilibili", user=f"v{i}", text=f"question {i}"), 1 + i % 2)
        """,
    )
    _kill_when_ready(child)
    queue = QuestionQueue(db_path, max_size=50, expire_s=300.0)
    assert sorted(q.message.text for q in queue.list()) == sorted(f"question {i}" for i in range(20))
    assert [q.message.text for q in queue.list()][:2] == ["question 1", "question 3"]
    queue.close()


def test_a_question_being_answered_in_a_crash_comes_back_first(db_path):
    child = _child(
        db_path,
        """
        for text in ["a", "b", "c"]:
            q.push(ChatMessage(platform="twitch", user="v", text=text), 1)
        q.push(ChatMessage(platform="twitch", user="v", text="paid"), 2)
        assert q.next().message.text == "paid"
        assert q.next().message.text == "a"
        q.done(q.next().id)  # "b" was answered
        """,
    )
    _kill_when_ready(child)
    queue = QuestionQueue(db_path, max_size=50, expire_s=300.0)
    assert [q.message.text for q in queue.list()] == ["paid", "a", "c"]
    queue.close()


def test_a_corrupt_queue_file_is_a_one_line_error_and_is_kept(db_path):
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not a database, " * 100
    db_path.write_bytes(garbage)
    with pytest.raises(CohostError, match="cohost.sqlite3") as err:
        QuestionQueue(db_path, max_size=50, expire_s=300.0)
    assert "\n" not in str(err.value)
    assert db_path.read_bytes() == garbage


def test_an_unwritable_queue_location_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CohostError, match="cohost.sqlite3") as err:
        QuestionQueue(blocker / "cohost.sqlite3", max_size=50, expire_s=300.0)
    assert "\n" not in str(err.value)


def test_the_queue_is_safe_to_use_from_several_threads(db_path):
    queue = QuestionQueue(db_path, max_size=1000, expire_s=300.0)
    taken: list[str] = []
    errors: list[BaseException] = []

    def run(work) -> None:
        try:
            work()
        except Exception as e:  # a thread's exception would otherwise vanish
            errors.append(e)

    def push(n: int) -> None:
        for i in range(50):
            queue.push(_msg(f"t{n} q{i}", user=f"t{n}"), PRIORITY_CHAT)

    def take() -> None:
        for _ in range(100):
            if (question := queue.next()) is not None:
                taken.append(question.id)
                queue.done(question.id)

    threads = [threading.Thread(target=run, args=(lambda n=n: push(n),)) for n in range(4)]
    threads.append(threading.Thread(target=run, args=(take,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(set(taken)) == len(taken)  # nothing handed out twice
    assert len(queue) + len(taken) == 200  # nothing lost
    queue.close()
