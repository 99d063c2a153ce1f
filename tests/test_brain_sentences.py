"""SentenceSplitter: streamed text cut into speakable sentences, the same whatever the pieces."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.brain.sentences import MAX_RUN, SentenceSplitter


def whole(text: str) -> list[str]:
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()


def in_pieces(text: str, cuts: list[int]) -> list[str]:
    splitter = SentenceSplitter()
    sentences, start = [], 0
    for cut in sorted(set(cuts)) + [len(text)]:
        sentences += splitter.feed(text[start:cut])
        start = cut
    return sentences + splitter.flush()


def test_english_sentences_end_at_stops_but_not_decimals_or_abbreviations() -> None:
    text = "Hi there! It costs 3.5 dollars, Mr. Smith said. Use a tool, e.g. a hammer. Really?! Yes... "
    assert whole(text) == [
        "Hi there!",
        "It costs 3.5 dollars, Mr. Smith said.",
        "Use a tool, e.g. a hammer.",
        "Really?!",
        "Yes...",
    ]


def test_closing_quote_stays_with_its_sentence() -> None:
    assert whole('She said "go." Then she left.') == ['She said "go."', "Then she left."]


def test_chinese_sentences_need_no_space_after_the_stop() -> None:
    assert whole("你好！我是Nova。今天玩什么？好的……那就开始；走吧") == [
        "你好！", "我是Nova。", "今天玩什么？", "好的……", "那就开始；", "走吧",
    ]  # fmt: skip


def test_newline_ends_a_sentence_and_markdown_is_not_spoken() -> None:
    text = "Top picks\n- **Celeste** is great\n* _Hades_ too\n1. `Tetris` forever\n# Done"
    assert whole(text) == ["Top picks", "Celeste is great", "Hades too", "Tetris forever", "Done"]


def test_sentence_is_returned_only_once_it_is_known_to_be_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("It costs 3") == []
    assert splitter.feed(".") == []  # could still be 3.5
    assert splitter.feed("5 dollars. Mr") == ["It costs 3.5 dollars."]
    assert splitter.feed(". Smith") == []
    assert splitter.flush() == ["Mr. Smith"]
    assert splitter.flush() == []


def test_run_on_text_is_cut_at_a_comma_near_the_limit() -> None:
    clause = "and then we kept on going " * 5  # 130 characters, no comma
    text = clause + "with no end, " + clause + "still"
    splitter = SentenceSplitter()
    first = splitter.feed(text)
    assert first == [(clause + "with no end,").strip()]
    assert len(first[0]) <= MAX_RUN
    assert splitter.flush() == [(clause + "still").strip()]


def test_run_on_text_without_commas_or_spaces_is_cut_at_the_limit() -> None:
    text = "啊" * (MAX_RUN * 2 + 10)
    assert [len(s) for s in whole(text)] == [MAX_RUN, MAX_RUN, 10]


# Characters that exercise every rule: ends, closers, abbreviations, digits, CJK, markdown, newlines.
_TEXT = st.text(alphabet=list("ab Mr.e,g!?\"')3\n\t。！？；…你好*_#-1"), max_size=600)
# Without markdown and list markers, which are dropped on purpose.
_PLAIN = st.text(alphabet=list("ab Mr.e,g!?\"')\n\t。！？；…你好x"), max_size=600)


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, data=st.data())
def test_any_split_into_pieces_gives_the_same_sentences(text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=60))
    assert in_pieces(text, cuts) == whole(text)


@settings(max_examples=300, deadline=None)
@given(text=_PLAIN)
def test_no_text_is_lost_but_whitespace(text: str) -> None:
    sentences = whole(text)
    assert all(s and s == s.strip() for s in sentences)
    assert "".join("".join(sentences).split()) == "".join(text.split())


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=list("ab ,你"), min_size=MAX_RUN * 3, max_size=MAX_RUN * 4))
def test_no_sentence_is_longer_than_the_limit(text: str) -> None:
    assert all(len(s) <= MAX_RUN for s in whole(text))
