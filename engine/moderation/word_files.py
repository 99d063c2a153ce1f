"""The moderation word files: built-in lists in words/ and the user's own, one entry per line."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from engine.errors import CohostError

WORDS = Path(__file__).with_name("words")
EN_FILE = WORDS / "en.txt"
ZH_FILE = WORDS / "zh.txt"
BUILTIN_WORD_FILES = (EN_FILE, ZH_FILE)
# Ordinary words and phrases that hold an English entry ("Moby Dick", "cum laude").
EN_ALLOW_FILE = WORDS / "en_allow.txt"
# Words banned unless a word of their ordinary sense stands beside them ("bitch" and "puppies").
EN_CONTEXT_FILE = WORDS / "en_context.txt"
ZH_VARIANTS_FILE = WORDS / "zh_variants.txt"


def read_word_file(path: Path) -> list[str]:
    """Entries of a banned-word file: one per line, blank lines and "#" comment lines skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CohostError(f"cannot read banned-word file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise CohostError(f"banned-word file {path} is not UTF-8 text") from None
    entries = (unicodedata.normalize("NFKC", line).strip() for line in lines)
    return [e for e in entries if e and not e.startswith("#")]


def read_zh_variants(path: Path = ZH_VARIANTS_FILE) -> dict[int, str]:
    """A str.translate table from traditional characters (and variants) to simplified ones, read
    from lines "simplified traditional...", so both writings of a Chinese entry match."""
    table: dict[int, str] = {}
    for line in read_word_file(path):
        simplified, *others = line.split()
        table.update((ord(other), simplified) for other in others)
    return table


def read_context_words(path: Path) -> dict[str, frozenset[str]]:
    """Lines "word: sense sense..." of a context-word file, as {word: the words of its ordinary sense}."""
    words = {}
    for line in read_word_file(path):
        word, colon, senses = line.partition(":")
        if not colon or not word.strip() or not senses.split():
            raise CohostError(f'{path}: expected "word: sense words...", got {line!r}')
        words[word.strip().casefold()] = frozenset(senses.casefold().split())
    return words
