"""Renders a pose: blend the rig's fields, invert them, one remap of the head region, paint the mouth."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.face.eyelids import Eyelids
from engine.face.mouth import MouthInterior
from engine.face.rig import GRID_STEP, Rig, build_rig, grid_positions


def fit_portrait(image: np.ndarray, landmarks: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Scale and crop a photo (RGB, or RGBA with the person's alpha) to cover `size` (width, height),
    keeping the face as central as it can."""
    width, height = size
    ih, iw = image.shape[:2]
    scale = max(width / iw, height / ih)
    sw, sh = max(width, round(iw * scale)), max(height, round(ih * scale))
    face = landmarks[:, :2].mean(axis=0) * scale
    x0 = int(np.clip(face[0] - width / 2, 0, sw - width))
    y0 = int(np.clip(face[1] - height / 2, 0, sh - height))
    if (sw, sh) == (iw, ih):
        scaled = image
    else:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LANCZOS4
        scaled = cv2.resize(image, (sw, sh), interpolation=interpolation)
    frame = np.ascontiguousarray(scaled[y0 : y0 + height, x0 : x0 + width])
    points = landmarks.astype(np.float32).copy()
    points[:, :2] = points[:, :2] * scale - [x0, y0]
    points[:, 2] *= scale
    return frame, points


@dataclass(frozen=True)
class Pose:
    weights: np.ndarray  # one weight per rig basis (rig.BASES)
    tongue: float = 0.0  # 0 .. 1, how high the tongue shows in an open mouth
    blink: tuple[float, float] = (0.0, 0.0)  # image-left eye, image-right eye: 0 open .. 1 closed


class Renderer:
    """Draws frames of one portrait at one output size. RGB uint8 in, RGB uint8 out; given the
    person's alpha as well (uint8, the photo's size), RGBA out, the alpha warped with the pixels."""

    # The upsampled map clamps at the region's edge for a pixel or two; those rows and columns
    # are left as the base frame (the fields are zero there anyway).
    EDGE = GRID_STEP

    def __init__(
        self, image: np.ndarray, landmarks: np.ndarray, size: tuple[int, int], alpha: np.ndarray | None = None
    ) -> None:
        # The alpha rides as a fourth channel through the crop, the scaling and the one remap: a
        # four-channel remap costs what a three-channel one does (1.0 vs 1.1 ms for the default
        # avatar's head at 720p), where a separate one-channel remap and the strided copies into
        # the frame cost 3.4 ms.
        photo = image if alpha is None else np.dstack([image, alpha])
        self.base, points = fit_portrait(photo, landmarks, size)
        self.rig: Rig = build_rig(points, size)
        self.mouth = MouthInterior(self.base[..., :3], self.rig)
        self.eyelids = Eyelids(self.rig)
        x0, y0, x1, y1 = self.rig.roi
        gx, gy = grid_positions((x1 - x0, y1 - y0))
        gyy, gxx = np.meshgrid(
            np.arange(len(gy), dtype=np.float32), np.arange(len(gx), dtype=np.float32), indexing="ij"
        )
        self._grid_index = (gxx, gyy)
        # Where each grid point sits in the frame; the sampling map is this minus the backward field.
        self._grid_xy = np.dstack(np.meshgrid(gx + x0, gy + y0)).astype(np.float32)
        self._fields = self.rig.fields.reshape(len(self.rig.fields), -1)
        self._field_shape = self.rig.fields.shape[1:]
        # Per-frame buffers, allocated once: fresh multi-megabyte arrays every frame cost more in
        # page faults than the remap itself at 1080p.
        h, w = y1 - y0, x1 - x0
        self._full = np.empty((h, w, 2), np.float32)
        self._fixed = np.empty((h, w, 2), np.int16)
        self._frac = np.empty((h, w), np.uint16)
        self._patch = np.empty((h, w, self.base.shape[2]), np.uint8)

    @property
    def size(self) -> tuple[int, int]:
        return self.base.shape[1], self.base.shape[0]

    def render(self, pose: Pose) -> np.ndarray:
        out = self.base.copy()
        self.render_into(out, pose)
        return out

    def render_into(self, out: np.ndarray, pose: Pose) -> None:
        """Draws the pose over `out`, which must hold the base frame outside the head region."""
        x0, y0, x1, y1 = self.rig.roi
        # einsum, not matmul: BLAS would wake its thread pool, whose spinning threads then compete
        # with the remap for the CPU (measured: 1080p frames took 3x longer).
        field = np.einsum("b,bn->n", pose.weights.astype(np.float32), self._fields).reshape(self._field_shape)
        # The fields say where a point of the photo goes; a remap needs where an output pixel comes
        # from: the fixed point of x_src = x - D(x_src), two steps of which suffice for these motions.
        gxx, gyy = self._grid_index
        back = field
        for _ in range(2):
            back = cv2.remap(
                field, gxx - back[..., 0] / GRID_STEP, gyy - back[..., 1] / GRID_STEP,
                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
            )  # fmt: skip
        # Identity is linear, so upsampling the coarse map gives the full-resolution map directly.
        coarse = self._grid_xy - back
        full = cv2.resize(coarse, (x1 - x0, y1 - y0), dst=self._full, interpolation=cv2.INTER_LINEAR)
        fixed, frac = cv2.convertMaps(full, None, cv2.CV_16SC2, dstmap1=self._fixed, dstmap2=self._frac)
        patch = cv2.remap(self.base, fixed, frac, cv2.INTER_LINEAR, dst=self._patch, borderMode=cv2.BORDER_REFLECT)
        e = self.EDGE
        out[y0 + e : y1 - e, x0 + e : x1 - e] = patch[e:-e, e:-e]
        # The mouth's interior is colour alone: it lies inside the face, which is opaque. The lids
        # are drawn from the frame itself, alpha and all.
        self.mouth.paint(out[..., :3], pose.weights, pose.tongue)
        self.eyelids.paint(out, pose.weights, pose.blink)
