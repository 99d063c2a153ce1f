"""What may go on air: chat questions and reply sentences cleaned, and dropped when they hold a
banned word.

Links, e-mail addresses and phone numbers are removed (a co-host that reads them out advertises for
spammers). Banned words are matched through the usual evasions (case, fullwidth letters, zero-width
characters, leetspeak, "f.u.c.k", "fuuuck"), English entries as whole words so "class" or
"Scunthorpe" pass, Chinese entries anywhere once spaces and punctuation are taken out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from engine.config import ModerationConfig
from engine.errors import CohostError

_WORDS = Path(__file__).with_name("words")
BUILTIN_WORD_FILES = (_WORDS / "en.txt", _WORDS / "zh.txt")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str  # the cleaned text
    reason: str = ""  # why not ok: "banned" or "empty"


# Invisible characters that are letters (Lo) or symbols in Unicode, so category checks miss them;
# spammers put them between letters.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")

# Top-level domains of bare links ("example.com/x", "discord.gg/abc", "t.me/x"). Common English
# words that are also TLDs (in, it, to, no, is, be) are left out so chat prose survives.
_TLDS = (
    "com|net|org|edu|gov|io|gg|tv|cn|co|cc|me|uk|us|ru|de|fr|jp|kr|tw|hk|eu|info|biz|xyz|top|vip|"
    "club|shop|site|online|live|app|dev|link|ly|fm|ai|tk|icu|fun|wang|ink|store|tech|stream"
)
_ASCII_URL_REST = r"[\x21-\x7e]*"  # a link ends at a space or at the first non-ASCII character
_CONTACTS = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+"  # e-mail
    rf"|https?://{_ASCII_URL_REST}"
    rf"|www\.{_ASCII_URL_REST}"
    # A bare domain's TLD in one case: "said.No way" is a typo, "twitch.tv" and "TWITCH.TV" are links.
    rf"|(?<![a-z0-9.-])(?:[a-z0-9-]+\.)+(?-i:{_TLDS}|{_TLDS.upper()})(?![a-z0-9-])(?:[/?#:]{_ASCII_URL_REST})?"
    r"|\+[0-9](?:[\s.()-]{0,2}[0-9]){6,14}"  # international: +86 138 1234 5678, +1 (555) 123-4567
    r"|(?<![0-9])(?:\([0-9]{3}\)|[0-9]{3})[\s.-]?[0-9]{3}[\s.-]?[0-9]{4}(?![0-9])"  # US: 555-123-4567
    r"|(?<![0-9])1[3-9][0-9](?:[\s-]?[0-9]{4}){2}(?![0-9])",  # Chinese mobile: 138 1234 5678
    re.IGNORECASE,
)

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s"})
_SEPARATORS = re.compile(r"[\W_]+")  # anything but letters and digits
_PUNCTUATION = re.compile(r"[^\w\s]|_")
# An English entry is a whole word when no ASCII letter touches it: CJK, digits and punctuation do
# not hide "fuck" in "傻fuck" or "fuck2".
_BEFORE, _AFTER = r"(?<![a-z])", r"(?![a-z])"


def clean(text: str) -> str:
    """NFKC text without control or invisible characters, links, e-mails and phone numbers, with its
    whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace():
            kept.append(" ")
        elif category[0] != "C" and ch not in _INVISIBLE:  # Cc, Cf (zero-width), Cs, Co, Cn
            kept.append(ch)
    return " ".join(_CONTACTS.sub(" ", "".join(kept)).split())


def fingerprint(text: str) -> str:
    """What two messages that say the same thing share: "Hello!!" and "hello" give "hello"."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    # At a word boundary, unless that loses most of it (Chinese has no spaces).
    if not text[limit].isspace() and space > limit // 2:
        cut = cut[:space]
    return cut.rstrip()


def _join_spelled(text: str) -> str:
    """Single letters in a row become one word: "f u c k you" -> "fuck you"."""
    words: list[str] = []
    for single, group in groupby(text.split(), key=lambda w: len(w) == 1):
        run = list(group)
        words.extend(["".join(run)] if single and len(run) > 1 else run)
    return " ".join(words)


def _entry_body(entry: str) -> str:
    """A regex for one English entry without its ends: a letter repeated any number of times at
    least as often as written ("ass" matches "asss", not "as")."""
    words = [w for w in _SEPARATORS.split(entry) if w]
    runs = ([(ch, len(list(group))) for ch, group in groupby(word)] for word in words)
    return " ".join("".join(re.escape(ch) + ("+" if n == 1 else f"{{{n},}}") for ch, n in run) for run in runs)


def _english_pattern(entries: list[str]) -> str:
    """One regex for all English entries: whole words, unless a "*" at an end lets the word go on.
    Entries are grouped by their ends so most positions (inside words) fail at the first check."""
    groups: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        ends = ("" if entry.startswith("*") else _BEFORE, "" if entry.endswith("*") else _AFTER)
        folded = entry.casefold()
        # Written with digits ("1488"), the entry is found in the text as written and in its
        # leetspeak reading.
        groups.setdefault(ends, set()).update(_entry_body(form) for form in (folded, folded.translate(_LEET)))
    return "|".join(f"{before}(?:{'|'.join(sorted(bodies))}){after}" for (before, after), bodies in groups.items())


def _is_latin(entry: str) -> bool:
    return all(ord(ch) < 0x250 for ch in entry if ch.isalpha())


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


class TextFilter:
    def __init__(self, config: ModerationConfig):
        self._max_chars = config.max_chars
        paths = [*BUILTIN_WORD_FILES, *(Path(p).expanduser() for p in config.banned_word_files)]
        entries = {e for path in paths for e in read_word_file(path) if _SEPARATORS.sub("", e)}
        english = sorted(e for e in entries if _is_latin(e))
        chinese = sorted({_SEPARATORS.sub("", e.casefold()) for e in entries if not _is_latin(e)})
        never = r"(?!x)x"  # an empty list matches nothing
        self._english = re.compile(_english_pattern(english) or never)
        self._chinese = re.compile("|".join(re.escape(e) for e in chinese) or never)

    def clean_input(self, text: str) -> Verdict:
        """A viewer's message as it may be asked: cleaned and cut to max_chars. A banned word
        anywhere in it, even past the cut, drops the whole message."""
        # Whatever lies far past the cut cannot be asked; bounding it bounds the work on a flood.
        cleaned = clean(text[: 8 * self._max_chars + 64])
        capped = _cap(cleaned, self._max_chars)
        return self._verdict(capped, *{cleaned, capped})

    def check_output(self, sentence: str) -> Verdict:
        """A reply sentence as it may be spoken; never on air when it holds a banned word."""
        cleaned = clean(sentence)
        return self._verdict(cleaned, cleaned)

    def is_banned(self, text: str) -> bool:
        # Each evasion is undone in its own copy of the text, so undoing one never hides another
        # ("5fuck" must not become the single word "sfuck"); most messages give one or two copies.
        base = text.casefold()
        forms = {base, base.translate(_LEET)}
        if any(self._chinese.search(_SEPARATORS.sub("", form)) for form in forms):
            return True
        variants = set()
        for form in forms:
            spaced = " ".join(_PUNCTUATION.sub(" ", form).split())
            variants |= {spaced, " ".join(_PUNCTUATION.sub("", form).split()), _join_spelled(spaced)}
        return any(self._english.search(variant) for variant in variants)

    def _verdict(self, text: str, *checked: str) -> Verdict:
        if not any(ch.isalnum() for ch in text):
            return Verdict(False, text, "empty")
        if any(self.is_banned(t) for t in checked):
            return Verdict(False, text, "banned")
        return Verdict(True, text)
