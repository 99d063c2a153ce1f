"""The idle layer: blinks, head sway, breathing and small eye moves that never stop.

Everything is a pure function of time, so any frame can be rendered on its own (a dropped frame or
a restart never leaves the motion in an odd state) and two runs with one seed look the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BLINKS_PER_MINUTE = 15.0  # conversational rate (Doughty 2001: 10.5-32.5/min)
BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S = 0.10, 0.03, 0.15
SACCADES_PER_MINUTE = 20.0
SACCADE_S = 0.05


@dataclass(frozen=True)
class IdleState:
    blink: float  # 0 open .. 1 closed, both eyes
    yaw: float  # degrees
    pitch: float
    roll: float
    breath: float  # -1 .. 1
    gaze_x: float  # -1 .. 1, fraction of the largest comfortable eye turn
    gaze_y: float
    brow: float  # 0 .. 1


def _poisson_times(rng: np.random.Generator, per_minute: float, min_gap: float, horizon: float) -> np.ndarray:
    times, t = [], 0.0
    while t < horizon:
        t += max(min_gap, rng.exponential(60.0 / per_minute))
        times.append(t)
    return np.array(times)


class IdleMotion:
    """Schedules are drawn in blocks of an hour and extended on demand (a stream can run all day)."""

    BLOCK_S = 3600.0

    def __init__(self, seed: int = 7) -> None:
        self._seed = seed
        self._blocks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        rng = np.random.default_rng(seed)
        # Incommensurate frequencies (0.1-0.5 Hz) so the sway never visibly repeats.
        self._sway = rng.uniform(0, 2 * math.pi, size=9)

    def _block(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if index not in self._blocks:
            rng = np.random.default_rng((self._seed, index))
            blinks = _poisson_times(rng, BLINKS_PER_MINUTE, 1.2, self.BLOCK_S) + index * self.BLOCK_S
            saccades = _poisson_times(rng, SACCADES_PER_MINUTE, 0.6, self.BLOCK_S) + index * self.BLOCK_S
            gaze = rng.normal(0.0, 0.35, size=(len(saccades), 2)).clip(-1, 1)
            gaze[rng.random(len(saccades)) < 0.5] = 0.0  # half the moves come back to the viewer
            self._blocks[index] = (blinks, saccades, gaze)
            self._blocks.pop(index - 2, None)
        return self._blocks[index]

    def _blink(self, t: float) -> float:
        index = int(t // self.BLOCK_S)
        blinks = np.concatenate([self._block(index - 1)[0] if index > 0 else [], self._block(index)[0]])
        i = np.searchsorted(blinks, t) - 1
        if i < 0:
            return 0.0
        dt = t - blinks[i]
        if dt < BLINK_CLOSE_S:
            return dt / BLINK_CLOSE_S
        dt -= BLINK_CLOSE_S
        if dt < BLINK_HOLD_S:
            return 1.0
        dt -= BLINK_HOLD_S
        return max(0.0, 1.0 - dt / BLINK_OPEN_S)

    def _gaze(self, t: float) -> tuple[float, float]:
        saccades, gaze = self._block(int(t // self.BLOCK_S))[1:]
        i = int(np.searchsorted(saccades, t)) - 1
        if i < 0:
            return 0.0, 0.0
        previous = gaze[i - 1] if i > 0 else np.zeros(2)
        k = min(1.0, (t - saccades[i]) / SACCADE_S)
        g = previous + (gaze[i] - previous) * k
        return float(g[0]), float(g[1])

    def at(self, t: float) -> IdleState:
        p = self._sway
        yaw = 2.2 * math.sin(2 * math.pi * 0.11 * t + p[0]) + 0.8 * math.sin(2 * math.pi * 0.29 * t + p[1])
        pitch = 1.2 * math.sin(2 * math.pi * 0.17 * t + p[2]) + 0.5 * math.sin(2 * math.pi * 0.41 * t + p[3])
        roll = 1.0 * math.sin(2 * math.pi * 0.13 * t + p[4]) + 0.4 * math.sin(2 * math.pi * 0.37 * t + p[5])
        breath = math.sin(2 * math.pi * 0.25 * t + p[6])
        brow = 0.15 * max(0.0, math.sin(2 * math.pi * 0.07 * t + p[7])) ** 4
        gx, gy = self._gaze(t)
        return IdleState(self._blink(t), yaw, pitch, roll, breath, gx, gy, brow)
