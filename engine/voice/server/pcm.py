"""A voice server's streamed audio as int16 samples: raw PCM at the rate the protocol states, or a
WAV header followed by raw PCM (GPT-SoVITS streams so, as may an OpenAI-compatible server asked for
"wav"), whose own rate and channel count then win.

A streamed WAV header is written before the length is known, so its sizes are placeholders (0):
they are ignored, and everything after the "data" chunk's header is audio until the body ends.
"""

from __future__ import annotations

import struct

import numpy as np

from engine.voice.server.http import ServerError

_WAVE_PCM, _WAVE_EXTENSIBLE = 1, 0xFFFE


class PcmDecoder:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._channels = 1
        self._pending = b""
        self._in_audio = False

    def feed(self, data: bytes) -> np.ndarray:
        """The whole samples that `data` completes (none while a WAV header is still arriving)."""
        self._pending += data
        if not self._in_audio:
            if len(self._pending) < 4:
                return np.zeros(0, np.int16)
            if self._pending.startswith(b"RIFF") and not self._read_header():
                return np.zeros(0, np.int16)
            self._in_audio = True
        frame = 2 * self._channels
        usable = len(self._pending) - len(self._pending) % frame
        samples = np.frombuffer(self._pending[:usable], "<i2")
        self._pending = self._pending[usable:]
        if self._channels > 1:
            samples = samples.reshape(-1, self._channels).mean(axis=1)
        return samples.astype(np.int16)

    def _read_header(self) -> bool:
        """Takes the header off the pending bytes once it is all there (False: not yet)."""
        head = self._pending
        if len(head) >= 12 and head[8:12] != b"WAVE":
            raise ServerError("it sent a RIFF file that is not WAV")
        offset = 12
        while len(head) >= offset + 8:
            kind, size = head[offset : offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
            if kind == b"data":
                self._pending = head[offset + 8 :]
                return True
            if len(head) < offset + 8 + size:
                return False
            if kind == b"fmt ":
                tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, offset + 8)
                if tag not in (_WAVE_PCM, _WAVE_EXTENSIBLE) or bits != 16:
                    raise ServerError(f"it sent WAV audio that is not 16-bit PCM (format {tag}, {bits} bits)")
                self._channels, self.rate = max(1, channels), rate
            offset += 8 + size + (size & 1)  # chunks are padded to an even length
        return False
