"""Runs chat sources on one asyncio loop of their own, handing each message to a callback.

A source that fails for good (a refused token, a wrong room, the quota spent) is reported in one
log line and stops; the others go on. Replies in chat go back through the source they came from.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial

from engine.chat.base import ChatSource
from engine.chat.message import ChatMessage
from engine.errors import CohostError

log = logging.getLogger(__name__)


class ChatRunner:
    def __init__(
        self,
        sources: list[ChatSource],
        deliver: Callable[[ChatMessage], object],
        on_end: Callable[[str], None] | None = None,
    ) -> None:
        self.sources = {source.name: source for source in sources}
        self._deliver = deliver
        self._on_end = on_end  # called with a source's name when its messages end
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="cohost-chat", daemon=True)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._tasks = [self._loop.create_task(self._consume(s)) for s in self.sources.values()]
        self._loop.run_forever()
        for source in self.sources.values():
            self._loop.run_until_complete(_close_quietly(source))
        self._loop.close()

    async def _consume(self, source: ChatSource) -> None:
        try:
            async for message in source.messages():
                try:
                    self._deliver(message)
                except Exception:  # one bad message must not end the platform's chat
                    log.exception("a %s chat message could not be handled", source.name)
        except asyncio.CancelledError:
            raise
        except CohostError as e:
            log.error("%s chat stopped: %s", source.name, e)
        except Exception:
            log.exception("%s chat stopped", source.name)
        if self._on_end is not None:
            self._on_end(source.name)

    def post(self, platform: str, text: str) -> bool:
        """Hands `text` to `platform`'s source to post in its chat, from any thread, without waiting:
        the sources pace their replies (Bilibili sends an answer as danmaku a second apart), and the
        conversation must not wait on that. False when there is no such running source; a post that
        fails later is logged by the source or here."""
        source = self.sources.get(platform)
        if source is None or not self._thread.is_alive():
            return False
        future = asyncio.run_coroutine_threadsafe(source.send(text), self._loop)
        future.add_done_callback(partial(_log_failure, platform))
        return True

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        def cancel() -> None:
            for task in self._tasks:
                task.cancel()
            self._loop.stop()

        self._loop.call_soon_threadsafe(cancel)
        self._thread.join()


async def _close_quietly(source: ChatSource) -> None:
    try:
        await source.close()
    except Exception:
        log.exception("closing %s chat failed", source.name)


def _log_failure(platform: str, future: Future) -> None:
    if future.cancelled():
        return
    if (e := future.exception()) is not None:
        log.warning("could not post in %s chat: %s", platform, e)
