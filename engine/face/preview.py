"""The picture `cohost avatar check --preview` writes: landmarks and rig mesh, and the rig in action."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.errors import CohostError
from engine.face.avatar import Avatar
from engine.face.renderer import Pose, Renderer
from engine.face.rig import BASES, INNER_LIPS, B

PREVIEW_SIZE = (1280, 720)
SAMPLE_POSES = {
    "open (aa)": {"jaw": 0.9},
    "round (oo)": {"round": 1.0, "jaw": 0.25},
    "closed (m)": {"press": 1.0},
    "blink, turn": {"yaw": 4.0, "roll": 2.0},
}


def _weights(values: dict[str, float]) -> np.ndarray:
    w = np.zeros(len(BASES), dtype=np.float32)
    for name, value in values.items():
        w[B[name]] = value
    return w


def write_preview(avatar: Avatar, out: Path) -> None:
    renderer = Renderer(avatar.image, avatar.landmarks, PREVIEW_SIZE)
    rig = renderer.rig
    overview = renderer.base.copy()
    for tri in rig.triangles:
        cv2.polylines(overview, [np.round(rig.points[tri]).astype(np.int32)], True, (90, 200, 255), 1, cv2.LINE_AA)
    for x, y in rig.points[:478]:
        cv2.circle(overview, (int(round(x)), int(round(y))), 1, (255, 60, 60), -1, cv2.LINE_AA)
    cv2.polylines(overview, [np.round(rig.points[INNER_LIPS]).astype(np.int32)], True, (255, 255, 0), 1, cv2.LINE_AA)
    x0, y0, x1, y1 = rig.roi
    cv2.rectangle(overview, (x0, y0), (x1 - 1, y1 - 1), (0, 255, 0), 2)

    tiles = []
    for label, values in SAMPLE_POSES.items():
        blink = (1.0, 1.0) if "blink" in label else (0.0, 0.0)
        frame = renderer.render(Pose(_weights(values), tongue=0.3, blink=blink))[y0:y1, x0:x1].copy()
        cv2.putText(frame, label, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 0), 2, cv2.LINE_AA)
        tiles.append(frame)
    tile_h = PREVIEW_SIZE[1] // 2
    tile_w = int(round(tile_h * (x1 - x0) / (y1 - y0)))
    tiles = [cv2.resize(t, (tile_w, tile_h), interpolation=cv2.INTER_AREA) for t in tiles]
    grid = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    sheet = np.hstack([overview, grid])
    if not cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise CohostError(f"cannot write preview {out}: use a .png or .jpg path in an existing folder")
