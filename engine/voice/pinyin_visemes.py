"""Pinyin initials and finals as the IPA symbols the face animates (engine/face/visemes.py).

The Chinese voice times whole initials and finals; the face reads one IPA letter per mouth shape.
Each initial becomes one symbol, each final its vowels and nasal coda, sharing the final's samples.
Where Mandarin's sound has no letter in the face's table (alveolo-palatal ɕ, retroflex ʂ ʐ, the
apical vowels of zi and zhi), the nearest sound that has one stands in, chosen for the lips.
"""

from __future__ import annotations

INITIALS = {
    "b": "p",
    "p": "pʰ",
    "m": "m",
    "f": "f",
    "d": "t",
    "t": "tʰ",
    "n": "n",
    "l": "l",
    "g": "k",
    "k": "kʰ",
    "h": "x",
    # j q x: spread lips and a raised tongue blade, a palatalised s.
    "j": "zʲ",
    "q": "sʲ",
    "x": "sʲ",
    # zh ch sh r: the lips push forward a little, as in English "ch", "sh" and "r".
    "zh": "dʒ",
    "ch": "tʃ",
    "sh": "ʃ",
    "r": "ɹ",
    "z": "z",
    "c": "s",
    "s": "s",
}

# Symbols in order; the nucleus (see _nucleus) is held twice as long as a glide or a coda.
FINALS = {
    "a": ("a",),
    "ai": ("a", "i"),
    "an": ("a", "n"),
    "ang": ("a", "ŋ"),
    "ao": ("a", "u"),
    "e": ("ə",),
    "ei": ("e", "i"),
    "en": ("ə", "n"),
    "eng": ("ə", "ŋ"),
    "er": ("ɚ",),
    "i": ("i",),
    "ia": ("i", "a"),
    "ian": ("i", "ɛ", "n"),
    "iang": ("i", "a", "ŋ"),
    "iao": ("i", "a", "u"),
    "ie": ("i", "e"),
    "ii": ("ɪ",),  # zi ci si: the tongue stays at the s, the lips spread
    "iii": ("ɹ",),  # zhi chi shi ri: the tongue stays curled back
    "in": ("i", "n"),
    "ing": ("i", "ŋ"),
    "iong": ("i", "u", "ŋ"),
    "iou": ("i", "o", "u"),
    "o": ("o",),
    "ong": ("u", "ŋ"),
    "ou": ("o", "u"),
    "u": ("u",),
    "ua": ("u", "a"),
    "uai": ("u", "a", "i"),
    "uan": ("u", "a", "n"),
    "uang": ("u", "a", "ŋ"),
    "uei": ("u", "e", "i"),
    "uen": ("u", "ə", "n"),
    "ueng": ("u", "ə", "ŋ"),
    "uo": ("u", "o"),
    "v": ("y",),
    "van": ("y", "ɛ", "n"),
    "ve": ("y", "e"),
    "vn": ("y", "n"),
}

_NUCLEI = frozenset("aoeəɛɚ")


def ipa_segments(unit: str, num_samples: int) -> list[tuple[str, int]]:
    """(IPA symbol, samples) for one pinyin initial or final ("zh", "uang", tone digit allowed),
    the samples shared so they sum to `num_samples`. An unknown unit gives nothing."""
    unit = unit.rstrip("12345")
    if unit in INITIALS:
        return [(INITIALS[unit], num_samples)]
    symbols = FINALS.get(unit)
    if not symbols:
        return []
    nucleus = _nucleus(symbols)
    weights = [2 if i == nucleus else 1 for i in range(len(symbols))]
    total, bounds, acc = sum(weights), [0], 0
    for weight in weights:
        acc += weight
        bounds.append(round(num_samples * acc / total))
    return [(symbol, end - start) for symbol, start, end in zip(symbols, bounds, bounds[1:])]


def _nucleus(symbols: tuple[str, ...]) -> int:
    """The first full vowel; in "ong", "in" or "u" (no full vowel) the first symbol."""
    return next((i for i, symbol in enumerate(symbols) if symbol in _NUCLEI), 0)
