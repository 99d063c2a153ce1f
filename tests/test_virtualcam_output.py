"""The virtualcam output: the voice goes through sounddevice into a real PulseAudio null sink (the
test records the sink's monitor with parec, as OBS's audio capture would), and its latency is
measured from the opened device.

The camera side uses a fake pyvirtualcam backend registered by this test: no virtual camera can run
here (v4l2loopback is a kernel module and this machine has neither it nor a /dev/video device).
That absence is itself tested: asking for the real backend gives the one-line install hint.
"""

from __future__ import annotations

import glob
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import pyvirtualcam

from engine.errors import CohostError
from engine.output.virtualcam import PREFILL_S, VirtualCamOutput
from engine.voice.espeak import EspeakBackend
from tests.harness.pulse import PulseServer

W, H, FPS = 64, 48, 30
# A fresh null sink takes 1-4 s to start consuming (the output drops what piles up meanwhile): the
# test plays silence until the device has taken this much of it from the output and the sink's
# monitor has recorded as much, then the speech. (The monitor records the sink's own silence before
# our stream runs, so it alone does not show the stream is being played.)
SINK_RUNNING_S = 0.5
WARM_UP_LIMIT_S = 20.0


class FakeCamera:
    """pyvirtualcam's backend interface, keeping the frames it is sent."""

    sent: list[np.ndarray] = []

    def __init__(self, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
        self._device = device or "fake0"
        FakeCamera.sent = []

    def send(self, frame: np.ndarray) -> None:
        FakeCamera.sent.append(frame.copy())

    def close(self) -> None:
        pass

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return None


pyvirtualcam.register_backend("fake", FakeCamera)


@pytest.fixture(scope="module")
def pulse_env(pulse: PulseServer) -> Iterator[PulseServer]:  # noqa: F811
    """Points this process's PortAudio/libpulse at the test's PulseAudio server."""
    saved = {key: os.environ.get(key) for key in pulse.env}
    os.environ.update(pulse.env)
    yield pulse
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _record(pulse: PulseServer, path: Path, rate: int) -> subprocess.Popen:
    cmd = ["parec", "-d", "cohost_out.monitor", "--raw", "--format=s16le", f"--rate={rate}", "--channels=1"]
    return subprocess.Popen(cmd, stdout=path.open("wb"), stderr=subprocess.DEVNULL, env={**os.environ, **pulse.env})


def _play_in_real_time(
    output: VirtualCamOutput,
    audio: np.ndarray,
    rate: int,
    first_frame: int = 0,
    until: Callable[[], bool] | None = None,
) -> int:
    """Hands the output one frame and its block per 1/FPS s, as the live engine does, from clock
    frame `first_frame` on: all of `audio`, or (with `until`) silence until it holds. Returns the
    frames written."""
    start, origin = time.monotonic(), first_frame * rate // FPS
    k = 0
    while (k < -(-len(audio) * FPS // rate)) if until is None else not until():
        a, b = (first_frame + k) * rate // FPS, (first_frame + k + 1) * rate // FPS
        block = np.zeros(b - a, np.int16)
        if until is None:
            piece = audio[a - origin : b - origin]
            block[: len(piece)] = piece
        output.write(np.full((H, W, 3), k % 256, np.uint8), block, a)
        k += 1
        time.sleep(max(0.0, start + k / FPS - time.monotonic()))
    return k


def test_voice_reaches_the_null_sink_and_frames_reach_the_camera(pulse_env: PulseServer, tmp_path: Path):
    voice = EspeakBackend("en-us")
    speech = np.concatenate([c.pcm for c in voice.stream("Hello chat, this is your co-host speaking.")])
    rate = voice.sample_rate
    audio = np.concatenate([speech, np.zeros(rate, np.int16)])
    recording = tmp_path / "monitor.raw"
    recorder = _record(pulse_env, recording, rate)
    output = VirtualCamOutput(None, "cohost_out", backend="fake")
    deadline = time.monotonic() + WARM_UP_LIMIT_S
    try:
        output.open(W, H, FPS, rate)
        warm_up = _play_in_real_time(
            output,
            audio,
            rate,
            until=lambda: (
                time.monotonic() > deadline
                or (
                    output.stats()["played_samples"] >= SINK_RUNNING_S * rate
                    and recording.stat().st_size >= 2 * SINK_RUNNING_S * rate
                )
            ),
        )
        # A loaded machine can still stall the sink mid-speech (the output then drops sound, by
        # design): the speech is played again, up to twice, if the output reports a drop during it.
        frame = warm_up
        for _attempt in range(3):
            FakeCamera.sent.clear()
            dropped = output.stats()["dropped_samples"]
            frame += _play_in_real_time(output, audio, rate, first_frame=frame)
            stats = output.stats()
            if stats["dropped_samples"] == dropped:
                break
    finally:
        output.close()
        recorder.terminate()
        recorder.wait(timeout=10)
    print(f"virtualcam audio latency {output.latency_ms:.1f} ms, {stats}, after {warm_up / FPS:.1f} s of warm-up")
    assert PREFILL_S * 1000 < output.latency_ms < 1000
    assert len(FakeCamera.sent) == -(-len(audio) * FPS // rate)
    assert FakeCamera.sent[5].size == H * W * 3 and np.all(FakeCamera.sent[5] == 5)  # RGB, as written
    heard = np.fromfile(recording, np.int16).astype(np.float64)
    # The speech is there: the recording matches it, sample for sample, at some delay.
    said = speech.astype(np.float64)
    n = len(heard) + len(said)
    correlation = np.fft.irfft(np.fft.rfft(heard, n) * np.conj(np.fft.rfft(said, n)), n)
    delay = int(np.argmax(correlation))
    window = heard[delay : delay + len(said)]
    assert len(window) == len(said)
    similarity = float(window @ said / np.sqrt((window @ window) * (said @ said)))
    assert similarity > 0.9


def test_unknown_audio_device_says_how_to_create_one(pulse_env: PulseServer):
    output = VirtualCamOutput(None, "no_such_sink", backend="fake")
    with pytest.raises(CohostError, match="no audio output device 'no_such_sink'.*module-null-sink") as caught:
        output.open(W, H, FPS, 22050)
    assert "\n" not in str(caught.value)


def test_unset_audio_device_is_a_one_line_error():
    with pytest.raises(CohostError, match="live.audio_device") as caught:
        VirtualCamOutput(None, "", backend="fake").open(W, H, FPS, 22050)
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(bool(glob.glob("/dev/video*")), reason="a video device exists here")
def test_missing_virtual_camera_says_what_to_install(pulse_env: PulseServer):
    output = VirtualCamOutput(None, "cohost_out")  # the platform's real backend: v4l2loopback
    with pytest.raises(CohostError, match="no virtual camera.*v4l2loopback") as caught:
        output.open(W, H, FPS, 22050)
    assert "\n" not in str(caught.value)
