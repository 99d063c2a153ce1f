"""What the streamer says, heard by the listener (engine.hearing), turned into the conversation's
terms: a question for the co-host (first in the queue), context for its other answers, and barge-in
(the streamer talking over the co-host stops it, or ducks it)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Literal

from engine.conversation.director import Conversation
from engine.conversation.pace import asks_to_slow_down
from engine.hearing.listener import Heard
from engine.hearing.wake import WakeNames
from engine.live.events import Event, EventKind, EventSink

Mode = Literal["push_to_talk", "wake", "always"]
BargeIn = Literal["stop", "duck", "off"]


class StreamerVoice:
    """The listener's sink (engine.hearing.listener.HearingSink); called from its threads."""

    def __init__(
        self,
        conversation: Conversation,
        mode: Mode,
        wake: WakeNames,
        barge_in: BargeIn,
        context_s: float,
        sink: EventSink | None = None,
    ) -> None:
        self.conversation = conversation
        self.mode = mode
        self._wake = wake
        self.barge_in = barge_in
        self._context_s = context_s
        self._sink = sink
        self._lock = threading.Lock()
        self._said: deque[tuple[float, str]] = deque()
        conversation.streamer_context = self.context

    def speech_started(self) -> None:
        self.conversation.set_streamer_speaking(True)
        if self.barge_in == "off" or not self.conversation.engine.status().speaking:
            return
        if self.barge_in == "stop":
            self.conversation.stop_talking()
        else:
            self.conversation.engine.set_ducked(True)

    def speech_ended(self) -> None:
        if self.barge_in == "duck":
            self.conversation.engine.set_ducked(False)
        self.conversation.set_streamer_speaking(False)

    def heard(self, heard: Heard) -> None:
        question = self.mode != "wake" or self._wake.named(heard.text)
        if not heard.final:
            self._emit(Event(EventKind.HEARD_PARTIAL, text=heard.text))
            if heard.at_pause and question:
                self.conversation.prepare(heard.text)
            return
        with self._lock:
            self._said.append((time.monotonic(), heard.text))
        self._emit(Event(EventKind.HEARD, text=heard.text, question="yes" if question else ""))
        if asks_to_slow_down(heard.text):
            self.conversation.withdraw_prepared()
            self.conversation.slow_down(f"streamer: {heard.text}")
        elif question:
            self.conversation.ask(heard.text)
        else:
            self.conversation.withdraw_prepared()

    def context(self) -> tuple[str, ...]:
        """What the streamer said in the last context_s, oldest first (the question being answered
        included: the brain reads it as the question too, which does no harm)."""
        since = time.monotonic() - self._context_s
        with self._lock:
            while self._said and self._said[0][0] < since:
                self._said.popleft()
            return tuple(text for _, text in self._said)

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)
