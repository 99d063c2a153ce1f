"""A portrait photo made ready to animate: read, checked, its landmarks found once and cached."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine.errors import CohostError
from engine.face.landmarks import DetectedFace, FaceLandmarker

MIN_FACE_PX = 100  # face height (brow to chin) below which the mouth is too few pixels to animate
MAX_TURN_DEG = 30.0  # beyond this the 2-D warp shows the turn as a distortion
MOUTH_OPEN_IOD = 0.06  # lip gap (in inter-ocular distances) above which the mouth counts as open
CACHE_VERSION = 1


@dataclass(frozen=True)
class FacePose:
    yaw: float
    pitch: float
    roll: float


@dataclass
class Avatar:
    path: Path
    image: np.ndarray  # RGB
    landmarks: np.ndarray  # (478, 3) pixels
    pose: FacePose
    faces_found: int
    mouth_gap: float  # inner-lip gap in inter-ocular distances
    warnings: list[str] = field(default_factory=list)

    @property
    def face_height(self) -> float:
        return float(np.ptp(self.landmarks[:, 1]))

    @property
    def mouth_closed(self) -> bool:
        return self.mouth_gap < MOUTH_OPEN_IOD


def pose_from_matrix(matrix: np.ndarray) -> FacePose:
    r = matrix[:3, :3]
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    yaw = math.degrees(math.asin(float(np.clip(-r[2, 0], -1, 1))))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return FacePose(yaw, pitch, roll)


def mouth_gap(points: np.ndarray) -> float:
    iod = np.linalg.norm(points[33, :2] - points[263, :2])
    pairs = ((13, 14), (82, 87), (312, 317))
    return float(np.mean([np.linalg.norm(points[a, :2] - points[b, :2]) for a, b in pairs]) / iod)


def read_image(path: Path) -> np.ndarray:
    if not path.exists():
        raise CohostError(f"{path} does not exist")
    if path.is_dir():
        raise CohostError(f"{path} is a folder, not a photo")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise CohostError(f"cannot read {path}: not an image file (use PNG, JPEG, WebP or BMP)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_digest(image: np.ndarray) -> str:
    """What a photo's cached results are keyed by: its pixels, whatever file they came from."""
    return hashlib.sha256(image.tobytes() + str(image.shape).encode()).hexdigest()[:32]


def _detect_cached(
    image: np.ndarray, model_path: Path, cache_dir: Path | None
) -> tuple[list[DetectedFace], Path | None]:
    cached = cache_dir / f"{image_digest(image)}.v{CACHE_VERSION}.npz" if cache_dir else None
    if cached and cached.exists():
        with np.load(cached) as data:
            return [DetectedFace(p, t) for p, t in zip(data["points"], data["transforms"])], cached
    with FaceLandmarker(model_path) as landmarker:
        faces = landmarker.detect(image)
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npz")
        np.savez(tmp, points=np.array([f.points for f in faces]).reshape(-1, 478, 3),
                 transforms=np.array([f.transform for f in faces]).reshape(-1, 4, 4))  # fmt: skip
        tmp.replace(cached)
    return faces, cached


def load_avatar(path: Path, model_path: Path, cache_dir: Path | None = None) -> Avatar:
    """Reads and checks a portrait. Raises CohostError (one line) for a photo that cannot work."""
    image = read_image(path)
    faces, _ = _detect_cached(image, model_path, cache_dir)
    return inspect_faces(path, image, faces)


def inspect_faces(path: Path, image: np.ndarray, faces: list[DetectedFace]) -> Avatar:
    """The checks on the faces found in a photo (largest first)."""
    if not faces:
        raise CohostError(f"no face found in {path}: use a clear, well-lit photo of one face looking at the camera")
    face = faces[0]
    warnings = []
    if len(faces) > 1:
        warnings.append(f"{len(faces)} faces found in {path}; using the largest")
    height = face.height
    if height < MIN_FACE_PX:
        raise CohostError(
            f"face too small in {path}: {height:.0f} px tall, needs at least {MIN_FACE_PX} px; use a closer or larger photo"
        )
    pose = pose_from_matrix(face.transform)
    turn = max(("yaw", pose.yaw), ("pitch", pose.pitch), key=lambda item: abs(item[1]))
    if abs(turn[1]) > MAX_TURN_DEG:
        raise CohostError(
            f"face turned too far in {path} ({turn[0]} {turn[1]:.0f}°, at most {MAX_TURN_DEG:.0f}°): use a photo looking at the camera"
        )
    gap = mouth_gap(face.points)
    if gap >= MOUTH_OPEN_IOD:
        warnings.append(f"the mouth is open in {path} (teeth show): it works, but a closed mouth animates best")
    return Avatar(path, image, face.points, pose, len(faces), gap, warnings)
