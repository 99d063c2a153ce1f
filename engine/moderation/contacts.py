"""Contact details taken out of text: links (also spelled out: "example dot com"), e-mail addresses,
phone numbers and messenger IDs, in the writings spammers use to slip them past a filter (digits as
words or Chinese numerals, "d0t", "[at]", "加v", "QQ 扣扣"), while scores, dates, prices, versions,
file names and product names ("3-1", "2024-05-01", "¥1380", "v1.2.3", "file.py", "ASP.NET") stay.

A co-host that reads a contact detail out advertises for whoever wrote it, so each rule leans to
removing; the exceptions are the shapes ordinary chat is full of.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TLD_FILE = Path(__file__).with_name("tlds.txt")


def read_tlds(path: Path = TLD_FILE) -> frozenset[str]:
    """The top-level domains in `path`: one a line, "#" comment lines skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


TLDS = read_tlds()

# TLDs that are everyday words, read as the next sentence after a missing space ("ok.so", "yes.it
# works") or as an attribute in code ("self.name", "obj.data"). They make a link only with a path
# ("t.me/spam", "spam.so/x"), a scheme or "www.".
WORD_TLDS = frozenset(
    "am as at be by do gg id in is it me my no so to us how now you one new here like love help call play "
    "watch show talk read run open next name data email map post page case date day best red lol wow "
    "free cool final total zero fail safe save star team work world zone today tips tools joy hot buy "
    "pay eat fly fit got man men mom dad dog cat car box bar fan pet pin sky tab tax law art boo foo life "
    "party music game video movie news photo book chat family style host target".split()
)
# TLDs that are file extensions first: "setup.py", "main.rs", "README.md", "clip.mov". A path makes
# them a link again.
FILE_EXTENSIONS = frozenset("py rs md sh pl pm so gd mk ps ml zip mov java tf ac sc sv".split())
# After a number, a TLD that is a unit is a measure: "3.5GB", "7.1ch", "3.5mm", "2.5kg" (while
# "163.com" and "4399.com" are links).
UNITS = frozenset("gb kg cm mm ms ch mg lb hr pt mt mv ma kw mw km ly pm am ml".split())
# Product names written like domains. Capitals do not tell them from links ("Socket.IO" is a
# library, "Itch.IO" a storefront, "Twitch.TV" both), so they are listed; with a path they are
# links ("asp.net/core"), and ".NET" alone has no name before its dot, so it is no domain.
PRODUCTS = frozenset({"asp.net", "vb.net", "ado.net", "ml.net", "dot.net", "socket.io"})
# Link hosts whose TLD is a word (WORD_TLDS): links even without a path.
LINK_HOSTS = frozenset({"discord.gg", "t.me", "wa.me", "m.me", "fb.me", "line.me", "youtu.be"})
# The TLDs a spelled-out link may end with ("example dot com"): spelling one out is a way to slip a
# common link past a filter, and the whole list would read "example dot company" as one.
SPELLED_TLDS = frozenset(
    "com net org edu gov io gg tv cn co cc me uk us ru de fr jp kr tw hk eu info biz xyz top vip club shop "
    "site online live app dev link ly fm ai tk icu fun wang ink store tech stream win bet".split()
)
# Mail providers after which a plain " at " is an e-mail's "@": "name at gmail dot com"; before
# any other domain it is prose ("meet me at example.com" loses only the link).
_MAIL_PROVIDERS = (
    r"gmail|googlemail|qq|163|126|yeah|sina|sohu|foxmail|outlook|hotmail|live|msn|yahoo|icloud|aol"
    r"|proton|protonmail|yandex|gmx|zoho|mail"
)

# Chinese numerals, and circled digits: NFKC turns ① into 1 but leaves the dingbats ❶ ➀ ➊.
_WRITTEN_DIGITS = {
    **dict.fromkeys("〇零⓪", 0),
    **dict.fromkeys("一幺壹①❶➀➊", 1),
    **dict.fromkeys("二贰貳②❷➁➋", 2),
    **dict.fromkeys("三叁參③❸➂➌", 3),
    **dict.fromkeys("四肆④❹➃➍", 4),
    **dict.fromkeys("五伍⑤❺➄➎", 5),
    **dict.fromkeys("六陆陸⑥❻➅➏", 6),
    **dict.fromkeys("七柒⑦❼➆➐", 7),
    **dict.fromkeys("八捌⑧❽➇➑", 8),
    **dict.fromkeys("九玖⑨❾➈➒", 9),
}
_EN_DIGITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_DIGIT_VALUES = {**{str(d): d for d in range(10)}, **_WRITTEN_DIGITS, **_EN_DIGITS}
_DIGIT = rf"[0-9{''.join(_WRITTEN_DIGITS)}]|(?<![a-z])(?:{'|'.join(_EN_DIGITS)})(?![a-z])"
# Between digits: spaces, dashes, dots, slashes, brackets and the like, a few at a time. Not ":",
# so times and scores ("20:30", "2:0") never join a run.
_DIGIT_SEP = r"[\s\-._/()·~|*,、–—]{0,3}"
_DIGIT_RUN = rf"(?:\+\s?)?\(?(?:{_DIGIT})(?:{_DIGIT_SEP}(?:{_DIGIT}))*"

_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_URL_REST = r"[\x21-\x7e]*"  # a link ends at a space or at the first non-ASCII character
_PATH = rf"[/?#]{_URL_REST}|:[0-9]{{2,5}}(?![0-9])(?:[/?#]{_URL_REST})?"
# What shows a word-like host is a link: a page after a slash, or a port. A bare "?" is prose.
_LINK_PATH = re.compile(r"\s*/\s*[\x21-\x7e]|:[0-9]")
# A zero for the o of the commonest TLDs: "spam.c0m". Other digits in a TLD are versions or units
# ("1.5x"), never a link.
_LEET_TLDS = {"c0m": "com", "0rg": "org"}
# A dot spelled out: "example dot com", "d0t", "(dot)", "[.]", "{.}", "example . com", "example。com",
# "example点com". The Chinese full stop takes no spaces: "ok。 me too" is a sentence.
_SPELLED_DOT = r"\s+d[o0]t\s+|\s*[(\[{<【]\s*(?:d[o0]t|\.|点|點)\s*[)\]}>】]\s*|。|\s*[点點]\s*|\s+\.\s+"
_SPELLED_DOT_SPLIT = re.compile(_SPELLED_DOT, re.IGNORECASE)
# Words before a spelled "dot com" that make it prose: "the dot com bubble".
_PROSE_BEFORE_DOT = r"a|an|the|in|of|and|or|for|with|like"
_SPELLED_START = rf"(?<![a-z0-9.-])(?=[a-z0-9-]*[a-z])(?!(?:{_PROSE_BEFORE_DOT})\s)"
_AT = (
    r"\s*[(\[{<【]\s*at\s*[)\]}>】]\s*|\s*艾特\s*|\s*@\s*"
    rf"|\s+at\s+(?=(?:{_MAIL_PROVIDERS})(?:\.|{_SPELLED_DOT}))"
)
_ASCII_CUE_END = r"(?![a-z])"
_WECHAT_CUES = (
    rf"微信|加微|威信|薇信|徽信|维信|微x|v信|(?<![a-z])(?:vx|wx|weixin|wechat){_ASCII_CUE_END}"
    rf"|[加+➕]\s*vx?{_ASCII_CUE_END}"
)
_QQ_CUES = rf"(?:(?<![a-z])qq{_ASCII_CUE_END}|扣扣|企鹅|(?<![a-z])q(?=号))[群羣]?|群号"
_PLATFORMS = r"(?<![a-z])(?:whats\s?app|telegram|snapchat|instagram|discord|kik|line\s*id)(?![a-z])|电报|電報|纸飞机"
# Words that are also ordinary words ("oh snap", "the line"): a cue only before ":", "id" or "号".
_WEAK_PLATFORMS = r"(?<![a-z])(?:line|tg|dc|snap|sc|ig|insta|wa)(?![a-z])|飞机|飛機"
_CONNECTOR = (
    r"(?:\s*(?:[:：=\-]|(?<![a-z])(?:id|is|username|handle|name)(?![a-z])|号码|號碼|号|號|账号|帳號|是|为|為))*\s*"
)
_STRONG_CONNECTOR = re.compile(r"[:：=]|id|号|號|username|handle|name", re.IGNORECASE)
_HANDLE = r"@?[a-z0-9](?:[a-z0-9._-]{0,30}[a-z0-9])?(?:#[0-9]{4})?"
_PHONE_CUE = re.compile(
    r"电话|電話|手机|手機|号码|號碼|联系|聯系|聯繫|联络|聯絡|致电|拨打|撥打|打给|打給|热线|熱線|微信|qq"
    r"|(?<![a-z])(?:tel|phone|call|mobile|cell|text|txt|sms|dial|ring|number|contact|reach|fax"
    r"|whats\s?app|signal|viber|telegram)(?![a-z])",
    re.IGNORECASE,
)
_DISCORD_CUE = re.compile(r"discord|(?<![a-z])dc(?![a-z])|add me|加我", re.IGNORECASE)
# "add me on snap xyz123": asked to be found there, a weak platform word is the app, and a name with
# digits or "_" after it the ID ("follow me on insta for more" holds none).
_FIND_ME_ON = re.compile(
    r"(?:(?:add|dm|message|msg|text|follow|find|hit)\s+me(?:\s+up)?|hmu)\s+(?:on|at)\s*$", re.IGNORECASE
)
_TOKEN = re.compile(_DIGIT, re.IGNORECASE)
_ASCII_DIGITS = re.compile(r"[0-9]+")
_RUN_PART = re.compile(r"[^\s,、]+")  # a run of digits may hold two numbers, a space apart
_CN_MOBILE = re.compile(r"(?:86)?1[3-9][0-9]{9}")
_US_NUMBER = re.compile(r"1?[2-9][0-9]{9}")
_CUE_WINDOW = 24  # characters before a number searched for "call", "电话"...

_Span = tuple[int, int]
_Accept = Callable[[re.Match[str], str], list[_Span]]


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _whole(match: re.Match[str], text: str) -> list[_Span]:
    return [match.span()]


def _counting(values: list[int]) -> bool:
    """ "one two three four five six seven", "九八七六五四三二一", "五五五五五五五": a count or a
    cheer, not a number."""
    steps = {b - a for a, b in zip(values, values[1:])}
    return len(steps) == 1 and steps <= {-1, 0, 1}


def _is_year(chunk: str) -> bool:
    return len(chunk) == 4 and 1900 <= int(chunk) <= 2099


def _is_date(a: str, b: str, c: str) -> bool:
    """2024-05-01, 01/05/2024, 5.1.2024."""
    if _is_year(a) and len(b) <= 2 and len(c) <= 2:
        return 1 <= int(b) <= 12 and 1 <= int(c) <= 31
    if _is_year(c) and len(a) <= 2 and len(b) <= 2:
        day_month = sorted((int(a), int(b)))
        return 1 <= day_month[0] <= 12 and day_month[1] <= 31
    return False


def _not_a_phone(chunks: list[str], run: str) -> bool:
    """Dates ("2024-05-01 20"), year ranges ("2023-2024") and thousands ("1,234,567")."""
    if len(chunks) >= 3 and _is_date(*chunks[:3]):
        return True
    if len(chunks) == 2 and all(map(_is_year, chunks)):
        return True
    return "," in run and all(len(c) == 3 for c in chunks[1:])


def _phone_shape(digits: str, chunks: list[str]) -> bool:
    """A Chinese mobile (138 1234 5678), a North American number (555-123-4567, 10 digits in
    groups of 3-3-4 or unbroken), or one with a trunk 0 and an area code (010-12345678,
    020 7946 0958)."""
    if digits.endswith("0000"):  # 2000000000 is a count
        return False
    sizes = [len(c) for c in chunks]
    if _CN_MOBILE.fullmatch(digits):
        return True
    if _US_NUMBER.fullmatch(digits) and sizes in ([3, 3, 4], [1, 3, 3, 4], [len(digits)]):
        return True
    return digits[0] == "0" and len(chunks) >= 2 and 2 <= sizes[0] <= 4 and 9 <= len(digits) <= 12


@dataclass(frozen=True)
class _Part:
    """A stretch of a run of digits between spaces: "138", "一三八", "(555)"."""

    start: int
    end: int
    values: tuple[int, ...]
    spelled: bool


def _part(match: re.Match[str]) -> _Part:
    tokens = _TOKEN.findall(match.group())
    values = tuple(_DIGIT_VALUES[token.lower()] for token in tokens)
    return _Part(match.start(), match.end(), values, any(token not in "0123456789" for token in tokens))


def _phone(match: re.Match[str], text: str) -> list[_Span]:
    """Phone numbers in a run of digits: the whole run, or else its longest stretches of parts
    between spaces that are one ("13812345678 13987654321", "13812345678 2 times")."""
    parts = [_part(part) for part in _RUN_PART.finditer(text, *match.span())]
    if _is_phone(text, parts, _cued(text, parts[0].start)):
        return [match.span()]
    found: list[_Span] = []
    i = 0
    while len(parts) > 1 and i < len(parts):
        stretch, digits = [], 0
        for j in range(i, len(parts)):  # a phone number holds 7 to 15 digits
            digits += len(parts[j].values)
            if digits > 15:
                break
            if digits >= 7:
                stretch.append(j)
        cued = _cued(text, parts[i].start)
        last = next((j for j in reversed(stretch) if _is_phone(text, parts[i : j + 1], cued)), None)
        if last is None:
            i += 1
        else:
            found.append((parts[i].start, parts[last].end))
            i = last + 1
    return found


def _cued(text: str, start: int) -> bool:
    """A number written with "+" or after "call", "电话"..."""
    return text[start] == "+" or bool(_PHONE_CUE.search(text, max(0, start - _CUE_WINDOW), start))


def _is_phone(text: str, parts: list[_Part], cued: bool) -> bool:
    """Whether these parts of a run are a phone number: 7-15 digits in any writing, spelled out,
    `cued` or in a phone's shape; never a date or a thousands-grouped number."""
    values = [value for part in parts for value in part.values]
    if not 7 <= len(values) <= 15:
        return False
    if any(part.spelled for part in parts):
        return not _counting(values)
    if not cued and values[0] != 0 and len(values) not in (10, 11, 13):
        return False  # no shape of _phone_shape has that length
    run = text[parts[0].start : parts[-1].end]
    chunks = _ASCII_DIGITS.findall(run)
    if _not_a_phone(chunks, run):
        return False
    return cued or _phone_shape("".join(chunks), chunks)


def _domain(name: str, tld: str, path: str, next_char: str) -> bool:
    """Whether "name.tld" with `path` after it is a link (see WORD_TLDS, FILE_EXTENSIONS, UNITS,
    PRODUCTS)."""
    lower = _LEET_TLDS.get(tld.lower(), tld.lower())
    if lower not in TLDS:
        return False
    labels = name.split(".")
    host = f"{name}.{tld}".lower()
    if len(labels) == 1 and labels[0].isdigit() and lower in UNITS:
        return False
    if host in LINK_HOSTS or _LINK_PATH.match(path):
        return True
    if next_char == "(":
        return False  # a call in code: "app.run()", "df.info()"
    if host in PRODUCTS or lower in WORD_TLDS or lower in FILE_EXTENSIONS:
        return False
    # "said.No way", "great stream.Live now": a capitalised word after a lowercase one is a new
    # sentence after a missing space; "Example.Com" and "ExAmPlE.CoM" are links.
    return not (tld[:1].isupper() and tld[1:].islower() and labels[-1].islower())


def _bare_domain(match: re.Match[str], text: str) -> list[_Span]:
    name, tld, path = match.group("name"), match.group("tld"), match.group("path") or ""
    return [match.span()] if _domain(name, tld, path, text[match.end() : match.end() + 1]) else []


def _spelled_domain(match: re.Match[str], text: str) -> list[_Span]:
    tld = "".join(match.group("tld").split()).lower()
    path = match.group("path") or ""
    host = _SPELLED_DOT_SPLIT.split(match.group("name"))[-1].lower() + "." + tld
    if tld not in SPELLED_TLDS:
        return []
    if tld in WORD_TLDS and host not in LINK_HOSTS and not _LINK_PATH.match(path):
        return []
    return [match.span()]


def _spelled_email(match: re.Match[str], text: str) -> list[_Span]:
    return [match.span()] if match.group("tld").lower() in TLDS else []


def _handle(match: re.Match[str], text: str) -> list[_Span]:
    """A messenger ID after its cue ("微信 abc123", "QQ 12345678", "snapchat: cool_guy"), removed
    with the cue."""
    connector, handle = match.group("conn"), match.group("id")
    strong = bool(_STRONG_CONNECTOR.search(connector))
    if match.group("number") is not None:
        return [match.span()] if 5 <= len(_TOKEN.findall(handle)) <= 15 else []
    if match.group("qq") is not None:
        return []  # a QQ number is digits
    bare = handle.lstrip("@")
    marked = handle.startswith("@") or "#" in handle or bool(re.search(r"[0-9_]", bare))
    if len(bare) < 3:
        return []
    if match.group("wechat") is not None:
        return [match.span()] if len(bare) >= 6 or marked or strong else []  # WeChat IDs are 6-20 long
    if match.group("weak") is not None:
        asked = bool(_FIND_ME_ON.search(text, 0, match.start()))
        return [match.span()] if strong or handle.startswith("@") or (asked and marked) else []
    return [match.span()] if marked or strong else []


def _discord_tag(match: re.Match[str], text: str) -> list[_Span]:
    """ "name#1234" once Discord or an "add me" came up; alone it may be "issue#1234"."""
    return [match.span()] if _DISCORD_CUE.search(text, 0, match.start()) else []


def _introduced(match: re.Match[str], text: str) -> list[_Span]:
    """ "follow @name", "加我 @name": the handle goes, the invitation stays; a bare "@name" is a
    chat mention."""
    return [match.span("id")]


_FINDERS: tuple[tuple[re.Pattern[str], _Accept], ...] = (
    (_compile(rf"(?:https?|hxxps?|ftp)\s*:\s*//{_URL_REST}|(?<![a-z0-9-])www\.{_URL_REST}"), _whole),
    (_compile(r"(?<![a-z0-9._%+-])[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+"), _whole),
    (
        _compile(
            rf"(?<![a-z0-9._%+-])[a-z0-9._%+-]+(?:{_AT})"
            rf"(?:{_LABEL}(?:\.|{_SPELLED_DOT}))+(?P<tld>[a-z]{{2,24}})(?![a-z0-9-])"
        ),
        _spelled_email,
    ),
    (
        _compile(
            rf"(?<![a-z0-9.@_/\\-])(?P<name>{_LABEL}(?:\.{_LABEL})*)"
            rf"\.(?P<tld>[a-z]{{2,24}}|c0m|0rg)(?![a-z0-9_-])(?P<path>{_PATH})?"
        ),
        _bare_domain,
    ),
    (
        _compile(
            rf"{_SPELLED_START}(?P<name>{_LABEL}(?:(?:{_SPELLED_DOT}){_LABEL})*)(?:{_SPELLED_DOT})"
            rf"(?P<tld>[a-z]{{2,24}}|[a-z](?:\s[a-z]){{1,5}})(?![a-z0-9-])(?P<path>\s*/\s*{_URL_REST})?"
        ),
        _spelled_domain,
    ),
    # "exampledotcom", "example dotcom".
    (_compile(rf"{_SPELLED_START}{_LABEL}\s*dot(?:com|net|org)(?![a-z0-9-])"), _whole),
    (_compile(rf"(?<![0-9+]){_DIGIT_RUN}"), _phone),
    (
        _compile(
            rf"(?P<cue>(?P<wechat>{_WECHAT_CUES})|(?P<qq>{_QQ_CUES})|(?P<weak>{_WEAK_PLATFORMS})|{_PLATFORMS})"
            rf"(?P<conn>{_CONNECTOR})(?P<id>(?P<number>{_DIGIT_RUN})(?![a-z_])|{_HANDLE})"
        ),
        _handle,
    ),
    (_compile(r"(?<![a-z0-9_.#])[a-z0-9_.]{2,32}#[0-9]{4}(?![0-9])"), _discord_tag),
    (
        _compile(
            r"(?:(?<![a-z])(?:add me|follow(?: me)?|dm(?: me)?|hmu|hit me up|message me|msg me|find me)(?![a-z])"
            r"|加我|私聊|私信|关注|加好友|找我)"
            r"(?:[\s,:：]*[^\s@,:：]{1,20}){0,3}?[\s,:：]*(?P<id>@[a-z0-9_](?:[a-z0-9._]{0,28}[a-z0-9_])?)"
        ),
        _introduced,
    ),
)


def strip_contacts(text: str) -> tuple[str, tuple[str, ...]]:
    """`text` (NFKC, without control or zero-width characters) with every contact detail taken
    out and its whitespace collapsed, and the pieces taken out, in order."""
    spans = sorted(
        span for pattern, accept in _FINDERS for match in pattern.finditer(text) for span in accept(match, text)
    )
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        elif start < end:
            merged.append([start, end])
    kept, pieces, pos = [], [], 0
    for start, end in merged:
        kept.append(text[pos:start])
        pieces.append(text[start:end].strip())
        pos = end
    kept.append(text[pos:])
    return " ".join(" ".join(kept).split()), tuple(pieces)
