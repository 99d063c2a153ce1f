"""Where the streamer's voice comes from: a microphone (sounddevice) or a WAV file, as 16 kHz mono
float32 blocks, resampled from whatever the device or file gives."""

from __future__ import annotations

import queue
import time
import wave
from pathlib import Path
from typing import Protocol

import numpy as np

from engine.errors import CohostError
from engine.media.devices import find_device, selected, sounddevice

RATE = 16_000  # what the VAD and Whisper take
BLOCK_S = 0.032  # one VAD window
READ_TIMEOUT_S = 3.0  # no block for this long: the input is gone (a busy machine delays them by far less)


class DeviceLost(CohostError):
    """The input stopped delivering sound (unplugged, permission withdrawn, the server gone)."""


class SourceEnded(Exception):
    """A file source has played to its end."""


class AudioSource(Protocol):
    name: str

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None:
        """The next block (16 kHz mono float32), or None when there is none yet. Raises DeviceLost
        (nothing for READ_TIMEOUT_S) or SourceEnded."""
        ...

    def close(self) -> None: ...


class Resampler:
    """Linear interpolation from `rate` to RATE, keeping its phase across blocks (for speech into
    Whisper, whose front end low-passes at 8 kHz anyway, it loses nothing that matters)."""

    def __init__(self, rate: int) -> None:
        self.step = rate / RATE
        self._position = 0.0  # where the next output sample falls, in input samples from _last
        self._last = np.zeros(1, np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if self.step == 1.0:
            return block
        joined = np.concatenate([self._last, block])
        positions = np.arange(self._position, len(joined) - 1, self.step)
        out = np.interp(positions, np.arange(len(joined)), joined).astype(np.float32)
        self._position = (positions[-1] + self.step if len(positions) else self._position) - (len(joined) - 1)
        self._last = joined[-1:]
        return out


class MicSource:
    """A named input device; the device's callback hands blocks over through a queue."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.name = device or "the default input"
        self._blocks: queue.Queue[np.ndarray] = queue.Queue(maxsize=round(10 / BLOCK_S))
        self._stream = None
        self._resample: Resampler | None = None
        self.dropped = 0

    def open(self) -> None:
        sd = sounddevice()
        device = find_device(sd, self.device, "input")
        try:
            with selected(device):
                rate = RATE
                try:
                    sd.check_input_settings(device=device.device, channels=1, dtype="float32", samplerate=RATE)
                except sd.PortAudioError:  # the device has its own rate: take that and resample
                    rate = int(sd.query_devices(device.device, "input")["default_samplerate"])
                self._resample = Resampler(rate)
                self._stream = sd.InputStream(samplerate=rate, channels=1, dtype="float32", device=device.device,
                                              blocksize=round(BLOCK_S * rate), callback=self._callback)  # fmt: skip
                self._stream.start()
        except sd.PortAudioError as e:
            raise CohostError(f"cannot listen to audio input {device.label}: {e}") from None

    def _callback(self, data: np.ndarray, _frames: int, _time: object, _status: object) -> None:
        try:
            self._blocks.put_nowait(data[:, 0].copy())
        except queue.Full:  # the listener stalled: the oldest sound is the least useful
            self.dropped += 1

    def read(self) -> np.ndarray | None:
        try:
            block = self._blocks.get(timeout=READ_TIMEOUT_S)
        except queue.Empty:
            # A working input delivers a block every BLOCK_S, silence included: one that goes quiet
            # for seconds has gone away (unplugged, its sound server gone, access withdrawn).
            raise DeviceLost(f"the audio input {self.name!r} stopped delivering sound") from None
        assert self._resample is not None
        return self._resample(block)

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                stream.stop()
                stream.close()
            except Exception:  # a device already gone cannot be stopped twice
                pass


class FileSource:
    """A WAV file (16-bit PCM, any rate, mono or the first channel), in blocks; `realtime` paces
    them like a microphone, else they come as fast as they are read."""

    def __init__(self, path: Path, realtime: bool = False) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.realtime = realtime
        self._audio = np.zeros(0, np.float32)
        self._at = 0
        self._started = 0.0

    def open(self) -> None:
        try:
            with wave.open(str(self.path), "rb") as wav:
                if wav.getsampwidth() != 2:
                    raise CohostError(f"{self.path}: only 16-bit PCM WAV files can be heard")
                rate, channels = wav.getframerate(), wav.getnchannels()
                pcm = np.frombuffer(wav.readframes(wav.getnframes()), np.int16).reshape(-1, channels)[:, 0]
        except (OSError, wave.Error, EOFError) as e:
            raise CohostError(f"cannot read {self.path} as a WAV file: {e}") from None
        self._audio = Resampler(rate)(pcm.astype(np.float32) / 32768)
        self._at = 0
        self._started = time.monotonic()

    def read(self) -> np.ndarray | None:
        if self._at >= len(self._audio):
            raise SourceEnded
        block_len = round(BLOCK_S * RATE)
        if self.realtime:
            time.sleep(max(0.0, self._started + (self._at + block_len) / RATE - time.monotonic()))
        block = self._audio[self._at : self._at + block_len]
        self._at += block_len
        return block

    def close(self) -> None:
        pass
