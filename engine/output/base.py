"""The interface every live output implements (stream into OBS, virtual camera + audio device, file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

# What an output without alpha shows behind the person when frames carry it ([live] background =
# "transparent"): [live] key_color's default, which OBS's chroma key removes as it does for "key".
KEY_COLOR = (0, 255, 0)


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

    def clock_started(self, sample: int, due_ns: int) -> None:
        """The engine runs on the wall clock from now: `sample` is due at `due_ns` on
        time.monotonic_ns() (CLOCK_MONOTONIC) and each later one 1/sample_rate after it. Not called
        when it runs unpaced (offline rendering, tests); an output that stamps sound and pictures
        with its receiver's clock (the plugin) needs it, since blocks are written ahead of their time,
        and the first one late."""

    def audio_route(self) -> AudioRoute | None:
        """Where the sound goes apart from the picture, once open; None when both travel together
        (one stream, one file), so there is nothing to line up in OBS."""
        return None


def rgb(frame: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """An engine frame as RGB, for an output that cannot carry alpha: an RGBA frame flattened over
    `background` (a new array), an RGB frame as it is (the same array)."""
    if frame.shape[2] == 3:
        return frame
    # OpenCV's saturating uint8 arithmetic: about 3 ms for a 720p frame on one core, a tenth of numpy's.
    alpha = cv2.cvtColor(cv2.extractChannel(frame, 3), cv2.COLOR_GRAY2RGB)
    person = cv2.multiply(cv2.cvtColor(frame, cv2.COLOR_RGBA2RGB), alpha, scale=1 / 255)
    return cv2.add(person, cv2.multiply(cv2.bitwise_not(alpha), (*background, 0), scale=1 / 255))
