"""The native source (obs_plugin/) in a real, headless OBS 29: built with cmake, installed into OBS's
per-user plugins, fed by a fake engine that sends good streams and every kind of bad one
(PROTOCOL.md). One OBS and one source for the module; each test leaves the source unconnected."""

from __future__ import annotations

import base64
import json
import math
import random
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import websocket

from engine import obs_plugin_build
from engine.errors import CohostError
from engine.output.plugin import AUDIO, BGR, HELLO, REPEAT, RGBA, VIDEO
from tests.harness import ObsProcess, ObsRequestError, free_port
from tests.harness.obs_plugin import (
    FakeEngine,
    Peer,
    audio,
    hello,
    message,
    obs_plugin_module,  # noqa: F401 (a fixture, found by name)
    video,
    video_payload,
)
from tests.harness.process import wait_until

SOURCE = "Co-host"
W, H = 320, 180
RATE = 48000
DROPPED = "[obs-cohost] dropped the engine"
Colour = tuple[int, int, int]  # B, G, R as cv2 decodes it


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OBS's XDG_RUNTIME_DIR, where an empty "socket" setting points."""
    return tmp_path_factory.mktemp("xdg-runtime")


@pytest.fixture(scope="module")
def obs(
    obs_plugin_module: Path,  # noqa: F811
    runtime_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ObsProcess]:
    env = {"XDG_RUNTIME_DIR": str(runtime_dir)}
    process = ObsProcess(tmp_path_factory.mktemp("obs-home"), free_port(), env=env)
    obs_plugin_build.install(obs_plugin_module, process.config_dir)
    with process:
        yield process


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeEngine]:
    with FakeEngine(tmp_path_factory.mktemp("engine") / "cohost.sock") as server:
        yield server


def add_source(obs: ObsProcess, name: str, settings: dict[str, object]) -> None:
    scene = obs.call("GetCurrentProgramScene")["currentProgramSceneName"]
    obs.call("CreateInput", sceneName=scene, inputName=name, inputKind="cohost_source", inputSettings=settings)


@pytest.fixture(scope="module")
def source(obs: ObsProcess, engine: FakeEngine) -> str:
    add_source(obs, SOURCE, {"socket": str(engine.path)})
    return SOURCE


# -- what OBS shows and hears -----------------------------------------------------------------------
def screenshot(obs: ObsProcess, name: str) -> np.ndarray:
    """The source's picture as OBS renders it (BGRA)."""
    data = obs.call("GetSourceScreenshot", sourceName=name, imageFormat="png")["imageData"]
    png = base64.b64decode(data.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)


def centre(obs: ObsProcess, name: str) -> tuple[int, ...] | None:
    """The BGRA pixel at the centre of the source's picture; None while it has none (obs-websocket
    refuses to screenshot a source of size 0)."""
    try:
        image = screenshot(obs, name)
    except ObsRequestError:
        return None
    height, width = image.shape[:2]
    return tuple(int(v) for v in image[height // 2, width // 2])


def shows(obs: ObsProcess, name: str, colour: Colour) -> bool:
    pixel = centre(obs, name)
    return pixel is not None and pixel[3] == 255 and all(abs(a - b) <= 3 for a, b in zip(pixel[:3], colour))


def wait_for_colour(obs: ObsProcess, colour: Colour, name: str = SOURCE) -> None:
    wait_until(lambda: shows(obs, name, colour), 10, f"{name} showing BGR {colour}", log=obs.log_path)


class VolumeMeters:
    """obs-websocket's InputVolumeMeters events: a high-volume subscription that obs-websocket-py
    never asks for, so this is a bare websocket that asks for nothing else."""

    def __init__(self, port: int):
        self._ws = websocket.create_connection(f"ws://127.0.0.1:{port}", timeout=5)
        self._ws.recv()  # Hello (no authentication in this module's OBS)
        self._ws.send(json.dumps({"op": 1, "d": {"rpcVersion": 1, "eventSubscriptions": 1 << 16}}))
        self._ws.recv()  # Identified

    def peak(self, name: str, seconds: float) -> float:
        """The highest peak (linear, 1.0 = full scale) metered for input `name` over `seconds`."""
        highest = 0.0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            event = json.loads(self._ws.recv())["d"]
            for meter in event.get("eventData", {}).get("inputs", []):
                if meter["inputName"] == name:
                    highest = max([highest, *(level[1] for level in meter["inputLevelsMul"])])
        return highest

    def close(self) -> None:
        self._ws.close()


# -- what the fake engine sends ---------------------------------------------------------------------
def solid(pixel_format: int, colour: Colour, width: int = W, height: int = H) -> bytes:
    """A frame of one colour: BGR as it is, RGBA reordered, opaque."""
    blue, green, red = colour
    pixel = bytes([blue, green, red]) if pixel_format == BGR else bytes([red, green, blue, 255])
    return pixel * (width * height)


def greeting() -> bytes:
    """A HELLO whose clock is OBS's (CLOCK_MONOTONIC), so that frames stamped from it show at once."""
    return hello(W, H, clock_ns=time.monotonic_ns())


def tone(seconds: float, frequency: float = 440.0, amplitude: int = 16000) -> bytes:
    count = int(seconds * RATE)
    samples = (round(amplitude * math.sin(2 * math.pi * frequency * i / RATE)) for i in range(count))
    return struct.pack(f"<{count}h", *samples)


def dropped_lines(obs: ObsProcess) -> list[str]:
    return obs.log_lines(DROPPED)


def show_good_frame(obs: ObsProcess, engine: FakeEngine, colour: Colour) -> None:
    """The source connects (again) by itself and shows what a well-behaved engine sends."""
    with engine.accept() as peer:
        peer.send(greeting() + video(BGR, W, H, solid(BGR, colour)))
        wait_for_colour(obs, colour)


# -- the plugin and a good stream -------------------------------------------------------------------
def test_the_plugin_installs_in_obss_per_user_layout(obs_plugin_module: Path) -> None:  # noqa: F811
    module = obs_plugin_module
    assert (module / "bin" / "64bit" / "obs-cohost.so").is_file()
    assert 'CohostSource="Co-host (obs-cohost)"' in (module / "data" / "locale" / "en-US.ini").read_text()


def test_the_transport_parser_passes_its_unit_test(obs_plugin_module: Path) -> None:  # noqa: F811
    done = subprocess.run(
        ["ctest", "--output-on-failure"], cwd=obs_plugin_module.parent.parent, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_headless_obs_loads_the_plugin_and_shows_what_the_engine_sends(
    obs: ObsProcess, engine: FakeEngine, source: str
) -> None:
    assert obs.log_lines("[obs-cohost] loaded")
    assert "cohost_source" in obs.call("GetInputKindList")["inputKinds"]
    with engine.accept() as peer:
        peer.send(greeting() + video(BGR, W, H, solid(BGR, (200, 40, 10))))
        wait_for_colour(obs, (200, 40, 10))
        peer.send(video(RGBA, W, H, solid(RGBA, (20, 180, 250)), sample=1600, sequence=2))
        wait_for_colour(obs, (20, 180, 250))
        # Padding at the end of each row is not part of the picture.
        padded = (solid(BGR, (90, 90, 230), W, 1) + b"\xff" * 8) * H
        peer.send(message(VIDEO, video_payload(BGR, W, H, padded, stride=W * 3 + 8), 3200, 3))
        wait_for_colour(obs, (90, 90, 230))
        assert obs.wait_for_log("[obs-cohost] connected to the engine at").endswith("320x180, 30/1 fps, 48000 Hz")
    # The engine went away: the source keeps its last picture (keep_last_frame's default).
    time.sleep(0.7)
    assert shows(obs, source, (90, 90, 230))


def test_the_engines_sound_reaches_obs(obs: ObsProcess, engine: FakeEngine, source: str) -> None:
    meters = VolumeMeters(obs.ws_port)
    try:
        with engine.accept() as peer:
            clock_ns = time.monotonic_ns()
            peer.send(hello(W, H, clock_ns=clock_ns) + video(BGR, W, H, solid(BGR, (0, 0, 0))))
            assert meters.peak(source, 0.5) < 0.01  # silence before
            now = (time.monotonic_ns() - clock_ns) * RATE // 1_000_000_000
            peer.send(audio(tone(0.5), sample=now) + audio(tone(0.5), sample=now + RATE // 2, sequence=3))
            assert meters.peak(source, 1.5) > 0.3  # amplitude 16000 of 32768
    finally:
        meters.close()


def test_repeat_shows_the_last_picture_again_and_is_ignored_before_any(
    obs: ObsProcess, engine: FakeEngine, source: str
) -> None:
    with engine.accept() as peer:
        clock_ns = time.monotonic_ns()
        peer.send(hello(W, H, clock_ns=clock_ns) + message(REPEAT, sample=0, sequence=1))
        peer.send(video(BGR, W, H, solid(BGR, (10, 250, 10)), sample=1600, sequence=2))
        wait_for_colour(obs, (10, 250, 10))
        for sequence in range(3, 8):
            assert peer.send(message(REPEAT, sample=1600 * sequence, sequence=sequence))
        assert not peer.closed_by_source(0.5)
    assert not [line for line in dropped_lines(obs) if "REPEAT" in line]


def seconds_until_shown(obs: ObsProcess, colour: Colour, since_ns: int, timeout: float = 5.0) -> float:
    while not shows(obs, SOURCE, colour):
        assert time.monotonic_ns() - since_ns < timeout * 1e9, f"BGR {colour} never showed"
        time.sleep(0.01)
    return (time.monotonic_ns() - since_ns) / 1e9


def test_frames_show_at_their_timestamp_plus_the_buffer(obs: ObsProcess, engine: FakeEngine, source: str) -> None:
    obs.call("SetInputSettings", inputName=source, inputSettings={"buffer_ms": 300})
    try:
        with engine.accept() as peer:
            clock_ns = time.monotonic_ns()
            peer.send(hello(W, H, clock_ns=clock_ns) + video(BGR, W, H, solid(BGR, (0, 90, 180))))
            first = seconds_until_shown(obs, (0, 90, 180), clock_ns)
            # Sent now, due one second after the first.
            peer.send(video(BGR, W, H, solid(BGR, (180, 90, 0)), sample=RATE, sequence=2))
            second = seconds_until_shown(obs, (180, 90, 0), clock_ns)
    finally:
        obs.call("SetInputSettings", inputName=source, inputSettings={"buffer_ms": 50})
    assert 0.29 <= first < 0.6
    assert 1.29 <= second < 1.6


# -- what no engine should send ---------------------------------------------------------------------
@dataclass(frozen=True)
class BadInput:
    name: str
    data: bytes
    reason: str  # what the one warning line names
    hang_up: bool = False  # the peer closes (the source cannot tell anything is wrong before that)


PIXELS = solid(BGR, (1, 2, 3))
OK_HELLO = hello(W, H, clock_ns=0)  # 0: mapped to arrival time
BAD_INPUTS = [
    BadInput("random bytes", random.Random(7).randbytes(4096), "wrong magic"),
    BadInput("truncated header then close", OK_HELLO[:10], "closed the connection mid-message", hang_up=True),
    BadInput("payload_size 2^31", OK_HELLO + message(VIDEO, payload_size=2**31), "payload_size 2147483648 over 64 MiB"),
    BadInput("wrong magic", message(HELLO, OK_HELLO[32:], magic=0x32484F43), "wrong magic 0x32484f43"),
    BadInput("wrong version", message(HELLO, OK_HELLO[32:], version=2), "unsupported version 2"),
    BadInput("unknown type", OK_HELLO + message(9), "unknown message type 9"),
    BadInput("VIDEO before HELLO", video(BGR, W, H, PIXELS), "VIDEO before HELLO"),
    BadInput("AUDIO before HELLO", audio(b"\0" * 200), "AUDIO before HELLO"),
    BadInput("a second HELLO", OK_HELLO + OK_HELLO, "a second HELLO"),
    BadInput("HELLO too big", hello(5000, H, clock_ns=0), "HELLO size 5000x180"),
    BadInput("stereo HELLO", hello(W, H, channels=2, clock_ns=0), "HELLO channels 2"),
    BadInput("HELLO of 300 fps", hello(W, H, fps=(300, 1), clock_ns=0), "HELLO frame rate 300/1"),
    BadInput("HELLO payload short", message(HELLO, OK_HELLO[32:-1]), "HELLO payload_size 31"),
    BadInput("VIDEO with wrong width", OK_HELLO + video(BGR, W + 1, H, solid(BGR, (1, 2, 3), W + 1)), "VIDEO size 321x180"),
    BadInput("VIDEO format 3", OK_HELLO + message(VIDEO, struct.pack("<IIII", 3, W, H, W * 3) + PIXELS), "VIDEO format 3"),
    BadInput("stride under the row", OK_HELLO + message(VIDEO, video_payload(BGR, W, H, PIXELS[:-H], W * 3 - 1)), "VIDEO stride 959"),
    BadInput("stride x height mismatch", OK_HELLO + message(VIDEO, video_payload(BGR, W, H, PIXELS[:-1])), "not 16 + stride"),
    BadInput("REPEAT with a payload", OK_HELLO + message(REPEAT, b"\0" * 4), "REPEAT payload_size 4"),
    BadInput("AUDIO of odd size", OK_HELLO + audio(b"\0" * 301), "AUDIO payload_size 301"),
    BadInput("AUDIO over a second", OK_HELLO + message(AUDIO, payload_size=2 * RATE + 2), "AUDIO payload_size 96002"),
]  # fmt: skip
COLOURS = [(30 + 11 * i, 200 - 9 * i, (70 * i) % 256) for i in range(len(BAD_INPUTS))]


@pytest.mark.parametrize(
    ("bad", "colour"), list(zip(BAD_INPUTS, COLOURS, strict=True)), ids=[b.name for b in BAD_INPUTS]
)
def test_garbage_on_the_transport_never_takes_obs_down_and_the_source_reconnects(
    obs: ObsProcess, engine: FakeEngine, source: str, bad: BadInput, colour: Colour
) -> None:
    before = len(dropped_lines(obs))
    with engine.accept() as peer:
        peer.send(bad.data)
        if not bad.hang_up:
            assert peer.closed_by_source(5), "the source kept a connection that broke the protocol"
    assert obs.call("GetVersion")
    show_good_frame(obs, engine, colour)
    new = dropped_lines(obs)[before:]
    assert len(new) == 1 and bad.reason in new[0], new


def test_a_peer_that_stalls_mid_frame_never_blocks_obs(obs: ObsProcess, engine: FakeEngine, source: str) -> None:
    shown = (123, 45, 67)
    show_good_frame(obs, engine, shown)
    before = len(dropped_lines(obs))
    with engine.accept() as peer:
        frame = greeting() + video(BGR, W, H, solid(BGR, (250, 250, 250)))
        peer.send(frame[: len(frame) // 2])
        started = time.monotonic()
        for _ in range(5):
            assert obs.call("GetVersion")
            assert shows(obs, source, shown)  # still the last whole picture
        assert time.monotonic() - started < 3
        assert not peer.closed_by_source(1.0)  # waiting for the rest is allowed
    show_good_frame(obs, engine, (3, 200, 100))
    new = dropped_lines(obs)[before:]
    assert len(new) == 1 and "closed the connection mid-message" in new[0], new


def stalled_source(obs: ObsProcess, engine: FakeEngine, name: str) -> Peer:
    """A second source on `engine`, connected to a peer that sent half a HELLO and nothing more."""
    add_source(obs, name, {"socket": str(engine.path)})
    peer = engine.accept()
    peer.send(greeting()[:40])
    return peer


def quickly(call: Callable[[], object]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def test_removing_a_source_whose_engine_stalls_is_immediate(
    obs: ObsProcess, engine: FakeEngine, tmp_path: Path
) -> None:
    with FakeEngine(tmp_path / "stall.sock") as stalling, stalled_source(obs, stalling, "Stalled co-host") as peer:
        assert quickly(lambda: obs.call("RemoveInput", inputName="Stalled co-host")) < 1
        assert peer.closed_by_source(2), "the destroyed source's reader thread kept the connection"
        assert obs.call("GetVersion")


def test_a_changed_socket_path_reconnects_there(
    obs: ObsProcess, engine: FakeEngine, source: str, tmp_path: Path
) -> None:
    with FakeEngine(tmp_path / "other.sock") as other, engine.accept() as stalled:
        stalled.send(greeting()[:40])
        moved = {"socket": str(other.path)}
        assert quickly(lambda: obs.call("SetInputSettings", inputName=source, inputSettings=moved)) < 1
        assert stalled.closed_by_source(2)
        with other.accept() as peer:
            peer.send(greeting() + video(RGBA, W, H, solid(RGBA, (77, 0, 177))))
            wait_for_colour(obs, (77, 0, 177))
        obs.call("SetInputSettings", inputName=source, inputSettings={"socket": str(engine.path)})
    show_good_frame(obs, engine, (5, 6, 250))


def test_an_empty_socket_setting_means_the_default_path(obs: ObsProcess, runtime_dir: Path) -> None:
    with FakeEngine(runtime_dir / "obs-cohost.sock") as default_engine:
        add_source(obs, "Default co-host", {})
        try:
            with default_engine.accept() as peer:
                peer.send(greeting() + video(BGR, W, H, solid(BGR, (66, 99, 133))))
                wait_for_colour(obs, (66, 99, 133), name="Default co-host")
        finally:
            obs.call("RemoveInput", inputName="Default co-host")


def test_without_keep_last_frame_the_picture_goes_with_the_engine(
    obs: ObsProcess, engine: FakeEngine, source: str
) -> None:
    obs.call("SetInputSettings", inputName=source, inputSettings={"keep_last_frame": False})
    try:
        with engine.accept() as peer:
            peer.send(greeting() + video(BGR, W, H, solid(BGR, (240, 10, 240))))
            wait_for_colour(obs, (240, 10, 240))
        wait_until(lambda: centre(obs, source) in (None, (0, 0, 0, 0)), 5, "the picture cleared")
    finally:
        obs.call("SetInputSettings", inputName=source, inputSettings={"keep_last_frame": True})
    show_good_frame(obs, engine, (240, 10, 240))


def test_build_errors_name_the_compiler_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "src"
    broken.mkdir()
    (broken / "CMakeLists.txt").write_text("project(broken C)\nadd_library(x MODULE x.c)\n")
    (broken / "x.c").write_text("int x( { return 0; }\n")
    monkeypatch.setattr(obs_plugin_build, "PLUGIN_SOURCE", broken)
    with pytest.raises(CohostError, match=r"(?s)x\.c.*error"):
        obs_plugin_build.build(tmp_path / "build")
