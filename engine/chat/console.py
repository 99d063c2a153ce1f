"""Chat typed in the terminal: one line, one message (for `cohost chat` and trying things out)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from typing import TextIO

from engine.chat.message import ChatMessage


class ConsoleSource:
    name = "console"

    def __init__(self, stream: TextIO | None = None, user: str = "you") -> None:
        self._stream = stream or sys.stdin
        self._user = user
        self._lines: asyncio.Queue[str | None] | None = None

    async def messages(self) -> AsyncIterator[ChatMessage]:
        loop = asyncio.get_running_loop()
        self._lines = lines = asyncio.Queue()
        # readline blocks; a daemon thread (not the loop's executor, whose threads the interpreter
        # joins at exit) keeps a pending read from holding the process open after Ctrl-C.
        threading.Thread(target=self._read, args=(loop, lines), name="cohost-console", daemon=True).start()
        while (line := await lines.get()) is not None:
            yield ChatMessage("console", self._user, line)

    def _read(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
        try:
            for raw in iter(self._stream.readline, ""):
                if raw.strip():
                    loop.call_soon_threadsafe(lines.put_nowait, raw.strip())
            loop.call_soon_threadsafe(lines.put_nowait, None)  # end of input: Ctrl-D or a closed pipe
        except (RuntimeError, ValueError):  # the loop (or the stream) closed first: nobody is listening
            pass

    async def send(self, text: str) -> bool:
        return False

    async def close(self) -> None:
        if self._lines is not None:
            self._lines.put_nowait(None)
