"""A thread that encodes and sends for an output, so the engine's clock loop never waits on a codec,
a socket or a disk."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


class OutputWorker:
    """Calls `handle(item)` for each item put, in order, on its own thread. put() waits only when
    `max_items` are already waiting (a producer faster than real time, as in unpaced tests).

    An error in `handle` stops the worker; the next put() or close() raises it in the engine's
    thread, so a broken output is reported instead of silently swallowing frames.
    """

    def __init__(self, name: str, handle: Callable[[Any], None], max_items: int) -> None:
        self._handle = handle
        self._queue: queue.Queue[Any] = queue.Queue(max_items)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Any) -> None:
        self._raise_error()
        self._queue.put(item)

    def close(self) -> None:
        """Handles everything already put, then stops."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            if self._error is None:
                try:
                    self._handle(item)
                except BaseException as e:  # handed to the engine's thread by put()/close()
                    self._error = e
