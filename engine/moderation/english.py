"""English banned-word matching that holds against the usual evasions and leaves normal chat alone.

An entry matches as a whole word (a "*" at an end lets the word go on that side), whatever the case,
accents or look-alike letters, and through:
- symbols and digits that stand for a letter inside a word: "sh!t", "a$$", "@ss", "5h1t", "b00bs";
  "*", "#" and "%" for any letter ("f**k", "c*nt"), "." and "-" for a vowel ("sh.t", "f-ck"). A
  match needs real letters: "1337 points", "3-1" and "420" hold none, "****" is no word;
- sound-alike spellings: "ph" for "f" ("phuck"), "v" for "u" ("fvck"), "z" for "s" ("azz"), "k"
  for "c" ("kunt"), "y" for "i" ("bytch");
- repeated, spaced and dotted letters: "fuuuck", "f u c k", "f.u.c.k";
- reversal of the whole message, for entries of four letters or more: "kcuf", "flesruoy llik";
- upside-down letters: "noʎ ʞɔnɟ".
Ordinary phrases that hold an entry ("Moby Dick", "cum laude") are allowlisted: the allowlisted
span alone is taken out before matching, so "Moby Dick is a fucking bore" is still caught.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from itertools import groupby

from engine.moderation.confusables import unflip, unmask

_SEPARATORS = re.compile(r"[\W_]+")  # anything but letters and digits
_WILD_ANY = "*#%"  # a censored letter, any letter
_WILD_VOWEL = ".-"  # a censored vowel: "sh.t", "f-ck"; as any letter they would read "a-s" as "ass"
_VOWELS = "aeiouy"
# What stands for a letter inside a word, beyond the letter itself.
_STANDS_FOR = {
    "a": "4@",
    "b": "8",
    "e": "3€",
    "g": "69",
    "c": "k",
    "i": "1!|y",
    "l": "1!|",
    "o": "0",
    "s": "5$z",
    "t": "7+",
    "u": "v",
}
# Symbols that end sentences and words as often as they stand for a letter ("hi!", "C++").
_TRAILING_PUNCTUATION = "!|+"
# A character of an entry written as more than one in the text.
_SPELLED_AS = {"f": "ph"}
# Kept in the joined reading, since each may stand for a letter; every other symbol is a separator.
_LETTER_SYMBOLS = "".join(sorted(set("".join(_STANDS_FOR.values())) - set("abcdefghijklmnopqrstuvwxyz0123456789")))
_JOIN = re.compile(rf"[^\w\s{re.escape(_LETTER_SYMBOLS + _WILD_ANY)}]|_")
_DIGIT = re.compile(r"[0-9]")
# An entry is a whole word when no letter touches it: CJK, digits and punctuation do not hide
# "fuck" in "傻fuck" or "fuck2".
_BEFORE, _AFTER = r"(?<![a-z])", r"(?![a-z])"
_NEVER = re.compile(r"(?!x)x")
MIN_REVERSED = 4  # shorter words read backwards are too often ordinary ones ("sex" / "xes")


def _char_class(ch: str, first: bool, last: bool, evasions: bool) -> str:
    """The characters of the text that may stand for entry letter `ch`; a word never starts with a
    censored letter ("*uck" is too little to go on), nor ends with punctuation read as a letter
    ("Ana!" is a name and an exclamation mark, not "anal")."""
    chars = ch + (_STANDS_FOR.get(ch, "") if evasions else "")
    if last:
        chars = "".join(c for c in chars if c not in _TRAILING_PUNCTUATION)
    if evasions and not first and ch.isalpha():
        chars += _WILD_ANY + (_WILD_VOWEL if ch in _VOWELS else "")
    return f"[{re.escape(chars)}]" if len(chars) > 1 else re.escape(ch)


def _word_body(word: str, evasions: bool) -> tuple[str, str]:
    """(the characters the word may start with, a regex for it). Each letter is matched at least as
    often as written ("ass" matches "asss", not "as"), but a single consonant not exactly twice,
    since English doubles consonants in ordinary words ("raped" / "rapped", "asses" / "assess")
    while a drawn-out word repeats a letter three times or more ("fuuuck", "fuckkk")."""
    parts = []
    runs = [(ch, len(list(group))) for ch, group in groupby(word)]
    for i, (ch, run) in enumerate(runs):
        cls = _char_class(ch, first=i == 0, last=i == len(runs) - 1, evasions=evasions)
        if evasions and ch in _SPELLED_AS:
            cls = f"(?:{cls}|{re.escape(_SPELLED_AS[ch])})"
        if run > 1:
            parts.append(f"{cls}{{{run},}}")
        elif ch in _VOWELS or not ch.isalpha():
            parts.append(cls + "+")
        else:
            parts.append(f"{cls}(?:{cls}{{2,}})?")
    starts = word[0]
    if evasions:
        starts += _STANDS_FOR.get(word[0], "") + _SPELLED_AS.get(word[0], "")[:1]
    return starts, "".join(parts)


def _entry_regex(entry: str, evasions: bool) -> tuple[str, str]:
    """(start characters, regex) for an entry without its "*" ends; words of a phrase are apart by
    any separators ("kill.yourself", "KILL   YOURSELF"), a symbol inside a word may go ("ill kill
    you" for "i'll kill you")."""
    words = [w for w in entry.split() if _SEPARATORS.sub("", w)]
    bodies = [[_word_body(part, evasions) for part in _SEPARATORS.split(w) if part] for w in words]
    starts = bodies[0][0][0]
    return starts, r"[\W_]+".join(r"[\W_]*".join(body for _, body in parts) for parts in bodies)


def _alternation(entries: Iterable[str], evasions: bool = True) -> str:
    """One regex for entries ("*" ends as written), grouped by their ends and then by the characters
    they may start with, so most positions fail at the first check, not at every entry. Without
    `evasions`, letters stand for themselves alone."""
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    for entry in sorted(set(entries)):
        ends = ("" if entry.startswith("*") else _BEFORE, "" if entry.endswith("*") else _AFTER)
        starts, body = _entry_regex(entry.strip("*"), evasions)
        groups.setdefault(ends, {}).setdefault(starts, []).append(body)
    branches = []
    for (before, after), by_start in groups.items():
        alternatives = "|".join(
            f"(?=[{re.escape(starts)}])(?:{'|'.join(bodies)})" for starts, bodies in by_start.items()
        )
        every_start = re.escape("".join(sorted(set("".join(by_start)))))
        branches.append(f"{before}(?=[{every_start}])(?:{alternatives}){after}")
    return "|".join(branches)


def _phrase_regex(phrases: Iterable[str]) -> str:
    """Plain whole-word phrases, any separators between their words."""
    bodies = sorted({r"[\W_]+".join(map(re.escape, filter(None, _SEPARATORS.split(p)))) for p in phrases}, key=len)
    return f"{_BEFORE}(?:{'|'.join(reversed(bodies))}){_AFTER}" if bodies else _NEVER.pattern


def _letters_carry(span: str) -> bool:
    """Whether a match is a word, not a number or a row of symbols: it holds a letter, digits are at
    most half of it, and no more characters are censored than written."""
    letters = sum(ch.isalpha() for ch in span)
    digits = len(_DIGIT.findall(span))
    censored = sum(ch in _WILD_ANY or ch in _WILD_VOWEL for ch in span)
    return letters > 0 and 2 * digits <= len(span) and censored <= letters


def _join_spelled(text: str) -> str:
    """Single characters in a row become one word: "f u c k you" -> "fuck you"."""
    words: list[str] = []
    for single, group in groupby(text.split(), key=lambda w: len(w) == 1):
        run = list(group)
        words.extend(["".join(run)] if single and len(run) > 1 else run)
    return " ".join(words)


def _fold(entry: str) -> str:
    return unmask(unicodedata.normalize("NFKC", entry)).casefold()


class EnglishMatcher:
    """Finds the first English entry in a text, through the evasions above."""

    def __init__(self, entries: Iterable[str], allowed: Iterable[str] = ()):
        forms = {_fold(e) for e in entries} | {e.casefold() for e in entries}
        forms = {f for f in forms if _SEPARATORS.sub("", f)}
        # Entries without a letter ("1488" in a user's file) match as written, not as leetspeak.
        self._numbers = {_SEPARATORS.sub("", f) for f in forms if not any(ch.isalpha() for ch in f)}
        self._entries = re.compile(_alternation(forms) or _NEVER.pattern)
        reversible = {f.strip("*") for f in forms if len(_SEPARATORS.sub("", f)) >= MIN_REVERSED}
        # Read backwards, letters stand for themselves: "Ezra" is no "arse" with a "z" for the "s".
        self._reversed = re.compile(_alternation(reversible, evasions=False) or _NEVER.pattern)
        self._allowed = re.compile(_phrase_regex(_fold(a) for a in allowed))

    def without_allowed(self, text: str) -> str:
        """`text` without its allowlisted spans ("she graduated magna cum laude" -> "she graduated"),
        or `text` itself when it has none."""
        folded = _fold(text)
        return " ".join(self._allowed.sub(" ", folded).split()) if self._allowed.search(folded) else text

    def find(self, text: str) -> str | None:
        """The first span of `text` (as one of its readings shows it) that is an entry, or None."""
        readings = (text.casefold(), _fold(text), unflip(text.casefold()))
        for folded in dict.fromkeys(r for r in readings if r is not None):
            found = self._find_in(" ".join(self._allowed.sub(" ", folded).split()))
            if found:
                return found
        return None

    def _find_in(self, text: str) -> str | None:
        joined = " ".join(_JOIN.sub("", text).split())
        for reading in dict.fromkeys((text, joined, _join_spelled(joined))):
            found = self._first(self._entries, reading)
            if found:
                return found
        return self._first(self._reversed, joined[::-1])

    def _first(self, pattern: re.Pattern[str], reading: str) -> str | None:
        for match in pattern.finditer(reading):
            span = match.group()
            if _letters_carry(_whole_word(reading, match)) or _SEPARATORS.sub("", span) in self._numbers:
                return span
        return None


def _whole_word(reading: str, match: re.Match[str]) -> str:
    """The match with the letters and censored letters around it: an entry open at an end ("fuck*")
    matches "f***" inside "f***er", and that word carries letters enough."""
    start, end = match.span()
    while start and (reading[start - 1].isalpha() or reading[start - 1] in _WILD_ANY):
        start -= 1
    while end < len(reading) and (reading[end].isalpha() or reading[end] in _WILD_ANY):
        end += 1
    return reading[start:end]
