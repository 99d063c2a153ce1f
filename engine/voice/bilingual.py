"""Two voices as one: the Chinese in a text is spoken by the Chinese voice, the Latin-script rest
(English, and brand names inside Chinese) by the other, at one sample rate, so that a bilingual
co-host answers each viewer in their own language with the voice made for it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from engine.voice.base import SpeechChunk, TimedPhoneme, VoiceBackend
from engine.voice.zh_text import latin_runs


class BilingualVoice:
    name = "bilingual"

    def __init__(self, latin: VoiceBackend, chinese: VoiceBackend) -> None:
        self._latin, self._chinese = latin, chinese
        self.sample_rate = latin.sample_rate  # the engine's clock runs at one rate

    def stream(self, text: str, continued: bool = False, speed: float = 1.0) -> Iterator[SpeechChunk]:
        for i, (run, is_latin) in enumerate(latin_runs(text)):
            voice = self._latin if is_latin else self._chinese
            for chunk in voice.stream(run, continued=continued or i > 0, speed=speed):
                yield resampled(chunk, self.sample_rate)

    def interrupt(self) -> None:
        for voice in (self._latin, self._chinese):
            interrupt = getattr(voice, "interrupt", None)
            if interrupt is not None:
                interrupt()

    def close(self) -> None:
        self._latin.close()
        self._chinese.close()


def resampled(chunk: SpeechChunk, rate: int) -> SpeechChunk:
    """`chunk` at `rate` (libswresample, through PyAV), its phonemes moved to match and still tiling it."""
    if chunk.sample_rate == rate or not len(chunk.pcm):
        return chunk
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    frame = av.AudioFrame.from_ndarray(chunk.pcm.reshape(1, -1).astype(np.int16), format="s16", layout="mono")
    frame.sample_rate = chunk.sample_rate
    out = [f.to_ndarray().reshape(-1) for f in (*resampler.resample(frame), *resampler.resample(None))]
    pcm = np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)
    scale = len(pcm) / len(chunk.pcm)
    phonemes = [
        TimedPhoneme(
            p.symbol, round(p.start * scale), len(pcm) if i == len(chunk.phonemes) - 1 else round(p.end * scale)
        )
        for i, p in enumerate(chunk.phonemes)
    ]
    return SpeechChunk(pcm, rate, chunk.text, phonemes, chunk.continues)
