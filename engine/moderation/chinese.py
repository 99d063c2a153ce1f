"""Chinese banned words found through the ways chat writes around them: split by symbols, spaces or
emoji, in traditional characters, as split components or emoji ("亻尔女马", "🐴"), as homophones
(煞笔 for 傻逼), spelled in pinyin ("sha bi", "shǎbī"), as pinyin initials ("nmsl"), and only on
word boundaries unless an entry says otherwise, so 做爱心, 日本, 操作 and 鸡蛋 pass.

The syntax of an entry ("*" ends, a leading "~" for sound) is described in words/zh.txt. Words are
cut by rjieba (jieba's dictionary and algorithm in Rust, ~50 times faster than jieba and without
its cache file); readings come from pypinyin's character table.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import rjieba
from pypinyin.pinyin_dict import pinyin_dict

from engine.moderation.word_files import WORDS, ZH_FILE, read_word_file, read_zh_variants

COMPONENTS_FILE = WORDS / "zh_components.txt"
ABBREVIATIONS_FILE = WORDS / "zh_abbreviations.txt"
ALLOWED_FILE = WORDS / "zh_allowed.txt"
SEGMENTER_FILE = WORDS / "zh_segmenter.txt"

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_CHAR = re.compile(f"[{_HAN}]")
# What is left of a message for matching: Han characters, Latin words and numbers, each a piece.
# Everything else (spaces, punctuation, emoji) only separates Latin words.
_PIECES = re.compile(f"[{_HAN}]|[a-z]+|[0-9]+")
_SPELLED_LETTERS = re.compile(f"(?<![a-z])([a-z])[^a-z0-9{_HAN}]+(?=[a-z](?![a-z]))")
_MARKS = re.compile("[\u0300-\u036f]")  # tone marks and accents once decomposed
# "AI" in capitals is the acronym (做AI助手, 用AI做视频: everyday words for an AI co-host), not the
# pinyin "ai" of 爱; pinyin is typed in lower case, and "做ai" still reads as 做爱.
_ACRONYM_AI = re.compile("(?<![A-Za-z])AI(?![A-Za-z])")
# A homophone that is a dictionary word this common on its own is that word, not an entry: 纸张
# (zhi zhang, "paper", ~270) for 智障, 菠菜 for 博彩; rare dictionary words like 沙比 (6) or 煞笔 (4)
# are the evasions. The figure is jieba's count in its corpus of 60 million words.
_COMMON_WORD_FREQ = 50


def _toneless(reading: str) -> str:
    return _MARKS.sub("", unicodedata.normalize("NFD", reading))


@dataclass(frozen=True)
class _Entry:
    name: str  # as written, less its markers: what find() returns
    form: str  # the compact form the text is searched in
    glued_start: bool  # a leading "*": may begin inside a word
    glued_end: bool


@dataclass(frozen=True)
class _SoundEntry:
    name: str
    readings: tuple[frozenset[str], ...]  # each character's toneless syllables
    # Spellings of a run of syllables as one Latin word: (first syllable, count) -> spellings.
    spelled: dict[tuple[int, int], frozenset[str]]


@dataclass(frozen=True)
class _Piece:
    start: int  # offset in the compact form
    text: str
    han: bool


class _Reading:
    """One message as the matcher reads it: its compact form and pieces, its words cut lazily."""

    def __init__(self, compact: str, pieces: list[_Piece], segmenter: rjieba.Jieba):
        self.compact = compact
        self.pieces = pieces
        self._segmenter = segmenter
        self._tokens: list[str] | None = None
        self._bounds: set[int] = set()
        self._inner: set[tuple[int, int]] | None = None

    def tokens(self) -> list[str]:
        if self._tokens is None:
            # Without HMM guessing of new words, characters outside the dictionary stay single:
            # a guessed word like "哔主播" would hide the boundary after 傻哔.
            self._tokens = self._segmenter.cut(self.compact, False)
            offset = 0
            self._bounds.add(0)
            for token in self._tokens:
                offset += len(token)
                self._bounds.add(offset)
        return self._tokens

    def on_boundary(self, offset: int) -> bool:
        self.tokens()
        return offset in self._bounds

    def is_inner_word(self, start: int, end: int) -> bool:
        """Whether [start, end) is a dictionary word inside a longer one the cut kept whole: 自杀
        in 上吊自杀 (jieba's search mode)."""
        if self._inner is None:
            self._inner = {(a, b) for _, a, b in self._segmenter.tokenize(self.compact, "search", False)}
        return (start, end) in self._inner


class ChineseMatcher:
    """Built once from the Chinese entries; find() only reads, so threads may share one."""

    def __init__(self, entries: Iterable[str]) -> None:
        components = _read_pairs(COMPONENTS_FILE)
        # Single characters (emoji, radical forms) by table, with traditional characters; then
        # the split pairs, which are written in simplified components.
        self._to_simplified = read_zh_variants() | {ord(k): v for k, v in components.items() if len(k) == 1}
        self._pairs = {k: v for k, v in components.items() if len(k) > 1}
        self._pair = re.compile("|".join(map(re.escape, self._pairs)))
        self._segmenter = rjieba.Jieba()
        for word, count in _read_pairs(SEGMENTER_FILE).items():
            self._segmenter.add_word(word, int(count), None)
        self._allowed = sorted({self._compact(self._prepare(p)) for p in read_word_file(ALLOWED_FILE)} - {""})
        self._entries: dict[str, list[_Entry]] = {}  # by first character of the form
        sound: list[_SoundEntry] = []
        for line in entries:
            entry = self._parse(line)
            if entry is None:
                continue
            self._entries.setdefault(entry.form[0], []).append(entry)
            if not self._segmenter.has_word(entry.form):
                # Known as a word, the entry is cut as one where the sentence allows it; jieba's
                # suggested count is no higher than that, so 做爱 in 做爱心 still yields to 爱心.
                self._segmenter.add_word(entry.form, self._segmenter.suggest_freq(entry.form), None)
            if line.startswith("~") and (sound_entry := _sound_entry(entry)) is not None:
                sound.append(sound_entry)
        for first in self._entries.values():
            first.sort(key=lambda e: len(e.form), reverse=True)
        self._starts = re.compile(f"[{re.escape(''.join(self._entries))}]") if self._entries else None
        # Sound entries by what their first piece can be: a syllable (Han) or a spelling (Latin).
        self._sound_by_start: dict[str, list[_SoundEntry]] = {}
        for entry in sound:
            starts = entry.readings[0] | {w for (position, _), ws in entry.spelled.items() if position == 0 for w in ws}
            for start in starts:
                self._sound_by_start.setdefault(start, []).append(entry)
        self._char_readings = _char_readings({s for entry in sound for readings in entry.readings for s in readings})
        self._abbreviations, self._context_only = _abbreviations()

    def find(self, text: str) -> str | None:
        """The entry (or abbreviation) the text holds, else None."""
        prepared = self._prepare(_ACRONYM_AI.sub("人工智能", text))
        if (found := self._find_abbreviation(prepared)) is not None:
            return found
        pieces, offset = [], 0
        for text_piece in _PIECES.findall(prepared):
            pieces.append(_Piece(offset, text_piece, bool(_HAN_CHAR.match(text_piece))))
            offset += len(text_piece)
        reading = _Reading("".join(p.text for p in pieces), pieces, self._segmenter)
        return self._find_written(reading) or self._find_by_sound(reading)

    def _prepare(self, text: str) -> str:
        """Casefolded, accents and tones off Latin letters, components and emoji read as the
        character they stand for, in simplified characters."""
        text = unicodedata.normalize("NFKC", text).casefold()
        if text.isascii():
            return text
        text = unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFD", text)))
        return self._pair.sub(lambda m: self._pairs[m.group()], text.translate(self._to_simplified))

    @staticmethod
    def _compact(text: str) -> str:
        return "".join(_PIECES.findall(text))

    def _parse(self, line: str) -> _Entry | None:
        name = line.lstrip("~")
        core = name.strip("*")
        form = self._compact(self._prepare(core))
        if not _HAN_CHAR.search(form):
            return None  # Latin entries are the English list's
        return _Entry(core, form, name.startswith("*"), name.endswith("*"))

    def _allowed_at(self, reading: _Reading, start: int, end: int) -> bool:
        """Whether [start, end) of the compact form lies inside an innocent phrase there."""
        compact = reading.compact
        for phrase in self._allowed:
            at = compact.find(phrase, max(0, end - len(phrase)))
            while at != -1 and at <= start:
                if at + len(phrase) >= end:
                    return True
                at = compact.find(phrase, at + 1)
        return False

    def _find_written(self, reading: _Reading) -> str | None:
        if self._starts is None:
            return None
        compact = reading.compact
        for match in self._starts.finditer(compact):
            start = match.start()
            for entry in self._entries[match.group()]:
                end = start + len(entry.form)
                if not compact.startswith(entry.form, start):
                    continue
                aligned = (entry.glued_start or reading.on_boundary(start)) and (
                    entry.glued_end or reading.on_boundary(end)
                )
                if (aligned or reading.is_inner_word(start, end)) and not self._allowed_at(reading, start, end):
                    return entry.name
        return None

    def _find_by_sound(self, reading: _Reading) -> str | None:
        units = [self._char_readings.get(p.text, frozenset()) if p.han else p.text for p in reading.pieces]
        for first, unit in enumerate(units):
            starts = unit if isinstance(unit, frozenset) else (unit,)
            candidates = {id(e): e for s in starts for e in self._sound_by_start.get(s, ())}
            for entry in candidates.values():
                for last in _sound_matches(entry, units, first):
                    if self._sound_span_counts(reading, first, last):
                        return entry.name
        return None

    def _sound_span_counts(self, reading: _Reading, first: int, last: int) -> bool:
        """A match by sound over pieces first..last counts on word boundaries, outside an innocent
        phrase, and not when it is one common dictionary word (纸张 is paper, not 智障)."""
        head, tail = reading.pieces[first], reading.pieces[last]
        start, end = head.start, tail.start + len(tail.text)
        if not any(p.han for p in reading.pieces[first : last + 1]):
            return True  # Latin words: whole words by construction
        if not (reading.on_boundary(start) and reading.on_boundary(end)):
            return False
        span = reading.compact[start:end]
        if span in reading.tokens() and self._segmenter.has_word(span):
            if self._segmenter.suggest_freq(span) >= _COMMON_WORD_FREQ:
                return False
        return not self._allowed_at(reading, start, end)

    def _find_abbreviation(self, prepared: str) -> str | None:
        """Initials as whole Latin words; the context-only ones in a Chinese message or alone."""
        # Spelled letter by letter, "s b" and "n.m.s.l" are read as one word.
        joined = _SPELLED_LETTERS.sub(r"\1", prepared)
        for match in self._abbreviations.finditer(joined):
            word = match.group()
            if word not in self._context_only or _HAN_CHAR.search(prepared) or _PIECES.findall(prepared) == [word]:
                return word
        return None


def _sound_matches(entry: _SoundEntry, units: list[frozenset[str] | str], first: int) -> Iterable[int]:
    """The last unit of each way entry's syllables are read from units[first:]: a Han unit gives
    one syllable, a Latin word one or more whole syllables."""
    syllables = len(entry.readings)

    def walk(position: int, index: int) -> Iterable[int]:
        if index >= len(units):
            return
        unit = units[index]
        if isinstance(unit, frozenset):
            if unit & entry.readings[position]:
                if position + 1 == syllables:
                    yield index
                else:
                    yield from walk(position + 1, index + 1)
            return
        for count in range(1, syllables - position + 1):
            if unit in entry.spelled[(position, count)]:
                if position + count == syllables:
                    yield index
                else:
                    yield from walk(position + count, index + 1)

    return walk(0, first)


def _sound_entry(entry: _Entry) -> _SoundEntry | None:
    """Matching by sound needs every character's reading and two syllables at least: one syllable
    spelled or sounded alike is everywhere ("ri", "ji", 操 in 糙)."""
    if len(entry.form) < 2 or not all(ord(ch) in pinyin_dict for ch in entry.form):
        return None
    readings = tuple(frozenset(_toneless(r) for r in pinyin_dict[ord(ch)].split(",")) for ch in entry.form)
    spelled: dict[tuple[int, int], frozenset[str]] = {}
    for position in range(len(readings)):
        spellings = {""}
        for count in range(1, len(readings) - position + 1):
            spellings = {s + r for s in spellings for r in readings[position + count - 1]}
            spelled[(position, count)] = frozenset(spellings)
    return _SoundEntry(entry.name, readings, spelled)


def _char_readings(syllables: set[str]) -> dict[str, frozenset[str]]:
    """Each character's toneless readings among those of the sound entries: a character with none
    of them can take part in no match."""
    table = {}
    for code, readings in pinyin_dict.items():
        kept = {_toneless(r) for r in readings.split(",")} & syllables
        if kept:
            table[chr(code)] = frozenset(kept)
    return table


def _read_pairs(path: Path) -> dict[str, str]:
    pairs = {}
    for line in read_word_file(path):
        written, meant = line.split()
        pairs[written] = meant
    return pairs


def _abbreviations() -> tuple[re.Pattern[str], frozenset[str]]:
    """A regex of the initials as whole Latin words, and those kept to Chinese messages."""
    words, context_only = [], set()
    for line in read_word_file(ABBREVIATIONS_FILE):
        word = line.split()[0].casefold()
        if word.endswith("?"):
            word = word[:-1]
            context_only.add(word)
        words.append(word)
    alternation = "|".join(sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{alternation})(?![a-z])"), frozenset(context_only)


def has_han(text: str) -> bool:
    """Whether the text holds a Chinese character: the entries this matcher takes."""
    return _HAN_CHAR.search(text) is not None


def load_chinese_matcher(extra_files: Iterable[Path] = ()) -> ChineseMatcher:
    """The matcher of the built-in list and the Chinese lines of the given word files."""
    return ChineseMatcher(line for path in (ZH_FILE, *extra_files) for line in read_word_file(path))
