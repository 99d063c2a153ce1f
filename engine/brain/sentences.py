"""Cuts streamed text into sentences, so each one can be spoken as soon as it is complete.

    splitter = SentenceSplitter()
    for piece in brain.stream(request, cancel):
        for sentence in splitter.feed(piece):
            speak(sentence)
    for sentence in splitter.flush():
        speak(sentence)

A cut is decided only from text already fed, so any split of the same text into pieces yields the
same sentences. Markdown bullets and emphasis are dropped: they would be read out.
"""

from __future__ import annotations

import re

# A run longer than this with no sentence end is cut at its last comma (else space) after MIN_RUN,
# so speech never waits on a run-on sentence.
MAX_RUN = 200
MIN_RUN = 120

_ASCII_ENDS = ".!?"
_WIDE_ENDS = "。！？；…"  # end a sentence without a following space
_CLOSERS = "\"')]”’」』）》"
_PAUSES = ",;:，、；："
# "Mr. Smith" and "e.g. this" do not end a sentence. "etc." usually does, so it is not listed.
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "vs", "e.g", "i.e", "approx"})
_WORD_BEFORE = re.compile(r"[A-Za-z.]*$")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_EMPHASIS = re.compile(r"[*_`#]+")


def _is_wide(char: str) -> bool:
    # CJK ideographs, kana and fullwidth forms: text there has no spaces after a sentence end.
    return "\u3000" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef"


def _run_end(text: str, start: int, chars: str) -> int:
    """Index after the run of `chars` from start, and of any closing quotes or brackets after it."""
    end = start
    while end < len(text) and text[end] in chars:
        end += 1
    while end < len(text) and text[end] in _CLOSERS:
        end += 1
    return end


def _ends_sentence(text: str, dot: int, end: int) -> bool:
    """An ASCII end at text[dot:end] followed by whitespace or wide text: a sentence end unless a lone
    period closes an abbreviation or a list number ("1. first")."""
    if text[dot:end].rstrip(_CLOSERS) != ".":
        return True
    word = _WORD_BEFORE.search(text, 0, dot).group()  # type: ignore[union-attr]  # matches "" at worst
    if word.lower() in _ABBREVIATIONS:
        return False
    before = text[:dot].strip()
    return not (before.isdigit() and before.isascii())


def _run_on_cut(text: str) -> int:
    """Where to cut a run of MAX_RUN characters that has no sentence end."""
    window = text[MIN_RUN:MAX_RUN]
    for chars in (_PAUSES, None):
        cuts = [i for i, c in enumerate(window) if (c in chars if chars else c.isspace())]
        if cuts:
            return MIN_RUN + cuts[-1] + 1
    return MAX_RUN


def _first_cut(text: str, final: bool) -> int | None:
    """End of the first sentence in text, or None while the text fed so far cannot tell."""
    i = 0
    while i < len(text):
        if i >= MAX_RUN:
            return _run_on_cut(text)
        char = text[i]
        if char == "\n":
            return i + 1
        if char in _WIDE_ENDS:
            end = _run_end(text, i, _WIDE_ENDS + _ASCII_ENDS)
            return end if end < len(text) or final else None
        if char in _ASCII_ENDS:
            end = _run_end(text, i, _ASCII_ENDS)
            if end == len(text):
                return end if final else None
            if (text[end].isspace() or _is_wide(text[end])) and _ends_sentence(text, i, end):
                return end
            i = end
            continue
        i += 1
    return None


def clean(sentence: str) -> str:
    """The sentence as it should be spoken: no list marker, no markdown emphasis, single spaces."""
    sentence = _LIST_MARKER.sub("", sentence)
    sentence = _EMPHASIS.sub("", sentence)
    return " ".join(sentence.split())


class SentenceSplitter:
    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, piece: str) -> list[str]:
        """The sentences that `piece` completes, in order."""
        self._buffer += piece
        return self._take(final=False)

    def flush(self) -> list[str]:
        """Whatever is left, as the last sentences; the splitter is then empty and can be reused."""
        sentences = self._take(final=True)
        last = clean(self._buffer)
        self._buffer = ""
        return sentences + [last] if last else sentences

    def _take(self, final: bool) -> list[str]:
        sentences = []
        while (cut := _first_cut(self._buffer, final)) is not None:
            sentence, self._buffer = clean(self._buffer[:cut]), self._buffer[cut:]
            if sentence:
                sentences.append(sentence)
        return sentences
