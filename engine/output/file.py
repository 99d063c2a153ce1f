"""The `file` output: the live session to an MP4, through the same writer as `cohost say`."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from engine.media.mp4 import Mp4Writer
from engine.output.base import KEY_COLOR, Output, rgb
from engine.output.worker import OutputWorker

QUEUE_FRAMES = 30  # frames waiting for the encoder before the engine waits too


class FileOutput(Output):
    """Mp4Writer stamps frames and samples by their count, which is the engine's clock as long as
    every block arrives once, in order; write() checks that. Encoding runs on its own thread. The
    file is exact rather than live: if the encoder falls behind, the engine waits for it (and its
    real-time loop then drops rendered frames, which the file shows as repeated pictures).
    An earlier session's file is never overwritten: the new one gets the time in its name (unless
    `keep_existing` is False, as for `cohost say --out`, which names the file it writes). Frames with
    alpha are flattened over `key_color`."""

    name = "file"

    def __init__(self, path: Path, *, keep_existing: bool = True, key_color: tuple[int, int, int] = KEY_COLOR) -> None:
        self.path = Path(path)
        self._keep_existing = keep_existing
        self.key_color = key_color
        self._writer: Mp4Writer | None = None
        self._worker: OutputWorker | None = None
        self._next_sample = 0

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        if self._keep_existing:
            self.path = _unused(self.path)
        self._writer = Mp4Writer(self.path, width, height, fps, sample_rate)
        self._worker = OutputWorker("cohost-file", self._encode, QUEUE_FRAMES)
        self._next_sample = 0

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        assert self._worker is not None, "open() first"
        if sample != self._next_sample:
            raise ValueError(
                f"audio block at sample {sample}, expected {self._next_sample}: blocks must tile the clock"
            )
        self._next_sample = sample + len(pcm)
        self._worker.put((frame.copy(), pcm.copy()))  # copies: the engine reuses its buffers

    def close(self) -> None:
        if self._writer is None:
            return
        writer = self._writer
        try:
            if self._worker is not None:
                self._worker.close()
        except BaseException as e:
            writer.__exit__(type(e), e, None)  # an MP4 cut short has no index: remove it
            raise
        finally:
            self._writer = self._worker = None
        writer.close()

    def _encode(self, item: tuple[np.ndarray, np.ndarray]) -> None:
        frame, pcm = item
        assert self._writer is not None
        self._writer.write_frame(rgb(frame, self.key_color))  # here, off the engine's thread
        self._writer.write_audio(pcm)


def _unused(path: Path) -> Path:
    """`path`, or when that exists, the same name with the date and time (and a count if needed)."""
    if not path.exists():
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
    count = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{stamp}-{count}{path.suffix}")
        count += 1
    return candidate
