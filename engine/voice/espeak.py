"""espeak-ng through its C library: robotic but tiny and always there, with sample-exact phonemes.

The library reports each phoneme (as IPA) with the sample where it starts, so the timeline needs
no estimation. Its state is global to the process, hence one lock around every use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import unicodedata
from collections.abc import Iterator

import numpy as np

from engine.errors import CohostError
from engine.voice.base import SpeechChunk
from engine.voice.phonemes import symbol_kind, timeline
from engine.voice.text import normalise, split_sentences

# From espeak-ng's speak_lib.h (API revision 12).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_RATE = 1  # espeakRATE
_DEFAULT_WPM = 175


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # samples since the start of this synthesis call
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def _load() -> ctypes.CDLL:
    for name in ("libespeak-ng.so.1", ctypes.util.find_library("espeak-ng")):
        if name:
            try:
                return ctypes.CDLL(name)
            except OSError:
                pass
    raise CohostError("espeak-ng not found: install it (Debian/Ubuntu: apt install espeak-ng)")


class _Library:
    """The loaded, initialised library and what the current synthesis call has produced."""

    def __init__(self) -> None:
        lib = _load()
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA
        )
        if self.sample_rate <= 0:
            raise CohostError("espeak-ng failed to start: its data files are missing (reinstall espeak-ng)")
        self._callback = _SynthCallback(self._on_synth)  # kept referenced: the library holds a raw pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.lib = lib
        self.lock = threading.Lock()
        self._voice: str | None = None
        self.audio: list[np.ndarray] = []
        self.phoneme_starts: list[tuple[int, str]] = []

    def _on_synth(self, wav, num_samples: int, events) -> int:
        if wav and num_samples > 0:
            self.audio.append(np.ctypeslib.as_array(wav, (num_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                # Up to 8 bytes of UTF-8 (ctypes stops at the zero byte); a cut character is dropped.
                self.phoneme_starts.append((event.sample, event.id.string.decode("utf-8", "ignore")))
            i += 1
        return 0

    def _set_voice(self, voice: str) -> None:
        if voice != self._voice:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise CohostError(f"espeak-ng has no voice {voice!r} (list them with: espeak-ng --voices)")
            self._voice = voice

    def check_voice(self, voice: str) -> None:
        with self.lock:
            self._set_voice(voice)

    def synthesize(self, voice: str, text: str, speed: float = 1.0) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """The text's audio and its phonemes as (first sample, IPA name), in order; `speed` times
        espeak-ng's default rate (175 words a minute)."""
        with self.lock:
            self._set_voice(voice)
            self.lib.espeak_SetParameter(_RATE, round(_DEFAULT_WPM * speed), 0)
            self.audio, self.phoneme_starts = [], []
            data = text.encode() + b"\0"
            if self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
                raise CohostError("espeak-ng failed to synthesize speech")
            pcm = np.concatenate(self.audio) if self.audio else np.zeros(0, dtype=np.int16)
            return pcm.astype(np.int16, copy=False), self.phoneme_starts


_library: _Library | None = None
_library_lock = threading.Lock()


def _get_library() -> _Library:
    global _library
    with _library_lock:
        if _library is None:
            _library = _Library()
        return _library


def _segments(phoneme_starts: list[tuple[int, str]], total: int) -> list[tuple[str, int]]:
    """(symbol, num_samples) code point by code point, as piper reports them.

    A multi-letter phoneme ("aɪ", "tʃ") shares its span evenly among its letters; modifiers in it
    ("iː") take no samples of their own. Samples before the first phoneme are silence.
    """
    # Clamped and made monotonic so that the spans can never overlap or leave the audio.
    starts = np.maximum.accumulate(np.clip([s for s, _ in phoneme_starts] + [total], 0, total))
    segments: list[tuple[str, int]] = [("", int(starts[0]))]
    for (_, name), start, end in zip(phoneme_starts, starts[:-1], starts[1:]):
        chars = list(unicodedata.normalize("NFD", name)) or [""]
        timed = [symbol_kind(ch) not in ("stress", "modifier") for ch in chars]
        if not any(timed):
            timed[0] = True
        share, extra = divmod(int(end - start), sum(timed))
        k = 0
        for ch, is_timed in zip(chars, timed):
            segments.append((ch, share + (k < extra) if is_timed else 0))
            k += is_timed
    return segments


class EspeakBackend:
    """An espeak-ng voice. Each sentence becomes one SpeechChunk as soon as it is synthesized."""

    name = "espeak"

    def __init__(self, voice: str = "en-us") -> None:
        self._library = _get_library()
        self._voice = voice
        self.sample_rate: int = self._library.sample_rate
        self._library.check_voice(voice)  # a wrong voice name fails here, not mid-stream

    def stream(self, text: str, continued: bool = False, speed: float = 1.0) -> Iterator[SpeechChunk]:
        # espeak is fast enough (a few ms a sentence) never to cut an opening short: `continued`
        # changes nothing here.
        for sentence in split_sentences(normalise(text)):
            pcm, phoneme_starts = self._library.synthesize(self._voice, sentence, speed)
            if not len(pcm):
                continue
            yield SpeechChunk(pcm, self.sample_rate, sentence, timeline(_segments(phoneme_starts, len(pcm))))

    def close(self) -> None:
        """Nothing to release: the library stays loaded for the process (it cannot be unloaded)."""
