"""Face landmarks (MediaPipe FaceLandmarker, 478 points) in pixel coordinates."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import CohostError

# Silence MediaPipe's C++ start-up chatter (it writes to stderr before any Python logging exists).
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class DetectedFace:
    points: np.ndarray  # (478, 3) float32: x, y in pixels; z in pixels, same scale as x
    transform: np.ndarray  # (4, 4) face pose matrix from the canonical face model

    @property
    def box(self) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 of the landmarks."""
        x, y = self.points[:, 0], self.points[:, 1]
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())

    @property
    def height(self) -> float:
        x0, y0, x1, y1 = self.box
        return y1 - y0


class FaceLandmarker:
    """Finds faces in RGB images. `video=True` tracks across frames (timestamps must increase)."""

    def __init__(self, model_path: Path, *, video: bool = False, max_faces: int = 4) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        if not Path(model_path).is_file():
            raise CohostError(f"face model not found at {model_path}: run python3 install.py")
        mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)),
            running_mode=mode,
            num_faces=max_faces,
            output_facial_transformation_matrixes=True,
        )
        self._video = video
        self._impl = vision.FaceLandmarker.create_from_options(options)

    def detect(self, rgb: np.ndarray, timestamp_ms: int = 0) -> list[DetectedFace]:
        """Faces in the image, largest first."""
        import mediapipe as mp

        h, w = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self._video:
            result = self._impl.detect_for_video(image, timestamp_ms)
        else:
            result = self._impl.detect(image)
        faces = []
        for i, marks in enumerate(result.face_landmarks):
            pts = np.array([(m.x * w, m.y * h, m.z * w) for m in marks], dtype=np.float32)
            matrix = (
                np.array(result.facial_transformation_matrixes[i], dtype=np.float32)
                if result.facial_transformation_matrixes
                else np.eye(4, dtype=np.float32)
            )
            faces.append(DetectedFace(points=pts, transform=matrix))
        faces.sort(key=lambda f: -f.height)
        return faces

    def close(self) -> None:
        # MediaPipe raises from __del__ at interpreter exit unless closed explicitly.
        self._impl.close()

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
