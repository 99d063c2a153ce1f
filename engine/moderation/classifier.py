"""A learned score per kind of harm (toxicity, hate, sexual content, self-harm, spam) for a chat
message or a reply sentence, in Chinese or English, in well under a millisecond on one core.

The model is linear over the text's n-grams: words, word pairs and letter n-grams of Latin-script
words (so "idiots", "idiooot" and "b1tch" share features with the forms in the training lines), and
single characters, pairs and triples of Chinese runs (Chinese has no spaces to split words at), plus
a few shape features spammers leave (links, long digit runs, a character or word said over and
over). It was trained by engine/moderation/train_classifier.py on the labeled lines in
classifier_train.tsv; classifier_model.npz holds the weights. A word list matches what it lists; this
also scores a sentence it never saw from the words around the bad one, and weighs context the lists
cannot ("kill the boss" against "kill yourself").

One loaded model is shared by every thread: scoring reads it and never writes.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

import numpy as np

from engine.config import ModerationConfig
from engine.errors import CohostError

LABELS = ("toxicity", "hate", "sexual", "self_harm", "spam")
BUILTIN_MODEL = Path(__file__).with_name("classifier_model.npz")
# Bumped whenever features() changes: a model trained on other features would score nonsense.
FEATURE_SCHEME = 1


@dataclass(frozen=True)
class Scores:
    """Each in 0..1: how likely the text is that kind of harm."""

    toxicity: float
    hate: float
    sexual: float
    self_harm: float
    spam: float


@dataclass(frozen=True)
class Thresholds:
    """A score at or over its label's threshold flags the text."""

    toxicity: float
    hate: float
    sexual: float
    self_harm: float
    spam: float


class Classifier(Protocol):
    def scores(self, text: str) -> Scores: ...


_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[a-z0-9@$]+(?:'[a-z]+)?")
_REPEATS = re.compile(r"(.)\1{2,}")
_DIGITS = re.compile(r"\d{5,}")
_LINK = re.compile(
    r"https?://|www\.|\b[a-z0-9-]+\s*(?:\.|\bdot\b|点)\s*(?:com|net|org|gg|io|ly|tv|cn|me|shop|xyz|top|vip)\b"
)
_LEET = str.maketrans("013457@$", "oieasta" + "s")


def features(text: str) -> list[str]:
    """The model's features of a text, repeats removed (the model counts presence, not frequency)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")  # zero-width joiners and marks
    found: list[str] = []
    if _LINK.search(text):
        found.append("#link")
    if _DIGITS.search(text):
        found.append("#digits")
    if re.search(r"(.)\1{5,}", text):
        found.append("#char-repeat")
    # Runs of one letter say as much as the letter: "fuuuuck" is "fuck", "sooo" is "so".
    squeezed = _REPEATS.sub(r"\1", text)
    words = [_latin(word) for word in _LATIN_WORD.findall(squeezed)]
    words = [word for word in words if word]
    if len(words) >= 4 and len(set(words)) * 3 <= len(words):
        found.append("#word-repeat")
    for i, word in enumerate(words):
        found.append(f"w:{word}")
        if i:
            found.append(f"b:{words[i - 1]} {word}")
        if len(word) >= 4 and not word.startswith("#"):  # short words are their own word feature
            padded = f"<{word}>"
            found.extend(f"c:{padded[j:j + n]}" for n in (3, 4, 5) for j in range(len(padded) - n + 1))
    for run in _CJK_RUN.findall(text):
        if len(run) >= 6 and len(set(run)) * 3 <= len(run):
            found.append("#char-repeat")
        for n in (1, 2, 3):
            found.extend(f"z:{run[j:j + n]}" for j in range(len(run) - n + 1))
    return list(dict.fromkeys(found))


def _latin(word: str) -> str:
    """A Latin-script word with leetspeak read as letters ("sh1t", "a$$"); numbers become "#number"."""
    if not any(ch.isalpha() for ch in word):
        return "#number" if any(ch.isdigit() for ch in word) else ""
    return word.translate(_LEET)


class LinearClassifier:
    """Scores = sigmoid(sum of the text's feature weights / sqrt(feature count) + bias), per label."""

    def __init__(self, vocabulary: list[str], weights: np.ndarray, bias: np.ndarray) -> None:
        self._index = {feature: i for i, feature in enumerate(vocabulary)}
        self._weights = weights.astype(np.float32)
        self._bias = bias.astype(np.float32)
        self._weights.setflags(write=False)
        self._bias.setflags(write=False)

    @classmethod
    def load(cls, path: Path) -> LinearClassifier:
        try:
            with np.load(path, allow_pickle=False) as data:
                scheme = int(data["scheme"])
                labels = tuple(str(label) for label in data["labels"])
                vocabulary = [str(feature) for feature in data["vocabulary"]]
                weights, bias = data["weights"], data["bias"]
        except FileNotFoundError:
            raise CohostError(
                f"moderation classifier model {path} not found: restore it from the project's git tree, "
                "retrain it with python -m engine.moderation.train_classifier, or set [moderation] classifier = \"off\""
            ) from None
        except (OSError, KeyError, ValueError) as e:
            raise CohostError(f"moderation classifier model {path} is unreadable ({e}): retrain it with "
                              "python -m engine.moderation.train_classifier") from None
        if scheme != FEATURE_SCHEME or labels != LABELS or weights.shape != (len(vocabulary), len(LABELS)):
            raise CohostError(f"moderation classifier model {path} was made for another version of obs-cohost: "
                              "retrain it with python -m engine.moderation.train_classifier")
        return cls(vocabulary, weights, bias)

    def scores(self, text: str) -> Scores:
        found = features(text)
        rows = [self._index[f] for f in found if f in self._index]
        logits = self._bias.astype(np.float64)
        if rows:
            logits = logits + self._weights[rows].sum(axis=0, dtype=np.float64) / math.sqrt(len(found))
        return Scores(*(1.0 / (1.0 + math.exp(-x)) for x in logits.tolist()))


_loaded: dict[Path, LinearClassifier] = {}
_loading = threading.Lock()


def load_classifier(config: ModerationConfig) -> Classifier | None:
    """The configured classifier, loaded once per model file and shared; None when it is "off"."""
    if config.classifier == "off":
        return None
    path = BUILTIN_MODEL if config.classifier == "builtin" else Path(config.classifier).expanduser()
    thresholds(config)  # a bad threshold is reported at start, not at the first message
    with _loading:
        if path not in _loaded:
            _loaded[path] = LinearClassifier.load(path)
        return _loaded[path]


def thresholds(config: ModerationConfig) -> Thresholds:
    """The [moderation] <label>_threshold keys, each checked to lie in (0, 1]."""
    values = {}
    for label in LABELS:
        key = f"{label}_threshold"
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise CohostError(f"[moderation] {key} must be a number over 0 and at most 1, got {value!r}")
        values[label] = float(value)
    return Thresholds(**values)


def flagged(scores: Scores, limits: Thresholds) -> str | None:
    """The label whose score passes its threshold by the widest margin, or None when none does."""
    over = [
        (getattr(scores, f.name) / getattr(limits, f.name), f.name)
        for f in fields(Scores)
        if getattr(scores, f.name) >= getattr(limits, f.name)
    ]
    return max(over)[1] if over else None
