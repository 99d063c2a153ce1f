"""The inside of an opened mouth: cavity, upper and lower teeth, tongue, drawn into the lips' gap.

The warp can only stretch the photo, so whatever the lips part over must be painted. It fades in
with the opening beyond the photo's own, so a photo that already shows teeth keeps them at rest.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.face.rig import INNER_LIPS, INNER_UPPER, Rig

CAVITY = np.array([52, 14, 18], dtype=np.float32)
TONGUE = np.array([118, 46, 52], dtype=np.float32)
DEFAULT_TEETH = np.array([222, 214, 200], dtype=np.float32)
FADE_IOD = 0.035  # opening (beyond the photo's) over which the painted interior fades in
SUPERSAMPLE = 4
GROW_IOD = 0.015


def _opening(poly: np.ndarray) -> float:
    """Mean vertical gap of the inner lips: upper contour vs. the lower one, matched by position."""
    n = len(INNER_UPPER)
    upper = poly[1 : n - 1]
    lower = poly[n:][::-1]
    return float(np.mean(lower[:, 1] - upper[:, 1]))


class MouthInterior:
    def __init__(self, frame: np.ndarray, rig: Rig) -> None:
        self.rig = rig
        rest = rig.points[INNER_LIPS]
        self.rest_opening = max(_opening(rest), 0.0)
        self.teeth = self._sample_teeth(frame, rest)

    def _sample_teeth(self, frame: np.ndarray, rest: np.ndarray) -> np.ndarray:
        # A photo that shows teeth lends us their colour; otherwise a natural off-white.
        if self.rest_opening < 0.04 * self.rig.iod:
            return DEFAULT_TEETH
        mask = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(rest).astype(np.int32)], 255)
        pixels = frame[mask > 0].astype(np.float32)
        if len(pixels) < 10:
            return DEFAULT_TEETH
        brightness = pixels.sum(axis=1)
        return pixels[brightness >= np.percentile(brightness, 70)].mean(axis=0)

    def paint(self, out: np.ndarray, weights: np.ndarray, tongue: float) -> None:
        poly = self.rig.landmarks_at(weights, INNER_LIPS)
        opening = _opening(poly)
        # Grow the outline a little: the low-resolution warp places the lips' edges to within a
        # pixel or two, and a sliver of stretched photo between lip and interior shows as a seam.
        centre = poly.mean(axis=0)
        radius = np.linalg.norm(poly - centre, axis=1, keepdims=True)
        poly = centre + (poly - centre) * (1 + GROW_IOD * self.rig.iod / np.maximum(radius, 1.0))
        strength = np.clip((opening - self.rest_opening) / (FADE_IOD * self.rig.iod), 0.0, 1.0)
        if strength <= 0.0:
            return
        x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 3
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, out.shape[1]), min(y1, out.shape[0])
        if x1 - x0 < 3 or y1 - y0 < 2:
            return
        h, w = y1 - y0, x1 - x0
        local = (poly - [x0, y0]) * SUPERSAMPLE
        mask = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
        cv2.fillPoly(mask, [np.round(local).astype(np.int32)], 255, cv2.LINE_AA)
        alpha = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        alpha = cv2.GaussianBlur(alpha, (3, 3), 0.6)[..., None] * strength

        inside = self._interior(poly - [x0, y0], (w, h), opening, tongue)
        region = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = (region + (inside - region) * alpha).astype(np.uint8)

    def _interior(self, poly: np.ndarray, size: tuple[int, int], opening: float, tongue: float) -> np.ndarray:
        w, h = size
        n = len(INNER_UPPER)
        upper, lower = poly[:n], np.vstack([poly[:1], poly[n:][::-1], poly[n - 1 : n]])
        ys = np.arange(h, dtype=np.float32)[:, None]
        xs = np.arange(w, dtype=np.float32)[None, :]
        top = np.interp(xs[0], upper[:, 0], upper[:, 1])[None, :]
        bottom = np.interp(xs[0], lower[:, 0], lower[:, 1])[None, :]
        depth = np.clip((ys - top) / np.maximum(bottom - top, 1.0), 0, 1)
        cx = (upper[0, 0] + upper[-1, 0]) / 2
        half = max((upper[-1, 0] - upper[0, 0]) / 2, 1.0)
        across = np.clip(np.abs(xs - cx) / half, 0, 1)
        # Darkest in the middle of the cavity and towards the corners, where no light reaches.
        shade = (1.0 - 0.45 * np.sin(np.pi * depth)) * (1 - 0.5 * across**2)
        img = np.broadcast_to(CAVITY, (h, w, 3)) * shade[..., None]

        iod = self.rig.iod
        # Teeth sink into the cavity's shadow towards the corners.
        lit = (1 - across**2.5)[..., None]
        upper_teeth = ys < top + min(0.075 * iod, 0.4 * opening)
        img = np.where(upper_teeth[..., None], img + (self.teeth * 0.92 - img) * lit, img)
        if tongue > 0 or opening > 0.25 * iod:
            lift = 0.12 + 0.3 * tongue
            tongue_top = bottom - lift * (bottom - top)
            dome = tongue_top + (across**2) * 0.3 * (bottom - top)
            on_tongue = (ys > dome) & (across < 0.85)
            img = np.where(on_tongue[..., None], TONGUE * (0.8 + 0.2 * (1 - across))[..., None], img)
        # Lower teeth show only in a wide-open mouth, and only the front ones.
        lower_show = np.clip((opening - 0.2 * iod) / (0.1 * iod), 0, 1)
        if lower_show > 0:
            lower_teeth = (ys > bottom - 0.05 * iod * lower_show) & (across < 0.6)
            img = np.where(lower_teeth[..., None], img + (self.teeth * 0.8 - img) * lit, img)
        return img.astype(np.float32)
