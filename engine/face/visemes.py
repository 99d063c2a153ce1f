"""Phonemes to mouth controls: a viseme per phoneme, blended by Cohen–Massaro coarticulation.

Mouth controls are a small vector per frame (see MOUTH_CONTROLS); the rig turns them into a face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.voice.base import TimedPhoneme
from engine.voice.phonemes import SILENCE

MOUTH_CONTROLS = ("jaw", "round", "wide", "press", "tuck", "upper", "tongue")
JAW, ROUND, WIDE, PRESS, TUCK, UPPER, TONGUE = range(len(MOUTH_CONTROLS))


@dataclass(frozen=True)
class Viseme:
    name: str
    target: tuple[float, ...]  # one value per MOUTH_CONTROLS entry
    dominance: float  # how strongly it pulls against its neighbours (lips that must close win)
    spread: float  # seconds over which its influence decays beyond its own span


def _v(name: str, dominance: float = 1.0, spread: float = 0.05, **controls: float) -> Viseme:
    return Viseme(name, tuple(controls.get(c, 0.0) for c in MOUTH_CONTROLS), dominance, spread)


# The Meta/Oculus set of 15 visemes, as targets over our controls.
VISEMES = {
    v.name: v
    for v in (
        _v("sil", 1.0, 0.06),
        _v("PP", 3.0, 0.03, press=1.0),
        _v("FF", 2.5, 0.03, tuck=1.0, jaw=0.05, upper=0.4),
        _v("TH", 1.2, 0.03, jaw=0.15, upper=0.25, tongue=1.0),
        _v("DD", 0.8, 0.03, jaw=0.12, wide=0.2, upper=0.15, tongue=0.4),
        _v("kk", 0.7, 0.03, jaw=0.2, wide=0.1),
        _v("CH", 1.3, 0.03, jaw=0.12, round=0.6, upper=0.35),
        _v("SS", 1.2, 0.03, jaw=0.05, wide=0.45, upper=0.3),
        _v("nn", 0.8, 0.03, jaw=0.12, wide=0.1, tongue=0.6),
        _v("RR", 0.9, 0.03, jaw=0.15, round=0.45),
        _v("aa", 1.0, 0.04, jaw=0.95, wide=0.1, tongue=0.2),
        _v("E", 1.0, 0.04, jaw=0.6, wide=0.35),
        _v("ih", 1.0, 0.04, jaw=0.35, wide=0.55),
        _v("oh", 1.0, 0.04, jaw=0.65, round=0.65),
        _v("ou", 1.2, 0.04, jaw=0.3, round=1.0),
    )
}

# IPA (as espeak-ng and piper write it) to viseme. Stress and length marks are folded away by the
# voice backends before this point; unknown symbols fall back to a neutral half-open mouth.
_IPA = {
    "PP": "pbm",
    "FF": "fv",
    "TH": "θð",
    "DD": "tdɾʔ",
    "kk": "kgŋɡxh",
    "CH": "ʃʒ",
    "SS": "sz",
    "nn": "nlɫ",
    "RR": "ɹrɚɝ",
    "aa": "aɑæʌɐɒ",
    "E": "eɛəɜ",
    "ih": "iɪjy",
    "oh": "oɔ",
    "ou": "uʊw",
}
_SYMBOL_TO_VISEME = {ch: VISEMES[name] for name, chars in _IPA.items() for ch in chars}


def viseme_for(symbol: str) -> Viseme:
    if symbol == SILENCE or not symbol.strip():
        return VISEMES["sil"]
    if symbol in ("tʃ", "dʒ"):
        return VISEMES["CH"]
    for ch in symbol:  # affricates and diphthongs: the first sound shapes the mouth
        if ch in _SYMBOL_TO_VISEME:
            return _SYMBOL_TO_VISEME[ch]
    return VISEMES["E"]


def mouth_controls(phonemes: list[TimedPhoneme], sample_rate: int, times: np.ndarray) -> np.ndarray:
    """Control values (len(times) x len(MOUTH_CONTROLS)) at `times` (seconds from the chunk start).

    Each phoneme's dominance is flat over its own span and decays exponentially outside it, so a
    short consonant still reaches its target while long vowels blend smoothly into neighbours.
    """
    out = np.zeros((len(times), len(MOUTH_CONTROLS)), dtype=np.float32)
    if not phonemes or len(times) == 0:
        return out
    visemes = [viseme_for(p.symbol) for p in phonemes]
    starts = np.array([p.start for p in phonemes], dtype=np.float64) / sample_rate
    ends = np.array([p.end for p in phonemes], dtype=np.float64) / sample_rate
    alpha = np.array([v.dominance for v in visemes])
    spread = np.array([v.spread for v in visemes])
    targets = np.array([v.target for v in visemes], dtype=np.float64)

    t = np.asarray(times, dtype=np.float64)[:, None]
    outside = np.maximum(starts[None, :] - t, 0.0) + np.maximum(t - ends[None, :], 0.0)
    dominance = alpha[None, :] * np.exp(-outside / spread[None, :])
    # A resting mouth with tiny dominance keeps the blend defined far from any phoneme.
    total = dominance.sum(axis=1, keepdims=True) + 1e-4
    out[:] = (dominance @ targets) / total

    # A bilabial must close the lips on at least one frame, however short it is.
    for i, v in enumerate(visemes):
        if v.name == "PP":
            k = int(np.argmin(np.abs(times - (starts[i] + ends[i]) / 2)))
            if abs(times[k] - (starts[i] + ends[i]) / 2) <= (ends[i] - starts[i]) / 2 + 0.02:
                out[k, PRESS] = max(out[k, PRESS], 0.9)
                out[k, JAW] = min(out[k, JAW], 0.05)
    return out
