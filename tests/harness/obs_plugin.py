"""The native OBS source (obs_plugin/): built once per test session, installed into a test OBS's
HOME, and fed by a fake engine.

    module = build(tmp / "build")                  # engine.obs_plugin_build: cmake, as install.py --obs
    install(module, obs.config_dir)                # before OBS starts
    with FakeEngine(tmp / "engine.sock") as engine:
        peer = engine.accept()                     # the source connected
        peer.send(hello(320, 180, clock_ns=time.monotonic_ns()) + video(BGR, 320, 180, pixels))

FakeEngine is not the engine's PluginOutput on purpose: the tests need a peer that sends what no
real engine would (random bytes, lies about sizes, half a frame and then silence), byte for byte as
the test says, so it is a bare Unix-socket server with a packer for PROTOCOL.md's messages.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from engine.obs_plugin_build import build
from engine.output.plugin import AUDIO, HEADER, HELLO, HELLO_FIELDS, MAGIC, RGBA, VERSION, VIDEO, VIDEO_FIELDS


@pytest.fixture(scope="session")
def obs_plugin_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin built once per test session, as install.py --obs builds it: its module folder
    (obs-cohost/bin/64bit/obs-cohost.so, obs-cohost/data), inside the build folder ctest runs in."""
    return build(tmp_path_factory.mktemp("obs-plugin-build"))


# -- messages (PROTOCOL.md) ------------------------------------------------------------------------
def message(
    kind: int,
    payload: bytes = b"",
    sample: int = 0,
    sequence: int = 0,
    *,
    magic: int = MAGIC,
    version: int = VERSION,
    payload_size: int | None = None,
) -> bytes:
    """A whole message: header and payload. The keywords let a test lie in the header."""
    size = len(payload) if payload_size is None else payload_size
    return HEADER.pack(magic, version, kind, size, 0, sample, sequence) + payload


def hello(
    width: int,
    height: int,
    *,
    fps: tuple[int, int] = (30, 1),
    sample_rate: int = 48000,
    channels: int = 1,
    clock_ns: int,
) -> bytes:
    fields = HELLO_FIELDS.pack(width, height, fps[0], fps[1], sample_rate, channels, clock_ns)
    return message(HELLO, fields)


def video_payload(pixel_format: int, width: int, height: int, pixels: bytes, stride: int | None = None) -> bytes:
    """VIDEO's payload: its 16-byte description, then `pixels` (stride x height bytes)."""
    row = width * (4 if pixel_format == RGBA else 3)
    return VIDEO_FIELDS.pack(pixel_format, width, height, row if stride is None else stride) + pixels


def video(pixel_format: int, width: int, height: int, pixels: bytes, sample: int = 0, sequence: int = 1) -> bytes:
    return message(VIDEO, video_payload(pixel_format, width, height, pixels), sample, sequence)


def audio(pcm: bytes, sample: int = 0, sequence: int = 2) -> bytes:
    return message(AUDIO, pcm, sample, sequence)


# -- the fake engine -------------------------------------------------------------------------------
class Peer:
    """One accepted connection (one OBS source)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, data: bytes) -> bool:
        """Sends all of `data`; False when the source hung up first (it may reject a message
        before the end of it, and a fuzzing peer does not care)."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def closed_by_source(self, timeout: float) -> bool:
        """Whether the source closes its end within `timeout` s (it never sends anything)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeEngine:
    """A Unix-socket server at `path` in the engine's place; accept() hands the test each connection."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._server: socket.socket | None = None

    def start(self) -> FakeEngine:
        self.path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        server.listen(8)
        self._server = server
        return self

    def accept(self, timeout: float = 10.0) -> Peer:
        """The next connection; raises TimeoutError when no source connects within `timeout` s."""
        assert self._server is not None, "FakeEngine not started"
        self._server.settimeout(timeout)
        try:
            sock, _ = self._server.accept()
        except TimeoutError:
            raise TimeoutError(f"no OBS source connected to {self.path} within {timeout:g} s") from None
        sock.settimeout(None)
        return Peer(sock)

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> FakeEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
