"""Controls for the lip-sync measurement: renderings on which it must fail, made by the same live
engine as the real thing, so a pass means the mouth follows the voice and not that the test is blind."""

from __future__ import annotations

import numpy as np

from engine.face.animator import MOUTH_BASES
from engine.face.renderer import Pose, Renderer


class FrozenMouthRenderer(Renderer):
    """Draws every pose with the mouth at rest (the head, eyes and breathing still move)."""

    def render_into(self, out: np.ndarray, pose: Pose) -> None:
        weights = pose.weights.copy()
        weights[list(MOUTH_BASES)] = 0.0
        super().render_into(out, Pose(weights, tongue=0.0, blink=pose.blink))
