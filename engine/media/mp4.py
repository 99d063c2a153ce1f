"""MP4 writer: H.264 video and AAC mono audio on one sample-exact clock.

Video frame k is stamped k/fps and audio sample n is stamped n/sample_rate. The AAC encoder emits
1024 priming samples ahead of the first real one; FFmpeg's encoder gives its first packet the
negative pts −1024 and the MP4 muxer turns that into an edit list (media_time = 1024), so players
(ffmpeg, PyAV, browsers) skip the priming and hear sample n at exactly n/sample_rate. The packets'
timestamps must therefore reach the muxer untouched; tests/test_mp4.py checks the alignment by
decoding the file.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from engine.errors import CohostError

X264_OPTIONS = {"preset": "veryfast", "crf": "20"}
AAC_BIT_RATE = 64_000  # mono speech; AAC-LC is transparent for a TTS voice well below this
_AUDIO_CHUNK = 8192  # samples per AudioFrame handed to the encoder (it re-blocks to 1024)


class Mp4Writer:
    """Writes RGB frames and int16 mono PCM, in any interleaving, to an MP4 (H.264 + AAC).

    At close the shorter stream is extended (silence, or the last frame repeated) so both end
    together. Use as a context manager; if the block raises, the partial file is removed.
    """

    def __init__(self, path: Path, width: int, height: int, fps: int, sample_rate: int) -> None:
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            # yuv420p subsamples chroma 2x2, so x264 refuses odd sizes.
            raise CohostError(f"video size must be positive and even, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height, self.fps, self.sample_rate = width, height, fps, sample_rate
        if not self.path.parent.is_dir():
            raise CohostError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        try:
            self._out = av.open(str(self.path), "w", format="mp4", options={"movflags": "+faststart"})
        except (OSError, av.FFmpegError) as e:
            raise CohostError(f"cannot write {self.path}: {_reason(e)}") from None
        self._video = self._out.add_stream("libx264", rate=fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = dict(X264_OPTIONS)
        self._audio = self._out.add_stream("aac", rate=sample_rate)
        self._audio.layout = "mono"
        self._audio.bit_rate = AAC_BIT_RATE
        self._frames = 0
        self._samples = 0
        self._last_frame: np.ndarray | None = None
        self._closed = False

    @property
    def frames_written(self) -> int:
        return self._frames

    @property
    def samples_written(self) -> int:
        return self._samples

    def write_frame(self, rgb: np.ndarray) -> None:
        """Appends one frame (uint8, height x width x 3, RGB) at time frames_written / fps."""
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 frame of shape {(self.height, self.width, 3)}, got {rgb.dtype} {rgb.shape}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._frames
        frame.time_base = Fraction(1, self.fps)
        self._mux(self._video.encode(frame))
        self._frames += 1
        self._last_frame = rgb

    def write_audio(self, pcm: np.ndarray) -> None:
        """Appends int16 mono samples; sample n of the whole stream plays at n / sample_rate."""
        if pcm.ndim != 1 or pcm.dtype != np.int16:
            raise ValueError(f"expected 1-D int16 PCM, got {pcm.dtype} {pcm.shape}")
        for start in range(0, len(pcm), _AUDIO_CHUNK):
            chunk = np.ascontiguousarray(pcm[start : start + _AUDIO_CHUNK])
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
            frame.sample_rate = self.sample_rate
            frame.pts = self._samples
            frame.time_base = Fraction(1, self.sample_rate)
            self._mux(self._audio.encode(frame))
            self._samples += len(chunk)

    def close(self) -> None:
        """Evens out the stream lengths, flushes both encoders and finishes the file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pad_to_equal_length()
            self._mux(self._video.encode(None))
            self._mux(self._audio.encode(None))
            self._out.close()
        except BaseException:
            self._abort()
            raise

    def _pad_to_equal_length(self) -> None:
        # Video needs at least one frame; the end time is the later of the two streams, rounded up
        # to a whole frame, and the audio then fills exactly that span (to the nearest sample).
        frames = max(self._frames, -(-self._samples * self.fps // self.sample_rate), 1)
        samples = (2 * frames * self.sample_rate + self.fps) // (2 * self.fps)
        last = self._last_frame
        if last is None:
            last = np.zeros((self.height, self.width, 3), np.uint8)
        while self._frames < frames:
            self.write_frame(last)
        if samples > self._samples:
            self.write_audio(np.zeros(samples - self._samples, np.int16))

    def _mux(self, packets: list[av.Packet]) -> None:
        try:
            self._out.mux(packets)
        except (OSError, av.FFmpegError) as e:
            raise CohostError(f"cannot write {self.path}: {_reason(e)}") from None

    def _abort(self) -> None:
        self._closed = True
        try:
            self._out.close()
        except (OSError, av.FFmpegError):
            pass  # the file is being discarded; the original error is the one to report
        if self.path.is_file():  # never a device or pipe the user named as output
            self.path.unlink()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        elif not self._closed:
            self._abort()


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e)
