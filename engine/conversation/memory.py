"""What the co-host remembers: the last few exchanges with each viewer and with the whole stream,
so a follow-up ("and what about you?") has its context. Bounded however many viewers come by."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

from engine.brain.base import Exchange
from engine.chat.message import ChatMessage

MAX_VIEWERS = 1000  # viewers remembered; the least recently heard is forgotten first


class Memory:
    def __init__(self, turns: int) -> None:
        self.turns = max(0, turns)
        self._viewers: OrderedDict[tuple[str, str], deque[Exchange]] = OrderedDict()
        self._stream: deque[Exchange] = deque(maxlen=self.turns)
        self._lock = threading.Lock()

    def remember(self, message: ChatMessage, answer: str) -> None:
        if not self.turns or not answer:
            return
        exchange = Exchange(message.user, message.text, answer)
        key = _viewer(message)
        with self._lock:
            self._stream.append(exchange)
            history = self._viewers.pop(key, None) or deque(maxlen=self.turns)
            history.append(exchange)
            self._viewers[key] = history
            while len(self._viewers) > MAX_VIEWERS:
                self._viewers.popitem(last=False)

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def recall(self, message: ChatMessage) -> tuple[tuple[Exchange, ...], tuple[Exchange, ...]]:
        """(this viewer's exchanges, the stream's exchanges with others), oldest first."""
        with self._lock:
            viewer = tuple(self._viewers.get(_viewer(message), ()))
            others = tuple(e for e in self._stream if e not in viewer)
        return viewer, others


def _viewer(message: ChatMessage) -> tuple[str, str]:
    return message.platform, message.user_id or message.user
