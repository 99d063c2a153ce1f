"""The key-colour background: the photo with everything but the person filled with one colour, which
OBS's chroma-key filter removes so the co-host stands over gameplay.

No person-segmentation model ships in a package we can install offline, so the person is found from
the face landmarks we already have: a head-and-shoulders shape around the face seeds OpenCV's
GrabCut, which follows the real outline (hair, collar) inside that shape. Limitation: anything the
shape leaves out (raised hands, a wide hat) is keyed away, and a background the same colour as
hair or clothes can leak into the figure; a plain background behind the person works best.
"""

from __future__ import annotations

import cv2
import numpy as np

GRABCUT_SIZE = 400  # GrabCut runs on the photo scaled to this many pixels wide (a second at most)
GRABCUT_ITERATIONS = 4


def _person_prior(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """GrabCut labels from the face alone: the face is the person for sure, a head-and-shoulders
    shape around it probably is, a margin beyond that probably is not, the rest is background."""
    h, w = shape
    xy = landmarks[:, :2].astype(np.float32)
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    face_w, face_h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2

    def figure(scale: float) -> np.ndarray:
        mask = np.zeros((h, w), np.uint8)
        # Head with hair: wider than the face, reaching well above the brow.
        centre = (round(cx), round(y0 + 0.35 * face_h))
        axes = (round(0.85 * face_w * scale), round(0.95 * face_h * scale))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
        # Neck and shoulders: a trapezoid from under the chin to the bottom of the photo.
        neck_y = round(y1 + 0.1 * face_h)
        shoulder_y = round(y1 + 0.3 * face_h)
        polygon = np.array([
            (cx - 0.45 * face_w * scale, neck_y), (cx + 0.45 * face_w * scale, neck_y),
            (cx + 1.7 * face_w * scale, shoulder_y), (cx + 2.0 * face_w * scale, h),
            (cx - 2.0 * face_w * scale, h), (cx - 1.7 * face_w * scale, shoulder_y),
        ], np.int32)  # fmt: skip
        cv2.fillPoly(mask, [polygon], 1)
        return mask.astype(bool)

    labels = np.full((h, w), cv2.GC_BGD, np.uint8)
    labels[figure(1.35)] = cv2.GC_PR_BGD
    labels[figure(1.0)] = cv2.GC_PR_FGD
    hull = cv2.convexHull(xy.astype(np.int32))
    cv2.fillConvexPoly(labels, hull, cv2.GC_FGD)
    return labels


def key_background(image: np.ndarray, landmarks: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """`image` (RGB) with everything outside the person replaced by `color`."""
    h, w = image.shape[:2]
    scale = min(1.0, GRABCUT_SIZE / w)
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    labels = _person_prior(small.shape[:2], landmarks * scale)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(
        cv2.cvtColor(small, cv2.COLOR_RGB2BGR), labels, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK
    )
    person = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    # Keep the one figure that holds the face; GrabCut can leave specks of look-alike background.
    count, parts = cv2.connectedComponents(person)
    if count > 2:
        cx, cy = (landmarks[:, :2].mean(axis=0) * scale).astype(int)
        person = (parts == parts[min(cy, parts.shape[0] - 1), min(cx, parts.shape[1] - 1)]).astype(np.uint8)
    # Below the chin a body is close to convex: its hull brings back a collar or a shadow that
    # looked like the background (and fills holes) without growing the hair's outline.
    chin = int(landmarks[:, 1].max() * scale)
    body = np.argwhere(person[chin:]) + [chin, 0]
    if len(body) >= 3:
        cv2.fillConvexPoly(person, cv2.convexHull(body[:, ::-1].astype(np.int32)), 1)
    person = cv2.resize(person * 255, (w, h), interpolation=cv2.INTER_LINEAR) >= 128
    # Hard edge on purpose: a blended edge would mix the key colour into the hair, which the
    # chroma key then leaves as a coloured fringe.
    out = image.copy()
    out[~person] = color
    return out
