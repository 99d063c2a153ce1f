"""The `virtualcam` output: frames to a virtual camera (pyvirtualcam) and the voice to a named audio
output device (sounddevice), both of which OBS captures as ordinary sources.

The two travel separate paths, so they arrive with different delays: the voice waits in our buffer
and the device's. `latency_ms` is that audio delay, measured from the opened device; OBS control
sets the audio source's sync offset from it.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from engine.errors import CohostError
from engine.media.devices import find_device, platform, selected, sounddevice
from engine.output.base import KEY_COLOR, AudioRoute, Output, rgb

# pyvirtualcam's backend for each platform: v4l2loopback on Linux, OBS's own virtual camera on
# Windows and macOS.
CAMERA_BACKENDS = {"linux": "v4l2loopback", "win32": "obs", "darwin": "obs"}
CAMERA_HELP = {
    "linux": "install v4l2loopback (apt install v4l2loopback-dkms, then sudo modprobe v4l2loopback exclusive_caps=1)",
    "win32": "install OBS Studio 26 or newer and start its Virtual Camera once",
    "darwin": "install OBS Studio 30 or newer and start its Virtual Camera once",
}
AUDIO_HELP = {
    "linux": "create it with `pactl load-module module-null-sink sink_name=cohost_out`",
    "win32": 'install VB-Cable (VB-Audio Virtual Cable) and use its "CABLE Input"',
    "darwin": 'install BlackHole (brew install blackhole-2ch) and use "BlackHole 2ch"',
}
# How OBS hears that device: the other end of the sink or cable ({device}: [live] audio_device).
CAPTURE_HELP = {
    "linux": 'an "Audio Output Capture (PulseAudio)" of the monitor of {device}',
    "win32": 'an "Audio Input Capture" of the cable\'s recording side ("CABLE Output" for VB-Cable)',
    "darwin": 'an "Audio Input Capture" of {device}',
}
# The device starts playing once this much voice is buffered, so a late frame of the engine never
# leaves it without samples (the engine runs at most ~40 ms ahead, a frame is 33 ms).
PREFILL_S = 0.08
MAX_BUFFER_S = 0.5  # more than this buffered: the device is not keeping up, the oldest sound is dropped
# The device's own buffer. PortAudio's "low" (about 9 ms through ALSA's pulse plugin) underran
# whenever another thread held the GIL or the cores were busy, and the stalls that followed lost
# whole seconds of voice; the extra delay is compensated by OBS's sync offset like the rest.
DEVICE_LATENCY_S = 0.1


def capture_hint(audio_device: str) -> str:
    """Which OBS audio input captures the voice played to `audio_device`, on this platform."""
    return CAPTURE_HELP.get(platform(), "an audio input capturing {device}").format(device=repr(audio_device))


class VirtualCamOutput(Output):
    name = "virtualcam"

    def __init__(
        self,
        device: str | None,
        audio_device: str,
        *,
        backend: str | None = None,
        key_color: tuple[int, int, int] = KEY_COLOR,
    ) -> None:
        self.device = device
        self.audio_device = audio_device
        self.key_color = key_color  # behind the person, when frames carry alpha
        self.backend = backend or CAMERA_BACKENDS.get(platform(), "")
        self.latency_ms = 0.0
        self._camera: Any = None
        self._audio: _AudioOut | None = None

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        import pyvirtualcam

        if not self.audio_device:
            raise CohostError(
                f"virtualcam output needs live.audio_device set to an audio output device: {AUDIO_HELP.get(platform(), '')}"
            )
        try:
            self._camera = pyvirtualcam.Camera(width, height, fps, device=self.device, backend=self.backend)
        except (RuntimeError, KeyError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CohostError(
                f"no virtual camera ({first}): {CAMERA_HELP.get(platform(), 'install a virtual camera')}"
            ) from None
        try:
            self._audio = _AudioOut(self.audio_device, sample_rate)
        except BaseException:
            self._camera.close()
            self._camera = None
            raise
        self.latency_ms = self._audio.latency_ms

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        assert self._camera is not None and self._audio is not None, "open() first"
        self._audio.write(pcm)
        self._camera.send(rgb(frame, self.key_color))

    def audio_route(self) -> AudioRoute:
        return AudioRoute(self.audio_device, self.latency_ms, capture_hint(self.audio_device))

    def stats(self) -> dict[str, Any]:
        audio = self._audio
        return {"latency_ms": self.latency_ms, "underruns": audio.underruns if audio else 0,
                "dropped_samples": audio.dropped if audio else 0, "played_samples": audio.played if audio else 0}  # fmt: skip

    def close(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        if self._camera is not None:
            self._camera.close()
            self._camera = None


class _AudioOut:
    """Plays the engine's blocks through a callback stream fed from a small buffer: writing never
    blocks the engine, and the device's own clock paces the sound."""

    def __init__(self, name: str, sample_rate: int) -> None:
        sd = sounddevice()
        device = find_device(sd, name, "output", AUDIO_HELP.get(platform(), "install a virtual audio cable"))
        self._blocks: deque[np.ndarray] = deque()
        self._offset = 0  # samples of _blocks[0] already played
        self._buffered = 0
        self._lock = threading.Lock()
        self._prefill = round(PREFILL_S * sample_rate)
        self._max = round(MAX_BUFFER_S * sample_rate)
        self._playing = False
        self.underruns = 0
        self.dropped = 0
        self.played = 0
        try:
            with selected(device):
                sd.check_output_settings(device=device.device, channels=1, dtype="int16", samplerate=sample_rate)
                self._stream = sd.OutputStream(samplerate=sample_rate, channels=1, dtype="int16",
                                               device=device.device, latency=DEVICE_LATENCY_S,
                                               callback=self._callback)  # fmt: skip
                self._stream.start()
        except sd.PortAudioError as e:
            raise CohostError(f"cannot play to audio device {name!r}: {e}") from None
        self.latency_ms = (float(self._stream.latency) + PREFILL_S) * 1000

    def write(self, pcm: np.ndarray) -> None:
        with self._lock:
            self._blocks.append(pcm.copy())
            self._buffered += len(pcm)
            if self._buffered > self._max:
                # The device stalled (a sink starting up, a suspended laptop) or runs slow: drop the
                # oldest sound down to the prefill, or the voice would stay that late from now on.
                while self._buffered - (len(self._blocks[0]) - self._offset) >= self._prefill:
                    old = self._blocks.popleft()
                    self._buffered -= len(old) - self._offset
                    self.dropped += len(old) - self._offset
                    self._offset = 0

    def _callback(self, out: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        out.fill(0)
        with self._lock:
            if not self._playing:
                if self._buffered < self._prefill:
                    return
                self._playing = True
            filled = 0
            while filled < frames and self._blocks:
                block = self._blocks[0]
                n = min(frames - filled, len(block) - self._offset)
                out[filled : filled + n, 0] = block[self._offset : self._offset + n]
                filled += n
                self._offset += n
                if self._offset == len(block):
                    self._blocks.popleft()
                    self._offset = 0
            self._buffered -= filled
            self.played += filled
            if filled < frames:  # ran dry: wait for a full prefill again rather than stutter
                self.underruns += 1
                self._playing = False

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()
