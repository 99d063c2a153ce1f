"""The listener: the microphone → the co-host's echo taken out → VAD and endpoint → Whisper, on two
threads (one reads and cuts the sound, so barge-in never waits for transcription; one transcribes).

    source.read() ─► echo cancel (while the co-host is heard) ─► Silero VAD ─► endpointer
        "start" ─► sink.speech_started()            (barge-in)
        growing utterance ─► Whisper every partial_interval ─► sink.heard(partial)
        a pause ─► Whisper ─► sink.heard(partial at_pause)  (the final one, if nothing more is said)
        "end" (or push-to-talk released) ─► Whisper (or the pause's, unchanged) ─► sink.heard(final)

A device that fails (unplugged, no permission, the sound server gone) is one warning, then retried
with backoff while the rest of the co-host goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.errors import CohostError
from engine.hearing.asr import Transcriber
from engine.hearing.audio_in import RATE, AudioSource, SourceEnded
from engine.hearing.echo import EchoCanceller, PlayedAudio
from engine.hearing.vad import START_WINDOWS, WINDOW, Endpoint, Endpointer, SileroVad

log = logging.getLogger(__name__)

RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # waits before each reopening of a failed device, then the last again
# While the co-host is heard, what is left of its echo must not start an utterance: the VAD
# threshold is raised and speech must last 160 ms, not 64 ms (barge-in waits those 96 ms more).
THRESHOLD_WHILE_SPEAKING = 0.2
START_WINDOWS_WHILE_SPEAKING = 5
TRAILING_S = 0.2  # silence after the speech in what is transcribed at a pause (as Endpointer.take keeps)
# A pause is this many silent windows (96 ms): the gaps between words are shorter, and each pause
# costs a transcription (and a prepared answer); the endpoint's 400 ms leave time for both.
PAUSE_WINDOWS = 3


@dataclass(frozen=True)
class Heard:
    text: str
    final: bool  # False: a partial transcript of speech still going on
    # A partial made as the streamer paused: the final transcript if they say no more (an answer
    # can be prepared on it while the endpoint waits to be sure).
    at_pause: bool = False


class HearingSink(Protocol):
    def speech_started(self) -> None: ...

    def speech_ended(self) -> None:
        """The utterance ended (transcribed next, or too short to be one)."""
        ...

    def heard(self, heard: Heard) -> None: ...


@dataclass
class ListenerStatus:
    listening: bool  # the device is open and delivering
    speaking: bool  # the streamer is speaking now
    push_to_talk: bool  # the key is held (push-to-talk mode)
    last_heard: str
    error: str  # why the device is not listening, while it is retried


class Listener:
    def __init__(
        self,
        source: AudioSource,
        vad: SileroVad,
        transcriber: Transcriber,
        endpoint: Endpoint,
        sink: HearingSink,
        *,
        push_to_talk: bool = False,
        partial_interval_s: float | None = 0.3,  # None: no partial transcripts
        played: PlayedAudio | None = None,
        on_end: Callable[[], None] | None = None,  # a file source played to its end
    ) -> None:
        self.source = source
        self._vad = vad
        self._transcriber = transcriber
        self._endpointer = Endpointer(endpoint)
        self._sink = sink
        self.push_to_talk = push_to_talk
        self._partial_interval_s = partial_interval_s
        self._played = played
        self._echo: EchoCanceller | None = None  # made anew for each stream the source opens
        self._on_end = on_end
        self._ptt_down = False
        self._stop = threading.Event()
        # Transcription jobs; an Event (drain) is set once reached; None stops.
        self._jobs: queue.Queue[_Job | threading.Event | None] = queue.Queue()
        self._utterance = 0  # utterances started so far
        self._partial_busy = threading.Event()
        self._pending = np.zeros(0, np.float32)
        self._last_partial = 0.0
        self._partial_cost_s = 0.0  # how long the last partial transcript took
        self._status = ListenerStatus(False, False, False, "", "")
        self._threads: list[threading.Thread] = []

    # ----- control, from any thread -------------------------------------------------------------------

    def set_push_to_talk(self, down: bool) -> None:
        self._ptt_down = down
        self._status.push_to_talk = down

    def status(self) -> ListenerStatus:
        return ListenerStatus(**vars(self._status))

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._listen, name="cohost-listen", daemon=True),
            threading.Thread(target=self._transcribe_jobs, name="cohost-asr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def drain(self, timeout: float = 60.0) -> None:
        """Waits until every utterance heard so far is transcribed (and reported)."""
        done = threading.Event()
        self._jobs.put(done)
        done.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the listening thread -------------------------------------------------------------------------

    def _listen(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.source.open()
            except CohostError as e:
                failures = self._failed(e, failures)
                continue
            self._status.listening, self._status.error = True, ""
            if self._played is not None:  # a new stream: the echo's delay is to be found again
                self._echo = EchoCanceller(self._played)
            try:
                while not self._stop.is_set():
                    block = self.source.read()
                    if block is not None:
                        self._feed(block)
                        failures = 0
            except SourceEnded:
                self._end_utterance()
                self._stop.set()
                if self._on_end is not None:
                    self._on_end()
            except CohostError as e:
                failures = self._failed(e, failures)
            finally:
                self._status.listening = False
                self.source.close()

    def _failed(self, error: CohostError, failures: int) -> int:
        wait = RETRY_S[min(failures, len(RETRY_S) - 1)]
        if failures == 0:
            log.warning("hearing: %s; trying again (in %.0f s, then less and less often)", error, wait)
        self._status.error = str(error)
        self._stop.wait(wait)
        return failures + 1

    def _feed(self, block: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, block])
        while len(self._pending) >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            self._window(window)

    def _window(self, window: np.ndarray) -> None:
        endpointer = self._endpointer
        echo = False
        if self._echo is not None:
            echo = self._echo.active()
            window = self._echo.process(window)
        if self.push_to_talk:
            self._push_to_talk_window(window)
            return
        threshold = min(endpointer.endpoint.threshold + (THRESHOLD_WHILE_SPEAKING if echo else 0.0), 0.95)
        start = START_WINDOWS_WHILE_SPEAKING if echo else START_WINDOWS
        probability = self._vad.probability(window)
        # Sound the canceller missed (its echo not fitted yet, or the delay just moved) starts
        # nothing; the correlation is only worked out for a window that would count as speech. The
        # VAD forgets that sound too (its state would carry it into the windows after).
        missed = echo and not endpointer.speaking and probability >= threshold
        if missed and self._echo is not None and self._echo.left_sounds_like_echo():
            probability = 0.0
            self._vad.reset()
        event = endpointer.push(window, probability, threshold, start)
        if event == "start":
            self._utterance += 1
            self._status.speaking = True
            self._sink.speech_started()
        elif event in ("end", "discard"):
            key = (self._utterance, endpointer.speech_windows)
            self._status.speaking = False
            self._sink.speech_ended()
            audio = endpointer.take()
            if event == "end":
                self._jobs.put(_Job(audio, "final", key))
        elif endpointer.speaking and endpointer.silent_windows == PAUSE_WINDOWS:
            # The streamer paused: transcribe now, while the endpoint waits to see whether the pause
            # is the end. If no speech comes before it, this is the final transcript, already made.
            # Silence is appended as the final transcript would have it (Whisper reads a sentence's
            # end better with room after it).
            key = (self._utterance, endpointer.speech_windows)
            audio = np.concatenate([endpointer.audio, np.zeros(round(TRAILING_S * RATE), np.float32)])
            self._jobs.put(_Job(audio, "guess", key))
        elif endpointer.speaking and endpointer.silent_windows == 0:  # silence adds nothing to a partial
            self._maybe_partial()

    def _push_to_talk_window(self, window: np.ndarray) -> None:
        endpointer = self._endpointer
        if self._ptt_down:
            if not endpointer.speaking:
                self._utterance += 1
                endpointer.start_now()
                self._status.speaking = True
                self._sink.speech_started()
            endpointer.hold(window)
            self._maybe_partial()
        elif endpointer.speaking:
            endpointer.hold(window)
            self._end_utterance()
        else:
            endpointer.push(window, 0.0)  # keeps the pre-roll

    def _end_utterance(self) -> None:
        """Push-to-talk released (or the file ended): the utterance ends now, no endpoint wait."""
        key = (self._utterance, self._endpointer.speech_windows)
        event = self._endpointer.finish()
        self._status.speaking = False
        if event is not None:
            self._sink.speech_ended()
            audio = self._endpointer.take()
            if event == "end":
                self._jobs.put(_Job(audio, "final", key))

    def _maybe_partial(self) -> None:
        if self._partial_interval_s is None or self._partial_busy.is_set():
            return
        now = time.monotonic()
        # Partials are spaced by at least their own decoding time too: Whisper is busy half the time
        # at most, and the transcript made at the streamer's pause rarely waits for one.
        if now - self._last_partial < max(self._partial_interval_s, 2 * self._partial_cost_s):
            return
        self._last_partial = now
        self._partial_busy.set()
        self._jobs.put(_Job(self._endpointer.audio, "partial", (self._utterance, -1)))

    # ----- the transcribing thread --------------------------------------------------------------------

    def _transcribe_jobs(self) -> None:
        guessed: tuple[tuple[int, int], str] | None = None  # the last guess: its key and its text
        while (job := self._jobs.get()) is not None:
            if isinstance(job, threading.Event):
                job.set()
                continue
            if job.kind == "partial" and not self._jobs.empty():  # a newer job waits: this one is stale
                self._partial_busy.clear()
                continue
            if job.kind == "final" and guessed is not None and guessed[0] == job.key:
                text = guessed[1]  # nothing was said after the pause the guess was made at
            else:
                text = self._transcribe(job)
            if job.kind == "guess":
                guessed = (job.key, text)
            if text:
                self._report(job, text)

    def _transcribe(self, job: _Job) -> str:
        began = time.monotonic()
        try:
            return self._transcriber.transcribe(job.audio)
        except Exception:  # one lost transcript, not the listener
            log.exception("hearing: transcription failed")
            return ""
        finally:
            if job.kind == "partial":
                self._partial_cost_s = time.monotonic() - began
                self._partial_busy.clear()

    def _report(self, job: _Job, text: str) -> None:
        final = job.kind == "final"
        if job.kind != "partial" and self._played is not None and self._played.heard_back(text):
            if final:
                log.info("hearing: dropped %r (the co-host's own words coming back)", text)
            return
        if final:
            self._status.last_heard = text
        try:
            self._sink.heard(Heard(text, final, at_pause=job.kind == "guess"))
        except Exception:
            log.exception("hearing: the listener's sink failed")


@dataclass(frozen=True)
class _Job:
    audio: np.ndarray
    kind: str  # "partial" (speech goes on), "guess" (at a pause), "final" (the utterance ended)
    key: tuple[int, int]  # the utterance's number and its speech windows so far: a final whose key
    # matches a guess's had nothing said after that guess
