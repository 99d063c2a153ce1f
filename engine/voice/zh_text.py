"""Chinese text made speakable for a Mandarin voice, which reads hanzi and punctuation and nothing else.

Emoji, links and markup go as in text.py; numbers, dates, times, money and units become hanzi;
English words stay in Latin script, for `latin_runs` to hand to the English voice. Readings:

- Counts: 123 -> 一百二十三, 10005 -> 一万零五, 1,234 -> 一千二百三十四, 15 -> 十五, 3.14 -> 三点一四,
  -5 -> 负五. 两 stands for a 2 in the thousands place (两千, 一万两千), for 2 alone before 万/亿
  (两万) and for the number 2 alone before a measure word or unit (两个, 两点, 两元, 两天); 二 everywhere
  else (二十, 十二, 二百, 二月, 二号, 第二, 百分之二).
- Years before 年 and in dates are read digit by digit with 一: 2026年 -> 二零二六年; 2026-12-06 and
  2026/12/6 -> 二零二六年十二月六日. Times: 14:30 -> 十四点三十分, 9:05 -> 九点零五分, 8:00 -> 八点;
  n:m with a one-digit m is a score, 3:2 -> 三比二.
- Money: ¥ and 元 amounts in 元角分 (35.50元 -> 三十五元五角, ¥0.05 -> 五分), other currencies as
  decimals ($5.99 -> 五点九九美元); amounts with 万/亿 or finer than 分 as decimals too.
- 50% -> 百分之五十, 25°C -> 二十五摄氏度 (-5°C -> 零下五摄氏度), 3-5 and 3~5 -> 三到五,
  1/2 -> 二分之一, 第3 -> 第三, #3 -> 三号.
- Codes are read digit by digit with 幺 for 1, as Mandarin speakers read phone numbers: runs of 7 or
  more digits (unless money, 万/亿 or % follow), numbers with a leading zero, and digit groups joined
  by hyphens (138-1234-5678). Three or more of one digit alone (666) is chat slang: 六六六.
- Full-width forms become ASCII through NFKC; ASCII punctuation next to Chinese becomes the
  Chinese mark (，。！？；：), the pauses the voice makes; brackets and quotes there are dropped and
  spaces next to Chinese removed.
"""

from __future__ import annotations

import html
import re
import unicodedata

from engine.language import script
from engine.voice.text import (
    close_lines,
    keep_speakable,
    remove_links,
    remove_markup,
    remove_pictographs,
    remove_stray_markup,
)

_DIGITS = "零一二三四五六七八九"
_CODE_DIGITS = "零幺二三四五六七八九"
_PLACES = ("", "十", "百", "千")
_GROUPS = ("", "万", "亿", "万亿")
_MAX_DIGITS = 4 * len(_GROUPS)  # longer numbers have no reading as a count
_CODE_MIN_DIGITS = 7  # QQ numbers, phone numbers, ids: nobody says 一千三百八十万

# CJK punctuation, ideographs and full-width forms: text written without spaces between words.
_ZH = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U000323af"
_ASCII_BESIDE_ZH = re.compile(rf"(?<=[\x21-\x7e])(?=[{_ZH}])|(?<=[{_ZH}])(?=[\x21-\x7e])")
_SPACE_BESIDE_ZH = re.compile(rf"[^\S\n]+(?=[{_ZH}])|(?<=[{_ZH}])[^\S\n]+")  # newlines end sentences

# After a number, these make 2 read 两 (两个, 两点); 年级 is a grade (二年级), not years.
_MEASURE = re.compile(
    "年(?!级)|个|位|名|只|条|张|本|件|次|天|岁|周|星期|种|份|杯|瓶|碗|块|元|美元|欧元|英镑|毛|角|分|秒"
    "|小时|点|双|对|台|部|辆|家|场|局|首|集|节|遍|下|句|声|口|趟|圈|票|回|样|间|座|颗|支|把|枚|盒|包"
    "|套|副|篇|根|片|粒|顿|餐|倍|人|斤|公斤|克|米|公里|千米|厘米|升|度|摄氏度|万|千|亿|朵|款|字|道|门|头"
    "|匹|户|桌|期|届|帧|毫升|毫米|英里|磅"
)
_UNIT_AFTER_CODE = re.compile("[元块万亿%‰]|美元|人民币")

_NUMBER = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)*"
_HASH_NUMBER = re.compile(r"#([0-9]+)号?")
_DATE = re.compile(r"(?<![0-9])([0-9]{4})([-/.])(1[0-2]|0?[1-9])\2(3[01]|[12][0-9]|0?[1-9])(?![0-9])")
_YEAR = re.compile(r"(?<![0-9.,])([0-9]{4})(?=年)")
_HYPHENED_CODE = re.compile(r"(?<![0-9.-])[0-9]+(?:-[0-9]+)+(?![0-9.-])")
_TIME = re.compile(r"(?<![0-9:.])([01]?[0-9]|2[0-4]):([0-5][0-9])(?::([0-5][0-9]))?(?![0-9:])")
_SCORE = re.compile(r"(?<![0-9:.])([0-9]{1,3}):([0-9]{1,3})(?![0-9:])")
_ORDINAL = re.compile(rf"第({_NUMBER})")
_FRACTION = re.compile(r"(?<![0-9/.])([0-9]{1,3})/([0-9]{1,3})(?![0-9/.])")
_ARITHMETIC = {"+": "加", "=": "等于", "×": "乘", "÷": "除以"}
_ARITHMETIC_SIGN = re.compile(r"(?<=[0-9])\s*([=×÷+])\s*(?=[-−]?[0-9])|(?<![0-9A-Za-z])\+(?=[0-9])")
_AMOUNT = re.compile(
    r"(?P<sign>(?<![0-9A-Za-z.])[-−])?"
    r"(?:(?P<cur>[¥$€£])\s?)?"
    rf"(?P<a>{_NUMBER})"
    # A range; the first number may repeat the unit: 50%-60%, ¥30-¥50.
    rf"(?:(?:[%‰]|°[CF]?)?\s?[-~–]\s?[¥$€£]?(?P<b>{_NUMBER}))?"
    r"(?P<scale>[万亿])?"
    r"(?P<unit>[%‰元]|°[CF]?)?"
)
_CURRENCIES = {"¥": "元", "$": "美元", "€": "欧元", "£": "英镑"}
_UNITS_BEFORE = {"%": "百分之", "‰": "千分之"}
_UNITS_AFTER = {"°C": "摄氏度", "°F": "华氏度", "°": "度"}

_FULL_WIDTH = str.maketrans(",.!?;:", "，。！？；：")
_ZH_PUNCTUATION = re.compile(rf"(?<=[{_ZH}])[,.!?;:]+|[,.!?;:]+(?=[{_ZH}])")
_ZH_ELLIPSIS = re.compile(rf"(?<=[{_ZH}])\.{{2,}}|\.{{2,}}(?=[{_ZH}])")
_ZH_DASH = re.compile(rf"(?<=[{_ZH}])[—–]+|[—–]+(?=[{_ZH}])")
_ZH_BRACKETS = re.compile(rf"(?<=[{_ZH}])[-()\[\]'\"]+|[-()\[\]'\"]+(?=[{_ZH}])")
_REPEATED_MARK = re.compile(r"([，。！？；：、])\1+")


def normalise_zh(text: str) -> str:
    """`text` as a Mandarin voice should read it, or "" when nothing speakable remains."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = remove_pictographs(text)
    text = _HASH_NUMBER.sub(lambda m: m[1] + "号", text)  # before text.py's markup turns it into "number"
    text = remove_markup(text)
    # Links run to the next space, and Chinese has none: cut Latin script off the hanzi first.
    text = _ASCII_BESIDE_ZH.sub(" ", text)
    text = remove_links(text)
    text = remove_stray_markup(text)
    text = _SPACE_BESIDE_ZH.sub("", text)
    text = _speak_numbers(text)
    text = keep_speakable(text)
    text = close_lines(text)
    text = _SPACE_BESIDE_ZH.sub("", re.sub(r"\s+", " ", text)).strip()
    text = _ZH_ELLIPSIS.sub("…", text)
    text = _ZH_PUNCTUATION.sub(lambda m: m[0].translate(_FULL_WIDTH), text)
    text = _ZH_DASH.sub("，", text)
    text = _ZH_BRACKETS.sub("", text)
    text = _REPEATED_MARK.sub(r"\1", text)
    text = re.sub(r" +(?=[.,!?;:…]+(?: |$))", "", text)
    return text if any(ch.isalpha() for ch in text) else ""


def latin_runs(text: str) -> list[tuple[str, bool]]:
    """`text` cut where it changes between Latin script (True) and Chinese (False).

    Characters of neither (spaces, punctuation, digits) belong to the run before them, the
    punctuation that closes what was said; at the start, to the run after. The runs join back into
    `text`. "我用OBS，直播" -> [("我用", False), ("OBS，", True), ("直播", False)]."""
    runs: list[tuple[str, bool]] = []
    pending = ""  # characters of neither script, not yet given to a run
    for char in text:
        name = script(char)
        if name is None:
            pending += char
            continue
        latin = name == "latin"
        if runs and runs[-1][1] == latin:
            runs[-1] = (runs[-1][0] + pending + char, latin)
        elif runs:
            runs[-1] = (runs[-1][0] + pending, runs[-1][1])
            runs.append((char, latin))
        else:
            runs.append((pending + char, latin))
        pending = ""
    if pending:
        runs[-1:] = [(runs[-1][0] + pending, runs[-1][1])] if runs else [(pending, False)]
    return runs


def spell_integer(n: int) -> str:
    """A non-negative count in hanzi: 1234 -> 一千二百三十四, 100500 -> 十万零五百, 12000 -> 一万两千."""
    if n == 0:
        return _DIGITS[0]
    groups = []
    while n:
        n, group = divmod(n, 10000)
        groups.append(group)
    parts: list[str] = []
    zero = False  # a zero group or place since the last digit read, said once as 零 before the next
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            zero = bool(parts)
            continue
        if parts and (zero or group < 1000):
            parts.append("零")
        parts.append(("两" if group == 2 and index else _spell_group(group)) + _GROUPS[index])
        zero = False
    words = "".join(parts)
    return words[1:] if words.startswith("一十") else words  # 十五, 十万; but 一百一十


def _spell_group(group: int) -> str:
    """1 to 9999, the digits of one 万 group: 1020 -> 一千零二十."""
    parts: list[str] = []
    zero = False
    for place in (3, 2, 1, 0):
        digit = group // 10**place % 10
        if digit == 0:
            zero = bool(parts)
            continue
        if zero:
            parts.append("零")
            zero = False
        parts.append(("两" if digit == 2 and place == 3 else _DIGITS[digit]) + _PLACES[place])
    return "".join(parts)


def _spell_digits(digits: str, names: str = _DIGITS) -> str:
    return "".join(names[int(d)] for d in digits if d.isdigit())


def _spell_code(digits: str) -> str:
    return _spell_digits(digits, _CODE_DIGITS)


def _spell_number(number: str, following: str = "") -> str:
    """A count or decimal as written ("1,234", "3.14", "1.2.3"); a lone 2 before a measure word or
    unit in `following` reads 两."""
    whole, *fractions = number.replace(",", "").split(".")
    if len(whole) > _MAX_DIGITS:
        words = _spell_code(whole)
    elif whole == "2" and not fractions and _MEASURE.match(following):
        words = "两"
    else:
        words = spell_integer(int(whole))
    return words + "".join("点" + _spell_digits(fraction) for fraction in fractions)


def _speak_numbers(text: str) -> str:
    text = _DATE.sub(_speak_date, text)
    text = _YEAR.sub(lambda m: _spell_digits(m[1]), text)
    text = _HYPHENED_CODE.sub(_speak_hyphened, text)
    text = _TIME.sub(_speak_time, text)
    text = _SCORE.sub(lambda m: f"{_spell_number(m[1])}比{_spell_number(m[2])}", text)
    text = _ORDINAL.sub(lambda m: "第" + _spell_number(m[1]), text)
    text = _FRACTION.sub(lambda m: f"{_spell_number(m[2])}分之{_spell_number(m[1])}", text)
    text = _ARITHMETIC_SIGN.sub(lambda m: _ARITHMETIC[m[1] or "+"], text)
    return _AMOUNT.sub(_speak_amount, text)


def _speak_date(match: re.Match[str]) -> str:
    return f"{_spell_digits(match[1])}年{spell_integer(int(match[3]))}月{spell_integer(int(match[4]))}日"


def _speak_hyphened(match: re.Match[str]) -> str:
    """138-1234-5678 is a phone number; 3-5 (too few digits for a code) is left for ranges."""
    code = match[0]
    if sum(ch.isdigit() for ch in code) < _CODE_MIN_DIGITS:
        return code
    return _spell_code(code)


def _speak_time(match: re.Match[str]) -> str:
    hour, minute, second = match[1], match[2], match[3]
    words = _spell_number(str(int(hour)), "点") + "点"
    if minute != "00" or second:
        words += _spell_minute(minute) + "分"
    if second:
        words += _spell_minute(second) + "秒"
    return words


def _spell_minute(digits: str) -> str:
    """ "05" -> 零五, "30" -> 三十, "02" -> 零二 (never 两: it is not a count here)."""
    return ("零" if digits[0] == "0" and digits != "00" else "") + spell_integer(int(digits))


def _speak_amount(match: re.Match[str]) -> str:
    a, b, cur, scale, unit = match["a"], match["b"], match["cur"], match["scale"] or "", match["unit"]
    after = match.string[match.end() :]
    if not (b or cur or scale or unit or match["sign"]) and _is_code(a, after):
        return _spell_code(a) if _is_id(a) else _spell_digits(a)
    if cur or unit == "元":
        name = _CURRENCIES[cur] if cur else "元"
        if not b and not scale and name == "元" and _is_cents(a):
            words = _spell_yuan(a)
        else:
            words = _spell_span(a, b, scale + name) + scale + name
    elif unit in _UNITS_BEFORE:
        words = _UNITS_BEFORE[unit] + _spell_span(a, b, "") + scale
    elif unit in _UNITS_AFTER:
        words = _spell_span(a, b, _UNITS_AFTER[unit]) + scale + _UNITS_AFTER[unit]
    else:
        words = _spell_span(a, b, scale or after) + scale
    if match["sign"]:
        words = ("零下" if unit in _UNITS_AFTER else "负") + words
    return words


def _spell_span(a: str, b: str | None, following: str) -> str:
    """One number, or a range read 到: both ends take the reading the text after the range calls for."""
    return _spell_number(a, following) + (f"到{_spell_number(b, following)}" if b else "")


def _is_code(number: str, after: str) -> bool:
    """A bare run of digits that is read digit by digit: an id, a number with a leading zero, or 666."""
    if not number.isdigit() or _UNIT_AFTER_CODE.match(after):
        return False
    if _is_id(number):
        return True
    return len(number) >= 3 and len(set(number)) == 1 and not _MEASURE.match(after)


def _is_id(number: str) -> bool:
    return len(number) >= _CODE_MIN_DIGITS or (len(number) > 1 and number[0] == "0")


def _is_cents(number: str) -> bool:
    whole, _, fraction = number.replace(",", "").partition(".")
    return len(whole) <= _MAX_DIGITS and (fraction == "" or (len(fraction) <= 2 and fraction.isdigit()))


def _spell_yuan(number: str) -> str:
    """35.50 -> 三十五元五角, 35.05 -> 三十五元零五分, 0.5 -> 五角, 2 -> 两元."""
    whole, _, fraction = number.replace(",", "").partition(".")
    jiao, fen = (int(d) for d in fraction.ljust(2, "0"))
    words = _spell_number(whole, "元") + "元" if int(whole) or not (jiao or fen) else ""
    if jiao:
        words += _spell_number(str(jiao), "角") + "角"
    if fen:
        words += ("零" if words and not jiao else "") + _spell_number(str(fen), "分") + "分"
    return words
