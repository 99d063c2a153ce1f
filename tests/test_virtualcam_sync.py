"""The virtualcam output's voice lined up with its picture in a real, headless OBS 29: the OBS input
capturing the voice (a real `pulse_output_capture` of the null sink's monitor, on a real PulseAudio
server) gets the sync offset computed from the latency the output measured on its real sounddevice
stream, keeps it when OBS crashes and comes back, and a missing input is a warning, not a crash.

The picture side uses a fake pyvirtualcam backend registered by this test: no virtual camera can run
here (v4l2loopback is a kernel module and this machine has neither it nor a /dev/video device). The
picture's delay is therefore an estimate (engine/obs/voice_sync.py), not measured here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from engine.obs.controller import ObsController
from engine.obs.voice_sync import sync_separate_voice, voice_sync_offset_ms
from engine.output.virtualcam import VirtualCamOutput
from tests.harness import ObsProcess
from tests.harness.camera import NowhereCamera  # noqa: F401 (registers the "nowhere" camera backend)
from tests.harness.fixtures import OBS_PASSWORD
from tests.harness.process import wait_until
from tests.harness.pulse import PulseServer

VOICE = "Co-host voice"  # what the user named their capture of the voice in OBS
W, H, FPS, RATE = 64, 48, 30, 22050


@pytest.fixture(scope="module")
def voice_input(obs: ObsProcess) -> str:
    obs.call(
        "CreateInput",
        sceneName="Scene",
        inputName=VOICE,
        inputKind="pulse_output_capture",
        inputSettings={"device_id": "cohost_out.monitor"},
    )
    return VOICE


@pytest.fixture(scope="module")
def virtualcam(pulse: PulseServer) -> Iterator[VirtualCamOutput]:  # noqa: F811
    """Open: its sounddevice stream plays into the test's null sink, its latency measured."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in pulse.env.items():  # this process's PortAudio/libpulse → the test's server
            env.setenv(key, value)
        output = VirtualCamOutput(None, "cohost_out", backend="nowhere")
        output.open(W, H, FPS, RATE)
        assert playing_to(pulse, "cohost_out")
        yield output
        output.close()


def playing_to(pulse: PulseServer, sink: str) -> bool:
    """Some stream plays into `sink` now."""
    (index,) = [
        line.split("\t")[0]
        for line in pulse.pactl("list", "short", "sinks").splitlines()
        if line.split("\t")[1] == sink
    ]
    return any(line.split("\t")[1] == index for line in pulse.pactl("list", "short", "sink-inputs").splitlines())


@pytest.fixture
def controller(obs: ObsProcess) -> Iterator[ObsController]:
    with ObsController("127.0.0.1", obs.ws_port, OBS_PASSWORD) as connected:
        yield connected


def sync_offset(obs: ObsProcess, name: str) -> int:
    return int(obs.call("GetInputAudioSyncOffset", inputName=name)["inputAudioSyncOffset"])


def saved_sync_offset(obs: ObsProcess, name: str) -> int:
    """The input's sync offset in the scene collection OBS saved on disk (OBS stores nanoseconds)."""
    (saved,) = (obs.config_dir / "basic" / "scenes").glob("*.json")
    (source,) = [s for s in json.loads(saved.read_text())["sources"] if s["name"] == name]
    return round(source.get("sync", 0) / 1e6)


def test_offset_is_the_pictures_delay_minus_the_voices_within_what_obs_accepts():
    assert voice_sync_offset_ms(100.0, 30) == -67  # one 30 fps frame (33 ms) minus 100 ms: voice advanced
    assert voice_sync_offset_ms(10.0, 30) == 23  # a voice faster than the picture is delayed
    assert voice_sync_offset_ms(100.0, 60) == -83
    assert voice_sync_offset_ms(5000.0, 30) == -950  # OBS's limit


def test_the_voice_inputs_sync_offset_in_obs_is_set_from_the_measured_latency(
    obs: ObsProcess, voice_input: str, virtualcam: VirtualCamOutput, controller: ObsController
):
    print(f"virtualcam voice latency {virtualcam.latency_ms:.1f} ms")
    offset = sync_separate_voice(controller, [virtualcam], voice_input, FPS)
    assert offset == round(1000 / FPS - virtualcam.latency_ms)
    assert offset < 0  # the voice (≥ the 80 ms prefill) is later than the picture: OBS advances it
    assert sync_offset(obs, voice_input) == offset


def test_unset_voice_source_says_what_to_capture_and_changes_nothing(
    obs: ObsProcess,
    voice_input: str,
    virtualcam: VirtualCamOutput,
    controller: ObsController,
    caplog: pytest.LogCaptureFixture,
):
    obs.call("SetInputAudioSyncOffset", inputName=voice_input, inputAudioSyncOffset=0)
    with caplog.at_level(logging.INFO, logger="engine.obs"):
        offset = sync_separate_voice(controller, [virtualcam], "", FPS)
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "virtualcam" in r.getMessage()]
    assert "[obs] voice_source" in line and "monitor of 'cohost_out'" in line and f"{offset:+d} ms" in line
    assert sync_offset(obs, voice_input) == 0
    assert sync_separate_voice(controller, [], "", FPS) is None  # no virtualcam output: nothing to do


def test_a_voice_source_missing_in_obs_is_one_warning_naming_it(
    obs: ObsProcess, virtualcam: VirtualCamOutput, controller: ObsController, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING, logger="engine.obs"):
        sync_separate_voice(controller, [virtualcam], "No such capture", FPS)
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "'No such capture'" in line
    controller.show_subtitle("still here")  # the controller goes on
    assert controller.connected


# Last: it restarts the module's OBS.
def test_after_obs_is_killed_and_restarted_the_offset_is_applied_again(
    obs: ObsProcess, voice_input: str, virtualcam: VirtualCamOutput, controller: ObsController
):
    offset = sync_separate_voice(controller, [virtualcam], voice_input, FPS)
    assert sync_offset(obs, voice_input) == offset
    obs.kill()
    wait_until(lambda: not controller.connected, 10, "the controller noticing OBS is gone")
    # OBS saved the input when it was created, but not the offset set since: the OBS that comes back
    # has the input with its old offset, so the one it shows next was set again by the controller.
    assert saved_sync_offset(obs, voice_input) != offset
    obs.start()
    assert controller.wait_connected(30)
    assert sync_offset(obs, voice_input) == offset
