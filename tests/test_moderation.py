"""Moderation: what chat may ask and what the co-host may say, and which messages become questions."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.chat.message import ChatMessage
from engine.config import ModerationConfig
from engine.errors import CohostError
from engine.moderation.gate import MAX_ENTRIES, ChatGate
from engine.moderation.text import BUILTIN_WORD_FILES, TextFilter, read_word_file


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
        "加微信 abc123 领取",
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
    words = tmp_path / "words.txt"
    words.write_text("# my channel's list\n\nbanana split\n西瓜\n", encoding="utf-8")
    text_filter = TextFilter(dataclasses.replace(moderation, banned_word_files=[str(words)]))
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


def test_built_in_word_lists_are_reasonably_sized():
    for path in BUILTIN_WORD_FILES:
        assert 60 <= len(read_word_file(path)) <= 150, path


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


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", "https://example.com", "😀🔥", "+1 555 123 4567 !!"])
def test_nothing_left_after_cleaning_is_empty(text_filter, text):
    assert (text_filter.clean_input(text).ok, text_filter.clean_input(text).reason) == (False, "empty")
    assert text_filter.check_output(text).reason == "empty"


def test_input_is_cut_at_a_word_boundary(text_filter, moderation):
    words = "word " * 100
    verdict = text_filter.clean_input(words)
    assert verdict.ok and len(verdict.text) <= moderation.max_chars
    assert verdict.text.split() == ["word"] * len(verdict.text.split())


def test_input_without_spaces_is_cut_at_max_chars(text_filter, moderation):
    verdict = text_filter.clean_input("好" * 500)
    assert verdict.text == "好" * moderation.max_chars


def test_output_sentences_are_not_cut(text_filter, moderation):
    sentence = "word " * 100
    assert text_filter.check_output(sentence).text == sentence.strip()


_ENTRIES = [e for path in BUILTIN_WORD_FILES for e in read_word_file(path)]


def _holds_entry(text: str) -> bool:
    """A plain reading of the lists, independent of the filter's: an English entry as a whole
    word (its "*" ends as prefixes or suffixes), a Chinese one anywhere."""
    folded = text.casefold()
    for entry in _ENTRIES:
        core = entry.casefold().strip("*")
        if entry.isascii():
            before = "" if entry.startswith("*") else r"(?<![a-z])"
            after = "" if entry.endswith("*") else r"(?![a-z])"
            if re.search(before + re.escape(core) + after, folded):
                return True
        elif core in folded:
            return True
    return False


_NOISY_TEXT = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(_ENTRIES).map(lambda e: e.strip("*")),
        st.sampled_from(["http://", "https://x.io/", "www.", " ", ".", "\u200b", "@", "com", "+86 ", "138"]),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=_NOISY_TEXT)
def test_clean_input_never_raises_and_lets_no_link_or_banned_word_through(short_filter, text):
    verdict = short_filter.clean_input(text)
    assert len(verdict.text) <= 60
    assert not re.search(r"https?://|www\.", verdict.text, re.IGNORECASE)
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
