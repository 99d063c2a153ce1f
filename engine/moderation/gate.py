"""Which chat messages may become questions: a cooldown per viewer, a rate for all of chat, and
the same text asked once. Its memory stays bounded however hard chat is flooded."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable

from engine.chat.message import ChatMessage
from engine.config import ModerationConfig
from engine.moderation.text import fingerprint

RATE_WINDOW_S = 60.0
MAX_ENTRIES = 10_000


class _Recent:
    """Keys admitted within `window_s`, oldest first, at most `max_entries` of them: past that the
    oldest is forgotten early (a flood of new viewers must not grow memory)."""

    def __init__(self, window_s: float, max_entries: int):
        self._window_s = window_s
        self._max_entries = max_entries
        self._times: OrderedDict[Hashable, float] = OrderedDict()

    def holds(self, key: Hashable, now: float) -> bool:
        last = self._times.get(key)
        return last is not None and now - last < self._window_s

    def add(self, key: Hashable, now: float) -> None:
        self._times[key] = now
        self._times.move_to_end(key)
        while self._times:
            oldest = next(iter(self._times.values()))
            if len(self._times) <= self._max_entries and now - oldest < self._window_s:
                break
            self._times.popitem(last=False)

    def __len__(self) -> int:
        return len(self._times)


class ChatGate:
    def __init__(
        self,
        config: ModerationConfig,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ):
        self._clock = clock
        self._per_minute = config.global_per_minute
        self._viewers = _Recent(config.user_cooldown_s, max_entries)
        self._texts = _Recent(config.duplicate_window_s, max_entries)
        self._admitted: deque[float] = deque()  # unpaid admissions in the last minute

    def admit(self, message: ChatMessage) -> str:
        """Why `message` may not become a question ("cooldown", "duplicate" or "rate"), or "" when it
        may; it is then counted as admitted. Paid messages skip the cooldown and the rate."""
        now = self._clock()
        viewer = (message.platform, message.user_id or message.user)
        # A digest, so a flood of long messages costs 16 bytes each.
        said = fingerprint(message.text) or message.text.strip()
        # Gifts often come with no words: a wordless message has nothing to be a duplicate of.
        text = hashlib.blake2b(said.encode("utf-8", "surrogatepass"), digest_size=16).digest() if said else None
        while self._admitted and now - self._admitted[0] >= RATE_WINDOW_S:
            self._admitted.popleft()
        if not message.paid and self._viewers.holds(viewer, now):
            return "cooldown"
        if text is not None and self._texts.holds(text, now):
            return "duplicate"
        # 0 means no limit, like the other zero settings.
        if not message.paid and self._per_minute and len(self._admitted) >= self._per_minute:
            return "rate"
        self._viewers.add(viewer, now)
        if text is not None:
            self._texts.add(text, now)
        if not message.paid:
            self._admitted.append(now)
        return ""

    @property
    def remembered(self) -> int:
        """Viewers and texts held in memory (for tests and stats)."""
        return len(self._viewers) + len(self._texts)
