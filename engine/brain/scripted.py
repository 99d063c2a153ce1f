"""The scripted brain: thanks, greetings, FAQ answers and honest non-answers, from faq.toml. No model,
always available, and the same message always gets the same answer."""

from __future__ import annotations

import difflib
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.brain.base import BrainRequest
from engine.chat.message import ChatMessage
from engine.config import PersonaConfig, read_toml
from engine.errors import CohostError

BUILTIN_FAQ = Path(__file__).with_name("faq.toml")
# difflib ratio from which a message counts as one of the FAQ questions ("who r u" ~ "who are you").
MATCH_THRESHOLD = 0.8
# A word of the message close enough to one of the question's to be that word with a typo ("yuo").
WORD_THRESHOLD = 0.6
# Words a viewer adds to a question without changing it ("how are you today").
_FILLER = frozenset(
    "today so then now please again btw hey ok okay really actually just anyway tho though lol haha".split()
)
# A greeting word followed by at most this many characters ("hi everyone") is a greeting.
GREETING_REST = 12

# Chat shorthand, expanded before matching so it does not count against the similarity.
_SHORTHAND = {"r": "are", "u": "you", "ur": "your", "y": "why", "ya": "you", "wat": "what", "wut": "what",
              "whats": "what's", "im": "i'm", "pls": "please", "plz": "please", "ppl": "people"}  # fmt: skip
_WORDS = re.compile(r"[\w']+")
# One spoken piece: a CJK character, or a word with the spaces before it.
_PIECES = re.compile(r"\s*(?:[\u3000-\u9fff\uff00-\uffef]|[^\s\u3000-\u9fff\uff00-\uffef]+)")
_PLACEHOLDERS = {"user": "viewer", "name": "co-host", "gift": "gift", "amount": "1 USD"}
_TEXT_KEYS = ("thanks_gift", "thanks_superchat", "thanks_member")
_LIST_KEYS = ("greeting_words", "greetings", "non_answers")


@dataclass(frozen=True)
class FaqEntry:
    questions: tuple[str, ...]  # normalized
    answer: str


@dataclass(frozen=True)
class Script:
    """One language's answers (the keys of a faq.toml language table)."""

    greeting_words: tuple[str, ...]  # normalized
    greetings: tuple[str, ...]
    thanks_gift: str
    thanks_superchat: str
    thanks_member: str
    non_answers: tuple[str, ...]
    faq: tuple[FaqEntry, ...]


def load_script(language: str, faq_file: str = "") -> Script:
    """The built-in answers for `language`, with the keys that `faq_file` sets replacing them."""
    builtin = _read(BUILTIN_FAQ)
    if language not in builtin:
        raise CohostError(f"[persona] language {language!r} has no scripted answers: use {' or '.join(builtin)}")
    table = dict(builtin[language])
    if faq_file:
        path = Path(faq_file).expanduser()
        table.update(_read(path))
        return _parse(table, path)
    return _parse(table, BUILTIN_FAQ)


class ScriptedBrain:
    name = "scripted"

    def __init__(self, persona: PersonaConfig) -> None:
        self._persona = persona
        self.scripts = {language: load_script(language, persona.faq_file) for language in persona.answer_languages}

    def answer(self, message: ChatMessage, language: str = "") -> str:
        """The answer, in `language` ("" = [persona] language)."""
        script = self.scripts[language or self._persona.language]
        values = {"user": message.user, "name": self._persona.name, "gift": message.text, "amount": _amount(message)}
        text = _normalize(message.text, self._persona.name)
        seed = f"{message.user}\n{text}"  # varies the pick between viewers, never between runs
        if message.kind == "gift":
            return script.thanks_gift.format(**values)
        if message.kind == "member":
            return script.thanks_member.format(**values)
        if message.paid:  # a super chat, or bits cheered in a chat message
            thanks = script.thanks_superchat.format(**values)
            entry = self._match(script, text)
            return f"{thanks} {entry.answer.format(**values)}" if entry else thanks
        greeting_rest = self._greeting_rest(script, text)
        if greeting_rest == "":
            return _pick(script.greetings, seed).format(**values)
        if entry := self._match(script, text):
            return entry.answer.format(**values)
        if greeting_rest is not None:
            return _pick(script.greetings, seed).format(**values)
        return _pick(script.non_answers, seed).format(**values)

    def stream(self, request: BrainRequest, cancel: threading.Event) -> Iterator[str]:
        """The answer word by word (character by character in Chinese), like a model's tokens."""
        for piece in _PIECES.findall(self.answer(request.message, request.language)):
            if cancel.is_set():
                return
            yield piece

    def close(self) -> None:
        """Nothing to release."""

    def _greeting_rest(self, script: Script, text: str) -> str | None:
        """What follows the greeting word when the message is a greeting, else None."""
        rest = self._after_greeting(script, text)
        return rest if rest is not None and len(rest) <= GREETING_REST else None

    def _after_greeting(self, script: Script, text: str) -> str | None:
        """What follows a greeting word the message starts with; None when it starts with none."""
        for word in script.greeting_words:
            if text == word or text.startswith(word + " ") or (not word.isascii() and text.startswith(word)):
                return text[len(word) :].strip()
        return None

    def _match(self, script: Script, text: str) -> FaqEntry | None:
        asked = self._question_part(script, text)
        best, best_score = None, MATCH_THRESHOLD
        for entry in script.faq:
            for question in entry.questions:
                score = difflib.SequenceMatcher(None, asked, question).ratio()
                if score >= best_score and _words_fit(asked, question):
                    best, best_score = entry, score
        return best

    def _question_part(self, script: Script, text: str) -> str:
        """The message without a greeting in front ("hi, are you an AI?") or filler words."""
        rest = self._after_greeting(script, text)
        return " ".join(word for word in (text if rest is None else rest).split() if word not in _FILLER)


def _words_fit(text: str, question: str) -> bool:
    """Every word of a spaced message is one of the question's, give or take a typo: the letters alone make "how old are you" look like "how are you". Chinese has no spaces to go by."""
    asked = question.split()
    if len(asked) < 2:
        return True
    return all(
        any(difflib.SequenceMatcher(None, word, known).ratio() >= WORD_THRESHOLD for known in asked)
        for word in text.split()
    )


def _normalize(text: str, name: str = "") -> str:
    """Lower case, the co-host's name and punctuation dropped, chat shorthand expanded."""
    text = text.lower()
    if name:
        text = text.replace(name.lower(), " ")
    return " ".join(_SHORTHAND.get(word, word) for word in _WORDS.findall(text))


def _pick(choices: tuple[str, ...], seed: str) -> str:
    # crc32, not hash(): str hashes change with every process, and the choice must not.
    return choices[zlib.crc32(seed.encode()) % len(choices)]


def _amount(message: ChatMessage) -> str:
    amount = f"{message.amount:g}"
    return f"{amount} {message.currency}" if message.currency else amount


def _read(path: Path) -> dict[str, Any]:
    return read_toml(path, "FAQ file")


def _parse(table: dict[str, Any], path: Path) -> Script:
    def fail(problem: str) -> CohostError:
        return CohostError(f"FAQ file {path}: {problem}")

    unknown = set(table) - {*_TEXT_KEYS, *_LIST_KEYS, "faq"}
    if unknown:
        raise fail(f"unknown key {min(unknown)!r}")
    for key in _TEXT_KEYS:
        if not isinstance(table.get(key), str):
            raise fail(f"{key} must be a string")
    for key in _LIST_KEYS:
        value = table.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise fail(f"{key} must be a non-empty list of strings")
    faq = []
    for number, entry in enumerate(table.get("faq", []), 1):
        entry = entry if isinstance(entry, dict) else {}
        questions, answer = entry.get("questions", [entry.get("question")]), entry.get("answer")
        if (
            not isinstance(answer, str)
            or not isinstance(questions, list)
            or not questions
            or not all(isinstance(q, str) for q in questions)
        ):
            raise fail(f"faq entry {number} needs question (or questions) and answer strings")
        faq.append(FaqEntry(tuple(_normalize(q) for q in questions), answer))
    templates = [table[key] for key in _TEXT_KEYS] + table["greetings"] + table["non_answers"] + [e.answer for e in faq]
    for template in templates:
        try:
            template.format(**_PLACEHOLDERS)
        except (KeyError, IndexError, ValueError):
            raise fail(f"{template!r} has a placeholder other than {{user}}, {{name}}, {{gift}}, {{amount}}") from None
    return Script(
        greeting_words=tuple(_normalize(w) for w in table["greeting_words"]),
        greetings=tuple(table["greetings"]),
        thanks_gift=table["thanks_gift"],
        thanks_superchat=table["thanks_superchat"],
        thanks_member=table["thanks_member"],
        non_answers=tuple(table["non_answers"]),
        faq=tuple(faq),
    )
