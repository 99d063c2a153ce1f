"""A real voice with a tap on it, for tests that compare what was heard with what was spoken."""

from __future__ import annotations

from collections.abc import Iterator

from engine.voice.base import SpeechChunk, VoiceBackend


class Tapped:
    """A real voice, keeping a copy of every chunk it hands out (espeak varies its output slightly
    from call to call, so a test compares against exactly what was spoken). Closing it closes the voice
    when it owns it."""

    def __init__(self, voice: VoiceBackend, owns: bool = True) -> None:
        self._voice = voice
        self._owns = owns
        self.name, self.sample_rate = voice.name, voice.sample_rate
        self.chunks: list[SpeechChunk] = []

    def stream(self, text: str, continued: bool = False, speed: float = 1.0) -> Iterator[SpeechChunk]:
        for chunk in self._voice.stream(text, continued, speed):
            self.chunks.append(chunk)
            yield chunk

    def close(self) -> None:
        if self._owns:
            self._voice.close()
