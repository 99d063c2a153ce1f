"""Text made speakable before TTS: no emoji, links or markup, numbers in English words.

Chat text is full of things a synthesizer reads badly or literally ("h t t p s colon slash…",
"asterisk asterisk"), so everything that is not meant to be heard is removed here, once, for every
backend.
"""

from __future__ import annotations

import html
import re
import unicodedata

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion")
_MAX_DIGITS = 3 * len(_SCALES)  # longer runs (ids, phone numbers) are read digit by digit

_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}

# symbol: (unit, units, subunit, subunits)
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""),
}

# Top-level domains common enough in chat that "word.tld" is almost surely a link, not prose.
_TLDS = (
    "com|org|net|edu|gov|io|dev|gg|tv|co|uk|us|ca|de|fr|nl|eu|ru|jp|cn|in|au|be|ch|it|es|se|no|"
    "me|ai|app|info|biz|xyz|ly|to|fm|live|stream|online|site|tech|link"
)
_URL_REST = r"(?:\S*[^\s.,!?;:)\]'\"])?"  # up to the next space, less closing punctuation
_URL = re.compile(
    rf"https?://{_URL_REST}|www\.{_URL_REST}"
    # Links start a word: anchoring them keeps the search linear on long runs like "x.x.x.x".
    r"|(?<![^\s(\[<\"'])[^\s@]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    # Bare domains only with a TLD in one case: "said.No way" is a typo, "twitch.tv" is a link.
    # The TLD ends where letters end: "x.com5" is a link followed by a number.
    rf"|(?<![\w-])(?<![\w-]\.)(?:[\w-]+\.)+(?-i:{_TLDS}|{_TLDS.upper()})(?![^\W\d_])(?:[/?#]{_URL_REST})?"
    rf"|(?<![\w-])(?<![\w-]\.)(?:[\w-]+\.)+(?-i:[a-z]{{2,}}|[A-Z]{{2,}})/{_URL_REST}",
    re.IGNORECASE,
)

_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_CODE_FENCE = re.compile(r"```[^\n]*")
_HEADER = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE)
_QUOTE_OR_BULLET = re.compile(r"^[ \t]*(?:>+|[-*+])[ \t]+", re.MULTILINE)
_RULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
# Emphasis stays within a line and a few hundred characters, which also bounds the search.
_EMPHASIS = re.compile(r"(\*{1,3}|~~)(?=\S)(.{1,300}?)(?<=\S)\1")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)(_{1,3})(?=\S)(.{1,300}?)(?<=\S)\1(?!\w)")  # not snake_case
_HASH_NUMBER = re.compile(r"#(?=\d)")

_SYMBOL_WORDS = {"&": " and ", "+": " plus ", "=": " equals ", "°": " degrees "}

_TIME = re.compile(r"\b(\d{1,2}):(\d\d)\b")
_NUMBER = re.compile(
    r"(?P<sign>(?<![\w.])[-−](?=[$€£¥]?\d))?"
    r"(?:(?P<cur>[$€£¥])[ \t]?)?"
    r"(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
    r"(?P<frac>(?:\.\d+)+)?"
    r"(?:(?P<ord>st|nd|rd|th)\b|(?P<pct>[ \t]?%)|[ \t]?(?P<cur_after>[$€£¥]))?"
    r"(?P<scale>[ \t]+(?:thousand|million|billion|trillion)\b)?",
    re.IGNORECASE,
)

# Punctuation that shapes prosody is kept; any other symbol would be read aloud by name or not at all.
_KEPT_PUNCTUATION = frozenset(".,!?;:'\"()[]-–—…¡¿。、，！？；：«»“”‘’")
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+")
_ABBREVIATIONS = frozenset("mr mrs ms dr prof st jr sr vs e.g i.e".split())
_CLAUSE_END = re.compile(r"(?<=[,;:—–])\s+")
_LINE_END_PUNCTUATION = frozenset(".!?…,;:。！？")
_CLOSING_QUOTES = "\"')]”’»"


def normalise(text: str) -> str:
    """`text` as a TTS voice should read it, or "" when nothing speakable remains."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = remove_pictographs(text)
    text = remove_markup(text)
    text = remove_links(text)
    text = remove_stray_markup(text)
    for symbol, words in _SYMBOL_WORDS.items():  # after links, whose queries hold & and =
        text = text.replace(symbol, words)
    text = _speak_numbers(text)
    text = keep_speakable(text)
    text = close_lines(text)
    text = re.sub(r"\s+", " ", text).strip()
    # Only before punctuation that ends a word: "example .com" must not become a link again.
    text = re.sub(r" +(?=[.,!?;:…]+(?: |$))", "", text)
    return text if any(ch.isalpha() for ch in text) else ""


def split_sentences(text: str) -> list[str]:
    """Normalised text cut after each sentence's final punctuation (not after "Mr." or "e.g.")."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        last_word = text[start : match.start()].rsplit(" ", 1)[-1].rstrip(".").lower()
        if last_word not in _ABBREVIATIONS:
            sentences.append(text[start : match.end()].strip())
            start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def split_clauses(sentence: str, min_words: int = 3) -> list[str]:
    """A sentence cut after its commas, semicolons, colons and dashes, into pieces of at least
    `min_words` words (shorter ones join a neighbour, so "Well, hello there." stays whole)."""
    pieces: list[str] = []
    for part in _CLAUSE_END.split(sentence):
        if pieces and len(pieces[-1].split()) < min_words:
            pieces[-1] += " " + part
        else:
            pieces.append(part)
    if len(pieces) > 1 and len(pieces[-1].split()) < min_words:
        last = pieces.pop()
        pieces[-1] += " " + last
    return [p.strip() for p in pieces if p.strip()]


_CONJUNCTIONS = frozenset({"and", "but", "so", "or", "because", "then", "while", "which", "that"})
LONG_OPENING_WORDS = 8


# A clause of two words may open an answer on its own ("Hi Sam, | welcome in!"): chat message to
# first sound went from 259 to 209 ms (p50) against three words (`cohost bench latency`, 40 messages).
OPENING_MIN_WORDS = 2


def spoken_pieces(text: str, continued: bool = False) -> list[str]:
    """`text` normalised and cut into the pieces a voice synthesizes one at a time: its sentences,
    the first one cut further (split_opening) unless `continued` says the text goes on a line
    already being heard. Synthesis time grows with the audio's length, so a long first sentence
    delays the start: cutting it at its commas brought a 10-word sentence's first chunk from ~480 to
    ~160 ms, and a long comma-less opening cut before a conjunction from ~157 to ~90 ms (piper).
    Later sentences are made while earlier ones play, and stay whole for their prosody."""
    sentences = split_sentences(normalise(text))
    if continued or not sentences:
        return sentences
    return split_opening(sentences[0], OPENING_MIN_WORDS) + sentences[1:]


def split_opening(sentence: str, min_words: int = 3) -> list[str]:
    """The first sentence of a reply, cut so the voice can start early: at its clause punctuation
    and, when the first clause is still long, once more before a conjunction ("... everyone | and
    thanks ..."), which is where a speaker would breathe anyway."""
    pieces = split_clauses(sentence, min_words)
    if not pieces:
        return pieces
    words = pieces[0].split()
    if len(words) >= LONG_OPENING_WORDS:
        for i in range(min_words, len(words) - min_words + 1):
            if words[i].lower() in _CONJUNCTIONS:
                return [" ".join(words[:i]), " ".join(words[i:])] + pieces[1:]
    return pieces


def spell_integer(n: int) -> str:
    """A non-negative integer in English words: 1234 -> "one thousand two hundred thirty-four"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {spell_integer(rest)}" if rest else "")
    words = []
    for scale in _SCALES:
        n, group = divmod(n, 1000)
        if group:
            words.insert(0, f"{spell_integer(group)} {scale}".strip())
        if not n:
            break
    return " ".join(words)


def spell_year(n: int) -> str:
    """1999 -> "nineteen ninety-nine", 2005 -> "two thousand five", 1900 -> "nineteen hundred"."""
    century, rest = divmod(n, 100)
    if 2000 <= n < 2010:
        return spell_integer(n)
    if rest == 0:
        return f"{spell_integer(century)} hundred"
    if rest < 10:
        return f"{spell_integer(century)} oh {_ONES[rest]}"
    return f"{spell_integer(century)} {spell_integer(rest)}"


def spell_ordinal(n: int) -> str:
    words = spell_integer(n)
    head, sep, last = words.rpartition(" ")
    prefix, hyphen, last = last.rpartition("-")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + prefix + hyphen + last


def _spell_digits(digits: str) -> str:
    return " ".join(_ONES[unicodedata.digit(d)] for d in digits)


def _spell_whole(digits: str) -> str:
    """Digits of a whole number; leading zeros and very long runs are codes, read digit by digit."""
    if len(digits) > _MAX_DIGITS or (len(digits) > 1 and unicodedata.digit(digits[0]) == 0):
        return _spell_digits(digits)
    return spell_integer(int(digits))


def _spell_decimal(digits: str, frac: str | None) -> str:
    """3.14 -> "three point one four"; version-like 1.2.3 reads every dot as "point"."""
    parts = frac.split(".")[1:] if frac else []
    return _spell_whole(digits) + "".join(f" point {_spell_digits(part)}" for part in parts)


def remove_pictographs(text: str) -> str:
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if (category == "So" or category == "Me") and ch not in _SYMBOL_WORDS:  # emoji, pictographs, keycaps
            out.append(" ")
        elif category in ("Cf", "Co", "Cs", "Cn") or unicodedata.name(ch, "").startswith("VARIATION SELECTOR"):
            continue  # zero-width joiners, emoji selectors, private use: glue, not content
        else:
            out.append(ch)
    return "".join(out)


def remove_markup(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    text = _HTML_COMMENT.sub(" ", text)
    text = _HTML_TAG.sub(" ", text)
    text = _CODE_FENCE.sub(" ", text).replace("`", "")
    text = _RULE.sub(" ", text)
    text = _HEADER.sub("", text)
    text = _QUOTE_OR_BULLET.sub("", text)
    for _ in range(3):  # nested emphasis: ***a*** or **_a_**
        text = _UNDERSCORE_EMPHASIS.sub(r"\2", _EMPHASIS.sub(r"\2", text))
    return _HASH_NUMBER.sub(" number ", text)


def remove_links(text: str) -> str:
    # Until none is left: a removed link can leave another behind ("a.comhttp://x" -> "a.com").
    while (cleaned := _URL.sub(" ", text)) != text:
        text = cleaned
    return text


def remove_stray_markup(text: str) -> str:
    """Unpaired markers; only after links are gone, whose paths may hold them."""
    return text.replace("*", " ").replace("_", " ").replace("~~", " ")


def _speak_numbers(text: str) -> str:
    text = _TIME.sub(_speak_time, text)
    return _NUMBER.sub(_speak_number, text)


def _speak_time(match: re.Match) -> str:
    hour, minute = int(match[1]), int(match[2])
    if hour > 24 or minute > 59:
        return f" {spell_integer(hour)} {_spell_digits(match[2])} "
    if minute == 0:
        return f" {spell_integer(hour)} o'clock "
    if minute < 10:
        return f" {spell_integer(hour)} oh {_ONES[minute]} "
    return f" {spell_integer(hour)} {spell_integer(minute)} "


def _speak_number(match: re.Match) -> str:
    digits = match["int"].replace(",", "")
    frac = match["frac"]
    currency = match["cur"] or match["cur_after"]
    scale = (match["scale"] or "").strip().lower()

    if match["ord"] and not frac and len(digits) <= _MAX_DIGITS:
        words = spell_ordinal(int(digits))
    elif currency and not match["pct"]:
        words = _speak_money(digits, frac, currency, scale)
        scale = ""
    elif (
        not frac
        and not match["sign"]
        and not match["pct"]
        and "," not in match["int"]
        and len(digits) == 4
        and 1100 <= int(digits) <= 2099
    ):
        words = spell_year(int(digits))
    else:
        words = _spell_decimal(digits, frac)
    if match["sign"]:
        words = "minus " + words
    if scale:
        words += " " + scale
    if match["pct"]:
        words += " percent"
    return f" {words} "


def _speak_money(digits: str, frac: str | None, currency: str, scale: str) -> str:
    unit, units, subunit, subunits = _CURRENCIES[currency]
    if scale or (frac and (len(frac) > 3 or frac.count(".") > 1 or not subunit)):
        # "$2.5 million", "$0.125": an amount, not dollars and cents
        return f"{_spell_decimal(digits, frac)} {scale} {units}"
    whole = int(digits) if len(digits) <= _MAX_DIGITS else None
    cents = int(frac[1:].ljust(2, "0")) if frac else 0
    parts = []
    if whole is None:
        parts.append(f"{_spell_digits(digits)} {units}")
    elif whole or not cents:
        parts.append(f"{spell_integer(whole)} {unit if whole == 1 else units}")
    if cents:
        parts.append(f"{spell_integer(cents)} {subunit if cents == 1 else subunits}")
    return " and ".join(parts)


def keep_speakable(text: str) -> str:
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in "LM" or ch in _KEPT_PUNCTUATION or ch == "\n":
            out.append(ch)
        else:
            out.append(" ")  # digits left over (non-decimal numerals), symbols, controls
    return "".join(out)


def close_lines(text: str) -> str:
    """A line without final punctuation (a chat line, a list item, a heading) still ends a sentence."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    return " ".join(
        line if i == len(lines) - 1 or line.rstrip(_CLOSING_QUOTES)[-1:] in _LINE_END_PUNCTUATION else line + "."
        for i, line in enumerate(lines)
    )
