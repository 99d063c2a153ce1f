"""The stream output: an MPEG-TS over loopback UDP whose picture and sound carry the engine's clock.
What the test receives is exactly what an OBS Media Source would read from the port; it is decoded
with PyAV and with the ffmpeg CLI (Debian's FFmpeg, the libraries OBS itself links)."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from engine.face.animator import Animator
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer
from engine.live.clock import SampleClock
from engine.live.engine import LiveEngine
from engine.media.decode import read_av
from engine.output.stream import StreamOutput
from engine.voice.espeak import EspeakBackend
from tests.av_probe import brightest, click, onset

W, H = 320, 180
RATE = 22050
TOLERANCE_S = 0.005


class UdpCapture:
    """Listens on a free loopback port and keeps every datagram, in order, as one TS byte stream."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)  # nothing lost to bursts
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.data = bytearray()
        self.datagrams: list[int] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._receive)
        self._thread.start()

    def _receive(self) -> None:
        while True:
            try:
                packet = self.sock.recv(65536)
            except TimeoutError:
                if self._done.is_set():  # asked to stop, and nothing more arrived for a while
                    return
                continue
            self.data.extend(packet)
            self.datagrams.append(len(packet))

    def save(self, path: Path) -> Path:
        """Stops listening once what is in flight has arrived, and writes the stream to `path`."""
        self._done.set()
        self._thread.join()
        self.sock.close()
        path.write_bytes(bytes(self.data))
        return path


def _send(capture: UdpCapture, fps: int, seconds: float, flash_frame: int | None = None) -> dict:
    """Writes `seconds` of black frames and silence to a StreamOutput, block by block on the sample
    clock; with `flash_frame`, that frame is white and a click starts at its sample."""
    clock = SampleClock(RATE, fps)
    frames = round(seconds * fps)
    total = clock.frame_sample(frames)
    audio = (
        click(RATE, total, clock.frame_sample(flash_frame)) if flash_frame is not None else np.zeros(total, np.int16)
    )
    out = StreamOutput(capture.port)
    out.open(W, H, fps, RATE)
    for k in range(frames):
        start, stop = clock.block(k)
        out.write(np.full((H, W, 3), 255 if k == flash_frame else 0, np.uint8), audio[start:stop], start)
    out.close()
    return out.stats()


def _ffmpeg(path: Path, *args: str) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), *args, "-"], capture_output=True, check=True
    ).stdout


def _ffprobe(path: Path, *args: str) -> str:
    return subprocess.run(
        ["ffprobe", "-v", "error", *args, str(path)], capture_output=True, check=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def flash_stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[int]]:
    capture = UdpCapture()
    stats = _send(capture, 30, 3.0, flash_frame=40)
    return capture.save(tmp_path_factory.mktemp("ts") / "flash.ts"), stats, capture.datagrams


def test_flash_and_click_at_one_clock_sample_line_up_when_decoded_by_pyav(flash_stream):
    path, _, _ = flash_stream
    decoded = read_av(path)
    flash = decoded.frame_times[brightest(decoded.frames)]
    heard = decoded.audio.start + onset(decoded.audio.samples) / decoded.audio.sample_rate
    print(f"A/V offset decoded from the TS by PyAV: {(heard - flash) * 1000:+.2f} ms")
    assert flash - decoded.frame_times[0] == pytest.approx(40 / 30, abs=1e-4)
    assert abs(heard - flash) <= TOLERANCE_S


def test_flash_and_click_line_up_when_decoded_by_the_ffmpeg_that_obs_uses(flash_stream):
    path, _, _ = flash_stream
    times = [
        float(t)
        for t in _ffprobe(
            path, "-select_streams", "v", "-show_entries", "frame=pts_time", "-of", "default=nw=1:nk=1"
        ).split()
    ]
    gray = np.frombuffer(
        _ffmpeg(path, "-map", "0:v", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray"), np.uint8
    )
    flash = times[brightest(gray.reshape(-1, H, W))]
    audio_start = float(
        _ffprobe(
            path, "-select_streams", "a", "-show_entries", "stream=start_time", "-of", "default=nw=1:nk=1"
        ).split()[0]
    )
    pcm = np.frombuffer(_ffmpeg(path, "-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "48000"), np.int16)
    heard = audio_start + onset(pcm) / 48000
    print(f"A/V offset decoded from the TS by the ffmpeg CLI: {(heard - flash) * 1000:+.2f} ms")
    assert abs(heard - flash) <= TOLERANCE_S


def test_stream_is_h264_and_opus_in_mpegts_in_whole_ts_packets(flash_stream):
    path, stats, datagrams = flash_stream
    with av.open(str(path)) as container:
        assert sorted(s.codec_context.name for s in container.streams) == ["h264", "opus"]
    assert max(datagrams) == 1316 and all(size % 188 == 0 for size in datagrams)
    assert stats["frames_sent"] == 90 and stats["frames_skipped"] == 0


def test_decoded_frames_carry_the_engine_clock_at_a_fractional_samples_per_frame_rate(tmp_path):
    """24 fps at 22050 Hz: 918.75 samples a frame, so frame k is stamped at sample floor(k·918.75)."""
    capture = UdpCapture()
    _send(capture, 24, 2.0)
    decoded = read_av(capture.save(tmp_path / "24.ts"))
    clock = SampleClock(RATE, 24)
    expected = np.array([round(clock.frame_sample(k) * 90000 / RATE) for k in range(48)]) / 90000
    assert len(decoded.frame_times) == 48
    assert np.allclose(decoded.frame_times - decoded.frame_times[0], expected, atol=1e-9)
    audio = decoded.audio
    audio_end = audio.start + len(audio.samples) / audio.sample_rate
    assert audio_end - decoded.frame_times[0] == pytest.approx(clock.frame_sample(48) / RATE, abs=0.011)


def test_decoded_picture_is_the_rendered_picture_within_the_encoders_loss(tmp_path, config):
    """The x264 settings keep the picture: an idle and then a speaking face, rendered and streamed
    frame by frame, decode to a luma PSNR of at least 45 dB against what was sent, in every frame
    (the keyframe and the P-frames after it). Measured: 49.2 dB at worst (CRF 20, used before: 45.7)."""
    avatar = load_portrait(config)
    renderer = Renderer(avatar.image, avatar.landmarks, (W, H))
    chunk = next(EspeakBackend("en-us").stream("Hello there, chat."))
    animator = Animator(30, chunk.sample_rate)
    animator.add_speech(chunk, chunk.sample_rate)  # idle for a second, then speaking
    clock = SampleClock(chunk.sample_rate, 30)
    capture = UdpCapture()
    out = StreamOutput(capture.port)
    out.open(W, H, 30, chunk.sample_rate)
    frame, sent = renderer.base.copy(), []
    for k in range(60):
        renderer.render_into(frame, animator.pose_at(k))
        sent.append(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)[:H].astype(np.float64))
        start, stop = clock.block(k)
        out.write(frame, np.zeros(stop - start, np.int16), start)
    out.close()
    with av.open(str(capture.save(tmp_path / "picture.ts"))) as container:
        decoded = [f.to_ndarray(format="yuv420p")[:H] for f in container.decode(video=0)]
    assert len(decoded) == 60
    psnr = np.array([10 * np.log10(255**2 / np.mean((d - s) ** 2)) for d, s in zip(decoded, sent)])
    print(f"luma PSNR of the stream: min {psnr.min():.1f} dB, mean {psnr.mean():.1f} dB")
    assert psnr.min() >= 45.0


def test_engine_streams_its_clock_and_voice(tmp_path, config):
    """The live engine into a StreamOutput: every tick becomes one decoded frame, and the voice is heard."""
    avatar = load_portrait(config)
    renderer = Renderer(avatar.image, avatar.landmarks, (W, H))
    capture = UdpCapture()
    voice = EspeakBackend("en-us")
    with LiveEngine(renderer, voice, [StreamOutput(capture.port)], fps=30, realtime=False) as engine:
        engine.say("Hello from the stream.")
        engine.run_frames(90)
    decoded = read_av(capture.save(tmp_path / "engine.ts"))
    assert len(decoded.frames) == 90
    assert np.allclose(np.diff(decoded.frame_times), 1 / 30, atol=1e-4)
    assert np.abs(decoded.audio.samples).max() > 0.1
