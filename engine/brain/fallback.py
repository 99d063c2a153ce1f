"""A brain that never leaves a question unanswered: when the primary (an LLM) fails or is silent too long
before its first word, the fallback (the scripted brain) answers instead."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial

from engine.brain.base import Brain, BrainError, BrainRequest
from engine.brain.worker import Worker

LOG = logging.getLogger(__name__)


class FallbackBrain:
    def __init__(self, primary: Brain, fallback: Brain, first_token_timeout_s: float) -> None:
        self.primary = primary
        self.fallback = fallback
        self.first_token_timeout_s = first_token_timeout_s
        self.name = primary.name
        self.last_used = ""  # name of the brain that gave the last answer
        self.last_first_token_s: float | None = None  # seconds from the request to its first piece

    def stream(self, request: BrainRequest, cancel: threading.Event) -> Iterator[str]:
        started = time.monotonic()
        self.last_used, self.last_first_token_s = "", None
        # On its own thread, so a primary stuck before its first piece cannot hold up the timeout.
        worker = Worker(partial(_relay, self.primary, request), name=f"{self.primary.name}-brain")
        try:
            first = self._first_piece(worker, cancel, started + self.first_token_timeout_s)
            if cancel.is_set():
                return
            if first is not None:
                yield from self._rest(worker, first, cancel, started)
                return
        finally:
            worker.close()
        self.last_used = self.fallback.name
        for piece in self.fallback.stream(request, cancel):
            if self.last_first_token_s is None:
                self.last_first_token_s = time.monotonic() - started
            yield piece

    def close(self) -> None:
        self.primary.close()
        self.fallback.close()

    def _first_piece(self, worker: Worker, cancel: threading.Event, deadline: float) -> str | None:
        """The primary's first piece; None (after one warning line) when it fails, is silent until the
        deadline or answers nothing, or when cancelled."""
        try:
            first = worker.next(cancel, deadline)
        except TimeoutError:
            self._warn(f"sent nothing within {self.first_token_timeout_s:g} s")
            return None
        except BrainError as e:
            self._warn(f"failed: {e}")
            return None
        if first is None and not cancel.is_set():
            self._warn("gave an empty answer")
        return first

    def _rest(self, worker: Worker, first: str, cancel: threading.Event, started: float) -> Iterator[str]:
        self.last_used = self.primary.name
        self.last_first_token_s = time.monotonic() - started
        yield first
        try:
            while (piece := worker.next(cancel)) is not None:
                yield piece
        except BrainError as e:
            # What was already said stands: a second voice finishing the sentence would make no sense.
            LOG.warning("the %s brain stopped mid-answer: %s", self.primary.name, e)

    def _warn(self, problem: str) -> None:
        LOG.warning("the %s brain %s; the %s brain answers instead", self.primary.name, problem, self.fallback.name)


def _relay(brain: Brain, request: BrainRequest, emit: Callable[[str], None], halt: threading.Event) -> None:
    for piece in brain.stream(request, halt):
        emit(piece)
