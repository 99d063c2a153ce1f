"""A voice on a TTS server, with the offline voice standing in whenever the server fails.

Sentence by sentence (the first sentence's opening clause on its own, as piper does, so the first
sound comes early), each sentence's audio is read as the server sends it and handed on every
CHUNK_S of audio. A server that is down, errs or sends no audio within the timeout leaves that
sentence and the rest of the line to the offline voice; a sentence it broke off mid-way is not said
again. Each outage is logged once, and the next line asks the server again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import numpy as np

from engine.voice.base import SpeechChunk, VoiceBackend
from engine.voice.bilingual import resampled
from engine.voice.server.http import Exchange, ServerError
from engine.voice.server.pcm import PcmDecoder
from engine.voice.server.protocol import ServerProtocol
from engine.voice.text import spoken_pieces

log = logging.getLogger(__name__)

# Audio handed on at a time: short enough that speech starts soon after the server's first bytes,
# long enough that the engine is not flooded with slivers.
CHUNK_S = 0.2


class ServerVoice:
    def __init__(self, protocol: ServerProtocol, fallback: VoiceBackend, timeout_s: float) -> None:
        self.name = protocol.name
        self.sample_rate: int = protocol.rate  # the server's usual rate: its audio is rarely resampled
        self._protocol = protocol
        self._fallback = fallback
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._interrupted = threading.Event()
        self._exchange: Exchange | None = None
        self._down = False

    def stream(self, text: str, continued: bool = False, speed: float = 1.0) -> Iterator[SpeechChunk]:
        self._interrupted.clear()
        pieces = spoken_pieces(text, continued)
        for i, piece in enumerate(pieces):
            heard = False
            try:
                for chunk in self._from_server(piece, speed):
                    heard = True
                    yield chunk
            except ServerError as e:
                if self._interrupted.is_set():
                    return  # we cut the connection ourselves
                self._went_down(str(e))
                rest = pieces[i + 1 :] if heard else pieces[i:]
                yield from self._from_fallback(" ".join(rest), continued or i > 0 or heard, speed)
                return
            if self._interrupted.is_set():
                return
            self._came_back()

    def interrupt(self) -> None:
        self._interrupted.set()
        with self._lock:
            exchange = self._exchange
        if exchange is not None:
            exchange.cut()
        interrupt = getattr(self._fallback, "interrupt", None)
        if interrupt is not None:
            interrupt()

    def close(self) -> None:
        self._fallback.close()

    def _from_server(self, sentence: str, speed: float) -> Iterator[SpeechChunk]:
        exchange = Exchange(self._protocol.request(sentence, speed), self._timeout_s)
        with self._lock:
            self._exchange = exchange
        if self._interrupted.is_set():  # interrupted before there was a connection to cut
            exchange.cut()
        decoder = PcmDecoder(self._protocol.rate)
        pending: list[np.ndarray] = []
        samples = 0
        said = False
        body = exchange.chunks()
        try:
            for data in body:
                pcm = decoder.feed(data)
                pending.append(pcm)
                samples += len(pcm)
                if samples >= CHUNK_S * decoder.rate:
                    yield self._chunk(pending, decoder.rate, sentence, continues=said)
                    pending, samples, said = [], 0, True
        finally:
            body.close()
            with self._lock:
                self._exchange = None
        if self._interrupted.is_set():
            return
        if samples:
            yield self._chunk(pending, decoder.rate, sentence, continues=said)
        elif not said:
            raise ServerError("it answered without audio")

    def _chunk(self, pieces: list[np.ndarray], rate: int, sentence: str, continues: bool) -> SpeechChunk:
        # No phonemes: the face animates from the audio itself.
        chunk = SpeechChunk(np.concatenate(pieces), rate, sentence, continues=continues)
        return resampled(chunk, self.sample_rate)

    def _from_fallback(self, text: str, continued: bool, speed: float) -> Iterator[SpeechChunk]:
        for chunk in self._fallback.stream(text, continued=continued, speed=speed):
            if self._interrupted.is_set():
                return
            yield resampled(chunk, self.sample_rate)

    def _went_down(self, reason: str) -> None:
        if not self._down:
            self._down = True
            log.warning(
                "the %s voice server at %s failed: %s; the offline voice speaks until it answers again",
                self.name, self._protocol.url, reason,
            )  # fmt: skip

    def _came_back(self) -> None:
        if self._down:
            self._down = False
            log.info("the %s voice server at %s answers again", self.name, self._protocol.url)
