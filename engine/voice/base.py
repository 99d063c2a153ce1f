"""The voice interface every TTS backend implements: text in, a stream of timed speech chunks out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class TimedPhoneme:
    """One phoneme (IPA symbol, as espeak-ng writes it) and the samples it spans in its chunk."""

    symbol: str
    start: int  # first sample, relative to the start of the chunk
    end: int  # one past the last sample


@dataclass
class SpeechChunk:
    """A piece of speech (one sentence or clause) ready to play and to animate.

    `phonemes` tile the chunk's samples exactly when the backend knows its timing; it is empty when
    the backend gives no timing, and the face then falls back to animating from the audio alone.
    """

    pcm: np.ndarray  # int16, mono
    sample_rate: int
    text: str
    phonemes: list[TimedPhoneme] = field(default_factory=list)
    # More of the sentence the chunk before began (a voice server's audio, handed on as it streams
    # in): played right after it, with no pause and no subtitle of its own.
    continues: bool = False

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate


class VoiceBackend(Protocol):
    """A speech synthesizer. `stream` yields chunks as soon as each is synthesized. A backend whose
    synthesis of one chunk takes long may also have `interrupt()`, callable from any thread: the
    chunk being synthesized is abandoned and that `stream` ends at once (stop talking).

    `continued=True` says the text goes on a line already being spoken (the next sentence of an
    answer streaming from the LLM): there is no need to cut its opening short for an early start.
    `speed` is the pace relative to the voice's configured one ([voice] speed): 0.8 is slower."""

    name: str
    sample_rate: int

    def stream(self, text: str, continued: bool = False, speed: float = 1.0) -> Iterator[SpeechChunk]: ...

    def close(self) -> None: ...
