"""The transparent background: the person's alpha in a portrait, found once per photo by
MediaPipe's selfie segmenter and cached by the image's hash beside its landmarks.

The segmenter sees the photo squeezed into 256x256; a landscape photo squeezed that way gave a
ghost of the person in the background beside the shoulder, so the photo is first made square by
mirroring its edges, which keeps the person's proportions. The mask is cut where the model is more
sure of the person than not, only the figure holding the face is kept (and the face, opaque, always
is), and the edge is feathered over a couple of pixels, centred on the model's outline so hair
keeps its reach. The model's 256-pixel mask cannot resolve single strands: hair ends as a soft outline.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.face.avatar import image_digest

PERSON_CONFIDENCE = 0.5
FEATHER_SIGMA_PX = 1.5  # Gaussian sigma of the edge, in photo pixels: opaque to clear over ~6 px
CACHE_VERSION = 1


def person_alpha(
    image: np.ndarray, landmarks: np.ndarray, model_path: Path, cache_dir: Path | None = None
) -> np.ndarray:
    """The person's alpha (uint8, 255 opaque) in `image` (RGB), at its size; from the cache when known."""
    cached = cache_dir / f"{image_digest(image)}.v{CACHE_VERSION}.png" if cache_dir else None
    if cached and cached.exists():
        alpha = cv2.imread(str(cached), cv2.IMREAD_GRAYSCALE)
        if alpha is not None and alpha.shape == image.shape[:2]:
            return alpha
    alpha = cut_out(person_confidence(image, model_path), landmarks)
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.png")
        cv2.imwrite(str(tmp), alpha)
        tmp.replace(cached)
    return alpha


def person_confidence(image: np.ndarray, model_path: Path) -> np.ndarray:
    """The segmenter's confidence (float32, 0..1) that each pixel of `image` (RGB) is the person."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    h, w = image.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = cv2.copyMakeBorder(image, top, side - h - top, left, side - w - left, cv2.BORDER_REFLECT_101)
    options = vision.ImageSegmenterOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)),
        output_confidence_masks=True,
        output_category_mask=False,
    )
    # Closed explicitly: MediaPipe raises from __del__ at interpreter exit otherwise.
    with vision.ImageSegmenter.create_from_options(options) as segmenter:
        result = segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(square)))
        confidence = result.confidence_masks[0].numpy_view()
        return confidence.reshape(side, side)[top : top + h, left : left + w].copy()


def cut_out(confidence: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The alpha of the figure that holds the face, from the segmenter's confidence, feathered."""
    face = np.zeros(confidence.shape, np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(landmarks[:, :2]).astype(np.int32)), 1)
    person = (confidence >= PERSON_CONFIDENCE).astype(np.uint8) | face
    # The model can be half sure of a patch of background that looks like skin or clothes.
    count, parts = cv2.connectedComponents(person)
    if count > 2:
        person = (parts == parts[face > 0].max()).astype(np.uint8)
    feathered = cv2.GaussianBlur(person * np.uint8(255), (0, 0), FEATHER_SIGMA_PX)
    # Where the jaw meets the background the feather would start inside the face: it stays opaque.
    return np.maximum(feathered, face * np.uint8(255))
