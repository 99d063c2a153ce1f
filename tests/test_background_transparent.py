"""[live] background = "transparent": the person cut out of the default avatar by the real selfie
segmenter, the alpha carried through the renderer with the head's motion, and flattened over the
key colour by the outputs that cannot carry it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from engine.app.build import build_renderer
from engine.colour import Colour
from engine.face.portrait import load_cutout, load_portrait
from engine.face.renderer import Pose, Renderer
from engine.face.rig import BASES, B
from engine.face.segmentation import person_alpha
from engine.live.engine import LiveEngine
from engine.output.base import rgb
from engine.output.file import FileOutput
from engine.voice.espeak import EspeakBackend

SIZE = (1280, 720)  # the default avatar's own size: the renderer neither scales nor crops it
MAGENTA = Colour(255, 0, 255)


@pytest.fixture(scope="module")
def portrait(config):
    return load_portrait(config)


@pytest.fixture(scope="module")
def alpha(config, portrait) -> np.ndarray:
    return load_cutout(config, portrait)


def _face(portrait) -> np.ndarray:
    hull = np.zeros(portrait.image.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(portrait.landmarks[:, :2]).astype(np.int32)), 1)
    return hull.astype(bool)


def _turn() -> Pose:
    weights = np.zeros(len(BASES), np.float32)
    weights[B["yaw"]], weights[B["roll"]] = 4.0, 2.0
    return Pose(weights)


def test_the_face_is_opaque_the_corners_transparent_and_the_edge_feathered(portrait, alpha):
    assert alpha.dtype == np.uint8 and alpha.shape == portrait.image.shape[:2]
    assert (alpha[_face(portrait)] == 255).all()
    for corner in (alpha[:40, :40], alpha[:40, -40:], alpha[-40:, :40], alpha[-40:, -40:]):
        assert (corner == 0).all()
    # Along the row through the eyes, from the photo's left edge into the face: clear, a ramp of a
    # few pixels, then opaque.
    y = round(portrait.landmarks[[33, 263], 1].mean())
    row = alpha[y, : round(portrait.landmarks[:, 0].mean())].astype(int)
    first_seen, first_opaque = np.argmax(row > 0), np.argmax(row == 255)
    assert 0 < first_seen < first_opaque and 2 <= first_opaque - first_seen <= 12
    assert (np.diff(row[first_seen : first_opaque + 1]) >= 0).all()


def test_the_cut_out_is_found_once_per_photo_and_then_read_from_the_cache(portrait, tmp_path: Path, config):
    from engine.models import resolve

    segmenter = resolve("segmenter", config.models).files["model"]
    found = person_alpha(portrait.image, portrait.landmarks, segmenter, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    # No model at all the second time: the cached cut-out is all it needs.
    assert np.array_equal(person_alpha(portrait.image, portrait.landmarks, tmp_path / "no-model", tmp_path), found)


def test_a_frames_alpha_moves_with_the_head_exactly_as_its_pixels_do(portrait, alpha):
    # A stand-in alpha equal to the photo's green: every warp the pixels undergo must leave the two
    # equal (no jaw in the pose, so no mouth interior is painted over the colour alone).
    green = Renderer(portrait.image, portrait.landmarks, SIZE, alpha=portrait.image[..., 1].copy())
    frame = green.render(_turn())
    assert frame.shape == (*SIZE[::-1], 4)
    assert not np.array_equal(frame, green.base)
    assert np.array_equal(frame[..., 3], frame[..., 1])

    renderer = Renderer(portrait.image, portrait.landmarks, SIZE, alpha=alpha)
    posed, base = renderer.render(_turn())[..., 3], renderer.base[..., 3]
    x0, y0, x1, y1 = renderer.rig.roi
    moved = np.abs(posed.astype(int) - base) > 128
    assert moved[y0:y1, x0:x1].sum() > 200  # the head's outline moved ...
    outside = np.ones(moved.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not (posed != base)[outside].any()  # ... and nothing else did


def test_an_rgba_engine_frame_reaches_the_file_flattened_over_the_key_colour(config, portrait, alpha, tmp_path):
    cut = dataclasses.replace(
        config, live=dataclasses.replace(config.live, background="transparent", key_color=MAGENTA)
    )
    renderer = build_renderer(cut, portrait, (320, 180))
    assert renderer.base.shape[2] == 4
    output = FileOutput(tmp_path / "cut.mp4", keep_existing=False, key_color=MAGENTA.rgb)
    voice = EspeakBackend("en-us")
    try:
        with LiveEngine(renderer, voice, [output], fps=30, realtime=False) as engine:
            engine.run_frames(5)
    finally:
        voice.close()
    with av.open(str(output.path)) as video:
        picture = next(video.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    clear, opaque = renderer.base[..., 3] == 0, renderer.base[..., 3] == 255
    assert np.abs(picture[clear] - MAGENTA.rgb).mean() < 12
    assert np.abs(picture[opaque] - renderer.base[..., :3][opaque]).mean() < 12


def test_flattening_blends_by_alpha_and_leaves_an_rgb_frame_alone():
    frame = np.zeros((2, 3, 4), np.uint8)
    frame[..., :3] = (200, 100, 40)
    frame[0, :, 3] = (0, 128, 255)
    frame[1, :, 3] = 255
    flat = rgb(frame, (0, 255, 0))
    assert flat.shape == (2, 3, 3)
    assert np.abs(flat[0].astype(int) - [(0, 255, 0), (100, 177, 20), (200, 100, 40)]).max() <= 1
    opaque = np.ascontiguousarray(frame[..., :3])
    assert rgb(opaque, (0, 255, 0)) is opaque
