"""Decode a media file the way a player presents it: RGB frames and mono audio on one clock.

Times are seconds from the file's start (like the ffmpeg CLI, which shifts every stream by the
container's start time). libavformat applies MP4 edit lists and the decoder drops the AAC priming
samples they mark, so timestamps here are presentation times, not raw packet times.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from engine.errors import CohostError


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32 mono, full scale = 1.0
    sample_rate: int
    start: float  # presentation time of samples[0], seconds


@dataclass(frozen=True)
class DecodedAV:
    frames: list[np.ndarray]  # uint8 RGB, height x width x 3
    frame_times: np.ndarray  # float64 presentation time of each frame, seconds
    fps: float  # the video stream's nominal rate
    audio: DecodedAudio


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except (OSError, av.FFmpegError) as e:
        raise CohostError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _origin(container: av.container.InputContainer) -> float:
    return container.start_time / av.time_base if container.start_time is not None else 0.0


class VideoReader:
    """Iterates a file's frames lazily as (time in seconds, RGB uint8 array)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._container = _open(self.path)
        if not self._container.streams.video:
            self._container.close()
            raise CohostError(f"{self.path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 0.0

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        origin = _origin(self._container)
        for frame in self._container.decode(self._stream):
            yield frame.time - origin, frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_audio(path: Path) -> DecodedAudio:
    """The first audio stream as float32 mono (channels averaged), placed by its timestamps.

    Each decoded frame is written at its own pts, so gaps become silence as a player would play
    them; the result is cut at the stream's declared end, which drops the encoder's trailing
    padding.
    """
    with _open(Path(path)) as container:
        if not container.streams.audio:
            raise CohostError(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        origin = _origin(container)
        pieces: list[tuple[float, np.ndarray]] = []
        for frame in container.decode(stream):
            pieces.append((frame.time - origin, _mono_float(frame)))
        rate = stream.codec_context.sample_rate
        declared_end = None
        if stream.duration is not None:
            stream_start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            declared_end = stream_start - origin + float(stream.duration * stream.time_base)
    if not pieces:
        return DecodedAudio(np.zeros(0, np.float32), rate, 0.0)
    start = min(t for t, _ in pieces)
    offsets = [round((t - start) * rate) for t, _ in pieces]
    total = max(o + len(x) for o, (_, x) in zip(offsets, pieces))
    if declared_end is not None:
        total = min(total, max(0, round((declared_end - start) * rate)))
    samples = np.zeros(total, np.float32)
    for offset, (_, x) in zip(offsets, pieces):
        n = max(0, min(len(x), total - offset))
        samples[offset : offset + n] = x[:n]
    return DecodedAudio(samples, rate, start)


def _mono_float(frame: av.AudioFrame) -> np.ndarray:
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T  # packed: one row of interleaved samples
    if data.dtype == np.uint8:
        data = (data.astype(np.float32) - 128) / 128
    elif data.dtype.kind == "i":
        data = data.astype(np.float32) / (np.iinfo(data.dtype).max + 1)
    return data.astype(np.float32).mean(axis=0)


def read_av(path: Path) -> DecodedAV:
    """All frames and the audio of a file; for long files iterate a VideoReader instead."""
    with VideoReader(path) as video:
        times, frames = [], []
        for t, rgb in video:
            times.append(t)
            frames.append(rgb)
        fps = video.fps
    return DecodedAV(frames, np.array(times, np.float64), fps, read_audio(path))
