"""A chat source: a backend that yields ChatMessages until closed.

Each platform sits behind these three calls, so the conversation never knows where a message came
from. Sources run on one asyncio loop; `messages()` reconnects on its own after network errors (with
backoff) and only ends when the source is closed or cannot work at all (then it raises CohostError
with one line saying why: a wrong room, a refused token, the quota spent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from engine.chat.message import ChatMessage


class ChatSource(Protocol):
    name: str  # "twitch", "bilibili", ...

    def messages(self) -> AsyncIterator[ChatMessage]: ...

    async def send(self, text: str) -> bool:
        """Posts `text` in the platform's chat; False when this source cannot (read-only)."""
        ...

    async def close(self) -> None: ...
