"""Which language a line of text is in, told from its scripts alone.

It runs on every chat line (to choose the answer's language and voice) and on every sentence of an
answer (to choose the voice), so it is a count of characters, not a model. The rule, in numbers:

- Links and @mentions are dropped first; digits, punctuation and emoji belong to no script.
- A line with fewer than `MIN_LETTERS` (3) letters and characters of any script gets the default.
- Each script's weight is about its syllables: a hanzi, kana or hangul character weighs 2, a Latin
  word 3 (an English word is about one and a half syllables). So "我超喜欢iPhone" is 8 : 3 for
  Chinese, and "I really love 火锅 so much" 15 : 4 for English.
- Hanzi are Japanese, with the kana, when "ja" is configured and kana are at least a quarter of the
  hanzi and kana together (Japanese prose is mostly kana; Chinese has none).
- The heaviest configured language wins when it holds at least 60% of all the weight (scripts of
  languages not configured count in the total); otherwise the line is mixed and gets the default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

Script = Literal["han", "kana", "hangul", "latin"]

MIN_LETTERS = 3
MAJORITY_PERCENT = 60
_CJK_WEIGHT = 2
_LATIN_WORD_WEIGHT = 3
_KANA_SHARE_FOR_JAPANESE = 4  # kana * 4 >= hanzi + kana

# ASCII only, so a link or a name written against Chinese text (no spaces) does not take the text.
_IGNORED = re.compile(
    r"https?://[\x21-\x7e]*|www\.[\x21-\x7e]*"
    r"|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?:/[\x21-\x7e]*)?"  # bare domains
    r"|@[^\s@]+"  # mentions: up to the next space, whatever the name's script
)

_RANGES: tuple[tuple[int, int, Script], ...] = (
    (0x0041, 0x005A, "latin"),
    (0x0061, 0x007A, "latin"),
    (0x00C0, 0x00D6, "latin"),
    (0x00D8, 0x00F6, "latin"),
    (0x00F8, 0x024F, "latin"),
    (0x1100, 0x11FF, "hangul"),
    (0x1E00, 0x1EFF, "latin"),
    (0x3005, 0x3007, "han"),  # 々 and 〇 (as in 二〇二六)
    (0x3040, 0x30FF, "kana"),
    (0x3130, 0x318F, "hangul"),
    (0x31F0, 0x31FF, "kana"),
    (0x3400, 0x4DBF, "han"),
    (0x4E00, 0x9FFF, "han"),
    (0xAC00, 0xD7AF, "hangul"),
    (0xF900, 0xFAFF, "han"),
    (0xFF21, 0xFF3A, "latin"),
    (0xFF41, 0xFF5A, "latin"),
    (0xFF66, 0xFF9D, "kana"),
    (0x20000, 0x323AF, "han"),
)


def script(char: str) -> Script | None:
    """The script of one character, or None for digits, punctuation, symbols, emoji and the rest."""
    code = ord(char)
    if code < 0x41:
        return None
    for low, high, name in _RANGES:
        if code <= high:
            return name if code >= low else None
    return None


def detect_language(text: str, languages: Sequence[str], default: str) -> str:
    """The one of `languages` that `text` is written in, or `default` when it is short or mixed."""
    counts = {"han": 0, "kana": 0, "hangul": 0, "latin": 0}
    latin_words = 0
    in_latin_word = False
    for char in _IGNORED.sub(" ", text):
        name = script(char)
        if name is not None:
            counts[name] += 1
        if name == "latin" and not in_latin_word:
            latin_words += 1
        in_latin_word = name == "latin" or (in_latin_word and char == "'")  # "don't" is one word
    if sum(counts.values()) < MIN_LETTERS:
        return default

    japanese = "ja" in languages and counts["kana"] * _KANA_SHARE_FOR_JAPANESE >= counts["han"] + counts["kana"]
    weights = {
        "ja": (counts["han"] + counts["kana"] if japanese else counts["kana"]) * _CJK_WEIGHT,
        "zh": (0 if japanese else counts["han"]) * _CJK_WEIGHT,
        "ko": counts["hangul"] * _CJK_WEIGHT,
        "en": latin_words * _LATIN_WORD_WEIGHT,
    }
    total = sum(weights.values())
    best = max((code for code in languages if code in weights), key=weights.__getitem__, default=None)
    if best is None or weights[best] * 100 < total * MAJORITY_PERCENT:
        return default
    return best
