"""Voice activity: Silero VAD (the ONNX model inside faster-whisper's wheel) one 32 ms window at a
time, and the endpointer that cuts the stream into utterances."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from engine.errors import CohostError
from engine.hearing.audio_in import RATE

WINDOW = 512  # samples at 16 kHz: what the model takes
CONTEXT = 64  # samples of the previous window the model sees before each one
WINDOW_MS = WINDOW * 1000 / RATE
START_WINDOWS = 2  # consecutive speech windows before an utterance starts (a click is one)
MAX_UTTERANCE_S = 30.0  # Whisper's window; longer speech is cut here and goes on as a new utterance


def silero_model() -> Path:
    try:
        return Path(str(resources.files("faster_whisper") / "assets" / "silero_vad_v6.onnx"))
    except ModuleNotFoundError:
        raise CohostError("hearing needs faster-whisper: run python3 install.py") from None


class SileroVad:
    """Not thread-safe: one listener thread feeds it."""

    def __init__(self, model: Path | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = options.intra_op_num_threads = 1  # ~0.1 ms a window: one thread is plenty
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(model or silero_model()), providers=["CPUExecutionProvider"], sess_options=options
        )
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)

    def probability(self, window: np.ndarray) -> float:
        """Speech probability of one WINDOW of 16 kHz float32 audio, given the windows before it."""
        batch = np.concatenate([self._context, window]).astype(np.float32)[None, :]
        out, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = window[-CONTEXT:].astype(np.float32)
        return float(out[0])


@dataclass(frozen=True)
class Endpoint:
    threshold: float  # speech probability that starts (or continues) speech
    end_silence_ms: int
    min_speech_ms: int
    pre_roll_ms: int


class Endpointer:
    """Windows and their speech probabilities in; "start" (speech began: barge-in listens for this),
    "end" (an utterance, with its audio) or "discard" (too short to be one) out. Like Silero's own
    segmenter, a probability below threshold - 0.15 counts as silence, so speech that wavers around
    the threshold is not cut."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(1, round(endpoint.pre_roll_ms / WINDOW_MS)))
        self._audio: list[np.ndarray] = []
        self._run = 0  # consecutive speech windows before start
        self._silence = 0  # consecutive silent windows in speech
        self._speech_windows = 0
        self.speaking = False

    @property
    def silent_windows(self) -> int:
        """Silent windows since the last speech of the utterance under way."""
        return self._silence

    @property
    def speech_windows(self) -> int:
        """Speech windows of the utterance under way: it changes whenever speech goes on."""
        return self._speech_windows

    @property
    def audio(self) -> np.ndarray:
        """The utterance so far (pre-roll included), for partial transcripts."""
        return np.concatenate(self._audio) if self._audio else np.zeros(0, np.float32)

    def push(
        self, window: np.ndarray, probability: float, threshold: float | None = None, start_windows: int = START_WINDOWS
    ) -> str | None:
        """`threshold` and `start_windows` override the defaults for this window (raised while the
        co-host is heard, so what is left of its echo does not start an utterance)."""
        threshold = self.endpoint.threshold if threshold is None else threshold
        if not self.speaking:
            self._pre_roll.append(window)
            self._run = self._run + 1 if probability >= threshold else 0
            if self._run < start_windows:
                return None
            self.speaking, self._silence, self._speech_windows = True, 0, self._run
            self._audio = list(self._pre_roll)
            self._pre_roll.clear()
            return "start"
        self._audio.append(window)
        if probability < max(threshold - 0.15, 0.01):
            self._silence += 1
        else:
            self._silence = 0
            self._speech_windows += 1
        too_long = len(self._audio) * WINDOW_MS >= MAX_UTTERANCE_S * 1000
        if self._silence * WINDOW_MS < self.endpoint.end_silence_ms and not too_long:
            return None
        return self._finish()

    def finish(self) -> str | None:
        """Ends the utterance now (push-to-talk released); None when none was under way."""
        return self._finish() if self.speaking else None

    def _finish(self) -> str:
        self.speaking, self._run = False, 0
        long_enough = self._speech_windows * WINDOW_MS >= self.endpoint.min_speech_ms
        return "end" if long_enough else "discard"

    def take(self) -> np.ndarray:
        """The utterance just ended, trailing silence dropped but for a little (Whisper reads the end
        of a sentence better with some room after it)."""
        audio = self.audio
        keep_silence = min(self._silence, round(200 / WINDOW_MS))
        cut = (self._silence - keep_silence) * WINDOW
        self._audio, self._silence = [], 0
        return audio[: len(audio) - cut] if cut else audio

    def start_now(self) -> None:
        """Push-to-talk pressed: everything from here (and the pre-roll) is the utterance."""
        if not self.speaking:
            self.speaking, self._silence, self._speech_windows = True, 0, 0
            self._audio = list(self._pre_roll)
            self._pre_roll.clear()

    def hold(self, window: np.ndarray) -> None:
        """Push-to-talk held: the window belongs to the utterance whatever the VAD says."""
        self._audio.append(window)
        self._speech_windows += 1
