"""Chinese banned words: found through pinyin, homophones, split characters, components and emoji,
and only on word boundaries, so everyday Chinese chat passes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# The Chinese cases of the filter's own tests, which this matcher must keep passing.
from test_moderation import _TRADITIONAL

from engine.moderation.chinese import ZH_FILE, ChineseMatcher, load_chinese_matcher
from engine.moderation.word_files import read_word_file


@pytest.fixture(scope="module")
def matcher() -> ChineseMatcher:
    return load_chinese_matcher()


def _user_matcher(tmp_path: Path, words: str) -> ChineseMatcher:
    path = tmp_path / "words.txt"
    path.write_text(words, encoding="utf-8")
    return load_chinese_matcher([path])


def _blocked(matcher: ChineseMatcher, texts: list[str]) -> list[str]:
    return [t for t in texts if matcher.find(t) is None]


_EVASIONS = {
    "pinyin initials": [
        "sb",
        "你是SB吧",
        "主播sb",
        "nmsl",
        "NMSL",
        "cnm",
        "nmb",
        "wcnm",
        "tmd",
        "rnm",
        "mlgb",
        "qnmlgb",
    ],
    "initials spelled letter by letter": ["s b 主播", "n m s l", "n.m.s.l"],
    "spelled pinyin": [
        "sha bi",
        "shabi",
        "shǎ bī",
        "SHA BI",
        "ShaBi主播",
        "cao ni ma",
        "caonima",
        "ni ma si le",
        "nimasile",
        "我们做ai吧",  # lower case: the pinyin of 做爱, not the acronym
    ],
    "homophones": ["草泥马", "尼玛", "傻哔", "煞笔", "沙比", "你个煞笔", "你是沙比吗", "你马死了", "你马没了"],
    "split by symbols": ["傻*逼", "操.你.妈", "傻 🙂 逼", "傻😀逼", "傻 逼 主播", "你 妈 死 了"],
    "components and emoji": ["你🐴死了", "你🐎没了", "亻尔女马死了", "⺅尔女马死了", "🌿泥马"],
    "traditional characters": ["你媽死了", "操你媽", "幹你娘", "主播傻逼嗎"],
    "self-harm": ["不想活了", "我想死", "想死", "割腕", "我要跳楼了", "吃安眠药自杀", "活着没意思", "我想自杀"],
    "entries glued to other words": ["傻逼主播", "主播傻b", "你是傻B吗", "主播操你妈"],
}


@pytest.mark.parametrize("kind", sorted(_EVASIONS))
def test_banned_words_are_found_through_each_kind_of_evasion(matcher, kind):
    assert _blocked(matcher, _EVASIONS[kind]) == []


_INNOCENT = {
    "an entry across two words": ["我想做爱心便当", "沙比较多", "啥比较好", "他杀比我多", "小鸡巴士", "主播找小姐姐"],
    "a single character inside a word": ["日本的樱花", "操作很秀", "这个鸡蛋很好吃", "我妈妈做的饭", "你妈妈好"],
    "a homophone that is a common word": ["纸张很薄", "电脑中了病毒", "菠菜很好吃"],
    "an innocent phrase holding an entry": ["这是跳楼价，大麻烦", "這是跳樓價，大麻煩", "想死你了", "我杀了你的队友"],
    "game talk": ["他杀了你的队友，真可惜", "他殺了你的隊友，真可惜", "杀了这个boss"],
    "AI, the acronym, beside a character": ["我是做AI助手的", "用AI做视频", "这个AI主播"],
    "English that spells an initial or a syllable": ["can sb help me", "shabby chic", "I like sushi", "ni hao", "sha"],
    "everyday danmaku": [
        "主播好厉害",
        "笑死我了",
        "666",
        "比分3比1",
        "第138期",
        "哈哈哈哈哈",
        "前排围观",
        "主播晚上好",
    ],
}


@pytest.mark.parametrize("kind", sorted(_INNOCENT))
def test_innocent_chat_passes(matcher, kind):
    assert {t: matcher.find(t) for t in _INNOCENT[kind]} == dict.fromkeys(_INNOCENT[kind])


@pytest.mark.parametrize("simplified, traditional", sorted(_TRADITIONAL.items()))
def test_entries_are_found_in_traditional_characters(matcher, simplified, traditional):
    assert matcher.find(f"主播{traditional}嗎") is not None
    assert matcher.find(f"{traditional[0]} {traditional[1:]}") is not None
    mixed = simplified[: len(simplified) // 2] + traditional[len(simplified) // 2 :]
    assert matcher.find(mixed) is not None


def test_a_match_names_the_entry_or_the_initials_it_found(matcher):
    assert matcher.find("你是煞笔") == "傻逼"
    assert matcher.find("cao ni ma") == "操你妈"
    assert matcher.find("nmsl") == "nmsl"
    assert matcher.find("你好") is None


def test_an_entry_matches_on_word_boundaries_unless_starred(tmp_path):
    plain = _user_matcher(tmp_path, "西瓜\n")
    assert plain.find("我爱吃西 瓜") == "西瓜"
    assert plain.find("他们把东西瓜分了") is None  # 东西/瓜分
    assert plain.find("我爱吃西瓜皮") == "西瓜"  # a word inside a longer one: 西瓜 in 西瓜皮
    starred = _user_matcher(tmp_path, "*西瓜*\n")
    assert starred.find("他们把东西瓜分了") == "西瓜"


def test_only_entries_marked_for_sound_match_homophones_and_pinyin(tmp_path):
    plain = _user_matcher(tmp_path, "西瓜\n")
    assert (plain.find("吸刮"), plain.find("xi gua")) == (None, None)
    sounded = _user_matcher(tmp_path, "~西瓜\n")
    assert (sounded.find("吸刮"), sounded.find("xi gua"), sounded.find("xīguā")) == ("西瓜", "西瓜", "西瓜")
    assert sounded.find("xig ua") is None  # Latin words must be whole syllables


def test_a_traditional_entry_in_a_user_file_matches_both_writings(tmp_path):
    matcher = _user_matcher(tmp_path, "發財車\n")
    assert [matcher.find(t) for t in ("看看發財車", "看看发财车", "看看发財車")] == ["發財車"] * 3


def test_latin_entries_are_left_to_the_english_list():
    assert ChineseMatcher(["banana", "vpn"]).find("banana vpn") is None


def test_threads_sharing_one_matcher_get_the_same_answers(matcher):
    texts = [t for kind in (*_EVASIONS.values(), *_INNOCENT.values()) for t in kind] * 20
    expected = [matcher.find(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(matcher.find, texts)) == expected


_BUILT_IN = [line.lstrip("~").strip("*") for line in read_word_file(ZH_FILE) if not line.isascii()]


@settings(max_examples=300, deadline=None)
@given(
    entry=st.sampled_from(_BUILT_IN),
    gaps=st.lists(st.sampled_from(["", " ", ".", "*", "😀", "\u200b", "-", "、"]), min_size=8, max_size=8),
)
def test_every_built_in_entry_is_found_alone_whatever_separates_its_characters(matcher, entry, gaps):
    text = "".join(ch + gap for ch, gap in zip(entry, gaps, strict=False))
    assert matcher.find(text) is not None, text
