"""Portrait checks: each kind of bad photo gets one clear line; good ones report face, size, pose, mouth."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import CohostError
from engine.face.avatar import MIN_FACE_PX, inspect_faces, load_avatar
from engine.face.landmarks import DetectedFace
from engine.face.preview import write_preview
from engine.face.renderer import Pose, Renderer
from engine.face.rig import BASES, B
from engine.models import resolve


@pytest.fixture(scope="module")
def portrait(config) -> Path:
    return resolve("avatar/default", config.models).files["image"]


@pytest.fixture(scope="module")
def portrait_rgb(portrait) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(portrait)), cv2.COLOR_BGR2RGB)


def _save(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _one_line_error(call) -> str:
    with pytest.raises(CohostError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_default_portrait_is_found_frontal_and_reported_with_open_mouth(portrait, face_model):
    avatar = load_avatar(portrait, face_model)
    assert avatar.faces_found == 1
    assert avatar.face_height > 200
    assert abs(avatar.pose.yaw) < 10 and abs(avatar.pose.pitch) < 25 and abs(avatar.pose.roll) < 10
    assert not avatar.mouth_closed  # she smiles with her teeth showing
    assert any("mouth is open" in w for w in avatar.warnings)


def test_missing_and_unreadable_files_get_one_line_each(tmp_path, face_model):
    assert "does not exist" in _one_line_error(lambda: load_avatar(tmp_path / "nope.png", face_model))
    fake = tmp_path / "notes.png"
    fake.write_text("this is not a picture")
    assert "not an image file" in _one_line_error(lambda: load_avatar(fake, face_model))


def test_photo_without_a_face_is_refused(tmp_path, face_model):
    ramp = np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1))
    photo = _save(tmp_path / "wall.png", np.dstack([ramp, ramp[:, ::-1], np.full_like(ramp, 128)]))
    assert "no face found" in _one_line_error(lambda: load_avatar(photo, face_model))


def test_several_faces_use_the_largest_with_a_warning(tmp_path, portrait_rgb, face_model):
    head = portrait_rgb[:, 200:920]  # a square around the face: the detector works on square input
    canvas = np.full((650, 800, 3), 200, np.uint8)
    canvas[:500, :500] = cv2.resize(head, (500, 500), interpolation=cv2.INTER_AREA)
    canvas[-300:, 500:] = cv2.resize(head, (300, 300), interpolation=cv2.INTER_AREA)
    avatar = load_avatar(_save(tmp_path / "two.png", canvas), face_model)
    assert avatar.faces_found == 2
    assert any("2 faces found" in w and "largest" in w for w in avatar.warnings)
    assert avatar.landmarks[:, 0].max() < 500  # the big face, on the left


def test_face_too_small_is_refused(tmp_path, portrait_rgb, face_model):
    tiny = cv2.resize(portrait_rgb, (320, 180), interpolation=cv2.INTER_AREA)
    message = _one_line_error(lambda: load_avatar(_save(tmp_path / "tiny.png", tiny), face_model))
    assert "face too small" in message and f"{MIN_FACE_PX} px" in message


def test_face_turned_too_far_is_refused(portrait, portrait_rgb, face_model):
    """No turned-away portrait ships offline, so the real landmarks are paired with a pose matrix
    turned 40° (the landmarker's own matrix format); the check reads the pose from that matrix."""
    with_face = load_avatar(portrait, face_model)
    a = math.radians(40)
    turned = np.eye(4, dtype=np.float32)
    turned[:3, :3] = [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]
    face = DetectedFace(points=with_face.landmarks, transform=turned)
    message = _one_line_error(lambda: inspect_faces(portrait, portrait_rgb, [face]))
    assert "turned too far" in message and "yaw 40°" in message


def test_a_closed_mouth_is_reported_closed(tmp_path, portrait, portrait_rgb, face_model):
    """The rig closes the smiling portrait's lips; the checker, re-reading the picture, agrees."""
    avatar = load_avatar(portrait, face_model)
    renderer = Renderer(avatar.image, avatar.landmarks, (1280, 720))
    weights = np.zeros(len(BASES), np.float32)
    weights[B["press"]] = 1.0
    closed = load_avatar(_save(tmp_path / "closed.png", renderer.render(Pose(weights))), face_model)
    assert closed.mouth_closed
    assert not any("mouth is open" in w for w in closed.warnings)


def test_preview_shows_landmarks_and_rig_poses(tmp_path, portrait, face_model):
    avatar = load_avatar(portrait, face_model)
    out = tmp_path / "preview.png"
    write_preview(avatar, out)
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[0] == 720 and sheet.shape[1] > 1280
    overview = cv2.cvtColor(sheet[:, :1280], cv2.COLOR_BGR2RGB)
    assert np.abs(overview.astype(int) - avatar.image.astype(int)).mean() > 1.0  # landmarks and mesh drawn
