import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.voice.text import normalise, split_clauses, split_opening, split_sentences


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("Nice play 😀🔥!", "Nice play!"),
        ("GG 👍🏽 team", "GG team"),  # skin-tone modifier goes with its emoji
        ("family 👨‍👩‍👧 time", "family time"),  # joined by zero-width joiners
        ("I ❤️ this", "I this"),  # heart plus emoji variation selector
        ("flags 🇺🇸 up", "flags up"),
    ],
)
def test_emoji_and_pictographs_are_removed(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("see https://example.com/a_b?x=1 now", "see now"),
        ("go to http://foo.org.", "go to."),
        ("www.twitch.tv/somebody is live", "is live"),
        ("check example.com/path please", "check please"),
        ("follow twitch.tv and youtube.com", "follow and"),
        ("mail me@example.com today", "mail today"),
        ("said.No way", "said.No way"),  # a missing space is not a link
    ],
)
def test_urls_are_removed(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("<b>bold</b> and <a href='x'>link</a>", "bold and link"),
        ("**strong** and *em* and ***both***", "strong and em and both"),
        ("__strong__ and _em_ but snake_case", "strong and em but snake case"),
        ("use `pip install` here", "use pip install here"),
        ("# Title\nBody text.", "Title. Body text."),
        ("read [the docs](https://docs.example.com/x) first", "read the docs first"),
        ("~~old~~ new", "old new"),
        ("- one\n- two", "one. two"),
        ("fish &amp; chips", "fish and chips"),
    ],
)
def test_markup_is_removed(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("0", "zero"),
        ("I have 3 cats", "I have three cats"),
        ("42 viewers", "forty-two viewers"),
        ("115 subs", "one hundred fifteen subs"),
        ("1,234,567 views", "one million two hundred thirty-four thousand five hundred sixty-seven views"),
        ("12345 points", "twelve thousand three hundred forty-five points"),
        ("it is -5 outside", "it is minus five outside"),
        ("agent 007", "agent zero zero seven"),
    ],
)
def test_integers_are_spoken(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("pi is 3.14", "pi is three point one four"),
        ("0.5 seconds", "zero point five seconds"),
        ("version 1.2.3", "version one point two point three"),
        ("-2.5 degrees", "minus two point five degrees"),
    ],
)
def test_decimals_are_spoken(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("1st place", "first place"),
        ("2nd try", "second try"),
        ("23rd win", "twenty-third win"),
        ("11th hour", "eleventh hour"),
        ("the 40th stream", "the fortieth stream"),
        ("101st day", "one hundred first day"),
    ],
)
def test_ordinals_are_spoken(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("50% off", "fifty percent off"),
        ("12.5 % done", "twelve point five percent done"),
        ("costs $5", "costs five dollars"),
        ("costs $1", "costs one dollar"),
        ("costs $5.50", "costs five dollars and fifty cents"),
        ("only $0.99", "only ninety-nine cents"),
        ("costs €3", "costs three euros"),
        ("costs 3€", "costs three euros"),
        ("£1.01 left", "one pound and one penny left"),
        ("a $2.5 million deal", "a two point five million dollars deal"),
        ("$1,000 prize", "one thousand dollars prize"),
    ],
)
def test_percentages_and_currency_are_spoken(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("in 1999", "in nineteen ninety-nine"),
        ("in 2026", "in twenty twenty-six"),
        ("in 2005", "in two thousand five"),
        ("in 1900", "in nineteen hundred"),
        ("in 1905", "in nineteen oh five"),
        ("in 1100", "in eleven hundred"),
        ("in 2100", "in two thousand one hundred"),  # outside 1100-2099: a plain number
        ("1,999 fans", "one thousand nine hundred ninety-nine fans"),  # a separator means a count
    ],
)
def test_four_digit_years_are_read_as_years(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("live at 10:30", "live at ten thirty"),
        ("live at 8:05", "live at eight oh five"),
        ("live at 9:00", "live at nine o'clock"),
        ("#1 fan", "number one fan"),
        ("C++ and 2+2=4", "C plus plus and two plus two equals four"),
    ],
)
def test_times_and_symbols_are_spoken(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("  lots   of\t\tspace  ", "lots of space"),
        ("new\n\nline", "new. line"),  # a line without final punctuation still ends a sentence
        ("spaced , comma !", "spaced, comma!"),
    ],
)
def test_whitespace_is_collapsed(text, spoken):
    assert normalise(text) == spoken


@pytest.mark.parametrize("text", ["", "   ", "😀🎉", "https://example.com", "***", "!!! ???", "<br/>"])
def test_nothing_speakable_gives_empty_text(text):
    assert normalise(text) == ""


# A bare domain counts as a link when its TLD is in one case ("said.No way" is a typo, not a link).
_LINK = re.compile(r"(?i:https?://|www\.)|\w\.(com|org|net|io|tv|gg|COM|ORG|NET|IO|TV|GG)\b")


@settings(max_examples=400, deadline=None)
@given(
    st.text()
    | st.lists(
        st.sampled_from(
            [
                "$",
                "€",
                "-",
                ".",
                ",",
                "%",
                "1",
                "07",
                "2026",
                "3.5",
                "1st",
                "http://",
                "www.",
                "x.com",
                "/p",
                "😀",
                "\u200d",
                "*",
                "_",
                "`",
                "[a](b)",
                "<i>",
                " ",
                "\n",
                "word",
                "#",
                ":",
                "²",
                "٣",
            ]
        ),
        max_size=30,
    ).map("".join)
)
def test_normalised_text_never_holds_digits_or_links(text):
    out = normalise(text)
    assert not any(ch.isdigit() for ch in out)
    assert not _LINK.search(out)
    assert out == out.strip() and "  " not in out


def test_sentences_split_after_final_punctuation_but_not_after_titles():
    text = 'Hello there. Mr. Smith said "hi!" Is it e.g. fine? Yes... ok'
    assert split_sentences(text) == ["Hello there.", 'Mr. Smith said "hi!"', "Is it e.g. fine?", "Yes...", "ok"]


@pytest.mark.parametrize(
    "sentence, clauses",
    [
        (
            "Thanks for the follow, and welcome to the stream, everyone!",
            ["Thanks for the follow,", "and welcome to the stream, everyone!"],
        ),
        ("Well, hello there, my friend.", ["Well, hello there, my friend."]),
        (
            "One two three; four five six: seven eight nine — ten eleven twelve.",
            ["One two three;", "four five six:", "seven eight nine —", "ten eleven twelve."],
        ),
        ("No breaks in this one at all.", ["No breaks in this one at all."]),
    ],
)
def test_clauses_split_at_clause_punctuation_into_pieces_of_three_words_or_more(sentence, clauses):
    assert split_clauses(sentence) == clauses


@pytest.mark.parametrize(
    "sentence, pieces",
    [
        (
            "Welcome to the stream everyone and thanks so much for coming",
            ["Welcome to the stream everyone", "and thanks so much for coming"],
        ),
        ("Short and sweet.", ["Short and sweet."]),  # too short to be worth cutting
        (
            "Thanks for the follow, and welcome to the stream, everyone!",
            ["Thanks for the follow,", "and welcome to the stream, everyone!"],
        ),
        (
            "A long opening line with no joining word anywhere inside it.",
            ["A long opening line with no joining word anywhere inside it."],
        ),
    ],
)
def test_a_long_opening_is_also_cut_before_a_conjunction(sentence, pieces):
    assert split_opening(sentence) == pieces
