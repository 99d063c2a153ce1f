"""The phoneme symbol conventions every backend's timeline follows.

A symbol is one IPA letter as espeak-ng writes it (piper phonemizes with espeak-ng, split into
single code points), followed by any modifiers that belong to it (length mark, aspiration,
combining diacritics). Stress marks are dropped: their samples go to the phoneme they stress.
Pauses, word gaps, punctuation and sentence boundaries are all one symbol, SILENCE.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from engine.voice.base import TimedPhoneme

SILENCE = "_"

_STRESS = frozenset("ˈˌ")
# Marks that modify the phoneme before them; ˞ and ↓ are symbols (not letters) in Unicode.
_MODIFIERS = frozenset("ːˑʰʲʷˠˤ˞↓")


def symbol_kind(symbol: str) -> str:
    """One of "stress", "modifier" (belongs to the phoneme before it), "phoneme" or "silence"."""
    ch = symbol[:1]
    if ch in _STRESS:
        return "stress"
    if ch in _MODIFIERS or (ch and unicodedata.combining(ch)):
        return "modifier"
    if ch and unicodedata.category(ch).startswith("L"):
        return "phoneme"
    return "silence"


def timeline(segments: Iterable[tuple[str, int]]) -> list[TimedPhoneme]:
    """Timed phonemes tiling [0, sum of lengths) from consecutive (symbol, num_samples) segments.

    Segments are raw symbols in order (single code points, or "" / punctuation for pauses). The
    result follows the module's conventions, drops empty spans and merges adjacent silences, so
    it tiles the samples exactly.
    """
    spans: list[list] = []  # [symbol, start, end]
    pos = 0
    pending: int | None = None  # start of samples waiting for the next phoneme (after a stress mark)
    for symbol, num_samples in segments:
        start, pos = pos, pos + int(num_samples)
        kind = symbol_kind(symbol)
        if kind == "stress" or (kind == "modifier" and (pending is not None or not spans)):
            pending = start if pending is None else pending
            continue
        if kind == "modifier":
            if spans[-1][0] != SILENCE:
                spans[-1][0] += symbol
            spans[-1][2] = pos
            continue
        first = start if pending is None else pending
        pending = None
        spans.append([symbol if kind == "phoneme" else SILENCE, first, pos])
    if pending is not None:  # a trailing stress mark: nothing follows, so it ends the last span
        if spans:
            spans[-1][2] = pos
        else:
            spans.append([SILENCE, pending, pos])

    merged: list[TimedPhoneme] = []
    for symbol, start, end in spans:
        if end <= start:
            continue
        if merged and symbol == SILENCE and merged[-1].symbol == SILENCE:
            merged[-1] = TimedPhoneme(SILENCE, merged[-1].start, end)
        else:
            merged.append(TimedPhoneme(symbol, start, end))
    return merged
