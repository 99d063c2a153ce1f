"""Moderation: what chat may ask and what the co-host may say, and which messages become questions."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.chat.message import ChatMessage
from engine.config import ModerationConfig
from engine.errors import CohostError
from engine.moderation import text as text_module
from engine.moderation.classifier import Scores
from engine.moderation.confusables import unmask
from engine.moderation.english import EnglishMatcher
from engine.moderation.gate import MAX_ENTRIES, ChatGate
from engine.moderation.text import TextFilter
from engine.moderation.word_files import (
    BUILTIN_WORD_FILES,
    EN_ALLOW_FILE,
    read_context_words,
    read_word_file,
    read_zh_variants,
)


@pytest.fixture(scope="module")
def moderation() -> ModerationConfig:
    return ModerationConfig(
        max_chars=200,
        banned_word_files=[],
        user_cooldown_s=30.0,
        global_per_minute=20,
        duplicate_window_s=120.0,
        approve=False,
    )


@pytest.fixture(scope="module")
def text_filter(moderation) -> TextFilter:
    return TextFilter(moderation)


def filter_with_words(moderation: ModerationConfig, path: Path, words: str) -> TextFilter:
    """The filter with a user word file at `path` holding `words`."""
    path.write_text(words, encoding="utf-8")
    return TextFilter(dataclasses.replace(moderation, banned_word_files=[str(path)]))


@pytest.fixture(scope="module")
def short_filter(moderation) -> TextFilter:
    return TextFilter(dataclasses.replace(moderation, max_chars=60))


# ----- banned words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "fuck you",
        "FUCK you",
        "ＦＵＣＫ you",  # fullwidth letters
        "fu\u200bck you",  # zero-width space
        "f\u2060u\ufeffck you",  # word joiner, BOM
        "f.u.c.k you",
        "f u c k you",
        "f-u-c-k you",
        "fuuuuck you",
        "ffffuuuucccckkkk",
        "sh1t",
        "$hit happens",
        "a$$hole",
        "@ss",
        "what the fucking hell",  # "*fuck*" goes on after the word
        "motherfucker",
        "5fuck",  # a digit next to a word is no letter
        "you are a b1tch",
        "kill yourself",
        "KILL.YOURSELF",
        "I'll kill you",
        "傻逼",
        "傻 逼 主播",
        "傻.逼",
        "傻😀逼",  # an emoji between the characters
        "你是傻B吗",
        "主播傻fuck",  # an English word glued to Chinese
        "nmsl",
    ],
)
def test_banned_words_are_caught_through_evasions(text_filter, text):
    verdict = text_filter.clean_input(text)
    assert (verdict.ok, verdict.reason) == (False, "banned")
    assert text_filter.check_output(text).reason == "banned"


@pytest.mark.parametrize(
    "text",
    [
        "What class is the assistant in?",
        "I grew up in Scunthorpe",
        "a cocktail of shiitake and grapes",
        "the analysis of the therapist",
        "Sussex has classic passes",
        "as soon as possible",
        "It's an ex-wife's house",  # "s ex" must not read as "sex"
        "I was a big fan, but as I said",
        "他杀了你的队友，真可惜",  # game talk: "killed your teammate"
        "这是跳楼价，大麻烦",  # "clearance price, big trouble": no overbroad Chinese entries
        "他殺了你的隊友，真可惜",  # the same in traditional characters
        "這是跳樓價，大麻煩",
        "The assassin took a bass class",
        "Ça va? Naïve café, crème brûlée in Zürich",  # accents come off, no entry appears
    ],
)
def test_innocent_words_containing_banned_ones_pass(text_filter, text):
    assert text_filter.clean_input(text).ok
    assert text_filter.check_output(text).ok


def test_a_banned_sentence_is_dropped_whole_not_masked(text_filter):
    verdict = text_filter.check_output("Great question, but shit happens sometimes.")
    assert verdict == dataclasses.replace(verdict, ok=False, reason="banned")
    assert "shit" in verdict.text  # nothing masked: the caller never speaks it


def test_a_banned_word_past_the_cut_still_drops_the_message(text_filter, moderation):
    text = "a " * moderation.max_chars + "fuck"
    assert text_filter.clean_input(text).reason == "banned"


def test_a_cut_that_leaves_a_banned_word_at_the_end_drops_the_message(tmp_path, moderation):
    # "frakking" is not the whole word "frak", but cut after "frak" (no space to cut at) it is.
    words = tmp_path / "words.txt"
    words.write_text("frak\n")
    config = dataclasses.replace(moderation, banned_word_files=[str(words)])
    text = "好好好好好好frakking"
    assert TextFilter(dataclasses.replace(config, max_chars=10)).clean_input(text).reason == "banned"
    assert TextFilter(dataclasses.replace(config, max_chars=30)).clean_input(text).ok


def test_user_word_files_add_to_the_built_in_lists(tmp_path, moderation):
    text_filter = filter_with_words(moderation, tmp_path / "words.txt", "# my channel's list\n\nbanana split\n西瓜\n")
    assert text_filter.clean_input("I love a BANANA   split").reason == "banned"
    assert text_filter.clean_input("我爱吃西 瓜").reason == "banned"
    assert text_filter.clean_input("my channel's list").ok  # comments are not entries
    assert text_filter.clean_input("fuck").reason == "banned"  # the built-in lists still apply


def test_a_missing_word_file_is_a_one_line_error_naming_it(tmp_path, moderation):
    missing = tmp_path / "nope.txt"
    with pytest.raises(CohostError, match="nope.txt") as err:
        TextFilter(dataclasses.replace(moderation, banned_word_files=[str(missing)]))
    assert "\n" not in str(err.value)


def test_a_word_file_that_is_not_utf8_is_a_one_line_error_naming_it(tmp_path, moderation):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(CohostError, match="latin1.txt.*UTF-8") as err:
        TextFilter(dataclasses.replace(moderation, banned_word_files=[str(bad)]))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("path, least, most", [(BUILTIN_WORD_FILES[0], 250, 600), (BUILTIN_WORD_FILES[1], 120, 400)])
def test_built_in_word_lists_are_reasonably_sized(path, least, most):
    assert least <= len(read_word_file(path)) <= most, path


@pytest.mark.parametrize(
    "text",
    [
        "fück you",
        "shït happens",
        "fúck",
        "FÜCK YOU",
        "bítch",
        "f\u0336u\u0336c\u0336k\u0336",  # combining strikethrough over each letter
        "s\u0301\u0302\u0303h\u0304it",  # stacked marks
        "\u0192uck",  # ƒ: a Latin letter with a hook, which NFKD keeps whole
        "ａｓｓｈｏｌé",  # fullwidth and accented
        "fü.c.k you",
    ],
)
def test_accented_letters_do_not_hide_a_banned_word(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"
    assert text_filter.check_output(text).reason == "banned"


@pytest.mark.parametrize(
    "text",
    [
        "fu\u0441k you",  # Cyrillic с
        "\u0455\u04bb\u0456\u0442",  # Cyrillic ѕ һ і т: no Latin letter left
        "\u0412\u0406\u0422\u0421\u041d",  # ВІТСН, all Cyrillic capitals
        "\u0455\u0435\u0445",  # ѕех
        "f\u03c5ck",  # Greek υ
        "\u03c1orn",  # Greek ρ
        "a\u0455\u0455h\u043ele",  # Cyrillic ѕ ѕ о
        "f\u03c5\u0441k\u0301",  # Greek and Cyrillic in one word, and an accent
        "kill y\u03bfur\u0455elf",  # Greek ο and Cyrillic ѕ in a phrase
        "f \u03c5 \u0441 k you",  # spelled out with look-alikes
    ],
)
def test_look_alike_cyrillic_and_greek_letters_do_not_hide_a_banned_word(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"
    assert text_filter.check_output(text).reason == "banned"


@pytest.mark.parametrize(
    "text",
    [
        "Привет! У меня ухо болит, а оса укусила в руку. Сок и кокос на столе.",
        "Сегодня хороший стрим, спасибо! Сосед сказал, что это лучший канал.",
        "Καλημέρα, τι κάνεις; Ο καιρός είναι ωραίος και το νερό κρύο.",
        "Θέλω ένα ρακί και μια πίτα, ευχαριστώ.",  # ρακί: "raki", all look-alikes but accented
        "Добрий день! Як справи? Їжак і ґава сидять разом.",  # Ukrainian і ї ґ
    ],
)
def test_russian_greek_and_ukrainian_chat_passes(text_filter, text):
    assert text_filter.clean_input(text).ok
    assert text_filter.check_output(text).ok


def test_a_cyrillic_entry_in_a_user_file_still_matches_as_written(tmp_path, moderation):
    # "сука" is all look-alikes ("cyka" to a Latin reader); the text as written still counts.
    text_filter = filter_with_words(moderation, tmp_path / "ru.txt", "сука\n")
    assert text_filter.clean_input("ты сука").reason == "banned"
    assert text_filter.clean_input("ты СУКА!").reason == "banned"


_CJK_TEXT = st.text(
    st.one_of(
        st.characters(min_codepoint=0x3040, max_codepoint=0x30FF),  # hiragana, katakana
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK ideographs
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),  # Hangul syllables
        st.sampled_from("。、！？ 「」\u3099\u309a\u0301\u0308"),  # punctuation, kana and Latin marks
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(text=_CJK_TEXT)
def test_unmask_leaves_chinese_japanese_and_korean_text_as_it_is(text):
    text = unicodedata.normalize("NFKC", text)  # as clean() hands it over
    assert unmask(text) == text


# Look-alikes of Latin letters, written independently of the filter's own table.
_TWINS = {
    "a": "\u0430\u03b1",  # Cyrillic а, Greek α
    "c": "\u0441",  # Cyrillic с
    "e": "\u0435\u03b5",  # Cyrillic е, Greek ε
    "i": "\u0456\u03b9",  # Cyrillic і, Greek ι
    "k": "\u043a\u03ba",  # Cyrillic к, Greek κ
    "o": "\u043e\u03bf",  # Cyrillic о, Greek ο
    "p": "\u0440\u03c1",  # Cyrillic р, Greek ρ
    "s": "\u0455",  # Cyrillic ѕ
    "t": "\u03c4",  # Greek τ
    "u": "\u03c5",  # Greek υ
    "x": "\u0445\u03c7",  # Cyrillic х, Greek χ
    "y": "\u0443",  # Cyrillic у
    "A": "\u0410\u0391",  # Cyrillic А, Greek Α
    "B": "\u0412\u0392",  # Cyrillic В, Greek Β
    "C": "\u0421",  # Cyrillic С
    "E": "\u0415\u0395",  # Cyrillic Е, Greek Ε
    "H": "\u041d\u0397",  # Cyrillic Н, Greek Η
    "I": "\u0406\u0399",  # Cyrillic І, Greek Ι
    "K": "\u041a\u039a",  # Cyrillic К, Greek Κ
    "M": "\u041c\u039c",  # Cyrillic М, Greek Μ
    "O": "\u041e\u039f",  # Cyrillic О, Greek Ο
    "P": "\u0420\u03a1",  # Cyrillic Р, Greek Ρ
    "T": "\u0422\u03a4",  # Cyrillic Т, Greek Τ
    "X": "\u0425\u03a7",  # Cyrillic Х, Greek Χ
    "Y": "\u0423\u03a5",  # Cyrillic У, Greek Υ
}
_ACCENTS = st.lists(st.sampled_from("\u0300\u0301\u0302\u0303\u0308\u030a\u030c\u0327\u0336\u0338"), max_size=3)


@st.composite
def _disguised_entry(draw) -> str:
    """A built-in English entry, in lower or upper case, with some letters accented and some swapped
    for a look-alike (never both: an accented look-alike in a word without Latin letters reads as
    Greek, like "ρακί")."""
    entry = draw(st.sampled_from([e.strip("*") for e in _ENTRIES if e.isascii()]))
    entry = draw(st.sampled_from([entry.lower(), entry.upper()]))
    letters = []
    for ch in entry:
        how = draw(st.sampled_from(["keep", "accent", "twin"]))
        if how == "twin" and ch in _TWINS:
            letters.append(draw(st.sampled_from(_TWINS[ch])))
        elif how == "accent" and ch.isalpha():
            letters.append(ch + "".join(draw(_ACCENTS)))
        else:
            letters.append(ch)
    return "".join(letters)


@settings(max_examples=400, deadline=None)
@given(entry=_disguised_entry())
def test_a_banned_word_with_accents_or_look_alikes_is_still_caught(text_filter, entry):
    text = f"well {entry} then"
    assert text_filter.clean_input(text).reason == "banned", text
    assert text_filter.check_output(text).reason == "banned", text


# Every zh.txt entry that traditional characters write differently, in traditional writing (or with
# the variant a traditional writer uses: 妳 for 你).
_TRADITIONAL = {
    "煞笔": "煞筆",
    "操你妈": "操你媽",
    "草你妈": "草你媽",
    "肏你妈": "肏妳媽",
    "日你妈": "日你媽",
    "干你娘": "幹你娘",
    "操你大爷": "操你大爺",
    "草泥马": "草泥馬",
    "你妈逼": "你媽逼",
    "你妈死了": "你媽死了",
    "他妈的": "他媽的",
    "狗娘养的": "狗娘養的",
    "贱人": "賤人",
    "滚你妈": "滾你媽",
    "脑残": "腦殘",
    "废物东西": "廢物東西",
    "黄片": "黃片",
    "黄网": "黃網",
    "成人视频": "成人視頻",
    "做爱": "做愛",
    "约炮": "約炮",
    "强奸": "強姦",
    "轮奸": "輪姦",
    "鸡巴": "雞巴",
    "屌丝": "屌絲",
    "阴道": "陰道",
    "卖淫": "賣淫",
    "av女优": "AV女優",
    "自杀方法": "自殺方法",
    "怎么自杀": "怎麼自殺",
    "一起自杀": "一起自殺",
    "去自杀": "去自殺",
    "上吊自杀": "上弔自殺",
    "砍死你": "砍死妳",
    "弄死你": "弄死妳",
    "炸学校": "炸學校",
    "恐怖袭击": "恐怖襲擊",
    "制作炸弹": "製作炸彈",
    "赌博": "賭博",
    "网赌": "網賭",
    "百家乐": "百家樂",
    "时时彩": "時時彩",
    "摇头丸": "搖頭丸",
    "代开发票": "代開發票",
    "刷单": "刷單",
    "兼职日结": "兼職日結",
    "私信领取": "私信領取",
    "免费领取": "免費領取",
    "翻墙": "翻牆",
    "法轮功": "法輪功",
    "天安门事件": "天安門事件",
    "台独": "臺獨",
    "藏独": "藏獨",
    "疆独": "疆獨",
    "达赖": "達賴",
}


@pytest.mark.parametrize("simplified, traditional", sorted(_TRADITIONAL.items()))
def test_chinese_entries_are_caught_in_traditional_characters(text_filter, simplified, traditional):
    assert traditional != simplified
    assert text_filter.clean_input(f"主播{traditional}嗎").reason == "banned"
    assert text_filter.check_output(f"{traditional[0]} {traditional[1:]}").reason == "banned"
    # Half and half, as a converter that knows only some characters leaves it.
    mixed = simplified[: len(simplified) // 2] + traditional[len(simplified) // 2 :]
    assert text_filter.clean_input(mixed).reason == "banned"


def test_a_character_in_the_variant_table_is_either_simplified_or_traditional_never_both():
    variants = read_zh_variants()
    assert not set(variants.values()) & {chr(c) for c in variants}


def test_a_traditional_entry_in_a_user_file_matches_both_writings(tmp_path, moderation):
    text_filter = filter_with_words(moderation, tmp_path / "tw.txt", "發財車\n")
    assert text_filter.clean_input("看看發財車").reason == "banned"
    assert text_filter.clean_input("看看发财车").reason == "banned"
    assert text_filter.clean_input("看看发財車").reason == "banned"


# ----- cleaning ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("see https://example.com/a?b=1 now", "see now"),
        ("HTTP://EXAMPLE.COM ok", "ok"),
        ("www.twitch.tv/somebody is live", "is live"),
        ("check example.com/x please", "check please"),
        ("join discord.gg/abcd today", "join today"),
        ("telegram t.me/spam", "telegram"),
        ("said.No way", "said.No way"),  # a missing space is not a link
        ("mail me@example.com today", "mail today"),
        ("call +1 (555) 123-4567 now", "call now"),
        ("call 555-123-4567 or (555) 123 4567", "call or"),
        ("dial +44 20 7946 0958", "dial"),
        ("I scored 1234 points in 2024", "I scored 1234 points in 2024"),
        # Mixed Chinese and English: links and numbers glued to Chinese characters.
        ("主播看看example.com/x谢谢", "主播看看 谢谢"),
        ("加我https://spam.cn/a你好", "加我 你好"),
        ("我的电话13812345678谢谢", "我的电话 谢谢"),
        ("电话 138-1234-5678 或 138 1234 5678", "电话 或"),
        ("邮箱abc@qq.com联系", "邮箱 联系"),
        ("主播 好厉害 www.spam.com 哈哈", "主播 好厉害 哈哈"),
        # Control, zero-width and invisible characters go; whitespace collapses.
        ("he\u200bl\u200dlo\x00 \t\n  there\u3164", "hello there"),
        ("ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ", "fullwidth space"),
    ],
)
def test_links_phones_emails_and_invisible_characters_are_stripped(text_filter, text, cleaned):
    assert text_filter.clean_input(text).text == cleaned
    assert text_filter.check_output(text).text == cleaned


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("visit example dot com now", "visit now"),
        ("join discord dot gg / abc today", "join today"),
        ("join discord DOT gg/abc today", "join today"),
        ("go to example(dot)com now", "go to now"),
        ("go to example (dot) com now", "go to now"),
        ("see example [.] com", "see"),
        ("see example{.}com/x?y=1 ok", "see ok"),
        ("www dot spam dot io is great", "is great"),
        ("主播看看example。com谢谢", "主播看看 谢谢"),
        ("加我example点com好友", "加我 好友"),
        ("加我 example 點 cn 好友", "加我 好友"),
        ("ｅｘａｍｐｌｅ（ｄｏｔ）ｃｏｍ ok", "ok"),  # fullwidth, NFKC makes it ASCII
    ],
)
def test_spelled_out_links_are_stripped(text_filter, text, cleaned):
    assert text_filter.clean_input(text).text == cleaned
    assert text_filter.check_output(text).text == cleaned


@pytest.mark.parametrize(
    "text",
    [
        "connect the dots come on",
        "I dot my i's and cross my t's",
        "the dot com bubble burst in 2000",
        "it was a dot com startup",
        "polka dot dress",
        "明天8点live见",  # "live at eight tomorrow"
        "ok。 me too",  # a Chinese full stop ends a sentence
        "dot com",  # no name before it
        "example dot company",  # not a top-level domain
    ],
)
def test_prose_with_dots_is_not_a_link(text_filter, text):
    assert text_filter.clean_input(text).text == text


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", "https://example.com", "😀🔥", "+1 555 123 4567 !!"])
def test_nothing_left_after_cleaning_is_empty(text_filter, text):
    assert (text_filter.clean_input(text).ok, text_filter.clean_input(text).reason) == (False, "empty")
    assert text_filter.check_output(text).reason == "empty"


def test_input_is_cut_at_a_word_boundary(text_filter, moderation):
    # Varied words: one word said a hundred times is a flood, which the classifier calls spam.
    words = " ".join(f"game{n} was great" for n in range(60))
    verdict = text_filter.clean_input(words)
    assert verdict.ok and len(verdict.text) <= moderation.max_chars
    assert words.startswith(verdict.text + " ")


def test_input_without_spaces_is_cut_at_max_chars(text_filter, moderation):
    verdict = text_filter.clean_input("好" * 500)
    assert verdict.text == "好" * moderation.max_chars


def test_output_sentences_are_not_cut(text_filter, moderation):
    sentence = "word " * 100
    assert text_filter.check_output(sentence).text == sentence.strip()


_ENTRIES = [e for path in BUILTIN_WORD_FILES for e in read_word_file(path)]


def _core(entry: str) -> str:
    """An entry without its markers: "*" ends (it may go on there), a Chinese "~" (matched by sound too)."""
    return entry.lstrip("~").strip("*")


def _holds_entry(text: str) -> bool:
    """A plain reading of the lists, independent of the filter's: an English entry as a whole
    word (its "*" ends as prefixes or suffixes), a Chinese one marked to match anywhere ("*" at both
    ends) anywhere; other Chinese entries keep to word boundaries, which a plain reading cannot see."""
    folded = text.casefold()
    for entry in _ENTRIES:
        core = _core(entry).casefold()
        if entry.isascii():
            before = "" if entry.startswith("*") else r"(?<![a-z])"
            after = "" if entry.endswith("*") else r"(?![a-z])"
            if re.search(before + re.escape(core) + after, folded):
                return True
        elif entry.lstrip("~").startswith("*") and entry.endswith("*") and core in folded:
            return True
    return False


_NOISY_TEXT = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(_ENTRIES).map(_core),
        st.sampled_from(["http://", "https://x.io/", "www.", " ", ".", "\u200b", "@", "com", "+86 ", "138"]),
        # Spelled dots, accents and look-alikes: stripping or unmasking must not raise or hide an entry.
        st.sampled_from([" dot ", "(dot)", "[.]", "。", "点", "\u0301", "\u0441", "\u03bf", "İ", "ß"]),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=_NOISY_TEXT)
def test_clean_input_never_raises_and_lets_no_link_or_banned_word_through(short_filter, text):
    verdict = short_filter.clean_input(text)
    assert len(verdict.text) <= 60
    # A link left whole: a scheme and a host, or www. and a domain with a top-level part.
    assert not re.search(r"https?://\w|\bwww\.[a-z0-9-]+\.[a-z]{2,}", verdict.text, re.IGNORECASE)
    if verdict.ok:
        assert not _holds_entry(verdict.text), verdict


# ----- the chat gate -----------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _msg(text: str, user: str = "alice", **kw) -> ChatMessage:
    return ChatMessage(platform="twitch", user=user, text=text, **kw)


def test_a_viewer_waits_for_the_cooldown_between_questions(moderation):
    clock = _Clock()
    gate = ChatGate(moderation, clock)
    assert gate.admit(_msg("first question")) == ""
    clock.now += moderation.user_cooldown_s - 1
    assert gate.admit(_msg("second question")) == "cooldown"
    assert gate.admit(_msg("another viewer", user="bob")) == ""
    clock.now += 1
    assert gate.admit(_msg("second question")) == ""


def test_the_cooldown_follows_the_user_id_not_the_shown_name(moderation):
    clock = _Clock()
    gate = ChatGate(moderation, clock)
    assert gate.admit(_msg("hi there", user="Alice", user_id="42")) == ""
    assert gate.admit(_msg("renamed", user="Alice2", user_id="42")) == "cooldown"
    assert gate.admit(ChatMessage(platform="youtube", user="Alice", text="other platform", user_id="42")) == ""


def test_a_refused_message_does_not_restart_the_cooldown(moderation):
    clock = _Clock()
    gate = ChatGate(moderation, clock)
    assert gate.admit(_msg("first")) == ""
    for _ in range(29):
        clock.now += 1
        assert gate.admit(_msg(f"spam {clock.now}")) == "cooldown"
    clock.now += 1  # 30 s after the admitted one, 1 s after the last refused one
    assert gate.admit(_msg("finally")) == ""


def test_chat_is_limited_per_rolling_minute(moderation):
    clock = _Clock()
    gate = ChatGate(moderation, clock)
    for i in range(moderation.global_per_minute):
        clock.now += 1
        assert gate.admit(_msg(f"question {i}", user=f"viewer{i}")) == ""
    assert gate.admit(_msg("one too many", user="late")) == "rate"
    clock.now += 60 - moderation.global_per_minute + 1  # the first admission leaves the window
    assert gate.admit(_msg("one too many", user="late")) == ""
    assert gate.admit(_msg("and another", user="later")) == "rate"


def test_the_same_text_from_anyone_is_asked_once_per_window(moderation):
    clock = _Clock()
    gate = ChatGate(moderation, clock)
    assert gate.admit(_msg("Is this game good?", user="a")) == ""
    assert gate.admit(_msg("is this game GOOD", user="b")) == "duplicate"
    assert gate.admit(_msg("is this game good?!", user="c", kind="superchat", amount=5)) == "duplicate"
    clock.now += moderation.duplicate_window_s
    assert gate.admit(_msg("is this game good", user="d")) == ""


def test_paid_messages_skip_cooldown_and_rate(moderation):
    clock = _Clock()
    gate = ChatGate(moderation, clock)
    assert gate.admit(_msg("first")) == ""
    assert gate.admit(_msg("thanks!", kind="gift", amount=1)) == ""  # same viewer, in cooldown
    for i in range(moderation.global_per_minute):
        gate.admit(_msg(f"q{i}", user=f"v{i}"))
    assert gate.admit(_msg("free", user="free")) == "rate"
    assert gate.admit(_msg("paid", user="payer", kind="superchat", amount=2)) == ""
    assert gate.admit(_msg("bits", user="bits", amount=100, currency="bits")) == ""


def test_a_zero_rate_means_no_limit(moderation):
    gate = ChatGate(dataclasses.replace(moderation, global_per_minute=0), _Clock())
    assert all(gate.admit(_msg(f"q{i}", user=f"v{i}")) == "" for i in range(100))


def test_gate_memory_stays_bounded_under_a_flood_of_viewers(moderation):
    clock = _Clock()
    gate = ChatGate(dataclasses.replace(moderation, global_per_minute=0), clock)
    for i in range(100_000):
        clock.now += 0.001  # all within every window: nothing expires on its own
        assert gate.admit(_msg(f"question number {i}", user=f"viewer{i}")) == ""
    assert gate.remembered <= 2 * MAX_ENTRIES
    # The newest viewers are still remembered.
    assert gate.admit(_msg("again", user="viewer99999")) == "cooldown"


def test_expired_entries_are_forgotten(moderation):
    clock = _Clock()
    gate = ChatGate(dataclasses.replace(moderation, global_per_minute=0), clock)
    for i in range(1000):
        gate.admit(_msg(f"question {i}", user=f"viewer{i}"))
    clock.now += moderation.duplicate_window_s
    gate.admit(_msg("one more", user="late"))
    assert gate.remembered == 2


# ----- English evasions and ordinary uses (issue 8) ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "sh!t",
        "f**k this",
        "c*nt",
        "sh*t happens",
        "b!tch",
        "a$$",
        "@ss",
        "5h1t",
        "what the f*ck",
        "ph*ck off",
        "mother f***er",
    ],
)
def test_a_symbol_inside_a_word_stands_for_a_letter(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize("text", ["sh.t", "sh-t", "f-ck you", "b.tch"])
def test_a_dot_or_hyphen_inside_a_word_stands_for_a_vowel(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize("text", ["b00bs", "n1gg3r", "d1ck", "s3x", "c0ck", "pu55y"])
def test_digits_inside_a_word_stand_for_letters(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize(
    "text",
    [
        "1337 points",
        "it ended 3-1",
        "at 14:88 on the clock",
        "420 viewers",
        "I scored 1488 points",
        "the final score was 5-3",
        "Samsung Galaxy A55",  # one letter and two digits is a model name, not "ass"
        "it's 10pm here",
        "GG 1v1 me",
        "the **** game",  # all censored is no word
        "as-is",  # a hyphen is a vowel, never an "s"
        "e-mail me, co-op at 8 a.m.",
    ],
)
def test_numbers_scores_and_symbols_are_not_read_as_words(text_filter, text):
    assert text_filter.clean_input(text).ok


@pytest.mark.parametrize("text", ["phuck", "fvck", "azz", "fuk", "fck", "biatch", "shiit", "fukken", "kunt", "bytch"])
def test_common_misspellings_and_sound_alikes_are_caught(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize("text", ["kcuf uoy", "reggin", "tihs", "you tnuc", "flesruoy llik"])
def test_a_word_written_backwards_is_caught(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize("text", ["Lana Del Rey is on", "Ezra said hi", "the laser zaps", "sex ed class"])
def test_ordinary_words_that_read_backwards_as_an_entry_pass(text_filter, text):
    assert text_filter.clean_input(text).ok


@pytest.mark.parametrize("text", ["fuuuuck", "shiiiit", "fuckkk", "f u c k", "f.u.c.k", "s h i t"])
def test_repeated_spaced_and_dotted_letters_are_caught(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize("text", ["he rapped a verse", "we assess the damage", "I was rapping along", "snigger"])
def test_an_ordinary_doubled_consonant_is_no_drawn_out_entry(text_filter, text):
    assert text_filter.clean_input(text).ok


@pytest.mark.parametrize(
    "text",
    [
        "\ua730\u1d1c\u1d04\u1d0b",  # small capitals ꜰᴜᴄᴋ
        "\u0192\u222ack",  # ƒ and the union sign ∪
        "\U0001d41f\U0001d42e\U0001d41c\U0001d424",  # mathematical bold
        "\u24d5\u24e4\u24d2\u24da",  # circled
        "\u24a1\u24b0\u249e\u24a6",  # parenthesised ⒡⒰⒞⒦
        "f\u1d58\u1d9c\u1d4f",  # superscripts fᵘᶜᵏ
        "Sh\u13a5t",  # Cherokee Ꭵ
        "\u0282h\u0268t",  # Latin letters with a hook and a stroke: ʂhɨt
        "\U0001f1eb\U0001f1fa\U0001f1e8\U0001f1f0 you",  # regional indicators
        "\u0299\u026a\u1d1b\u1d04\u029c",  # small capitals ʙɪᴛᴄʜ
        "\U0001f175\U0001f184\U0001f172\U0001f17a mods",  # negative squared 🅵🆄🅲🅺
    ],
)
def test_look_alikes_from_any_script_do_not_hide_a_banned_word(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize(
    "text",
    [
        "Բարև, ինչպես ես? Այսօր լավ օր է։ Ես սիրում եմ սուրճ",  # Armenian
        "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ",  # Cherokee
        "今天的直播很好看，谢谢主播！",
    ],
)
def test_chat_in_other_scripts_is_not_rewritten_into_matches(text_filter, text):
    assert text_filter.clean_input(text).ok


@pytest.mark.parametrize(
    "text",
    ["stfu", "gtfo", "kys", "motherfucker", "you absolute dickhead", "shitshow", "bitchy", "libtard", "send nudes"],
)
def test_compounds_and_abbreviations_are_caught(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize(
    "text",
    [
        "kill yourself",
        "just kys",
        "go unalive yourself",
        "i want to end it all",
        "I want to die",
        "i wanna die",
        "thinking about how I'd slit my wrists",
        "how many pills does it take",
        "I could overdose on these",
        "I'm going to hang myself",
        "I'll jump off a bridge",
        "nobody would miss me",
        "I'd be better off dead",
    ],
)
def test_self_harm_phrased_in_many_ways_is_caught(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize(
    "text",
    [
        "Dick Grayson is the best Robin",
        "Moby Dick is a long book",
        "Philip K. Dick wrote it",
        "Cockburn and Hancock are names",
        "I read Dickens",
        "Scunthorpe, Sussex, Essex, Middlesex and Penistone",
        "the cock crowed at dawn",
        "she graduated magna cum laude",
        "summa cum laude, cum grano salis",
        "shiitake and shiitakes",
        "thanks Ana! see you tomorrow",  # an exclamation mark after a name is no letter
        "主播yyds",  # Chinese slang ("the greatest"), not a slur read by its sound
        "the assassin ordered a cocktail from the therapist",
        "a blue tit and a great tit",
        "a Maine Coon cat",
        "spick and span",
        "a chink in the armour",
        "homo sapiens",
        "prick your finger",
        "sex education for the opposite sex",
        "Fukushima and an injunction; the parrot squawks",
        "Milford Sound",
    ],
)
def test_ordinary_uses_of_listed_words_pass(text_filter, text):
    assert text_filter.clean_input(text).ok
    assert text_filter.check_output(text).ok


@pytest.mark.parametrize(
    "text", ["Moby Dick is a fucking bore", "magna cum laude, you bitch", "Dick Grayson is a dick", "moby d1ck"]
)
def test_an_allowlisted_span_excuses_only_itself(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.mark.parametrize("text", ["noʎ ʞɔnɟ", "ʇᴉɥs ɐ ʇɐǝ"])
def test_upside_down_text_is_read_the_right_way_up(text_filter, text):
    assert text_filter.clean_input(text).reason == "banned"


@pytest.fixture(scope="module")
def lists_only(moderation) -> TextFilter:
    return TextFilter(dataclasses.replace(moderation, classifier="off"))


@pytest.mark.parametrize(
    "text",
    [
        "our bitch had a litter of six puppies",
        "a cock pheasant in the field",
        "coal tits at the feeder",
        "the old hoe in the garden shed",
        "a chink in the curtains",
        "what sex is your puppy",
    ],
)
def test_a_context_word_passes_the_lists_beside_a_word_of_its_ordinary_sense(lists_only, text):
    assert lists_only.clean_input(text).ok


@pytest.mark.parametrize(
    "text", ["you bitch", "nice tits", "suck my cock", "stoopid hoe", "ching chong chink", "blue tits, you bitch"]
)
def test_a_context_word_alone_is_banned(lists_only, text):
    assert lists_only.clean_input(text).reason == "banned"


@pytest.mark.parametrize("text", ["our b!tch had puppies", "the c0ck crowed at dawn", "hctib puppies"])
def test_a_context_word_written_evasively_is_banned_whatever_stands_beside_it(lists_only, text):
    assert lists_only.clean_input(text).reason == "banned"


def test_a_context_line_without_its_sense_words_is_a_one_line_error(tmp_path):
    path = tmp_path / "context.txt"
    path.write_text("# fine\nbitch: dog\ncock\n", encoding="utf-8")
    with pytest.raises(CohostError, match=r"expected \"word: sense words...\", got 'cock'") as e:
        read_context_words(path)
    assert "\n" not in str(e.value)


@pytest.fixture
def classifier_reads(monkeypatch) -> list[str]:
    """What the classifier of a TextFilter made in the test is given to score (every score 0)."""
    read: list[str] = []

    class Recording:
        def scores(self, text):
            read.append(text)
            return Scores(0.0, 0.0, 0.0, 0.0, 0.0)

    monkeypatch.setattr(text_module, "load_classifier", lambda config: Recording())
    return read


def test_the_classifier_never_reads_an_allowlisted_phrase(moderation, classifier_reads):
    text_filter = TextFilter(moderation)
    assert text_filter.clean_input("she graduated magna cum laude").ok
    assert text_filter.check_output("Homo sapiens walked out of Africa.").ok
    assert classifier_reads == ["she graduated", "walked out of africa."]


def test_the_classifier_reads_chat_without_the_co_hosts_names(moderation, classifier_reads):
    text_filter = TextFilter(moderation, names=["Nova", "Nova Bot"])
    assert text_filter.clean_input("Nova, me again").text == "Nova, me again"  # asked as written
    text_filter.clean_input("@nova bot what's up, supernova")
    assert classifier_reads == [", me again", "what's up, supernova"]


_SYMBOLS = "*#%-.!@$|+01345789 "
_SYMBOLIC_TEXT = st.text(st.one_of(st.sampled_from(_SYMBOLS), st.characters(max_codepoint=0x24F)), max_size=200)


@pytest.fixture(scope="module")
def english() -> EnglishMatcher:
    return EnglishMatcher(read_word_file(BUILTIN_WORD_FILES[0]), read_word_file(EN_ALLOW_FILE))


@settings(max_examples=300, deadline=None)
@given(text=_SYMBOLIC_TEXT)
def test_english_readings_never_raise_and_a_match_always_holds_a_letter(english, text):
    found = english.find(text)
    assert found is None or any(ch.isalpha() for ch in found), found
    # Readings collapse whitespace: spacing around the message changes nothing.
    assert english.find(f"  {text}\t") == found
