"""The interface every live output implements (stream into OBS, virtual camera + audio device, file)."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Output(Protocol):
    """Receives, once per video frame, the frame and the audio that plays during it.

    `sample` is the position of the block's first audio sample on the engine's clock (samples since
    the engine started); the frame is shown at that same instant. Both streams are stamped from it.
    """

    name: str

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None: ...

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None: ...

    def close(self) -> None: ...
