"""Runs a blocking producer (an HTTP read, a model's token loop) on a thread, so the consumer can stop
waiting on it within POLL_S of a cancel, or at a deadline, whatever the producer is blocked on."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

POLL_S = 0.05

Produce = Callable[[Callable[[str], None], threading.Event], None]  # produce(emit, halt)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_DONE = object()


class Worker:
    """Starts `produce(emit, halt)` on a daemon thread. It should return soon after `halt` is set;
    `interrupt` is called on close to unblock it at once (e.g. by shutting its socket)."""

    def __init__(self, produce: Produce, interrupt: Callable[[], None] | None = None, name: str = "brain") -> None:
        self.halt = threading.Event()
        self._interrupt = interrupt
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    def _run(self, produce: Produce) -> None:
        try:
            produce(self._queue.put, self.halt)
        except BaseException as e:  # noqa: BLE001  # handed to the consumer, which raises it on its own thread
            self._queue.put(_Failed(e))
        else:
            self._queue.put(_DONE)

    def next(self, cancel: threading.Event, deadline: float | None = None) -> str | None:
        """The next piece; None once the producer is done or `cancel` is set. Raises the producer's
        error, or TimeoutError when time.monotonic() reaches `deadline` first."""
        while not cancel.is_set():
            wait = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                continue
            if item is _DONE:
                return None
            if isinstance(item, _Failed):
                raise item.error
            return item  # type: ignore[return-value]
        return None

    def pieces(self, cancel: threading.Event) -> Iterator[str]:
        """Every piece until the producer is done or `cancel` is set; closes the worker in any case."""
        try:
            while (piece := self.next(cancel)) is not None:
                yield piece
        finally:
            self.close()

    def close(self) -> None:
        """Tells the producer to stop and does not wait for it."""
        self.halt.set()
        if self._interrupt is not None:
            self._interrupt()
