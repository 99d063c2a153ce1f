"""The rig: precomputed deformation fields, one per facial movement, built once per portrait.

Each basis is a forward displacement of control points (the 478 landmarks, a ring around the head
and the border of the head region, which stays still), spread to a quarter-resolution grid by
piecewise-linear interpolation over a Delaunay triangulation. A frame is then a weighted sum of
fields plus one remap (renderer.py). Units: a weight of 1 is the fullest natural movement; head
rotations are per degree.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BASES = (
    "jaw", "round", "wide", "press", "tuck", "upper", "smile",
    "brow", "yaw", "pitch", "roll", "breath", "gaze_x", "gaze_y",
)  # fmt: skip
B = {name: i for i, name in enumerate(BASES)}

GRID_STEP = 4
JAW_DROP = 0.25  # how far the chin drops at jaw = 1, in inter-ocular distances
N_LANDMARKS = 478

# MediaPipe face-mesh indices.
INNER_UPPER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
INNER_LOWER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
INNER_LIPS = INNER_UPPER + INNER_LOWER[-2:0:-1]  # closed polygon, clockwise
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]  # fmt: skip
# Eyes as (upper lid left to right, lower lid left to right), image left first.
EYE_R = ([33, 246, 161, 160, 159, 158, 157, 173, 133], [33, 7, 163, 144, 145, 153, 154, 155, 133])
EYE_L = ([362, 398, 384, 385, 386, 387, 388, 466, 263], [362, 382, 381, 380, 374, 373, 390, 249, 263])
IRIS_R = list(range(468, 473))
IRIS_L = list(range(473, 478))
BROW_R = [70, 63, 105, 66, 107, 46, 53, 52, 65, 55]
BROW_L = [300, 293, 334, 296, 336, 276, 283, 282, 295, 285]
CHIN = 152


@dataclass(frozen=True)
class Rig:
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 of the head region in the frame
    points: np.ndarray  # (N, 2) control points in frame coordinates; the first 478 are landmarks
    deltas: np.ndarray  # (len(BASES), N, 2) forward displacement of each control point, per unit
    fields: np.ndarray  # (len(BASES), gh, gw, 2) the same displacement on the ROI grid
    triangles: np.ndarray  # (T, 3) control-point indices, for previews
    iod: float  # inter-ocular distance in pixels, the face's unit of length

    def landmarks_at(self, weights: np.ndarray, indices: list[int]) -> np.ndarray:
        """Exact positions of some landmarks under the given basis weights."""
        return self.points[indices] + np.einsum("b,bnc->nc", weights, self.deltas[:, indices])  # no BLAS threads


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    u = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _interp_curve(xs: np.ndarray, ys: np.ndarray, x: np.ndarray) -> np.ndarray:
    order = np.argsort(xs)
    return np.interp(x, xs[order], ys[order])


class _Geometry:
    """Face-relative coordinates shared by the basis definitions."""

    def __init__(self, lm: np.ndarray, pts: np.ndarray) -> None:
        self.lm, self.pts = lm, pts
        left, right = lm[61, :2], lm[291, :2]
        self.center = (lm[13, :2] + lm[14, :2]) / 2
        self.u = (right - left) / np.linalg.norm(right - left)
        self.v = np.array([-self.u[1], self.u[0]])  # points down the face
        self.half_width = np.linalg.norm(right - left) / 2
        self.iod = float(np.linalg.norm(lm[33, :2] - lm[263, :2]))
        rel = pts - self.center
        self.s = rel @ self.u / self.half_width  # across the mouth: -1 and 1 at the corners
        self.t = rel @ self.v / self.iod  # down the face, in inter-ocular distances

        def lip(indices: list[int]) -> np.ndarray:
            r = lm[indices, :2] - self.center
            return _interp_curve(r @ self.u / self.half_width, r @ self.v / self.iod, np.clip(self.s, -1, 1))

        upper, lower = lip(INNER_UPPER), lip(INNER_LOWER)
        self.mid = (upper + lower) / 2  # the mouth line under each point
        self.gap = np.maximum(lower - upper, 0.0)  # the lips' opening in the photo
        self.dm = self.t - self.mid  # signed distance below the mouth line
        self.lower = _smoothstep(self.dm, -0.012, 0.012)  # 1 on the jaw side of the mouth line
        beyond = np.maximum(np.abs(self.s) - 1, 0)
        self.lip_zone = np.exp(-((self.dm / 0.2) ** 2)) * np.exp(-(beyond**2) / 0.12)
        face_half = np.linalg.norm(lm[454, :2] - lm[234, :2]) / 2
        self.lateral = np.abs(rel @ self.u) / face_half

    def along(self, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
        """Displacement from components across (in mouth half-widths) and down (in IODs)."""
        return du[:, None] * self.half_width * self.u + dv[:, None] * self.iod * self.v


def _mouth_bases(g: _Geometry, out: np.ndarray) -> None:
    zero = np.zeros(len(g.pts))
    sc = np.clip(g.s, -1, 1)
    corner = np.exp(-(((np.abs(g.s) - 1) / 0.45) ** 2)) * np.exp(-((g.dm / 0.15) ** 2))
    # Jaw: everything below the mouth line drops, less towards the jaw joints at the face's sides.
    jaw = g.lower * (1 - 0.85 * _smoothstep(g.lateral, 0.35, 1.05))
    # The lower lip parts less towards the corners, where the lips join (commissures).
    jaw *= 1 - 0.75 * _smoothstep(np.abs(g.s), 0.45, 1.05) * np.exp(-((g.dm / 0.12) ** 2))
    out[B["jaw"]] = g.along(zero, JAW_DROP * jaw)
    # Round: lips pucker towards the middle and part a little; the cheeks follow the corners.
    pucker = np.exp(-((g.dm / 0.25) ** 2)) * np.exp(-(np.maximum(np.abs(g.s) - 1, 0) ** 2) / 0.6)
    out[B["round"]] = g.along(-0.22 * sc * pucker, (0.08 * g.lower - 0.05 * (1 - g.lower)) * g.lip_zone)
    # Wide: corners pull out and slightly up.
    out[B["wide"]] = g.along(0.14 * sc * g.lip_zone, -0.015 * corner)
    # Press: the lips meet on the mouth line (closing a smiling photo's gap) and thin out.
    d = np.abs(g.dm)
    hg = g.gap / 2
    knee = hg + 0.12
    f = np.where(d <= hg, 0.0, (d - hg) / 0.12 * 0.08)
    f = np.where(d > knee, 0.08 + (d - knee) / np.maximum(0.4 - knee, 1e-3) * (0.4 - 0.08), f)
    f = np.where(d >= 0.4, d, f)
    lateral_lip = np.exp(-(np.maximum(np.abs(g.s) - 1, 0) ** 2) / 0.12)
    out[B["press"]] = g.along(zero, -np.sign(g.dm) * (d - f) * lateral_lip)
    # Tuck (f, v): the lower lip rises to the upper teeth.
    lower_lip = g.lower * np.exp(-(((g.dm - 0.05) / 0.12) ** 2)) * lateral_lip
    out[B["tuck"]] = g.along(zero, -(g.gap + 0.05) * lower_lip)
    # Upper: the upper lip lifts off the teeth.
    upper_lip = (1 - g.lower) * np.exp(-(((g.dm + 0.05) / 0.12) ** 2)) * lateral_lip
    out[B["upper"]] = g.along(zero, -0.06 * upper_lip)
    # Smile: corners and cheeks up and out.
    cheek = np.exp(-(((np.abs(g.s) - 1.6) / 0.8) ** 2)) * np.exp(-(((g.dm + 0.3) / 0.35) ** 2))
    out[B["smile"]] = g.along(0.12 * sc * corner, -0.06 * corner - 0.03 * cheek)


def _eye_bases(lm: np.ndarray, pts: np.ndarray, iod: float, out: np.ndarray) -> None:
    x, y = pts[:, 0], pts[:, 1]
    for (upper_idx, _), iris, brow in ((EYE_R, IRIS_R, BROW_R), (EYE_L, IRIS_L, BROW_L)):
        upper = lm[upper_idx, :2]
        y_up = _interp_curve(upper[:, 0], upper[:, 1], x)
        # Brow raise: the brow lifts, the lid skin stretches, the forehead follows less.
        brow_pts = lm[brow, :2]
        cx, w = brow_pts[:, 0].mean(), (brow_pts[:, 0].max() - brow_pts[:, 0].min()) * 0.65
        y_brow = brow_pts[:, 1].mean()
        near = np.exp(-(((x - cx) / w) ** 2))
        between = np.clip((y_up - y) / np.maximum(y_up - y_brow, 1.0), 0, 1)
        lift = np.where(y < y_brow, np.exp(-(((y_brow - y) / (0.5 * iod)) ** 2)), between * (y < y_up))
        out[B["brow"], :, 1] -= 0.1 * iod * near * lift

        radius = np.linalg.norm(lm[iris[0], :2] - lm[iris[1], :2])
        out[B["gaze_x"], iris, 0] = 0.3 * radius
        out[B["gaze_y"], iris, 1] = 0.2 * radius


def _head_bases(lm: np.ndarray, pts3: np.ndarray, follow: np.ndarray, iod: float, out: np.ndarray) -> None:
    center = lm[FACE_OVAL].mean(axis=0)
    rel = pts3 - center
    a = np.deg2rad(1.0)
    c, s = np.cos(a), np.sin(a)
    rotations = {
        "yaw": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "pitch": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "roll": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }
    for name, rot in rotations.items():
        out[B[name]] = (rel @ rot.T - rel)[:, :2] * follow[:, None]
    out[B["breath"], :, 1] = -0.012 * iod * follow


def build_rig(landmarks: np.ndarray, frame_size: tuple[int, int]) -> Rig:
    """A rig for a face whose landmarks (478x3, frame pixels) are given, in a frame of (width, height)."""
    width, height = frame_size
    lm = landmarks.astype(np.float64)
    iod = float(np.linalg.norm(lm[33, :2] - lm[263, :2]))
    center = lm[FACE_OVAL, :2].mean(axis=0)
    oval = lm[FACE_OVAL, :2]

    # Head region: the face grown to take in hair, ears and neck; its border never moves.
    reach = center + (oval - center) * 1.9
    x0, y0 = np.floor(reach.min(axis=0)).astype(int)
    x1, y1 = np.ceil(reach.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    # A whole number of grid cells, so the upsampled field covers the region exactly.
    x1 = x0 + (x1 - x0) // GRID_STEP * GRID_STEP
    y1 = y0 + (y1 - y0) // GRID_STEP * GRID_STEP
    ring = np.clip(center + (oval - center) * 1.35, [x0 + 1, y0 + 1], [x1 - 2, y1 - 2])
    border = np.array(
        [(x, y) for x in np.linspace(x0, x1 - 1, 9) for y in (y0, y1 - 1)]
        + [(x, y) for y in np.linspace(y0, y1 - 1, 9)[1:-1] for x in (x0, x1 - 1)]
    )
    pts = np.vstack([lm[:, :2], ring, border])
    n_ring = len(ring)
    pts3 = np.hstack([pts, np.full((len(pts), 1), lm[:, 2].mean())])
    pts3[:N_LANDMARKS, 2] = lm[:, 2]

    # How much each control point follows the head: all of the face and hair, half of the neck.
    follow = np.zeros(len(pts))
    follow[:N_LANDMARKS] = 1.0
    below_chin = ring[:, 1] > lm[CHIN, 1]
    follow[N_LANDMARKS : N_LANDMARKS + n_ring] = np.where(below_chin, 0.4, 1.0)

    # Mouth and eyes move landmarks only; the jaw also stretches the neck a little.
    deltas = np.zeros((len(BASES), len(pts), 2))
    face = deltas[:, :N_LANDMARKS]
    geometry = _Geometry(lm, lm[:, :2])
    _mouth_bases(geometry, face)
    _eye_bases(lm, lm[:, :2], iod, face)
    neck = np.where(below_chin, 0.3 * JAW_DROP * iod, 0.0)
    deltas[B["jaw"], N_LANDMARKS : N_LANDMARKS + n_ring] = neck[:, None] * geometry.v
    _head_bases(lm, pts3, follow, iod, deltas)

    triangles = _triangulate(pts, (x0, y0, x1, y1))
    fields = _rasterize(pts - [x0, y0], triangles, deltas, (x1 - x0, y1 - y0))
    return Rig((x0, y0, x1, y1), pts.astype(np.float32), deltas.astype(np.float32),
               fields, triangles, iod)  # fmt: skip


def _triangulate(pts: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = roi
    subdiv = cv2.Subdiv2D((x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2))
    # Subdiv2D renumbers points and merges duplicates, so map its vertices back by position.
    subdiv.insert([(float(x), float(y)) for x, y in pts])
    tris = subdiv.getTriangleList().reshape(-1, 3, 2)
    keep = np.all(
        (tris[..., 0] >= x0 - 1) & (tris[..., 0] <= x1) & (tris[..., 1] >= y0 - 1) & (tris[..., 1] <= y1), axis=(1)
    )
    tris = tris[keep]
    d = np.linalg.norm(tris.reshape(-1, 1, 2) - pts[None, :, :], axis=2)
    return d.argmin(axis=1).reshape(-1, 3)


def grid_positions(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions of the quarter-resolution grid, placed where cv2.resize puts its samples."""
    w, h = size
    gw, gh = -(-w // GRID_STEP), -(-h // GRID_STEP)
    gx = (np.arange(gw) + 0.5) * GRID_STEP - 0.5
    gy = (np.arange(gh) + 0.5) * GRID_STEP - 0.5
    return gx, gy


def _rasterize(pts: np.ndarray, triangles: np.ndarray, deltas: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    gx, gy = grid_positions(size)
    gh, gw = len(gy), len(gx)
    owner = np.full((gh, gw), -1, dtype=np.int32)
    scale = 1.0 / GRID_STEP
    for k, tri in enumerate(triangles):
        # Grid cell j sits at pixel (j + 0.5) * step - 0.5; fillConvexPoly takes 4 fractional bits.
        poly = ((pts[tri] + 0.5) * scale - 0.5) * 16
        cv2.fillConvexPoly(owner, np.round(poly).astype(np.int32), k, lineType=cv2.LINE_8, shift=4)
    yy, xx = np.meshgrid(gy, gx, indexing="ij")
    p = np.stack([xx.ravel(), yy.ravel()], axis=1)
    k = owner.ravel()
    covered = k >= 0
    tri = triangles[np.maximum(k, 0)]
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    den = np.where(np.abs(den) < 1e-9, 1e-9, den)
    wb = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    wc = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    bary = np.clip(np.stack([1 - wb - wc, wb, wc], axis=1), 0, None)
    bary /= bary.sum(axis=1, keepdims=True) + 1e-12
    bary[~covered] = 0.0
    fields = np.einsum("pk,bpkc->bpc", bary, deltas[:, tri])
    return fields.reshape(len(deltas), gh, gw, 2).astype(np.float32)
