"""What may go on air: chat questions and reply sentences cleaned, and dropped when they hold a
banned word.

Links (also spelled out: "example dot com"), e-mail addresses and phone numbers are removed (a
co-host that reads them out advertises for spammers). Banned words are matched through the usual
evasions (case, fullwidth letters, zero-width characters, accents, look-alike Cyrillic or Greek
letters, leetspeak, "f.u.c.k", "fuuuck"), English entries as whole words so "class" or "Scunthorpe"
pass, Chinese entries anywhere once spaces and punctuation are taken out, in simplified or
traditional characters.
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
ZH_VARIANTS_FILE = _WORDS / "zh_variants.txt"


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

# Cyrillic and Greek letters drawn like a Latin one (after Unicode's confusables.txt), written as
# code points because on screen they cannot be told from the Latin letter, and Latin letters whose
# stroke NFKD leaves on. Case matters: Greek "Η" looks like "H", "η" like "n".
_LOOKALIKES = {
    "a": "\u0430\u0410\u03b1\u0391",  # Cyrillic а А, Greek α Α
    "b": "\u0432\u0412\u0392",  # Cyrillic в В, Greek Β
    "c": "\u0441\u0421\u03f2\u03f9",  # Cyrillic с С, Greek lunate sigma ϲ Ϲ
    "d": "\u0501đĐ",  # Komi ԁ, Latin đ Đ
    "e": "\u0435\u0415\u03b5\u0395",  # Cyrillic е Е, Greek ε Ε
    "f": "ƒ",
    "h": "\u04bb\u04ba\u043d\u041d\u0397ħĦ",  # Cyrillic һ Һ н Н, Greek Η, Latin ħ Ħ
    "i": "\u0456\u0406\u03b9\u0399ı",  # Cyrillic і І, Greek ι Ι, Latin dotless ı
    "j": "\u0458\u0408",  # Cyrillic ј Ј
    "k": "\u043a\u041a\u03ba\u039a",  # Cyrillic к К, Greek κ Κ
    "l": "\u04cf\u04c0łŁ",  # Cyrillic palochka ӏ Ӏ, Latin ł Ł
    "m": "\u043c\u041c\u039c",  # Cyrillic м М, Greek Μ
    "n": "\u043f\u03b7\u039d",  # Cyrillic п, Greek η Ν
    "o": "\u043e\u041e\u03bf\u039føØ",  # Cyrillic о О, Greek ο Ο, Latin ø Ø
    "p": "\u0440\u0420\u03c1\u03a1",  # Cyrillic р Р, Greek ρ Ρ
    "q": "\u051b",  # Cyrillic ԛ
    "r": "\u0433",  # Cyrillic г
    "s": "\u0455\u0405",  # Cyrillic ѕ Ѕ
    "t": "\u0442\u0422\u03c4\u03a4ŧŦ",  # Cyrillic т Т, Greek τ Τ, Latin ŧ Ŧ
    "u": "\u03c5",  # Greek υ
    "v": "\u03bd\u0475",  # Greek ν, Cyrillic ѵ
    "w": "\u051d\u03c9",  # Cyrillic ԝ, Greek ω
    "x": "\u0445\u0425\u03c7\u03a7",  # Cyrillic х Х, Greek χ Χ
    "y": "\u0443\u0423\u04af\u03b3\u03a5",  # Cyrillic у У ү, Greek γ Υ
    "z": "\u0396",  # Greek Ζ
}
_TO_LATIN = str.maketrans({twin: latin for latin, twins in _LOOKALIKES.items() for twin in twins})
_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"  # combining
_TWIN = re.compile(f"[{''.join(_LOOKALIKES.values())}]")
_SUSPECT = re.compile(f"[{''.join(_LOOKALIKES.values())}{_MARKS}]")
_MARKED_WORD = re.compile(rf"(?:[^\W\d_]|[{_MARKS}])+")
_LATIN = "A-Za-z\u00c0-\u024f"  # up to IPA; below 0x250 like _is_latin
_LATIN_LETTER = re.compile(f"[{_LATIN}]")
_LATIN_MARKS = re.compile(f"(?<=[{_LATIN}])[{_MARKS}]+")
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


def unmask(text: str) -> str:
    """Text as a Latin-alphabet reader sees it: "fück" and "fuсk" (Cyrillic с) read "fuck". Accents
    come off Latin letters only, so Chinese, Japanese or Greek text keeps its marks; look-alike
    Cyrillic and Greek letters become Latin only in a word that looks Latin, so genuine Russian or
    Greek chat reads as itself."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    if not _SUSPECT.search(decomposed):
        return text
    if _TWIN.search(decomposed):
        decomposed = _MARKED_WORD.sub(_unmask_word, decomposed)
    return unicodedata.normalize("NFC", _LATIN_MARKS.sub("", decomposed))


def _unmask_word(match: re.Match[str]) -> str:
    word = match.group()
    latin = word.translate(_TO_LATIN)
    # A word looks Latin when it mixes Latin letters in ("fuсk"), or when it is all look-alikes
    # without accents ("ѕех"): a Greek word of two syllables or more carries a tonos ("ρακί" is no
    # slur), and the Russian words that are all look-alikes ("сок") turn into no English one.
    if latin != word and (latin.isascii() or _LATIN_LETTER.search(word)):
        return latin
    return word


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
    Entries are grouped by their ends, then by their first letter, so most positions (inside words,
    between them, in other scripts) fail at the first checks."""
    groups: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for entry in entries:
        ends = ("" if entry.startswith("*") else _BEFORE, "" if entry.endswith("*") else _AFTER)
        # Written with digits ("1488") or accents, the entry is found in the text as written and in
        # the text's readings.
        bodies = ((_SEPARATORS.sub("", form)[0], _entry_body(form)) for form in _readings(entry))
        groups.setdefault(ends, set()).update(bodies)
    return "|".join(f"{before}{_by_first_letter(bodies)}{after}" for (before, after), bodies in groups.items())


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
    """The casefolded text as written and with evasions undone (accents and look-alikes, leetspeak),
    each in its own copy so that undoing one never hides another ("5fuck" must not become the
    single word "sfuck"); most messages give one or two copies."""
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
        english = sorted(e for e in entries if _is_latin(e))
        chinese = {self._chinese_form(e.casefold()) for e in entries if not _is_latin(e)}
        never = r"(?!x)x"  # an empty list matches nothing
        self._english = re.compile(_english_pattern(english) or never)
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
        forms = _readings(text)
        if any(self._chinese.search(self._chinese_form(form)) for form in forms):
            return True
        variants = set()
        for form in forms:
            spaced = " ".join(_PUNCTUATION.sub(" ", form).split())
            variants |= {spaced, " ".join(_PUNCTUATION.sub("", form).split()), _join_spelled(spaced)}
        return any(self._english.search(variant) for variant in variants)

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
