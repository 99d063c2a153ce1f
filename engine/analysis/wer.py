"""Word error rate: how far a transcript is from what was said, in word edits."""

from __future__ import annotations


def word_errors(said: str, heard: str) -> tuple[int, int]:
    """Word edits (substitutions, insertions, deletions) from `said` to `heard`, and words in `said`.
    Case, punctuation and apostrophes do not count."""
    ref, hyp = words(said), words(heard)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1], len(ref)


def words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower().replace("'", "")).split()
