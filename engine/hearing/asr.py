"""Speech to text: faster-whisper (CTranslate2, int8 on the CPU) with the model the resolver finds."""

from __future__ import annotations

import math
import re
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
RATE = 16000
# Whisper's encoder was trained on 30-s windows, but CTranslate2 runs it on fewer frames, and the
# encoder is most of a decode's time (4 s of speech on 2 cores: 530 ms in 30 s, 190 ms in 10 s). Too
# short a window and the decoder repeats the utterance into the silence after it (tiny.en on the
# bench's sentences: WER 98 % with 0.5 s of silence, 39 % in 6 s): at least as much silence as
# speech, and 10 s, keeps it at the 30-s window's WER (bench sentences 10.8 % vs 11.5 %, pairs of
# them 8.5 % vs 6.9 %). A decode that still repeats itself is done again in the full window.
WINDOW_S = 30
MIN_WINDOW_S = 10
REPEATING = 2.4  # the compression ratio (zlib) above which a transcript repeats itself, as Whisper's own check


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
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens
        except ImportError:
            raise CohostError("hearing needs faster-whisper: run python3 install.py") from None
        self.language = None if language in ("", "auto") else language
        self.hotwords = " ".join(n.strip() for n in names or [] if n.strip()) or None
        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
        )
        multilingual = self._model.model.is_multilingual
        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer, multilingual, task="transcribe", language=self.language or "en"
        )
        self._suppress = list(get_suppressed_tokens(self._tokenizer, (-1,)))
        self._detect_language = multilingual and self.language is None
        self._compression_ratio = get_compression_ratio
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray) -> str:
        """At most one window (30 s; the endpointer cuts longer speech): more is not heard."""
        if len(audio) == 0:
            return ""
        audio = audio[: WINDOW_S * RATE].astype(np.float32)
        with self._lock:
            seconds = min(WINDOW_S, max(MIN_WINDOW_S, math.ceil(2 * len(audio) / RATE)))
            text = self._decode(audio, seconds)
            if seconds < WINDOW_S and (self._compression_ratio(text) > REPEATING or repeats_itself(text)):
                text = self._decode(audio, WINDOW_S)
        return text

    def _decode(self, audio: np.ndarray, seconds: int) -> str:
        # Padded as sound (zeros before the log-mel), as Whisper was trained, not as zero features.
        padded = np.zeros(seconds * RATE, np.float32)
        padded[: len(audio)] = audio
        encoded = self._model.encode(self._model.feature_extractor(padded)[:, : seconds * 100])
        if self._detect_language:
            token, _ = self._model.model.detect_language(encoded)[0][0]
            self._tokenizer.language = self._tokenizer.tokenizer.token_to_id(token)
            self._tokenizer.language_code = token[2:-2]
        prompt = self._model.get_prompt(self._tokenizer, [], without_timestamps=True, hotwords=self.hotwords)
        # Greedy at temperature 0 only: faster-whisper's fallback to sampling at higher temperatures
        # makes the result random and takes a decode per step; the streamer's next sentence is a
        # better second chance.
        result = self._model.model.generate(
            encoded, [prompt], beam_size=1, return_no_speech_prob=True, suppress_blank=True,
            suppress_tokens=self._suppress, max_length=self._model.max_length,
        )[0]  # fmt: skip
        if result.no_speech_prob >= NO_SPEECH_MAX:
            return ""
        return self._tokenizer.decode(result.sequences_ids[0]).strip()


def repeats_itself(text: str, least: int = 3) -> bool:
    """The transcript ends in the same `least` or more words twice running (a decoder in a loop; zlib's
    ratio misses two rounds of one sentence)."""
    words = re.findall(r"[\w']+", text.lower())
    return any(words[-n:] == words[-2 * n : -n] for n in range(least, len(words) // 2 + 1))


def load_transcriber(config: HearingConfig, models: ModelsConfig, names: list[str]) -> WhisperTranscriber:
    """The [hearing] model, resolved like every model (MissingModel names the install step)."""
    from engine.models import resolve

    model = resolve(MODEL_IDS[config.model], models)
    return WhisperTranscriber(model.files["model"].parent, config.language, config.threads, names)
