"""Characters drawn like a Latin letter or digit, read as that letter: "fuсk" (Cyrillic с), "𝐟𝐮𝐜𝐤",
"ƒ∪ck" all read "fuck".

The table comes from Unicode's confusables.txt (as shipped by the confusable-homoglyphs package),
built once on first use. Only words that look Latin are rewritten, so genuine Russian, Greek,
Armenian or Chinese chat reads as itself.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from importlib.resources import files

# Where Unicode's prototype for a glyph is another letter than spammers mean ("І" is "l" to Unicode,
# "I" in "ВІТСН"), or Unicode lists none: lower-case Cyrillic and Greek letters drawn like a Latin
# one in chat fonts ("т", "к", "χ"), and Latin letters with a stroke that NFKD keeps whole.
# Digits and symbols written for the letter they look like, inside a word: "sh1t", "a$$", "h4te".
LEET = str.maketrans("013457@$", "oieastas")

_OVERRIDES = {
    "\u0406": "I",  # Cyrillic І
    "\u04c0": "I",  # Cyrillic palochka Ӏ
    "\u04cf": "l",  # Cyrillic palochka ӏ
    "\u0399": "I",  # Greek Ι
    "\u043f": "n",  # Cyrillic п
    "\u03b7": "n",  # Greek η
    "\u03c4": "t",  # Greek τ
    "\u0442": "t",  # Cyrillic т
    "\u043a": "k",  # Cyrillic к
    "\u03ba": "k",  # Greek κ
    "\u043c": "m",  # Cyrillic м
    "\u043d": "h",  # Cyrillic н
    "\u04ba": "H",  # Cyrillic Һ
    "\u03c7": "x",  # Greek χ
    "\u03b5": "e",  # Greek ε
    "\u03c9": "w",  # Greek ω
    "\u0432": "b",  # Cyrillic в
    "\u0192": "f",  # ƒ
    "đ": "d",
    "Đ": "D",
    "ħ": "h",
    "Ħ": "H",
    "ł": "l",
    "Ł": "L",
    "ø": "o",
    "Ø": "O",
    "ŧ": "t",
    "Ŧ": "T",
}

# Scripts whose characters are never a disguised Latin letter in chat: CJK, kana, Hangul, and the
# halfwidth and fullwidth forms that NFKC already reads.
_NEVER = ((0x2E80, 0xA4CF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF))
MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"  # combining
_ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_NAMED_LETTER = re.compile(
    r"(?:(?:NEGATIVE )?(?:SQUARED|CIRCLED|PARENTHESIZED) )?LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL )?([A-Z])"
    r"(?: WITH .*)?|REGIONAL INDICATOR SYMBOL LETTER ([A-Z])"
)
_LATIN = "A-Za-z\u00c0-\u024f"  # up to IPA
_LATIN_LETTER = re.compile(f"[{_LATIN}]")
_LATIN_MARKS = re.compile(f"(?<=[{_LATIN}])[{MARKS}]+")


@cache
def latin_table() -> dict[int, str]:
    """A str.translate table: every non-ASCII character Unicode calls confusable with an ASCII letter
    or digit (and NFKC does not already make ASCII), to that letter or digit."""
    data = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8"))
    table: dict[int, str] = {}
    # The data is a graph of look-alike pairs; a glyph two steps from a letter ("ʜ" ~ "н" ~ "h")
    # still reads as it, unless one step already made it another letter.
    frontier = {latin: latin for latin in _ASCII}
    for _step in range(2):
        found: dict[str, str] = {}
        for glyph, latin in frontier.items():
            for twin in (item["c"] for item in data.get(glyph, ())):
                if _can_stand_for_latin(twin) and ord(twin) not in table and twin not in found:
                    found[twin] = latin
        table.update((ord(twin), latin) for twin, latin in found.items())
        frontier = found
    # Latin letters with a hook, stroke or tail ("ʂ", "ɨ", "ƙ"), small capitals ("ꜰᴜᴄᴋ"), letters in
    # black squares and circles ("🅵🆄🅲🅺") and regional indicators ("🇫🇺🇨🇰") are not all in the data,
    # and NFKC leaves them as they are.
    for code in (*range(0x180, 0x2B0), *range(0x1D00, 0x1F00), *range(0xA720, 0xA800), *range(0x1F100, 0x1F200)):
        named = _NAMED_LETTER.fullmatch(unicodedata.name(chr(code), ""))
        if named and code not in table:
            table[code] = (named.group(1) or named.group(2)).lower()
    table.update((ord(twin), latin) for twin, latin in _OVERRIDES.items())
    return table


def _can_stand_for_latin(ch: str) -> bool:
    return len(ch) == 1 and not ch.isascii() and not _never(ord(ch)) and not unicodedata.category(ch).startswith("M")


def _never(code: int) -> bool:
    return any(low <= code <= high for low, high in _NEVER)


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(any look-alike or combining mark, a word of letters, marks and look-alikes)."""
    twins = re.escape("".join(chr(code) for code in latin_table()))
    return re.compile(f"[{twins}{MARKS}]"), re.compile(rf"(?:[^\W\d_]|[{MARKS}]|[{twins}])+")


def unmask(text: str) -> str:
    """Text as a Latin-alphabet reader sees it: "fück" and "fuсk" (Cyrillic с) read "fuck". Accents
    come off Latin letters only, so Chinese, Japanese or Greek text keeps its marks; look-alikes
    become Latin only in a word that looks Latin, so genuine Russian or Greek chat reads as itself."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    suspect, word = _patterns()
    if not suspect.search(decomposed):
        return text
    decomposed = word.sub(_unmask_word, decomposed)
    return unicodedata.normalize("NFC", _LATIN_MARKS.sub("", decomposed))


def _unmask_word(match: re.Match[str]) -> str:
    word = match.group()
    latin = word.translate(latin_table())
    # A word looks Latin when it mixes Latin letters in ("fuсk"), or when it is all look-alikes
    # without accents ("ѕех"): a Greek word of two syllables or more carries a tonos ("ρακί" is no
    # slur), and the Russian words that are all look-alikes ("сок") turn into no English one.
    if latin != word and (latin.isascii() or _LATIN_LETTER.search(word)):
        return latin
    return word


# Upside-down text ("noʎ ʞɔnɟ"): the turned letters, and the Latin ones that read as another letter
# turned (p, d, q, b, u, n). A text holds two turned letters at least before it is read so.
_TURNED = str.maketrans("ɐɔǝɟƃɥᴉıɾʞןɯɹʇʌʍʎpdqbun¡¿", "acefghiijklmrtvwydpbqnu!?")
_TURNED_ONLY = frozenset("ɐɔǝɟƃɥᴉɾʞןɯɹʇʌʍʎ")


def unflip(text: str) -> str | None:
    """Upside-down text read the right way up ("noʎ ʞɔnɟ" -> "fuck you"), or None when it is not."""
    if sum(ch in _TURNED_ONLY for ch in text) < 2:
        return None
    return text[::-1].translate(_TURNED)
