"""The engine's side of the plugin transport, read back over its real Unix socket by peers that
behave as OBS's source does and as it must be survived when it misbehaves (the plugin itself, in a
real OBS, is tested in test_obs_plugin_transport.py and test_live_obs_plugin.py)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import CohostError
from engine.output.plugin import (
    AUDIO,
    BGR,
    BYE,
    HEADER,
    HELLO,
    HELLO_FIELDS,
    MAGIC,
    REPEAT,
    RGBA,
    VIDEO,
    VIDEO_FIELDS,
    PluginOutput,
)
from tests.harness.process import wait_until

SIZE = (64, 36)
BLOCK = 735  # 22050 Hz at 30 fps


class Reader:
    """A source that reads everything the engine sends until it closes, then parses it."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while chunk := self.sock.recv(1 << 20):
            self.data += chunk

    def messages(self) -> list[tuple[int, int, int, bytes]]:
        """(type, sample, sequence, payload) of every message, checking each header."""
        self.thread.join(10)
        out, at = [], 0
        while at < len(self.data):
            magic, version, kind, size, _, sample, sequence = HEADER.unpack_from(self.data, at)
            assert (magic, version) == (MAGIC, 1)
            out.append((kind, sample, sequence, bytes(self.data[at + 32 : at + 32 + size])))
            at += 32 + size
        return out


def _frame(value: int, channels: int = 3) -> np.ndarray:
    frame = np.zeros((SIZE[1], SIZE[0], channels), np.uint8)
    frame[..., 0] = value  # red
    return frame


@pytest.fixture
def output(tmp_path):
    out = PluginOutput(tmp_path / "cohost.sock")
    out.open(*SIZE, 30, 22050)
    yield out
    out.close()


def test_a_source_gets_hello_then_pictures_and_sound_stamped_with_one_clock_sample_and_repeats_as_repeat(output):
    reader = Reader(output.path)
    wait_until(lambda: output.connected == 1, 5, "the source to connect")
    pcm = np.arange(BLOCK, dtype=np.int16)
    for k, value in enumerate([10, 10, 10, 200]):
        output.write(_frame(value), pcm, k * BLOCK)
    output.close()
    messages = reader.messages()
    assert [m[0] for m in messages] == [HELLO, VIDEO, AUDIO, REPEAT, AUDIO, REPEAT, AUDIO, VIDEO, AUDIO, BYE]
    assert [m[2] for m in messages] == list(range(len(messages)))
    width, height, fps_num, fps_den, rate, channels, clock_ns = HELLO_FIELDS.unpack(messages[0][3])
    assert (width, height, fps_num, fps_den, rate, channels) == (*SIZE, 30, 1, 22050, 1)
    assert abs(clock_ns - time.monotonic_ns()) < 60e9  # CLOCK_MONOTONIC, the clock OBS stamps with
    pictures = [m for m in messages if m[0] in (VIDEO, REPEAT)]
    sounds = [m for m in messages if m[0] == AUDIO]
    assert [m[1] for m in pictures] == [m[1] for m in sounds] == [k * BLOCK for k in range(4)]
    kind, w, h, stride = VIDEO_FIELDS.unpack_from(messages[-3][3])
    pixels = np.frombuffer(messages[-3][3][16:], np.uint8).reshape(h, stride // 3, 3)
    assert (kind, w, h) == (BGR, *SIZE) and pixels[0, 0].tolist() == [0, 0, 200]  # RGB sent as BGR
    assert np.frombuffer(sounds[0][3], "<i2").tolist() == pcm.tolist()


def test_blocks_are_placed_when_the_engines_clock_says_they_are_due_not_when_they_were_written(output):
    """The first block is written late (the first picture is slow to render) and the rest ahead of
    their time; OBS shows each at its time, so the clock sent is the engine's, not the first write's."""
    due_ns = time.monotonic_ns() - 200_000_000  # sample 2 * BLOCK was due 200 ms ago
    output.clock_started(2 * BLOCK, due_ns)
    reader = Reader(output.path)
    wait_until(lambda: output.connected == 1, 5, "the source to connect")
    output.write(_frame(10), np.zeros(BLOCK, np.int16), 2 * BLOCK)
    output.close()
    clock_ns = HELLO_FIELDS.unpack(reader.messages()[0][3])[-1]
    assert clock_ns == due_ns - 2 * BLOCK * 1_000_000_000 // 22050


def test_a_transparent_frame_keeps_its_alpha(output):
    reader = Reader(output.path)
    wait_until(lambda: output.connected == 1, 5, "the source to connect")
    frame = _frame(50, channels=4)
    frame[..., 3] = 128
    output.write(frame, np.zeros(BLOCK, np.int16), 0)
    output.close()
    video = next(m for m in reader.messages() if m[0] == VIDEO)[3]
    kind, _, _, stride = VIDEO_FIELDS.unpack_from(video)
    assert kind == RGBA and stride == SIZE[0] * 4 and video[16:20] == bytes([50, 0, 0, 128])


def test_a_source_that_stops_reading_is_dropped_without_holding_the_engine_up_and_a_new_one_is_served(output):
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(str(output.path))  # connects, then never reads: its socket buffer fills
    wait_until(lambda: output.connected == 1, 5, "the source to connect")
    big = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    for k in range(30 * 8):  # 8 s of frames, written as fast as the loop goes: none of them waits
        big[0, 0, 0] = k % 256  # every frame a new picture
        output.write(big, np.zeros(BLOCK, np.int16), k * BLOCK)
    wait_until(lambda: output.connected == 0, 10, "the stalled source to be dropped")
    reader = Reader(output.path)  # a source that does read is served as before
    wait_until(lambda: output.connected == 1, 5, "a new source to connect")
    output.write(big, np.zeros(BLOCK, np.int16), 240 * BLOCK)
    output.close()
    assert [m[0] for m in reader.messages()][:2] == [HELLO, VIDEO]
    stalled.close()


def test_a_second_engine_on_the_same_socket_is_a_one_line_error_and_a_dead_ones_file_is_replaced(output, tmp_path):
    with pytest.raises(CohostError, match="another co-host engine already serves OBS"):
        PluginOutput(output.path).open(*SIZE, 30, 22050)
    stale = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(stale))
    dead.close()  # the file stays, nobody listens: an engine that was killed
    replacement = PluginOutput(stale)
    replacement.open(*SIZE, 30, 22050)
    assert Reader(stale) and wait_until(lambda: replacement.connected == 1, 5, "a source to connect") is None
    replacement.close()
