"""Piper TTS with sample-exact phoneme timing, streamed one sentence at a time.

Piper 1.8 reports how many samples each phoneme produced only when the voice model exposes its
duration tensor as an output; `aligned_model` patches a voice once and keeps the patched copy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import CohostError
from engine.files import patched_once
from engine.voice.base import SpeechChunk
from engine.voice.phonemes import timeline
from engine.voice.text import spoken_pieces


def aligned_model(model_path: Path, cache_dir: Path) -> Path:
    """A copy of the voice model that also outputs phoneme durations, made once per source file
    (its sha256 takes about 50 ms for a 63 MB voice, small next to the 1.7 s load)."""

    def patch(out: Path) -> bool:
        # Only needed once per voice, and onnx takes a while to import.
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output

        model = onnx.load(str(model_path))
        try:
            add_alignment_output(model)
        except ValueError:  # already has the output, or is not a piper VITS voice: load it as it is
            return False
        onnx.save(model, str(out))
        return True

    return patched_once(model_path, cache_dir, "aligned", patch)


class _InterruptibleSession:
    """The voice's ONNX session with a run that another thread can stop: onnxruntime checks a run's
    `terminate` flag as it goes, so stop talking does not wait for a sentence's synthesis to end
    (100-500 ms on a busy machine)."""

    def __init__(self, session: Any) -> None:
        import onnxruntime

        self._session = session
        self._new_options = onnxruntime.RunOptions
        self._options = self._new_options()
        self._lock = threading.Lock()

    def run(self, output_names: Any, input_feed: Any) -> Any:
        with self._lock:
            self._options = options = self._new_options()
        return self._session.run(output_names, input_feed, options)

    def interrupt(self) -> None:
        with self._lock:
            self._options.terminate = True

    @property
    def interrupted(self) -> bool:
        return bool(self._options.terminate)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class PiperBackend:
    """A piper voice. Each sentence (the first one: each clause) becomes one SpeechChunk as soon as
    it is synthesized."""

    name = "piper"

    def __init__(self, model_path: Path, config_path: Path, cache_dir: Path, speed: float = 1.0) -> None:
        from piper import PiperVoice, SynthesisConfig

        for path in (model_path, config_path):
            if not path.is_file():
                raise CohostError(f"piper voice file not found: {path}")
        self._voice = PiperVoice.load(aligned_model(model_path, cache_dir), config_path=config_path)
        self._session = self._voice.session = _InterruptibleSession(self._voice.session)
        self.sample_rate: int = self._voice.config.sample_rate
        # [voice] speed scales the voice's own pace (its length_scale is not always 1).
        self._length_scale = self._voice.config.length_scale / speed
        self._synthesis_config = SynthesisConfig  # piper is imported only when the voice is built

    def stream(self, text: str, continued: bool = False, speed: float = 1.0) -> Iterator[SpeechChunk]:
        pace = self._synthesis_config(length_scale=self._length_scale / speed)
        for piece in spoken_pieces(text, continued):
            try:
                chunk = self._synthesize(piece, pace)
            except Exception:
                if self._session.interrupted:
                    return
                raise
            if len(chunk.pcm):
                yield chunk

    def interrupt(self) -> None:
        self._session.interrupt()

    def close(self) -> None:
        self._voice = None  # the ONNX session holds the model's memory

    def _synthesize(self, sentence: str, pace: Any) -> SpeechChunk:
        # Piper may still cut our sentence (at a break we did not see); one chunk per sentence
        # keeps each chunk's text exact, so such pieces are joined.
        pieces = list(self._voice.synthesize(sentence, pace, include_alignments=True))
        pcm = np.concatenate([p.audio_int16_array for p in pieces] or [np.zeros(0, np.int16)])
        if any(p.phoneme_alignments is None for p in pieces):
            return SpeechChunk(pcm, self.sample_rate, sentence)
        # Each piece's alignments sum to its length, so chained they tile the joined audio.
        segments = [(a.phoneme, a.num_samples) for p in pieces for a in p.phoneme_alignments]
        return SpeechChunk(pcm, self.sample_rate, sentence, timeline(segments))
