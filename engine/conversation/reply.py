"""One answer on its way to the voice: the brain's pieces → sentences → the output filter.

It runs on its own thread from the moment it starts, so the brain keeps writing while the voice
speaks the first sentence; the live engine iterates it as a SpeechSource. A sentence the filter
refuses, or one that carries out an order from chat (it recites the prompt, says what the viewer told
it to say, takes on the role given), ends the answer there: what was already said stands, and nothing
after an unsafe sentence goes on air (it would rarely make sense without it). `cancel()` (stop
talking, mute) stops the brain.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator

from engine.brain.base import Brain, BrainError, BrainRequest
from engine.brain.prompt import instructions
from engine.brain.sentences import SentenceSplitter
from engine.config import PersonaConfig
from engine.moderation.injection import followed_injection
from engine.moderation.text import TextFilter

log = logging.getLogger(__name__)

_END = object()


class Reply:
    def __init__(
        self,
        brain: Brain,
        request: BrainRequest,
        text_filter: TextFilter,
        max_sentences: int,
        persona: PersonaConfig | None = None,  # whose system prompt a leak would recite
    ) -> None:
        self.request = request
        self.sentences: list[str] = []  # accepted for the voice, in order
        # Why the answer was stopped, if it was: the output filter's reason ("banned"), or the kind
        # of order from chat the sentence carried out ("leak", "echo", "role").
        self.refused = ""
        self.first_sentence_s: float | None = None  # from start() to the first sentence ready
        self._brain = brain
        self._filter = text_filter
        self._max = max(1, max_sentences)
        self._instructions = instructions(persona)
        self._cancel = threading.Event()  # the brain stops: cancelled, refused, or enough sentences
        self._cancelled = threading.Event()  # the listener is gone: sentences already queued are dropped
        self._out: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._write, name="cohost-reply", daemon=True)
        self._started = 0.0

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    def start(self) -> Reply:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancelled.set()
        self._cancel.set()
        self._out.put(_END)

    def join(self, timeout: float | None = None) -> bool:
        """Waits for the brain to stop; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __iter__(self) -> Iterator[str]:
        while True:
            sentence = self._out.get()
            if sentence is _END or self._cancelled.is_set():
                return
            yield str(sentence)

    def _write(self) -> None:
        splitter = SentenceSplitter()
        try:
            for piece in self._brain.stream(self.request, self._cancel):
                if not all(self._accept(s) for s in splitter.feed(piece)):
                    break
            else:
                all(self._accept(s) for s in splitter.flush())
        except BrainError as e:
            log.warning("the brain failed mid-answer: %s", e)
        except Exception:  # a broken backend ends this answer, never the co-host
            log.exception("the brain failed mid-answer")
        finally:
            self._cancel.set()  # the brain's stream, if still open, stops now
            self._out.put(_END)

    def _accept(self, sentence: str) -> bool:
        """Queues `sentence` for the voice; False when the answer must end (refused or long enough)."""
        if self._cancel.is_set() or len(self.sentences) >= self._max:
            return False
        verdict = self._filter.check_output(sentence)
        if not verdict.ok:
            if verdict.reason != "empty":
                self.refused = verdict.reason
                log.warning("a reply sentence was refused (%s); the answer ends there", verdict.reason)
                return False
            return True
        reply_so_far = " ".join([*self.sentences, verdict.text])
        order = followed_injection(reply_so_far, self.request.message.text, self.request.canary, self._instructions)
        if order:
            self.refused = order
            log.warning("a reply sentence carried out an order from chat (%s); the answer ends there", order)
            return False
        if self.first_sentence_s is None:
            self.first_sentence_s = time.monotonic() - self._started
        self.sentences.append(verdict.text)
        self._out.put(verdict.text)
        return len(self.sentences) < self._max
