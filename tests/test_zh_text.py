import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.voice.zh_text import latin_runs, normalise_zh, spell_integer
from tests.zh_readings import READINGS, ROUND_TRIP


@pytest.mark.parametrize("text, reading", READINGS)
def test_chinese_text_is_read_as_a_native_speaker_expects(text, reading):
    assert normalise_zh(text) == reading


@pytest.mark.parametrize(
    "n, words",
    [
        (10, "十"),
        (19, "十九"),
        (101, "一百零一"),
        (1020, "一千零二十"),
        (10000500, "一千万零五百"),
        (100010000, "一亿零一万"),
        (100000001, "一亿零一"),
        (2_0000_0000, "两亿"),
        (2200, "两千二百"),
    ],
)
def test_integers_put_one_zero_for_each_gap_and_drop_the_leading_one_of_ten(n, words):
    assert spell_integer(n) == words


@pytest.mark.parametrize("sentence", ROUND_TRIP)
def test_round_trip_sentences_leave_only_hanzi_punctuation_and_english(sentence):
    spoken = normalise_zh(sentence)
    assert spoken
    assert not any(ch.isdigit() for ch in spoken)
    assert not set(spoken) & set("%¥$°/:-~,.!?")


def test_round_trip_sentences_are_thirty_chat_lines_with_numbers():
    assert len(ROUND_TRIP) == 30
    assert all(any(ch.isdigit() for ch in sentence) for sentence in ROUND_TRIP)


def test_english_sentence_keeps_its_ascii_punctuation():
    assert normalise_zh("Hello, world. Nice to see you!") == "Hello, world. Nice to see you!"


def test_lines_without_final_punctuation_end_a_sentence():
    assert normalise_zh("第一行\n第二行") == "第一行。第二行"


def test_emoji_only_text_has_nothing_to_say():
    assert normalise_zh("😀🔥👍") == ""


def test_seven_digit_money_is_an_amount_not_a_code():
    assert normalise_zh("12345678元") == "一千二百三十四万五千六百七十八元"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789１２.,:-/~%¥$°C元年月日个点第# 我用OBS好。！？+=\n😀")))
def test_normalise_zh_never_raises_and_never_leaves_an_ascii_digit(text):
    assert not any("0" <= ch <= "9" for ch in normalise_zh(text))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalise_zh_handles_any_unicode(text):
    assert not any("0" <= ch <= "9" for ch in normalise_zh(text))


@pytest.mark.parametrize(
    "text, runs",
    [
        ("我用OBS直播", [("我用", False), ("OBS", True), ("直播", False)]),
        ("我用OBS，很好", [("我用", False), ("OBS，", True), ("很好", False)]),
        ("Hello, world!", [("Hello, world!", True)]),
        ("iPhone十五真好用", [("iPhone", True), ("十五真好用", False)]),
        ("，开头", [("，开头", False)]),
        ("", []),
    ],
)
def test_latin_runs_cut_where_the_script_changes_and_punctuation_joins_the_run_before(text, runs):
    assert latin_runs(text) == runs


@given(st.text())
def test_latin_runs_join_back_into_the_text_and_alternate(text):
    runs = latin_runs(text)
    assert "".join(run for run, _ in runs) == text
    assert all(a[1] != b[1] for a, b in zip(runs, runs[1:]))
