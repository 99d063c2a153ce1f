"""Speech to text: faster-whisper (CTranslate2, int8 on the CPU) with the model the resolver finds."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from engine.config import HearingConfig, ModelsConfig
from engine.errors import CohostError

# Whisper's segments that it itself thinks hold no speech are dropped: on breath or room noise it
# otherwise "hears" stock phrases ("Thank you.").
NO_SPEECH_MAX = 0.6
MODEL_IDS = {"tiny.en": "asr/whisper-tiny.en", "base": "asr/whisper-base"}


class Transcriber(Protocol):
    def transcribe(self, audio: np.ndarray) -> str:
        """16 kHz mono float32 in, the words heard out ("" for none)."""
        ...


class WhisperTranscriber:
    """Thread-safe: one call at a time (CTranslate2 would run two, each slower)."""

    def __init__(self, model_dir: Path, language: str, threads: int, names: list[str] | None = None) -> None:
        """`names`: the co-host's names, given to Whisper as hotwords, so that it spells "Nova" as
        Nova and not "no, but" (which the wake mode would miss)."""
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise CohostError("hearing needs faster-whisper: run python3 install.py") from None
        self.language = None if language in ("", "auto") else language
        self.hotwords = " ".join(n.strip() for n in names or [] if n.strip()) or None
        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
        )
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray) -> str:
        if len(audio) == 0:
            return ""
        with self._lock:
            # Greedy at temperature 0 only: faster-whisper's fallback to sampling at higher temperatures
            # (when a decode repeats itself) makes the result random and takes a decode per step; the
            # streamer's next sentence is a better second chance.
            segments, _ = self._model.transcribe(
                audio.astype(np.float32), language=self.language, beam_size=1, without_timestamps=True,
                condition_on_previous_text=False, vad_filter=False, temperature=0.0, hotwords=self.hotwords,
            )  # fmt: skip
            words = [s.text.strip() for s in segments if s.no_speech_prob < NO_SPEECH_MAX]
        return " ".join(word for word in words if word).strip()


def load_transcriber(config: HearingConfig, models: ModelsConfig, names: list[str]) -> WhisperTranscriber:
    """The [hearing] model, resolved like every model (MissingModel names the install step)."""
    from engine.models import resolve

    model = resolve(MODEL_IDS[config.model], models)
    return WhisperTranscriber(model.files["model"].parent, config.language, config.threads, names)
