"""The conversation: chat in, questions out, answers spoken.

    chat message → triggers → moderation (clean text, then cooldown / rate / duplicate)
                 → the persisted question queue (approve mode holds questions here)
                 → the brain, streamed → sentences → output filter → the live engine's voice

Whenever the co-host is quiet (and `[triggers] auto` is on), the next approved question is answered;
"say next" (hotkey, POST /next) answers the next one at once, manual lines included. A question
stays in the queue, marked as being answered, until its answer has been heard (or cut), so a crash
mid-answer brings it back on restart.

The Conversation is also what the control API drives: it passes say / stop / mute to the engine.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from engine.brain.base import Brain, BrainRequest, Exchange
from engine.chat.message import ChatMessage
from engine.config import PersonaConfig
from engine.conversation.memory import Memory
from engine.conversation.pace import SLOWER, asks_to_slow_down
from engine.conversation.queue import PRIORITY_LINE, PRIORITY_STREAMER, Question, QuestionQueue
from engine.conversation.reply import Reply
from engine.conversation.triggers import DIRECT_PLATFORMS, Triggers
from engine.errors import CohostError, QueueFull
from engine.hearing.listener import ListenerStatus
from engine.language import detect_language
from engine.live.engine import EngineStatus, SpeechSource
from engine.live.events import Event, EventKind, EventSink
from engine.moderation.gate import ChatGate
from engine.moderation.text import TextFilter
from engine.voice.text import normalise

log = logging.getLogger(__name__)

TICK_S = 0.25  # the director wakes at least this often (expiry, a quiet engine it was not told of)
ENDED = (EventKind.SPEAKING_ENDED, EventKind.DROPPED)
KEEP_ENDED = 64  # ended lines remembered (for the id that _answer() has not recorded yet)
PREPARED_S = 10.0  # an answer prepared at the streamer's pause that no question claimed is dropped


class Speaker(Protocol):
    """The part of the live engine the conversation needs (engine.live.engine.LiveEngine)."""

    def say(self, text: str, question: str = "", speed: float = 1.0) -> str: ...

    pace: float

    def set_pace(self, pace: float) -> None: ...

    def say_stream(self, source: SpeechSource, question: str = "", *, held: bool = False) -> str: ...

    def release(self, line_id: str) -> bool: ...

    def withdraw(self, line_id: str) -> None: ...

    def stop_talking(self) -> None: ...

    def set_muted(self, muted: bool) -> None: ...

    def set_ducked(self, ducked: bool) -> None: ...

    def status(self) -> EngineStatus: ...


@dataclasses.dataclass(frozen=True)
class ConversationStatus:
    engine: EngineStatus
    queue: int  # questions waiting
    awaiting_approval: int
    answering: list[str]  # ids of the questions whose answers are being said
    auto: bool
    approve_mode: bool
    brain: str
    chat: dict[str, int]  # what became of each chat message, by outcome
    hearing: ListenerStatus | None  # None without hearing

    @property
    def busy(self) -> bool:
        """Something is waiting, being answered or being said."""
        engine = self.engine
        return bool(self.queue or self.answering or engine.speaking or engine.lines_pending)

    def to_json(self) -> dict[str, Any]:
        """One flat object, the engine's fields first (GET /status)."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "engine"}
        own["hearing"] = dataclasses.asdict(self.hearing) if self.hearing is not None else None
        return {**self.engine.to_json(), **own}


@dataclasses.dataclass
class _Answering:
    question: Question
    reply: Reply | None  # None for a manual line, spoken as written
    started: float = dataclasses.field(default_factory=time.monotonic)


@dataclasses.dataclass(frozen=True)
class _Prepared:
    text: str  # what the streamer said, up to the pause
    line_id: str  # the engine's held line
    reply: Reply
    at: float


class Conversation:
    """Given its parts: the engine it speaks through, the brain, the persisted queue, the two
    moderation steps (what is said, who may ask how often), the triggers, the memory and the persona.

    `auto`: answer the next approved question whenever the co-host is quiet. `approve`: questions
    wait in the queue until the streamer approves them."""

    def __init__(
        self,
        engine: Speaker,
        brain: Brain,
        queue: QuestionQueue,
        text_filter: TextFilter,
        gate: ChatGate,
        triggers: Triggers,
        memory: Memory,
        persona: PersonaConfig,
        *,
        auto: bool,
        approve: bool,
        sink: EventSink | None = None,
    ) -> None:
        self.engine = engine
        self.brain = brain
        self.queue = queue
        self.persona = persona
        self.auto = auto
        self.approve_mode = approve
        self.outcomes: Counter[str] = Counter()  # what became of each chat message, for status()
        self.answer_hooks: list[Callable[[ChatMessage, str], None]] = []  # e.g. reply in Twitch chat
        self._sink = sink
        self._filter = text_filter
        self._gate = gate
        self._triggers = triggers
        self._memory = memory
        # What the streamer said lately (hearing), for the brain's context; () without hearing.
        self.streamer_context: Callable[[], tuple[str, ...]] = tuple
        self._streamer_speaking = False  # the streamer has the floor: no new answer starts meanwhile
        self.push_to_talk_hooks: list[Callable[[bool], None]] = []  # the listener, in push-to-talk mode
        self.listener_status: Callable[[], ListenerStatus | None] = lambda: None
        self._lock = threading.Lock()
        self._answering: dict[str, _Answering] = {}  # by the engine's line id
        self._prepared: _Prepared | None = None
        self._ended: list[str] = []  # line ids the engine finished, for the director thread
        self._last_said = ""  # the text of the last line heard to its end (slow_down says it again)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----- chat in, from any thread --------------------------------------------------------------

    def receive(self, message: ChatMessage) -> str:
        """Takes one chat message; returns what became of it: "queued", "ignored" (not a question),
        "slowed" (it said the co-host talks too fast: see slow_down), or why it was refused
        ("banned", "empty", "cooldown", "rate", "duplicate", "full")."""
        if asks_to_slow_down(message.text):
            outcome = self._slow_down_for(message)
            self.outcomes[outcome] += 1
            return outcome
        outcome, question = self._admit(message)
        self.outcomes[outcome] += 1
        if question is not None:
            self._emit(Event(EventKind.QUEUED, question.id, question.message.text, _display(question)))
            self._wake.set()
        return outcome

    def _admit(self, message: ChatMessage) -> tuple[str, Question | None]:
        with self._lock:
            trigger = self._triggers.match(message)
            if trigger is None:
                return "ignored", None
            verdict = self._filter.clean_input(trigger.text)
            # A gift needs no words to be thanked for; banned words still drop it.
            if not verdict.ok and not (verdict.reason == "empty" and message.paid):
                return verdict.reason, None
            message = dataclasses.replace(message, text=verdict.text)
            if message.platform not in DIRECT_PLATFORMS:
                refused = self._gate.admit(message)
                if refused:
                    return refused, None
        question = self.queue.push(message, trigger.priority, approved=not self.approve_mode)
        return ("queued", question) if question is not None else ("full", None)

    def set_push_to_talk(self, down: bool) -> None:
        """The push-to-talk key (OBS hotkey, POST /ptt) went down or up."""
        for hook in self.push_to_talk_hooks:
            hook(down)

    def set_streamer_speaking(self, speaking: bool) -> None:
        """While the streamer speaks, no new answer starts; when they stop, the next one may."""
        self._streamer_speaking = speaking
        if not speaking:
            self._wake.set()

    def ask(self, text: str, user: str = "streamer") -> Question | None:
        """A question the streamer asked out loud: answered before anything else in the queue, never
        held for approval (the streamer asked it). Its answer goes through output moderation as
        every answer does."""
        question = self.queue.push(ChatMessage("mic", user, text), PRIORITY_STREAMER)
        if question is not None:
            self._emit(Event(EventKind.QUEUED, question.id, text, _display(question)))
            self._wake.set()
        return question

    def _request(
        self, message: ChatMessage, viewer: tuple[Exchange, ...], stream: tuple[Exchange, ...]
    ) -> BrainRequest:
        """What the brain is asked, answered in the language the message is written in."""
        languages = self.persona.answer_languages
        language = detect_language(message.text, languages, self.persona.language) if len(languages) > 1 else ""
        return BrainRequest(message, viewer, stream, streamer_said=self.streamer_context(), language=language)

    def prepare(self, text: str, user: str = "streamer") -> None:
        """The streamer paused after `text`, which is a question for the co-host if they say no more:
        its answer is written and synthesized now, held, and heard the moment ask() brings the same
        words, so the endpoint's wait hides the brain's and the voice's time. Only when the co-host
        would answer at once; another prepare(), or any other answer, drops it unheard."""
        self.withdraw_prepared()
        if not self.auto or not self._idle():
            return
        message = ChatMessage("mic", user, text)
        viewer, stream = self._memory.recall(message)
        request = self._request(message, viewer, stream)
        reply = Reply(self.brain, request, self._filter, self.persona.max_sentences, self.persona).start()
        try:
            line_id = self.engine.say_stream(reply, _shown(message), held=True)
        except CohostError:
            reply.cancel()
            return
        with self._lock:
            self._prepared = _Prepared(text, line_id, reply, time.monotonic())

    def withdraw_prepared(self) -> None:
        """The streamer's words turned out not to be a question (or another one): its prepared
        answer, if any, is dropped unheard."""
        with self._lock:
            prepared, self._prepared = self._prepared, None
        if prepared is not None:
            self.engine.withdraw(prepared.line_id)

    def _claim_prepared(self, question: Question) -> _Prepared | None:
        """The answer prepared for `question`, released to be heard; None (any other dropped) when
        there is none for it."""
        with self._lock:
            prepared = self._prepared
            matches = prepared is not None and question.message.platform == "mic" and not question.verbatim
            if not (matches and prepared.text == question.message.text):
                prepared = None
            else:
                self._prepared = None
        if prepared is None:
            self.withdraw_prepared()
            return None
        return prepared if self.engine.release(prepared.line_id) else None

    def add_line(self, text: str) -> Question:
        """A manual line for "say next", spoken as written (not moderated: the streamer wrote it)."""
        if not normalise(text):
            raise CohostError("nothing to queue: the text has no speakable words")
        # A full queue makes room by dropping the oldest chat question, never a line of the streamer's.
        lines = sum(q.verbatim for q in self.queue.list())
        question = None
        if lines < self.queue.max_size:
            question = self.queue.push(ChatMessage("api", "", text), PRIORITY_LINE, verbatim=True)
        if question is None:
            raise QueueFull(f"the queue is full ({self.queue.max_size} waiting)")
        self._emit(Event(EventKind.QUEUED, question.id, text))
        return question

    # ----- the streamer's controls ------------------------------------------------------------

    def say_next(self) -> str | None:
        """Answers (or says) the next approved item at once; its line id, or None when there is none
        or the co-host is muted."""
        if self.engine.status().muted:
            return None
        question = self.queue.next()
        return self._answer(question) if question is not None else None

    def approve(self, qid: str) -> bool:
        ok = self.queue.approve(qid)
        if ok:
            self._wake.set()
        return ok

    def approve_next(self) -> str | None:
        question = self.queue.approve_next()
        if question is None:
            return None
        self._wake.set()
        return question.id

    def skip(self, qid: str) -> bool:
        return self.queue.skip(qid)

    def skip_next(self) -> str | None:
        """Drops the first question waiting (approved or not), the one the streamer sees on top."""
        waiting = self.queue.list()
        if not waiting or not self.queue.skip(waiting[0].id):
            return None
        return waiting[0].id

    def move(self, qid: str, position: int) -> bool:
        return self.queue.move(qid, position)

    def reply_for(self, line_id: str) -> Reply | None:
        """The answer being spoken as `line_id` (None for a manual line or once it has ended)."""
        answering = self._answering.get(line_id)
        return answering.reply if answering is not None else None

    def questions(self) -> list[dict[str, Any]]:
        return [question_json(q) for q in self.queue.list()]

    def say(self, text: str, question: str = "", speed: float = 1.0) -> str:
        return self.engine.say(text, question, speed)

    def stop_talking(self) -> None:
        self.engine.stop_talking()

    def set_muted(self, muted: bool) -> None:
        self.engine.set_muted(muted)
        if not muted:
            self._wake.set()

    def status(self) -> ConversationStatus:
        waiting = self.queue.list()
        return ConversationStatus(
            engine=self.engine.status(),
            queue=len(waiting),
            awaiting_approval=sum(not q.approved for q in waiting),
            answering=[a.question.id for a in list(self._answering.values())],
            auto=self.auto,
            approve_mode=self.approve_mode,
            brain=self.brain.name,
            chat=dict(self.outcomes),
            hearing=self.listener_status(),
        )

    # ----- the engine's events (its sink calls this on the clock thread: kept short) ------------

    def _slow_down_for(self, message: ChatMessage) -> str:
        verdict = self._filter.clean_input(message.text)  # it is shown as the line's question
        if not verdict.ok:
            return verdict.reason
        return "slowed" if self.slow_down(f"{message.user}: {verdict.text}") else "ignored"

    def slow_down(self, asked: str) -> bool:
        """Someone said the co-host talks too fast: its voice slows down (SLOWER) and its last
        answer is said again at the new pace; False when there is nothing to say again (no answer
        yet, or the last one is being said again now)."""
        with self._lock:
            again, self._last_said = self._last_said, ""
        if not again:
            return False
        self.engine.set_pace(self.engine.pace * SLOWER)
        self.engine.say(again, asked)
        return True

    def on_event(self, event: Event) -> None:
        # Every ended line is noted, not only those already known: a line dropped at once (said
        # while muted) ends before say_stream() has returned its id to _answer().
        if event.kind in ENDED:
            with self._lock:
                self._ended = [*self._ended[-(KEEP_ENDED - 1) :], event.line_id]
                if event.kind is EventKind.SPEAKING_ENDED and event.text:
                    self._last_said = event.text
            self._wake.set()

    # ----- the director thread ------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._direct, name="cohost-conversation", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for answering in list(self._answering.values()):
            if answering.reply is not None:
                answering.reply.cancel()
        self.withdraw_prepared()
        self._memory.close()

    def __enter__(self) -> Conversation:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _direct(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(TICK_S)
            self._wake.clear()
            try:
                self._finish_ended()
                self.queue.expire()
                prepared = self._prepared
                if prepared is not None and time.monotonic() - prepared.at > PREPARED_S:
                    self.withdraw_prepared()
                if self.auto and self._quiet():
                    question = self.queue.next(include_verbatim=False)
                    if question is not None:
                        self._answer(question)
            except Exception:  # a failing step loses one turn of the loop, not the conversation
                log.exception("the conversation loop failed")

    def _quiet(self) -> bool:
        return not self._streamer_speaking and self._idle()

    def _idle(self) -> bool:
        """Nothing is being answered or said, and the co-host is not muted."""
        if self._answering:
            return False
        status = self.engine.status()
        return not (status.muted or status.speaking or status.lines_pending)

    def _answer(self, question: Question) -> str | None:
        reply = None
        try:
            prepared = self._claim_prepared(question)
            if prepared is not None:
                line_id, reply = prepared.line_id, prepared.reply
            elif question.verbatim:
                line_id = self.engine.say(question.message.text)
            else:
                viewer, stream = self._memory.recall(question.message)
                reply = Reply(
                    self.brain,
                    self._request(question.message, viewer, stream),
                    self._filter,
                    self.persona.max_sentences,
                    self.persona,
                ).start()
                line_id = self.engine.say_stream(reply, _display(question))
        except CohostError as e:
            log.warning("cannot say %s: %s", question.id, e)
            self.queue.done(question.id)
            return None
        with self._lock:
            self._answering[line_id] = _Answering(question, reply)
        return line_id

    def _finish_ended(self) -> None:
        with self._lock:
            matched = [line_id for line_id in self._ended if line_id in self._answering]
            finished = [self._answering.pop(line_id) for line_id in matched]
            self._ended = [line_id for line_id in self._ended if line_id not in matched]
        for answering in finished:
            self.queue.done(answering.question.id)
            if answering.reply is None or not answering.reply.text:
                continue
            message, answer = answering.question.message, answering.reply.text
            self._memory.remember(message, answer)
            for hook in self.answer_hooks:
                try:
                    hook(message, answer)
                except Exception:
                    log.exception("an answer hook failed")

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            try:
                self._sink(event)
            except Exception:
                log.exception("event sink failed on %s", event.kind)


def _display(question: Question) -> str:
    """The question as OBS's overlay shows it: "user: text" ("" for a manual line)."""
    return "" if question.verbatim else _shown(question.message)


def _shown(m: ChatMessage) -> str:
    return f"{m.user}: {m.text}" if m.user else m.text


def question_json(question: Question) -> dict[str, Any]:
    m = question.message
    return {
        "id": question.id, "platform": m.platform, "user": m.user, "text": m.text, "kind": m.kind,
        "amount": m.amount, "currency": m.currency, "priority": question.priority,
        "approved": question.approved, "verbatim": question.verbatim, "created": question.created,
    }  # fmt: skip
