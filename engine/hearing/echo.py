"""The co-host's own voice coming back through the streamer's microphone (speakers in the room, or
a loopback) must not count as the streamer. The engine knows exactly what it played: an output of
the engine keeps the last seconds of it as one continuous stream, and the listener takes it out of
the microphone's continuous stream before the VAD and Whisper see it.

Both streams are counted in their own samples, so the echo's delay between them stays put (the
wall clock would add the jitter of every thread hand-over). The delay is found by normalised
cross-correlation over the last half second, checked again a few times a second and refined by a
few samples at every window; the played sound at that delay, scaled by least squares, is
subtracted. On a loopback that leaves silence; the streamer talking over it is left whole.

Limitation: a one-tap canceller. Through speakers in a real room the echo is filtered and
reverberant, so some of it is left; the VAD threshold is raised while the co-host is heard, and a
transcript that repeats what the co-host just said is dropped (heard_back).
"""

from __future__ import annotations

import difflib
import re
import threading
import time
from collections import deque

import numpy as np

from engine.hearing.audio_in import RATE, Resampler
from engine.live.events import Event, EventKind
from engine.output.base import Output

KEEP_S = 3.0  # played sound kept; the echo's delay is searched within it
QUIET = 1e-5  # mean square below which sound counts as silence (nothing to echo)
AUDIBLE = 0.003  # a played block whose peak reaches this (-50 dBFS) has sound in it
ACTIVE_S = 1.5  # an echo may follow the co-host's last sound by this much (output buffers, the room)
ESTIMATE_S = 0.5  # microphone sound the delay is found on
ESTIMATE_EVERY_S = 0.25
GAIN_S = 0.25  # microphone sound the echo's level is fitted on
REFINE = 24  # samples either side of the delay searched at each window (1.5 ms)
# The echo is fitted as a short filter around the delay (least squares over GAIN_S), not one gain:
# the sound server's resampling leaves a fraction of a sample of delay, which one tap cannot
# follow at the high frequencies of "s" and "sh", and a room colours the echo.
TAPS = 9
POOR = 0.5  # more of a window's energy than this left over: the delay is looked for on the last JUMP_S
JUMP_S = 0.15  # short, so that a delay that just jumped is found at its new place
GOOD = 0.1  # less than this left over: the canceller has the echo
HEARD_BACK_RATIO = 0.7  # a transcript this similar to a recent co-host sentence is its echo
# What the canceller left over in the last GAIN_S correlating this well (normalised) with the played
# sound somewhere is the echo it missed (not fitted yet, or its delay just moved); the streamer's own
# voice scores far lower.
LIKE_ECHO = 0.5


class PlayedAudio(Output):
    """An output of the engine that plays nothing: it keeps the last KEEP_S of the co-host's sound at
    16 kHz, as one stream, and its recent sentences."""

    name = "played"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = np.zeros(round(KEEP_S * RATE), np.float32)
        self._total = 0  # 16 kHz samples written since open; the buffer ends there
        self._resample: Resampler | None = None
        self._lines: deque[tuple[float, str]] = deque(maxlen=20)
        self.sounded_at = -1e9  # time.monotonic() of the last block with sound in it

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        self._resample = Resampler(sample_rate)

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        assert self._resample is not None
        block = self._resample(pcm.astype(np.float32) / 32768)
        with self._lock:
            self._buffer = np.concatenate([self._buffer[len(block) :], block])
            self._total += len(block)
            if len(block) and float(np.max(np.abs(block))) >= AUDIBLE:
                self.sounded_at = time.monotonic()

    def close(self) -> None:
        pass

    def snapshot(self) -> tuple[np.ndarray, int]:
        """The kept sound and the stream position one past its end."""
        with self._lock:
            return self._buffer, self._total

    def on_event(self, event: Event) -> None:
        """The engine's events: each sentence the co-host starts saying is remembered (heard_back)."""
        if event.kind is EventKind.SUBTITLE:
            self._lines.append((time.monotonic(), event.text))

    def heard_back(self, transcript: str, within_s: float = 10.0) -> bool:
        """The transcript repeats a sentence the co-host said in the last `within_s`."""
        words = _words(transcript)
        if not words:
            return False
        since = time.monotonic() - within_s
        return any(
            difflib.SequenceMatcher(None, words, _words(text)).ratio() >= HEARD_BACK_RATIO
            for at, text in list(self._lines)
            if at >= since
        )


class EchoCanceller:
    """Owned by the listening thread: the microphone's windows in, with the played sound taken out."""

    def __init__(self, played: PlayedAudio) -> None:
        self.played = played
        self._mic = np.zeros(round(ESTIMATE_S * RATE), np.float32)
        self._left = np.zeros(round(GAIN_S * RATE), np.float32)  # what process() returned lately
        self._count = 0  # microphone samples seen
        self.delay: int | None = None  # microphone position minus played position of the same sound
        self._estimated_at = 0

    def active(self) -> bool:
        """The co-host made a sound lately: an echo of it may be on the microphone now or soon (a
        block is handed out before it is heard, by the output's own buffering)."""
        return time.monotonic() - self.played.sounded_at <= ACTIVE_S

    def left_sounds_like_echo(self) -> bool:
        """What was left over in the last GAIN_S is the played sound coming back, as far as correlation
        can tell: the moments before the echo is fitted, and those after its delay jumped (the output
        ran dry and waited for its prefill, or dropped sound), until it is found again."""
        if float(np.mean(self._left**2)) < QUIET:
            return False
        buffer, _ = self.played.snapshot()
        return best_match(self._left, buffer)[1] >= LIKE_ECHO

    def process(self, window: np.ndarray) -> np.ndarray:
        left = self._cancelled(window)
        self._left = np.concatenate([self._left[len(left) :], left])
        return left

    def _cancelled(self, window: np.ndarray) -> np.ndarray:
        self._mic = np.concatenate([self._mic[len(window) :], window])
        self._count += len(window)
        buffer, total = self.played.snapshot()
        if not self.active() and float(np.mean(buffer**2)) < QUIET:
            return window
        if self.delay is None or self._count - self._estimated_at >= ESTIMATE_EVERY_S * RATE:
            self._estimate(buffer, total)
        if self.delay is None:
            return window
        self.delay = self._refine(buffer, total, self.delay)
        left = self._cancel(buffer, total, self.delay, window)
        if left is None:
            return window
        heard, kept = float(np.dot(window, window)), float(np.dot(left, left))
        if kept > POOR * heard:
            # Much is left: the streamer talking over the co-host, or the echo's delay jumped (the
            # output ran dry and waited, or dropped sound). The delay found on the last JUMP_S alone
            # tells them apart: if it takes the sound out, the echo had moved there.
            moved = self._estimated(buffer, total, round(JUMP_S * RATE))
            retried = self._cancel(buffer, total, moved, window) if moved is not None else None
            if retried is not None and float(np.dot(retried, retried)) < GOOD * heard:
                self.delay, left = moved, retried
        return left

    def _cancel(self, buffer: np.ndarray, total: int, delay: int, window: np.ndarray) -> np.ndarray | None:
        """`window` less the played sound at `delay`, filtered by the TAPS that fit the last GAIN_S
        best (least squares); None when the played sound does not reach that far."""
        fit = round(GAIN_S * RATE)
        half = TAPS // 2
        shifted = [self._aligned(buffer, total, delay + tap, fit) for tap in range(-half, half + 1)]
        if any(column is None for column in shifted):
            return None
        x = np.stack(shifted, axis=1).astype(np.float64)  # (fit, TAPS): the played sound around the delay
        gram = x.T @ x
        regular = 1e-3 * float(np.trace(gram)) / TAPS + 1e-9
        taps = np.linalg.solve(gram + regular * np.eye(TAPS), x.T @ self._mic[-fit:])
        return (window - x[-len(window) :] @ taps).astype(np.float32)

    def _aligned(self, buffer: np.ndarray, total: int, delay: int, length: int) -> np.ndarray | None:
        """The played sound lined up with the last `length` microphone samples at `delay`."""
        end = self._count - delay - (total - len(buffer))  # in buffer positions
        start = end - length
        if start < 0 or end > len(buffer):
            return None
        return buffer[start:end]

    def _estimate(self, buffer: np.ndarray, total: int) -> None:
        delay = self._estimated(buffer, total, len(self._mic))
        if delay is not None:
            self._estimated_at, self.delay = self._count, delay

    def _estimated(self, buffer: np.ndarray, total: int, length: int) -> int | None:
        """The delay at which the played sound best matches the last `length` microphone samples;
        None while they are silent."""
        mic = self._mic[-length:]
        if float(np.mean(mic**2)) < QUIET:
            return None
        shift, _ = best_match(mic, buffer)
        return self._count - (total - len(buffer) + shift + len(mic))

    def _refine(self, buffer: np.ndarray, total: int, delay: int) -> int:
        mic = self._mic[-round(GAIN_S * RATE) :]
        best, best_score = delay, -1.0
        for candidate in range(delay - REFINE, delay + REFINE + 1, 2):
            reference = self._aligned(buffer, total, candidate, len(mic))
            if reference is None:
                continue
            energy = float(np.dot(reference, reference))
            score = float(np.dot(mic, reference)) / np.sqrt(energy) if energy > 0 else 0.0
            if score > best_score:
                best, best_score = candidate, score
        return best


def best_match(mic: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """Where in `reference` the stretch `mic` matches best (the start of the largest normalised
    cross-correlation, by FFT), and that correlation's size (1: the same sound, scaled). Its sign is
    left out: a device may invert the sound, and the echo over-subtracted is the sound inverted."""
    n = len(mic)
    size = 1 << (len(reference) + n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(reference, size) * np.conj(np.fft.rfft(mic, size)), size)[: len(reference) - n + 1]
    energy = np.cumsum(np.concatenate([[0.0], reference.astype(np.float64) ** 2]))
    under = energy[n:] - energy[:-n]  # the reference's energy under each shift
    scores = np.abs(corr) / np.sqrt(np.maximum(under, 1e-12))
    shift = int(np.argmax(scores))
    return shift, float(scores[shift]) / max(float(np.linalg.norm(mic)), 1e-12)


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())
