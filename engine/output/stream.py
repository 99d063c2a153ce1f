"""The `stream` output: picture and voice muxed into one MPEG-TS stream over loopback UDP, which an
OBS Media Source (ffmpeg_source, `input_format` mpegts) plays.

Both streams are stamped from the engine's sample clock: a frame shown at sample s has pts
s * 90000 / sample_rate (the 90 kHz MPEG-TS clock) and the audio starting there has pts s (in
1/sample_rate), so they cannot drift apart however long the stream runs.

Codecs, chosen for the least delay into OBS:
- H.264 (libx264 ultrafast + zerolatency: no B-frames, no lookahead, so a frame leaves the encoder
  as soon as it goes in), a keyframe every second so a Media Source that (re)starts shows a picture
  within a second, SPS/PPS repeated with every keyframe.
- Opus (libopus, restricted low delay, 10 ms frames): its first packet leaves after one engine
  block, where AAC holds back 2048 samples (93 ms at 22.05 kHz) — and the Media Source holds the
  picture until the sound arrives. Opus runs at 48 kHz; the encoder resamples the voice. The
  encoder's priming (120 samples) is stamped with negative pts, so the decoder's first real sample
  lands on the engine's sample 0: there is no container edit list in MPEG-TS, and none is needed.
  tests/test_stream_output.py checks this by decoding what was sent.

Encoding and sending run on their own thread. If they fall behind real time (a starved CPU), video
frames are skipped (their audio is still sent, so the sound never breaks) and counted in stats().
"""

from __future__ import annotations

import logging
import time
from collections import deque
from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np

from engine.errors import CohostError
from engine.output.base import KEY_COLOR, Output, rgb
from engine.output.worker import OutputWorker
from engine.stats import p50_p95

log = logging.getLogger(__name__)

TS_CLOCK = 90_000
PACKET_SIZE = 1316  # seven 188-byte TS packets: one UDP datagram under a 1500-byte MTU
# Constant QP, not CRF: CRF makes x264 downscale and cost-estimate every frame to choose its QP,
# a third of its time (3.2 -> 2.1 ms a 720p idle frame). QP 14 keeps CRF 20's picture: on the
# default avatar at 720p the same mean PSNR (50.9 vs 51.3 dB idle, 50.8 vs 50.3 speaking), a better
# worst frame (50.6 vs 47.3 dB: CRF spends less on the frames before a keyframe), no more bits
# (2.6-3.3 Mbit/s). tests/test_stream_output.py holds every frame to 45 dB.
X264_OPTIONS = {"preset": "ultrafast", "tune": "zerolatency", "qp": "14", "threads": "1"}
OPUS_OPTIONS = {"application": "lowdelay", "frame_duration": "10"}
OPUS_RATE = 48_000
AUDIO_BIT_RATE = 64_000
MAX_LATE_S = 0.2  # a frame this late for its wall-clock time is not encoded: the encoder catches up
QUEUE_S = 1.0  # frames waiting for the encoder before write() waits too (only faster-than-real-time writers)
STATS_FRAMES = 300


class StreamOutput(Output):
    name = "stream"

    def __init__(self, port: int, host: str = "127.0.0.1", *, key_color: tuple[int, int, int] = KEY_COLOR) -> None:
        self.host, self.port = host, port
        self.key_color = key_color  # behind the person, when frames carry alpha
        self._container: av.container.OutputContainer | None = None
        self._worker: OutputWorker | None = None
        self._encode_ms: deque[float] = deque(maxlen=STATS_FRAMES)
        self._payload_bytes = 0
        self._frames_sent = 0
        self._frames_skipped = 0
        self._behind_reported = False
        self._anchor: tuple[float, int] | None = None  # (monotonic time, sample) of the first write

    @property
    def url(self) -> str:
        return f"udp://{self.host}:{self.port}?pkt_size={PACKET_SIZE}"

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        self.fps, self.sample_rate = fps, sample_rate
        try:
            self._container = av.open(self.url, "w", format="mpegts")
        except (OSError, av.FFmpegError) as e:
            raise CohostError(
                f"cannot stream to {self.host}:{self.port}: {getattr(e, 'strerror', None) or e}"
            ) from None
        video = self._container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = Fraction(1, TS_CLOCK)
        video.codec_context.gop_size = fps
        # The frames are converted with BT.601 limited-range coefficients (OpenCV's I420); say so, or
        # a player guesses BT.709 for HD sizes and shifts the colours.
        video.codec_context.colorspace = av.video.reformatter.Colorspace.ITU601
        video.codec_context.color_range = av.video.reformatter.ColorRange.MPEG
        video.options = dict(X264_OPTIONS)
        audio = self._container.add_stream("libopus", rate=OPUS_RATE)
        audio.layout = "mono"
        audio.bit_rate = AUDIO_BIT_RATE
        audio.options = dict(OPUS_OPTIONS)
        self._video, self._audio = video, audio
        self._worker = OutputWorker("cohost-stream", self._encode, max(1, round(QUEUE_S * fps)))

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        assert self._worker is not None, "open() first"
        if self._anchor is None:
            self._anchor = (time.monotonic(), sample)
        yuv = cv2.cvtColor(rgb(frame, self.key_color), cv2.COLOR_RGB2YUV_I420)  # a copy: the engine reuses `frame`
        self._worker.put((yuv, pcm.copy(), sample))

    def stats(self) -> dict[str, Any]:
        encode_p50, encode_p95 = p50_p95(self._encode_ms)
        return {
            "frames_sent": self._frames_sent,
            "frames_skipped": self._frames_skipped,
            "encode_ms_p50": encode_p50,
            "encode_ms_p95": encode_p95,
            "payload_bytes": self._payload_bytes,
        }

    def close(self) -> None:
        if self._container is None:
            return
        try:
            if self._worker is not None:
                self._worker.close()
            self._mux(self._container, self._video.encode(None))
            self._mux(self._container, self._audio.encode(None))
        finally:
            self._container.close()
            self._container = None

    def _late(self, sample: int) -> bool:
        assert self._anchor is not None
        started, first = self._anchor
        late = time.monotonic() - (started + (sample - first) / self.sample_rate) > MAX_LATE_S
        if late:
            self._frames_skipped += 1
            if not self._behind_reported:
                self._behind_reported = True
                log.warning("stream encoder is behind real time: skipping video frames (lower render size or fps)")
        return late

    def _encode(self, item: tuple[np.ndarray, np.ndarray, int]) -> None:
        yuv, pcm, sample = item
        assert self._container is not None
        began = time.perf_counter()
        if not self._late(sample):
            picture = av.VideoFrame.from_numpy_buffer(yuv, format="yuv420p")  # no copy: x264 copies it in
            picture.pts = (sample * TS_CLOCK + self.sample_rate // 2) // self.sample_rate
            picture.time_base = Fraction(1, TS_CLOCK)
            self._mux(self._container, self._video.encode(picture))
            self._frames_sent += 1
        sound = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        sound.sample_rate = self.sample_rate
        sound.pts = sample
        sound.time_base = Fraction(1, self.sample_rate)
        self._mux(self._container, self._audio.encode(sound))
        self._encode_ms.append((time.perf_counter() - began) * 1000)

    def _mux(self, container: av.container.OutputContainer, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._payload_bytes += packet.size
        container.mux(packets)
