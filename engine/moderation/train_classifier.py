"""Trains the moderation classifier (engine/moderation/classifier.py) from labeled lines.

`python -m engine.moderation.train_classifier [--data FILE] [--out FILE]` reads classifier_train.tsv
(or your own file in its format: labels<TAB>text, labels comma-separated or "ok") and writes
classifier_model.npz (or --out, which [moderation] classifier can then name). Training is
deterministic and takes a few seconds on one core, so the committed model is checked against a
retrain by the tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from engine.errors import CohostError
from engine.moderation.classifier import BUILTIN_MODEL, FEATURE_SCHEME, LABELS, features

TRAINING_LINES = Path(__file__).with_name("classifier_train.tsv")
# Plain full-batch Adam on a class-weighted logistic loss: a few hundred lines need nothing smarter,
# and a fixed step count keeps the result the same on every machine.
_STEPS = 400
_LEARNING_RATE = 0.05
_L2 = 1e-3


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
            raise CohostError(f"{path}:{number}: expected labels<TAB>text with labels from "
                              f"{', '.join(LABELS)} or ok, got {line!r}")
        lines.append((names, text))
    return lines


def train(lines: list[tuple[frozenset[str], str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Vocabulary, weights (feature x label) and bias (label) of a model fit to the lines."""
    per_line = [features(text) for _, text in lines]
    vocabulary = sorted({f for found in per_line for f in found})
    index = {f: i for i, f in enumerate(vocabulary)}
    x = np.zeros((len(lines), len(vocabulary)), dtype=np.float32)
    for row, found in enumerate(per_line):
        x[row, [index[f] for f in found]] = 1.0 / np.sqrt(len(found))
    y = np.array([[label in names for label in LABELS] for names, _ in lines], dtype=np.float32)
    positives = y.sum(axis=0)
    if not positives.all():
        missing = [label for label, count in zip(LABELS, positives) if not count]
        raise CohostError(f"the training lines have no example of {', '.join(missing)}")
    # Each label's few positives weigh as much as all its negatives together.
    sample_weight = np.where(y == 1, (len(lines) - positives) / positives, 1.0).astype(np.float32)
    sample_weight /= sample_weight.sum(axis=0)

    weights = np.zeros((len(vocabulary), len(LABELS)), dtype=np.float32)
    bias = np.zeros(len(LABELS), dtype=np.float32)
    params = [weights, bias]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    for step in range(1, _STEPS + 1):
        probability = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
        error = (probability - y) * sample_weight
        grads = [x.T @ error + _L2 * weights, error.sum(axis=0)]
        for param, grad, (m, v) in zip(params, grads, moments):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= _LEARNING_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return vocabulary, weights, bias


def save(path: Path, vocabulary: list[str], weights: np.ndarray, bias: np.ndarray) -> None:
    np.savez_compressed(
        path,
        scheme=np.array(FEATURE_SCHEME),
        labels=np.array(LABELS),
        vocabulary=np.array(vocabulary),
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
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
    except CohostError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"{args.out}: {len(vocabulary)} features from {len(lines)} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
