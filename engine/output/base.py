"""The interface every live output implements (stream into OBS, virtual camera + audio device, file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class AudioRoute:
    """How an output's sound reaches OBS when it travels apart from its picture: played to an audio
    device that an OBS input captures."""

    device: str
    latency_ms: float  # from the engine handing a block over to its sound being played
    capture_hint: str  # the OBS input that captures `device`, on this platform


class Output(Protocol):
    """Receives, once per video frame, the frame and the audio that plays during it.

    `sample` is the position of the block's first audio sample on the engine's clock (samples since
    the engine started); the frame is shown at that same instant. Both streams are stamped from it.
    Outputs subclass it for the optional abilities' defaults.
    """

    name: str

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None: ...

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None: ...

    def close(self) -> None: ...

    def audio_route(self) -> AudioRoute | None:
        """Where the sound goes apart from the picture, once open; None when both travel together
        (one stream, one file), so there is nothing to line up in OBS."""
        return None
