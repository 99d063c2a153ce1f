"""What may go on air: chat questions and reply sentences cleaned, and dropped when a layer refuses them.

Contact details in any writing (links, e-mails, phone numbers, chat IDs) are removed by
engine.moderation.contacts: a co-host that reads them out advertises for spammers. Banned words are
matched through the usual evasions: English entries as whole words by engine.moderation.english (so
"class" or "Scunthorpe" pass, "sh!t", "f**k", "kcuf" do not), Chinese entries on word boundaries by
engine.moderation.chinese (split, traditional, homophones, pinyin, initials; 做爱心 and 日本 pass).
Words with an ordinary meaning too (words/en_context.txt: "bitch" at a dog show, a rooster's "cock")
pass the lists beside a word of that meaning ("puppies", "rooster"), never written evasively ("b!tch").
Chat that gives the brain orders is refused (engine.moderation.injection), and the learned
classifier (engine.moderation.classifier) scores what the lists do not name.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.config import ModerationConfig
from engine.moderation.chinese import has_han, load_chinese_matcher
from engine.moderation.classifier import LABELS, Scores, flagged, load_classifier, thresholds
from engine.moderation.contacts import strip_contacts
from engine.moderation.english import EnglishMatcher
from engine.moderation.injection import injection_cue
from engine.moderation.judge import Judge
from engine.moderation.word_files import (
    BUILTIN_WORD_FILES,
    EN_ALLOW_FILE,
    EN_CONTEXT_FILE,
    read_context_words,
    read_word_file,
)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str  # the cleaned text
    # Why not ok: "empty", "banned", "injection" (chat), the classifier's label ("toxicity", "hate", ...),
    # or "unsure" (a reply sentence the judge did not clear).
    reason: str = ""
    removed: tuple[str, ...] = ()  # contact details taken out of the text (links, phone numbers, IDs)

    @property
    def blocked(self) -> bool:
        """Nothing of what was written reaches air as written: refused, or a contact detail taken out."""
        return not self.ok or bool(self.removed)


# Invisible characters that are letters (Lo) or symbols in Unicode, so category checks miss them;
# spammers put them between letters.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")

_SEPARATORS = re.compile(r"[\W_]+")  # anything but letters and digits


def clean(text: str) -> tuple[str, tuple[str, ...]]:
    """NFKC text without control or invisible characters and without contact details, its whitespace
    collapsed; and the contact details taken out."""
    text = unicodedata.normalize("NFKC", text)
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace():
            kept.append(" ")
        elif category[0] != "C" and ch not in _INVISIBLE:  # Cc, Cf (zero-width), Cs, Co, Cn
            kept.append(ch)
    return strip_contacts("".join(kept))


def fingerprint(text: str) -> str:
    """What two messages that say the same thing share: "Hello!!" and "hello" give "hello"."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    # At a word boundary, unless that loses most of it (Chinese has no spaces).
    if not text[limit].isspace() and space > limit // 2:
        cut = cut[:space]
    return cut.rstrip()


class TextFilter:
    """Every layer a chat message or a reply sentence passes before it may reach air: cleaning and
    contact details, banned words (English and Chinese), the learned classifier, then instructions
    aimed at the brain (chat) or the judge on sentences the classifier is unsure about (replies)."""

    def __init__(self, config: ModerationConfig, judge: Judge | None = None, names: Iterable[str] = ()):
        """`judge` (an LLM on the brain's server) decides reply sentences the classifier is unsure about.
        `names` are the co-host's: chat addresses it by them, so they say nothing about a message and
        the classifier reads it without them ("Nova, me again" is "me again")."""
        self._max_chars = config.max_chars
        self._judge = judge
        user_files = [Path(p).expanduser() for p in config.banned_word_files]
        entries = {e for path in (*BUILTIN_WORD_FILES, *user_files) for e in read_word_file(path)}
        # Entries in other alphabets (a user's "сука") are whole words too, as the English ones.
        allowed = read_word_file(EN_ALLOW_FILE)
        self._english = EnglishMatcher((e for e in entries if _SEPARATORS.sub("", e) and not has_han(e)), allowed)
        self._context = read_context_words(EN_CONTEXT_FILE)
        self._context_words = EnglishMatcher(self._context, allowed)
        self._chinese = load_chinese_matcher(user_files)
        self._classifier = load_classifier(config)
        spelled = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
        self._names = (
            re.compile(r"(?<!\w)@?(?:" + "|".join(map(re.escape, spelled)) + r")(?!\w)", re.IGNORECASE)
            if spelled
            else None
        )
        self._thresholds = thresholds(config)

    def clean_input(self, text: str) -> Verdict:
        """A viewer's message as it may be asked: cleaned and cut to max_chars. A banned word
        anywhere in it, even past the cut, drops the whole message."""
        # Whatever lies far past the cut cannot be asked; bounding it bounds the work on a flood.
        cleaned, removed = clean(text[: 8 * self._max_chars + 64])
        capped = _cap(cleaned, self._max_chars)
        checked = {cleaned, capped}
        verdict = self._words(capped, removed, checked)
        if verdict.ok:
            label = next(filter(None, (self._flagged(self._scores(t)) for t in checked)), None)
            if label is not None:
                return dataclasses.replace(verdict, ok=False, reason=label)
        if verdict.ok and injection_cue(cleaned):
            return dataclasses.replace(verdict, ok=False, reason="injection")
        return verdict

    def check_output(self, sentence: str) -> Verdict:
        """A reply sentence as it may be spoken; never on air when it holds a banned word, nor when the
        classifier is unsure and the judge does not clear it in time."""
        cleaned, removed = clean(sentence)
        verdict = self._words(cleaned, removed, {cleaned})
        if not verdict.ok:
            return verdict
        scores = self._scores(cleaned)
        label = self._flagged(scores)
        if label is not None:
            return dataclasses.replace(verdict, ok=False, reason=label)
        if scores is not None and self._judge is not None:
            if any(self._judge.unsure(getattr(scores, name)) for name in LABELS):
                cleared = self._judge.unsafe(cleaned) is False
                return verdict if cleared else dataclasses.replace(verdict, ok=False, reason="unsure")
        return verdict

    def is_banned(self, text: str) -> bool:
        """A banned word in `text`, or a context word without a word of its ordinary sense beside it."""
        if self._chinese.find(text) is not None or self._english.find(text) is not None:
            return True
        words = set(_SEPARATORS.split(unicodedata.normalize("NFKC", text).casefold()))
        rest = text.casefold()
        while (found := self._context_words.find(rest)) is not None:  # each context word in turn
            senses = self._context.get(found.casefold())
            if senses is None or found.casefold() not in rest:
                return True  # written evasively ("c0ck", "kcoc", Cyrillic letters): no one spells the rooster so
            if not words & senses:
                return True
            rest = rest.replace(found.casefold(), " ", 1)
        return False

    def _words(self, text: str, removed: tuple[str, ...], checked: set[str]) -> Verdict:
        """`text` refused when it has no words or any of `checked` holds a banned one."""
        if not any(ch.isalnum() for ch in text):
            return Verdict(False, text, "empty", removed)
        if any(self.is_banned(t) for t in checked):
            return Verdict(False, text, "banned", removed)
        return Verdict(True, text, "", removed)

    def _scores(self, text: str) -> Scores | None:
        """The classifier's scores of `text` without the co-host's names and its allowlisted phrases:
        "homo sapiens" and "Moby Dick" are declared ordinary, to the classifier as to the lists."""
        if self._classifier is None:
            return None
        if self._names is not None:
            text = " ".join(self._names.sub(" ", text).split())
        return self._classifier.scores(self._english.without_allowed(text))

    def _flagged(self, scores: Scores | None) -> str | None:
        return None if scores is None else flagged(scores, self._thresholds)
