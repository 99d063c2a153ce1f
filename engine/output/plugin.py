"""The co-host straight into OBS: raw frames and PCM over a Unix socket to the obs-cohost source
plugin (obs_plugin/), each stamped with the engine's clock sample; the wire format and why a socket
are in obs_plugin/PROTOCOL.md.

The engine listens; every source in OBS that connects gets the whole stream from the next frame on
(a HELLO first). Each connection has its own sender thread and a short queue: a source that falls
behind loses pictures (never sound), one that stops reading is dropped, and the engine's clock never
waits for either. With no source connected a frame costs nothing but a check.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import CohostError
from engine.output.base import Output
from engine.sockets import shut_down
from engine.stats import p50_p95

log = logging.getLogger(__name__)

MAGIC = 0x31484F43  # b"COH1"
VERSION = 1
HELLO, VIDEO, REPEAT, AUDIO, BYE = 1, 2, 3, 4, 5
RGBA, BGR = 1, 2
HEADER = struct.Struct("<IHHIIQQ")
HELLO_FIELDS = struct.Struct("<IIIIIIQ")
VIDEO_FIELDS = struct.Struct("<IIII")
# Pictures a connection may have waiting: a 2-core machine's OBS reads a 720p frame in a few ms, so
# more than this means it is busy elsewhere; the oldest picture goes (its frame shows the one before).
MAX_PICTURES_WAITING = 3
# Sound a connection may have waiting before it counts as stuck and is dropped.
MAX_SOUND_WAITING_S = 5.0


def message(kind: int, payload: bytes | bytearray = b"", sample: int = 0, sequence: int = 0) -> bytes:
    """One message's header (the payload follows it on the wire)."""
    return HEADER.pack(MAGIC, VERSION, kind, len(payload), 0, sample, sequence)


class PluginOutput(Output):
    name = "plugin"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._server: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._connections: list[_Connection] = []
        self._lock = threading.Lock()
        self._hello = b""
        self._clock_ns: int | None = None
        self._sample_rate = 0
        self._hello_fields: tuple[int, ...] = ()
        self._last: np.ndarray | None = None  # the picture last sent, to send repeats as REPEAT
        self.pictures_sent = 0
        self.repeats_sent = 0

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        self._sample_rate = sample_rate
        self._hello_fields = (width, height, fps, 1, sample_rate, 1)
        self._server = _listen(self.path)
        self._accepting = threading.Thread(target=self._accept, name="cohost-plugin-accept", daemon=True)
        self._accepting.start()
        log.info("plugin output: waiting for OBS's Co-host source on %s", self.path)

    def clock_started(self, sample: int, due_ns: int) -> None:
        self._map_clock(sample, due_ns)

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        if self._clock_ns is None:  # an unpaced engine: the first block is taken as due now
            self._map_clock(sample, time.monotonic_ns())
        with self._lock:
            connections = list(self._connections)
        if not connections:
            self._last = None
            return
        if self._last is not None and np.array_equal(frame, self._last):
            picture = None
            self.repeats_sent += 1
        else:
            picture = _picture(frame)
            self._last = frame.copy()
            self.pictures_sent += 1
        sound = np.ascontiguousarray(pcm, dtype="<i2").tobytes()
        for connection in connections:
            if connection.fresh:
                connection.send(HELLO, self._hello, 0)
                connection.fresh = False
                if picture is None:  # a new connection has no picture to repeat yet
                    picture = _picture(frame)
            if picture is None:
                connection.send(REPEAT, b"", sample)
            else:
                connection.send(VIDEO, picture, sample)
            if sound:
                connection.send(AUDIO, sound, sample)

    def _map_clock(self, sample: int, due_ns: int) -> None:
        """Sample 0's time on CLOCK_MONOTONIC (the clock OBS stamps with), which OBS places every block by."""
        self._clock_ns = due_ns - sample * 1_000_000_000 // self._sample_rate
        self._hello = HELLO_FIELDS.pack(*self._hello_fields, self._clock_ns)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            shut_down(server)  # wakes the accept() under way (closing alone does not, on Linux)
            server.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
            self._accepting = None
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def stats(self) -> dict[str, Any]:
        with self._lock:
            connections = list(self._connections)
        send_p50, send_p95 = p50_p95(ms for c in connections for ms in list(c.picture_send_ms))
        return {
            "pictures_sent": self.pictures_sent,
            "repeats_sent": self.repeats_sent,
            "pictures_dropped": sum(c.pictures_dropped for c in connections),
            # The time a picture waits for the socket: OBS's source not keeping up shows here.
            "send_ms_p50": send_p50,
            "send_ms_p95": send_p95,
        }

    @property
    def connected(self) -> int:
        """Sources connected now."""
        with self._lock:
            return sum(c.alive for c in self._connections)

    def _accept(self) -> None:
        server = self._server
        assert server is not None
        while True:
            try:
                peer, _ = server.accept()
            except OSError:  # closed by close()
                return
            connection = _Connection(peer, self._sample_rate, self._forget)
            with self._lock:
                self._connections.append(connection)
            log.info("plugin output: an OBS source connected (%d now)", self.connected)

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
        log.info("plugin output: an OBS source went away (%d left)", self.connected)


def _listen(path: Path) -> socket.socket:
    """The listening socket at `path`; a file left there by an engine that died is replaced, a live
    engine's is not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)  # nobody listens: stale
        else:
            raise CohostError(f"another co-host engine already serves OBS on {path} ([live] plugin_socket)")
        finally:
            probe.close()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
    except OSError as e:
        server.close()
        raise CohostError(f"cannot listen on {path} for OBS: {e.strerror or e}") from None
    server.listen(4)
    return server


def _picture(frame: np.ndarray) -> bytearray:
    """A VIDEO payload: RGBA as it is (alpha kept), RGB as BGR (OBS has no packed RGB format). The
    pixels are written once, straight into the payload (a 720p frame is 2.7 MB)."""
    height, width, channels = frame.shape
    payload = bytearray(VIDEO_FIELDS.size + frame.size)
    VIDEO_FIELDS.pack_into(payload, 0, RGBA if channels == 4 else BGR, width, height, width * channels)
    pixels = np.frombuffer(payload, np.uint8, offset=VIDEO_FIELDS.size).reshape(frame.shape)
    if channels == 4:
        pixels[:] = frame
    else:
        cv2.cvtColor(frame, cv2.COLOR_RGB2BGR, dst=pixels)
    return payload


class _Connection:
    """One OBS source: its socket and the thread that sends to it."""

    def __init__(self, peer: socket.socket, sample_rate: int, on_end: Callable[[_Connection], None]) -> None:
        self._socket = peer
        self._max_sound = max(1, round(MAX_SOUND_WAITING_S * sample_rate * 2))
        self._on_end = on_end
        self._waiting: deque[tuple[int, bytes, bytes | bytearray, float]] = deque()  # kind, header, payload, queued at
        self._sound_waiting = 0  # bytes of AUDIO in _waiting
        self._changed = threading.Condition()
        self._sequence = 0
        self.fresh = True  # HELLO not sent yet
        self.alive = True
        self.pictures_dropped = 0
        self.picture_send_ms: deque[float] = deque(maxlen=300)  # written by the engine -> in the socket
        self._thread = threading.Thread(target=self._send_all, name="cohost-plugin-send", daemon=True)
        self._thread.start()

    def send(self, kind: int, payload: bytes | bytearray, sample: int) -> None:
        """Queues a message; never waits (the engine's clock calls it)."""
        with self._changed:
            if not self.alive:
                return
            self._waiting.append((kind, message(kind, payload, sample, self._sequence), payload, time.monotonic()))
            self._sequence += 1
            if kind == AUDIO:
                self._sound_waiting += len(payload)
            pictures = [i for i, (k, *_) in enumerate(self._waiting) if k == VIDEO]
            if len(pictures) > MAX_PICTURES_WAITING:
                del self._waiting[pictures[0]]
                self.pictures_dropped += 1
            stuck = self._sound_waiting > self._max_sound
            self._changed.notify()
        if stuck:
            log.warning("plugin output: an OBS source stopped reading; dropped it (it reconnects)")
            self.drop()

    def drop(self) -> None:
        """Ends the connection now, whatever is waiting (a blocked send fails at once)."""
        with self._changed:
            self.alive = False
            self._waiting.clear()
            self._changed.notify()
        shut_down(self._socket)

    def close(self) -> None:
        """The engine stops: what is waiting and a BYE are sent (for up to 2 s), then it ends."""
        with self._changed:
            if self.alive:
                self._waiting.append((BYE, message(BYE, b"", 0, self._sequence), b"", time.monotonic()))
            self.alive = False
            self._changed.notify()
        self._thread.join(timeout=2)
        shut_down(self._socket)
        self._thread.join()
        self._socket.close()

    def _send_all(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting or not self.alive)
                if not self._waiting:
                    break
                kind, header, payload, queued = self._waiting.popleft()
                if kind == AUDIO:
                    self._sound_waiting -= len(payload)
            try:
                self._socket.sendall(header)
                if payload:
                    self._socket.sendall(payload)
            except OSError:
                break
            if kind == VIDEO:
                self.picture_send_ms.append((time.monotonic() - queued) * 1000)
        with self._changed:
            self.alive = False
        shut_down(self._socket)
        self._on_end(self)
