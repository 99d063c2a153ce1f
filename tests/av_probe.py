"""Probes for A/V alignment tests: a flash frame and a click placed at one clock instant, found
again after encoding and decoding."""

from __future__ import annotations

import numpy as np

CLICK_S = 0.010
CLICK_HZ = 1000


def click(sample_rate: int, length: int, at: int) -> np.ndarray:
    """`length` samples of silence with a 10 ms 1 kHz tone burst starting at sample `at`."""
    pcm = np.zeros(length, np.int16)
    n = np.arange(min(round(CLICK_S * sample_rate), length - at))
    pcm[at : at + len(n)] = (20000 * np.sin(2 * np.pi * CLICK_HZ * n / sample_rate)).astype(np.int16)
    return pcm


def onset(samples: np.ndarray) -> int:
    """Index of the first sample louder than half the loudest."""
    loud = np.abs(samples.astype(np.float64))
    return int(np.argmax(loud > 0.5 * loud.max()))


def brightest(frames: list[np.ndarray] | np.ndarray) -> int:
    """Index of the brightest frame (the flash)."""
    return int(np.argmax([np.mean(f) for f in frames]))
