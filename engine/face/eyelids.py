"""Blinks: the upper lid slides down over the eye, as a lid does, instead of squashing the eye.

A warp field cannot do this (the eye would have to shrink to a line, which no smooth inverse
represents), so each column of the eye is resampled on its own: the skin strip above the lid
stretches down to the lid's new edge and the eye below it stays as it was, covered.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.face.rig import EYE_L, EYE_R, Rig

CREASE_IOD = 0.2  # height of the skin strip above the lid that stretches over the eye


class Eyelids:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.crease = CREASE_IOD * rig.iod

    def paint(self, out: np.ndarray, weights: np.ndarray, closed: tuple[float, float]) -> None:
        for (upper_idx, lower_idx), amount in zip((EYE_R, EYE_L), closed):
            if amount > 0.01:
                self._close(
                    out,
                    self.rig.landmarks_at(weights, upper_idx),
                    self.rig.landmarks_at(weights, lower_idx),
                    min(amount, 1.0),
                )

    def _close(self, out: np.ndarray, upper: np.ndarray, lower: np.ndarray, amount: float) -> None:
        x0 = int(np.floor(upper[:, 0].min()))
        x1 = int(np.ceil(upper[:, 0].max())) + 1
        y0 = int(np.floor(upper[:, 1].min() - self.crease)) - 1
        y1 = int(np.ceil(lower[:, 1].max())) + 2
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, out.shape[1]), min(y1, out.shape[0])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        xs = np.arange(x0, x1, dtype=np.float32)
        top = np.interp(xs, *_sorted(upper))
        bottom = np.interp(xs, *_sorted(lower))
        edge = top + amount * np.maximum(bottom - top, 0.0)  # where the lid's rim is now
        skin_top = top - self.crease
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        # Over the skin strip and the covered eye, sample the strip stretched to reach the rim.
        stretch = self.crease / np.maximum(edge - skin_top, 1e-3)
        src_y = np.where(ys <= edge, skin_top + (ys - skin_top) * stretch, ys)
        map_x = np.broadcast_to(xs[None, :], src_y.shape).astype(np.float32)
        region = out[y0:y1, x0:x1].copy()
        lid = cv2.remap(out, map_x, src_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # Fade at the eye's corners, where the lids meet and nothing needs covering.
        weight = np.clip((bottom - top) / 3.0, 0, 1)[None, :, None]
        out[y0:y1, x0:x1] = (region + (lid.astype(np.float32) - region) * weight).astype(np.uint8)


def _sorted(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(points[:, 0])
    return points[order, 0], points[order, 1]
