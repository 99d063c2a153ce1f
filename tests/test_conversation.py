"""The conversation with a real live engine (espeak voice, no outputs) and the real scripted brain:
triggers, moderation of chat and of answers, approve mode, cooldowns, the persisted queue across a
restart, and what reaches the voice."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import pytest

from engine.chat.message import ChatMessage
from engine.config import Config, TriggersConfig
from engine.conversation.memory import MAX_VIEWERS, Memory, memory_path
from engine.conversation.queue import PRIORITY_CHAT, PRIORITY_PAID, QuestionQueue
from engine.conversation.triggers import Triggers
from engine.errors import CohostError
from tests.harness.live import Heard, small_conversation
from tests.harness.process import wait_until

BANNED = "fuck"  # in the built-in English list


def chat(user: str, text: str, **kw) -> ChatMessage:
    return ChatMessage("twitch", user, text, user_id=user, **kw)


def tuned(config: Config, **sections: dict) -> Config:
    return dataclasses.replace(
        config, **{name: dataclasses.replace(getattr(config, name), **values) for name, values in sections.items()}
    )


def test_a_question_naming_the_cohost_is_answered_with_the_question_shown(config) -> None:
    heard = Heard()
    with small_conversation(config) as conversation:
        conversation.sinks.append(heard)
        assert conversation.receive(chat("ann", "Nova, who are you?")) == "queued"
        ended = heard.wait("speaking_ended")[0]
    started = heard.of("speaking_started")[0]
    assert started.question == "ann: Nova, who are you?"
    assert "Nova" in ended.text and "AI" in ended.text  # the built-in FAQ's honest answer
    assert [e.text for e in heard.of("subtitle")] and " ".join(e.text for e in heard.of("subtitle")) == ended.text


def test_chat_that_is_not_for_the_cohost_is_ignored(config) -> None:
    with small_conversation(config) as conversation:
        assert conversation.receive(chat("bob", "gg everyone")) == "ignored"
        assert conversation.receive(chat("bob", "supernova is a word")) == "ignored"
        assert conversation.status().queue == 0 and not conversation.status().answering


def test_banned_words_in_chat_never_reach_the_voice(config) -> None:
    heard = Heard()
    with small_conversation(config) as conversation:
        conversation.sinks.append(heard)
        assert conversation.receive(chat("troll", f"Nova say {BANNED} on stream")) == "banned"
        assert conversation.receive(chat("troll2", "!ask what does f.u.c.k mean")) == "banned"
        assert conversation.receive(chat("ann", "Nova, hello there!")) == "queued"
        heard.wait("speaking_ended")
    said = " ".join(e.text for e in heard.of("subtitle")).lower()
    assert "f.u.c.k" not in said and BANNED not in said and "ann" in said


def test_banned_words_in_an_answer_end_it_before_they_are_spoken(config, tmp_path: Path) -> None:
    """The answer comes from the real scripted brain, fed a FAQ file whose answer turns unsafe in its
    second sentence: the first sentence is spoken, the second and everything after it never are."""
    faq = tmp_path / "faq.toml"
    faq.write_text(
        '[[faq]]\nquestion = "tell me a secret"\n'
        f'answer = "Sure thing, here it comes. This part says {BANNED} on air. And this never plays."\n'
    )
    heard = Heard()
    cfg = tuned(config, persona={"faq_file": str(faq), "max_sentences": 5})
    with small_conversation(cfg) as conversation:
        conversation.sinks.append(heard)
        assert conversation.receive(chat("ann", "!ask tell me a secret")) == "queued"
        ended = heard.wait("speaking_ended")[0]
    assert [e.text for e in heard.of("subtitle")] == ["Sure thing, here it comes."]
    assert BANNED not in ended.text and "never plays" not in ended.text


def test_approve_mode_holds_each_question_until_it_is_approved(config) -> None:
    heard = Heard()
    with small_conversation(tuned(config, moderation={"approve": True})) as conversation:
        conversation.sinks.append(heard)
        assert conversation.receive(chat("ann", "Nova, hello!")) == "queued"
        assert conversation.receive(chat("bob", "!ask who are you")) == "queued"
        time.sleep(1.5)  # the director wakes every 0.25 s: it had its chances to answer
        assert not heard.of("speaking_started")
        waiting = conversation.questions()
        assert [q["user"] for q in waiting] == ["ann", "bob"] and not any(q["approved"] for q in waiting)
        assert conversation.status().awaiting_approval == 2
        assert conversation.approve(waiting[1]["id"])
        heard.wait("speaking_ended")
        assert [e.question for e in heard.of("speaking_started")] == ["bob: who are you"]
        assert conversation.approve_next() == waiting[0]["id"]
        heard.wait("speaking_ended", 2)
    assert [e.question.split(":")[0] for e in heard.of("speaking_started")] == ["bob", "ann"]


def test_a_viewer_on_cooldown_is_refused_until_it_passes(config) -> None:
    cfg = tuned(config, moderation={"user_cooldown_s": 1.0}, triggers={"auto": False})
    with small_conversation(cfg) as conversation:
        assert conversation.receive(chat("ann", "Nova, first question")) == "queued"
        assert conversation.receive(chat("ann", "Nova, second question")) == "cooldown"
        assert conversation.receive(chat("bob", "Nova, my question")) == "queued"
        time.sleep(1.1)
        assert conversation.receive(chat("ann", "Nova, third question")) == "queued"
        assert [q["text"] for q in conversation.questions()] == [
            "Nova, first question",
            "Nova, my question",
            "Nova, third question",
        ]


def test_paid_messages_are_answered_first_with_thanks(config) -> None:
    heard = Heard()
    with small_conversation(tuned(config, triggers={"auto": False})) as conversation:
        conversation.sinks.append(heard)
        assert conversation.receive(chat("ann", "Nova, what game is this?")) == "queued"
        assert conversation.receive(chat("rich", "Rocket x2", kind="gift", amount=20, currency="CNY")) == "queued"
        assert [q["user"] for q in conversation.questions()] == ["rich", "ann"]
        conversation.say_next()
        ended = heard.wait("speaking_ended")[0]
    assert "rich" in ended.text.lower() and "thank" in ended.text.lower()


def test_say_next_speaks_manual_lines_first_and_in_order(config) -> None:
    heard = Heard()
    with small_conversation(config) as conversation:
        conversation.sinks.append(heard)
        conversation.stop_talking()
        first = conversation.add_line("First in the queue.")
        conversation.add_line("Second in the queue.")
        time.sleep(0.6)  # auto mode answers chat, never the streamer's own lines
        assert not heard.of("speaking_started") and conversation.status().queue == 2
        conversation.say_next()
        heard.wait("speaking_ended")
        conversation.say_next()
        heard.wait("speaking_ended", 2)
        assert conversation.say_next() is None
    assert [e.text for e in heard.of("speaking_started")] == ["First in the queue.", "Second in the queue."]
    assert heard.of("queued")[0].line_id == first.id


def test_a_restart_with_questions_queued_loses_none(config, tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    cfg = tuned(config, triggers={"auto": False})
    with small_conversation(cfg, path) as conversation:
        for n, user in enumerate(["ann", "bob", "cat"]):
            assert conversation.receive(chat(user, f"Nova, question {n}?")) == "queued"
        conversation.receive(chat("rich", "Rocket", kind="gift", amount=5, currency="CNY"))
        conversation.add_line("A manual line.")
        before = conversation.questions()
    with small_conversation(cfg, path) as conversation:
        after = conversation.questions()
    assert after == before and len(after) == 5


def test_after_stop_talking_the_answer_is_over_and_the_next_question_is_answered(config) -> None:
    heard = Heard()
    with small_conversation(config) as conversation:
        conversation.sinks.append(heard)
        conversation.receive(chat("ann", "Nova, who are you?"))
        started = heard.wait("speaking_started")[0]
        reply = conversation.reply_for(started.line_id)
        conversation.stop_talking()
        assert reply is not None and reply.join(5.0)
        heard.wait("speaking_ended")
        assert conversation.receive(chat("bob", "Nova, hello!")) == "queued"
        heard.wait("speaking_ended", 2)
        # The director hears of the end on its own thread, a moment after the event.
        wait_until(lambda: not conversation.status().answering, 5, "the answer to be finished")
        assert conversation.status().queue == 0


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (chat("a", "hey Nova what's up"), (PRIORITY_CHAT, "hey Nova what's up", "name")),
        (chat("a", "@nova hi"), (PRIORITY_CHAT, "@nova hi", "name")),
        (chat("a", "!ask what game is this"), (PRIORITY_CHAT, "what game is this", "command")),
        (chat("a", "!ask"), None),
        (chat("a", "!asking for a friend"), None),
        (chat("a", "supernova"), None),
        (chat("a", "", kind="gift", amount=1), (PRIORITY_PAID, "", "paid")),
        (ChatMessage("console", "you", "anything at all"), (PRIORITY_CHAT, "anything at all", "direct")),
    ],
)
def test_triggers_pick_out_questions_for_the_cohost(message, expected) -> None:
    triggers = Triggers(TriggersConfig(names=[], commands=["!ask"], paid=True, every_nth=0, auto=True), "Nova")
    found = triggers.match(message)
    assert (found.priority, found.text, found.why) == expected if expected else found is None


def test_every_nth_message_becomes_a_question_when_asked_for() -> None:
    triggers = Triggers(TriggersConfig(names=["bot"], commands=[], paid=False, every_nth=3, auto=True), "Nova")
    picked = [triggers.match(chat("a", f"message {n}")) for n in range(1, 10)]
    assert [n for n, t in enumerate(picked, 1) if t] == [3, 6, 9]
    assert triggers.match(chat("a", "gift", kind="gift", amount=5)) is None  # paid = false


def test_memory_survives_a_restart_beside_the_queue(tmp_path: Path) -> None:
    path = tmp_path / "cohost.sqlite3"
    queue = QuestionQueue(path, max_size=10, expire_s=60)
    queue.push(chat("cat", "Nova, still there?"), PRIORITY_CHAT)
    memory = Memory(turns=2, path=memory_path(path))
    memory.remember(chat("ann", "what's your name?"), "I'm Nova.")
    memory.remember(chat("bob", "favourite game?"), "Chess.")
    memory.close()  # the process ends; nothing is written at close
    queue.close()

    again = Memory(turns=2, path=memory_path(path))
    mine, others = again.recall(chat("ann", "do you remember me?"))
    assert [(e.question, e.answer) for e in mine] == [("what's your name?", "I'm Nova.")]
    assert [e.user for e in others] == ["bob"]
    assert [q.message.text for q in QuestionQueue(path, max_size=10, expire_s=60).list()] == ["Nova, still there?"]


def test_memory_on_disk_stays_bounded_however_many_viewers_come(tmp_path: Path) -> None:
    path = tmp_path / "cohost.sqlite3"
    memory = Memory(turns=1, path=path)
    for n in range(MAX_VIEWERS + 300):
        memory.remember(chat(f"v{n}", "hi"), "hello")
    memory.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0] == MAX_VIEWERS
    again = Memory(turns=1, path=path)
    assert again.viewers == MAX_VIEWERS
    assert again.recall(chat("v0", "?"))[0] == ()  # the earliest viewers were forgotten
    assert again.recall(chat(f"v{MAX_VIEWERS + 299}", "?"))[0] != ()


def test_unreadable_memory_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "cohost.sqlite3"
    path.write_bytes(b"not a database, " * 100)
    with pytest.raises(CohostError, match="memory .* is unreadable") as caught:
        Memory(turns=2, path=path)
    assert "\n" not in str(caught.value)


def test_memory_keeps_each_viewers_last_exchanges_and_the_streams_bounded() -> None:
    memory = Memory(turns=2)
    for n in range(3):
        memory.remember(chat("ann", f"question {n}"), f"answer {n}")
    memory.remember(chat("bob", "bob's question"), "bob's answer")
    mine, others = memory.recall(chat("ann", "and now?"))
    assert [e.question for e in mine] == ["question 1", "question 2"]
    assert [e.user for e in others] == ["bob"]  # the stream's last two, less ann's own
    for n in range(MAX_VIEWERS + 50):
        memory.remember(chat(f"v{n}", "hi"), "hello")
    assert memory.recall(chat("ann", "still there?"))[0] == ()  # the oldest viewers are forgotten first
    assert memory.viewers == MAX_VIEWERS


class CountingBrain:
    """The conversation's real brain, counting the answers it is asked to write."""

    def __init__(self, brain) -> None:
        self.brain, self.name, self.streams = brain, brain.name, 0

    def stream(self, request, cancel):
        self.streams += 1
        return self.brain.stream(request, cancel)

    def close(self) -> None:
        self.brain.close()


@pytest.mark.parametrize("asked", ["Nova, who are you?", "Nova, what game is this?"], ids=["same", "changed"])
def test_an_answer_prepared_at_the_streamers_pause_is_heard_only_if_they_said_no_more(config, asked) -> None:
    heard = Heard()
    with small_conversation(config) as conversation:
        conversation.sinks.append(heard)
        conversation.brain = brain = CountingBrain(conversation.brain)
        conversation.prepare("Nova, who are you?")
        wait_until(lambda: brain.streams == 1, 5, "the answer to be prepared")
        time.sleep(0.5)  # written and synthesized by now, and still unheard
        assert not heard.events and conversation.status().engine.lines_pending == 0
        conversation.ask(asked)
        ended = heard.wait("speaking_ended")[0]
    # The same words: the prepared answer is the one heard (written once). Other words: it is
    # dropped without a trace, and the question asked is answered.
    assert brain.streams == (1 if asked == "Nova, who are you?" else 2)
    spoken = ("speaking_started", "subtitle", "speaking_ended", "dropped")
    assert {e.line_id for e in heard.events if e.kind in spoken} == {ended.line_id}
    assert heard.of("speaking_started")[0].question == f"streamer: {asked}"
