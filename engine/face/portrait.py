"""The portrait the co-host wears: the configured (or given) photo, found in the model cache when
it is the default, with its landmarks (and, for a transparent background, its cut-out) cached by
the image's hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.config import Config
from engine.face.avatar import Avatar, load_avatar
from engine.face.segmentation import person_alpha
from engine.models import cache_root, resolve


def load_portrait(config: Config, photo: str | None = None) -> Avatar:
    """The configured (or given) portrait, checked, with landmarks from the cache when known."""
    face_model = resolve("face_landmarker", config.models).files["model"]
    choice = photo or config.avatar.photo
    path = resolve("avatar/default", config.models).files["image"] if choice == "default" else Path(choice).expanduser()
    return load_avatar(path, face_model, cache_root(config.models) / "landmarks")


def load_cutout(config: Config, avatar: Avatar) -> np.ndarray:
    """The person's alpha in the avatar's photo, from the cache when known."""
    segmenter = resolve("segmenter", config.models).files["model"]
    return person_alpha(avatar.image, avatar.landmarks, segmenter, cache_root(config.models) / "segmentation")
