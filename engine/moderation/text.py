"""What may go on air: chat questions and reply sentences cleaned, and dropped when they hold a
banned word.

Links (also spelled out: "example dot com"), e-mail addresses and phone numbers are removed (a
co-host that reads them out advertises for spammers). Banned words are matched through the usual
evasions: English entries as whole words by engine.moderation.english (so "class" or "Scunthorpe"
pass, "sh!t", "f**k", "kcuf" do not), Chinese entries anywhere once spaces and punctuation are
taken out, in simplified or traditional characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from engine.config import ModerationConfig
from engine.errors import CohostError
from engine.moderation.confusables import unmask
from engine.moderation.english import EnglishMatcher

_WORDS = Path(__file__).with_name("words")
BUILTIN_WORD_FILES = (_WORDS / "en.txt", _WORDS / "zh.txt")
# Ordinary words and phrases that hold an English entry ("Moby Dick", "cum laude").
EN_ALLOW_FILE = _WORDS / "en_allow.txt"
ZH_VARIANTS_FILE = _WORDS / "zh_variants.txt"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str  # the cleaned text
    reason: str = ""  # why not ok: "banned" or "empty"
    removed: tuple[str, ...] = ()  # contact details taken out of the text (links, phone numbers, IDs)

    @property
    def blocked(self) -> bool:
        """Nothing of what was written reaches air as written: refused, or a contact detail taken out."""
        return not self.ok or bool(self.removed)


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
# A dot spelled out: "example dot com", "example(dot)com", "example [.] com", "example。com",
# "example点com". The Chinese full stop takes no spaces: "ok。 me too" is a sentence.
_SPELLED_DOT = r"\s+dot\s+|\s*[(\[{<【]\s*(?:dot|\.)\s*[)\]}>】]\s*|。|\s*[点點]\s*"
# Words before a spelled "dot com" or "dot net" that make it prose: "the dot com bubble".
_PROSE_BEFORE_DOT = r"a|an|the|in|of|and|or|for|with|like"
_CONTACTS = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+"  # e-mail
    rf"|https?://{_ASCII_URL_REST}"
    rf"|www\.{_ASCII_URL_REST}"
    # A bare domain's TLD in one case: "said.No way" is a typo, "twitch.tv" and "TWITCH.TV" are links.
    rf"|(?<![a-z0-9.-])(?:[a-z0-9-]+\.)+(?-i:{_TLDS}|{_TLDS.upper()})(?![a-z0-9-])(?:[/?#:]{_ASCII_URL_REST})?"
    # A spelled-out domain. Its first label holds a letter: "8点live" is "live at eight".
    rf"|(?<![a-z0-9.-])(?=[a-z0-9-]*[a-z])(?!(?:{_PROSE_BEFORE_DOT})\s)(?:[a-z0-9-]++(?:{_SPELLED_DOT}))+"
    rf"(?:{_TLDS})(?![a-z0-9-])(?:\s*/\s*{_ASCII_URL_REST})?"
    r"|\+[0-9](?:[\s.()-]{0,2}[0-9]){6,14}"  # international: +86 138 1234 5678, +1 (555) 123-4567
    r"|(?<![0-9])(?:\([0-9]{3}\)|[0-9]{3})[\s.-]?[0-9]{3}[\s.-]?[0-9]{4}(?![0-9])"  # US: 555-123-4567
    r"|(?<![0-9])1[3-9][0-9](?:[\s-]?[0-9]{4}){2}(?![0-9])",  # Chinese mobile: 138 1234 5678
    re.IGNORECASE,
)

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s"})

_SEPARATORS = re.compile(r"[\W_]+")  # anything but letters and digits


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


def _by_first_letter(bodies: set[tuple[str, str]]) -> str:
    """An alternation of regexes, each given with the letter it starts with, grouped by that letter:
    (?=[fs])(?:(?=f)(?:f+u+c+k+|f+c+k+)|(?=s)(?:s+h+i+t+)). sre tries alternatives one by one, so
    this fails a position where no entry starts at one check, not at every entry."""
    groups: dict[str, list[str]] = {}
    for first, body in sorted(bodies):
        groups.setdefault(first, []).append(body)
    branches = "|".join(f"(?={re.escape(first)})(?:{'|'.join(group)})" for first, group in groups.items())
    return f"(?=[{re.escape(''.join(groups))}])(?:{branches})"


def _readings(text: str) -> set[str]:
    """For the Chinese entries (which may hold Latin letters: "傻b"), the casefolded text as written
    and with evasions undone (accents and look-alikes, leetspeak), each in its own copy so that
    undoing one never hides another; most messages give one or two copies."""
    folded = {text.casefold(), unmask(text).casefold()}
    return folded | {form.translate(_LEET) for form in folded}


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


def read_zh_variants(path: Path = ZH_VARIANTS_FILE) -> dict[int, str]:
    """A str.translate table from traditional characters (and variants) to simplified ones, read
    from lines "simplified traditional...", so both writings of a Chinese entry match."""
    table: dict[int, str] = {}
    for line in read_word_file(path):
        simplified, *others = line.split()
        table.update((ord(other), simplified) for other in others)
    return table


class TextFilter:
    def __init__(self, config: ModerationConfig):
        self._max_chars = config.max_chars
        paths = [*BUILTIN_WORD_FILES, *(Path(p).expanduser() for p in config.banned_word_files)]
        entries = {e for path in paths for e in read_word_file(path) if _SEPARATORS.sub("", e)}
        self._to_simplified = read_zh_variants()
        self._english = EnglishMatcher((e for e in entries if _is_latin(e)), read_word_file(EN_ALLOW_FILE))
        chinese = {self._chinese_form(e.casefold()) for e in entries if not _is_latin(e)}
        never = r"(?!x)x"  # an empty list matches nothing
        self._chinese = re.compile(_by_first_letter({(e[0], re.escape(e)) for e in chinese}) if chinese else never)

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
        if any(self._chinese.search(self._chinese_form(form)) for form in _readings(text)):
            return True
        return self._english.find(text) is not None

    def _chinese_form(self, text: str) -> str:
        """Chinese entries match anywhere once spaces and punctuation are out, in simplified
        characters."""
        return _SEPARATORS.sub("", text).translate(self._to_simplified)

    def _verdict(self, text: str, *checked: str) -> Verdict:
        if not any(ch.isalnum() for ch in text):
            return Verdict(False, text, "empty")
        if any(self.is_banned(t) for t in checked):
            return Verdict(False, text, "banned")
        return Verdict(True, text)
