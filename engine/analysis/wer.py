"""Error rates: how far a transcript is from what was said, in edits of words (English), characters
or pinyin syllables (Chinese, which has no spaces between words)."""

from __future__ import annotations

from collections.abc import Sequence


def edits(said: Sequence[str], heard: Sequence[str]) -> int:
    """Levenshtein distance: the substitutions, insertions and deletions that turn `said` into `heard`."""
    row = list(range(len(heard) + 1))
    for i, unit in enumerate(said, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(heard, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (unit != other))
    return row[-1]


def word_errors(said: str, heard: str) -> tuple[int, int]:
    """Word edits from `said` to `heard`, and words in `said`. Case, punctuation and apostrophes do
    not count."""
    ref = words(said)
    return edits(ref, words(heard)), len(ref)


def words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower().replace("'", "")).split()


def char_errors(said: str, heard: str) -> tuple[int, int]:
    """Character edits from `said` to `heard`, and characters in `said`. Case, punctuation and spaces
    do not count. Traditional and simplified forms of one character differ here (see syllable_errors)."""
    ref = chars(said)
    return edits(ref, chars(heard)), len(ref)


def chars(text: str) -> list[str]:
    return [c for c in text.lower() if c.isalnum()]


def syllable_errors(said: str, heard: str) -> tuple[int, int]:
    """Edits of tone-less pinyin syllables from `said` to `heard`, and syllables in `said`: what a
    listener heard, whichever characters a recogniser wrote it in. Whisper writes Mandarin in
    traditional characters as often as in simplified ones (們 for 们), and picks among homophones
    by its own language model (在先 for 在线); pypinyin reads both scripts, and no converter between
    them is a dependency. Tones are left out: pypinyin's tone for a character depends on the words
    around it, which differ when Whisper's characters do. Runs of Latin letters or digits are one
    unit each."""
    ref = syllables(said)
    return edits(ref, syllables(heard)), len(ref)


def syllables(text: str) -> list[str]:
    from pypinyin import lazy_pinyin

    # Punctuation becomes a space rather than going, so that Latin words either side stay apart;
    # lazy_pinyin hands back what is not Chinese as runs, spaces included.
    spaced = "".join(c if c.isalnum() else " " for c in text.lower())
    return [unit for run in lazy_pinyin(spaced) for unit in run.split()]
