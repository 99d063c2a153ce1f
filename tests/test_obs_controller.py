"""ObsController and ObsBridge against a real, headless OBS 29 (obs-websocket 5.1), one per module,
with its audio on a real PulseAudio server."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from engine.colour import Colour
from engine.errors import CohostError
from engine.live.events import Event, EventKind
from engine.obs.bridge import ObsBridge
from engine.obs.controller import ObsController
from engine.obs.sources import AVATAR, HEARD, KEY_FILTER, QUESTION, SUBTITLES, ObsSetup
from tests.harness import ObsProcess, free_port
from tests.harness.fixtures import OBS_PASSWORD
from tests.harness.process import wait_until

SCENE = "Co-host"
GAME_AUDIO = "Game audio"
SETUP = ObsSetup(
    avatar_url="udp://127.0.0.1:47123",
    key_color=Colour(0, 255, 0),
    duck_sources=(GAME_AUDIO, "No such source"),
    duck_db=-12.0,
)


def controller_for(obs: ObsProcess, setup: ObsSetup = SETUP) -> ObsController:
    return ObsController("127.0.0.1", obs.ws_port, OBS_PASSWORD, scene=SCENE, setup=setup)


@pytest.fixture
def controller(obs: ObsProcess) -> Iterator[ObsController]:
    with controller_for(obs) as connected:
        yield connected


@pytest.fixture
def game_audio(obs: ObsProcess) -> str:
    """A real audio input (PulseAudio capture of the null sink's monitor) at a level the user chose."""
    inputs = {i["inputName"] for i in obs.call("GetInputList")["inputs"]}
    if GAME_AUDIO not in inputs:
        obs.call(
            "CreateInput",
            sceneName="Scene",
            inputName=GAME_AUDIO,
            inputKind="pulse_output_capture",
            inputSettings={"device_id": "cohost_out.monitor"},
        )
    obs.call("SetInputVolume", inputName=GAME_AUDIO, inputVolumeDb=-3.5)
    return GAME_AUDIO


def volume(obs: ObsProcess, name: str) -> dict[str, float]:
    return obs.call("GetInputVolume", inputName=name)


def text_of(obs: ObsProcess, source: str) -> str:
    return str(obs.call("GetInputSettings", inputName=source)["inputSettings"]["text"])


def scene_sources(obs: ObsProcess) -> Counter[str]:
    return Counter(item["sourceName"] for item in obs.call("GetSceneItemList", sceneName=SCENE)["sceneItems"])


def key_filter(obs: ObsProcess) -> dict[str, Any]:
    filters = obs.call("GetSourceFilterList", sourceName=AVATAR)["filters"]
    (found,) = [f for f in filters if f["filterName"] == KEY_FILTER]
    return found


def assert_each_source_once(obs: ObsProcess) -> None:
    assert scene_sources(obs) == Counter({AVATAR: 1, SUBTITLES: 1, QUESTION: 1})
    inputs = Counter(i["inputName"] for i in obs.call("GetInputList")["inputs"])
    assert [inputs[name] for name in (AVATAR, SUBTITLES, QUESTION)] == [1, 1, 1]
    filters = [f["filterName"] for f in obs.call("GetSourceFilterList", sourceName=AVATAR)["filters"]]
    assert filters == [KEY_FILTER]


def test_setup_creates_each_source_once_and_a_second_run_adds_nothing(obs: ObsProcess, controller: ObsController):
    assert controller.report is not None
    assert controller.report.text_kind == "text_ft2_source_v2"  # OBS on Linux
    controller.ensure_setup()
    assert controller.ensure_setup().created == []
    with controller_for(obs) as second:  # a second engine start: same sources, no copies
        assert second.report is not None and second.report.created == []
    assert_each_source_once(obs)

    avatar = obs.call("GetInputSettings", inputName=AVATAR)
    assert avatar["inputKind"] == "ffmpeg_source"
    assert avatar["inputSettings"]["input"] == "udp://127.0.0.1:47123"
    assert avatar["inputSettings"]["input_format"] == "mpegts"
    assert avatar["inputSettings"]["is_local_file"] is False
    key = key_filter(obs)
    assert key["filterKind"] == "chroma_key_filter_v2"
    assert key["filterSettings"]["key_color"] == 0xFF00FF00  # #00ff00 as OBS's ABGR
    item = obs.call("GetSceneItemId", sceneName=SCENE, sourceName=AVATAR)["sceneItemId"]
    transform = obs.call("GetSceneItemTransform", sceneName=SCENE, sceneItemId=item)["sceneItemTransform"]
    assert (transform["boundsWidth"], transform["boundsHeight"]) == (1280.0, 720.0)  # sized to the canvas


def test_avatar_follows_the_configured_stream_port(obs: ObsProcess, controller: ObsController):
    moved = ObsSetup(avatar_url="udp://127.0.0.1:47999", key_color=None)
    with controller_for(obs, moved):
        assert obs.call("GetInputSettings", inputName=AVATAR)["inputSettings"]["input"] == "udp://127.0.0.1:47999"
        # background = photo: the key is off, and kept for the user's tuning
        assert key_filter(obs)["filterEnabled"] is False
    controller.ensure_setup()  # back to the module's settings
    assert key_filter(obs)["filterEnabled"] is True
    assert_each_source_once(obs)


def test_subtitle_and_question_reach_the_text_sources(obs: ObsProcess, controller: ObsController):
    controller.show_subtitle("Thanks for the follow!")
    controller.show_question("Who are you?")
    assert text_of(obs, SUBTITLES) == "Thanks for the follow!"
    assert text_of(obs, QUESTION) == "Who are you?"
    png = controller.screenshot(SUBTITLES)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    controller.show_subtitle("")
    assert text_of(obs, SUBTITLES) == ""


def test_ducking_lowers_by_duck_db_and_restores_the_exact_level(
    obs: ObsProcess, controller: ObsController, game_audio: str
):
    before = volume(obs, game_audio)
    controller.duck(True)
    ducked = volume(obs, game_audio)
    assert ducked["inputVolumeDb"] == pytest.approx(before["inputVolumeDb"] - 12.0, abs=0.01)
    controller.duck(True)  # already ducked: not another 12 dB
    assert volume(obs, game_audio) == ducked
    controller.duck(False)
    assert volume(obs, game_audio)["inputVolumeMul"] == before["inputVolumeMul"]


def test_a_level_the_user_moves_while_ducked_is_kept(obs: ObsProcess, controller: ObsController, game_audio: str):
    controller.duck(True)
    obs.call("SetInputVolume", inputName=game_audio, inputVolumeDb=-20.0)
    controller.duck(False)
    assert volume(obs, game_audio)["inputVolumeDb"] == pytest.approx(-20.0, abs=0.01)


def test_a_duck_left_by_a_crashed_engine_is_restored_on_the_next_start(obs: ObsProcess, game_audio: str):
    before = volume(obs, game_audio)
    crashed = controller_for(obs)
    crashed.connect()
    crashed.duck(True)
    crashed.close()  # gone without unducking, as a killed engine would be
    assert volume(obs, game_audio) != before
    with controller_for(obs):
        assert volume(obs, game_audio)["inputVolumeMul"] == before["inputVolumeMul"]


def test_bridge_shows_question_and_subtitles_while_speaking_and_clears_after(
    obs: ObsProcess, controller: ObsController, game_audio: str
):
    before = volume(obs, game_audio)
    bridge = ObsBridge(controller)
    try:
        bridge(Event(EventKind.SPEAKING_STARTED, line_id="1", text="Hi there. Welcome!", question="Is this thing on?"))
        bridge(Event(EventKind.SUBTITLE, line_id="1", text="Hi there."))
        bridge(Event(EventKind.SUBTITLE, line_id="1", text="Welcome!"))
        assert bridge.flush(10)
        assert text_of(obs, QUESTION) == "Is this thing on?"
        assert text_of(obs, SUBTITLES) == "Welcome!"
        assert volume(obs, game_audio)["inputVolumeDb"] == pytest.approx(before["inputVolumeDb"] - 12.0, abs=0.01)
        bridge(Event(EventKind.SPEAKING_ENDED, line_id="1"))
        assert bridge.flush(10)
        assert text_of(obs, QUESTION) == ""
        assert text_of(obs, SUBTITLES) == ""
        assert volume(obs, game_audio)["inputVolumeMul"] == before["inputVolumeMul"]
    finally:
        bridge.close()


def test_connect_names_the_address_and_hides_the_password(obs: ObsProcess):
    with pytest.raises(CohostError) as wrong:
        ObsController("127.0.0.1", obs.ws_port, "not-the-password", setup=None).connect(timeout=3)
    message = str(wrong.value)
    assert f"127.0.0.1:{obs.ws_port}" in message and "Tools → WebSocket Server Settings" in message
    assert "not-the-password" not in message and "\n" not in message

    closed_port = free_port()
    with pytest.raises(CohostError, match=f"cannot reach OBS at 127.0.0.1:{closed_port}"):
        ObsController("127.0.0.1", closed_port, "", setup=None).connect(timeout=1)


# The two OBS crashes come last: they restart the module's OBS.


def test_after_obs_is_killed_and_restarted_the_controller_reconnects_and_the_bridge_catches_up(
    obs: ObsProcess, controller: ObsController
):
    bridge = ObsBridge(controller)
    try:
        obs.kill()
        wait_until(lambda: not controller.connected, 10, "the controller noticing OBS is gone")
        bridge(Event(EventKind.SPEAKING_STARTED, line_id="2", question="Did it crash?"))
        bridge(Event(EventKind.SUBTITLE, line_id="2", text="A stale sentence."))
        bridge(Event(EventKind.SUBTITLE, line_id="2", text="The sentence being spoken now."))
        obs.start()
        assert controller.wait_connected(30)
        assert_each_source_once(obs)  # OBS kept them (it saved its scene collection): no copies
        assert bridge.flush(15)
        assert text_of(obs, SUBTITLES) == "The sentence being spoken now."
        assert text_of(obs, QUESTION) == "Did it crash?"
    finally:
        bridge.close()


def test_sources_lost_with_obs_are_recreated_once_on_reconnect(obs: ObsProcess, controller: ObsController):
    obs.kill()
    # OBS comes back without its scene collection (never saved, or switched): nothing of ours in it.
    for saved in (obs.config_dir / "basic" / "scenes").iterdir():  # the .json and OBS's .bak of it
        saved.unlink()
    wait_until(lambda: not controller.connected, 10, "the controller noticing OBS is gone")
    obs.start()
    assert controller.wait_connected(30)
    assert_each_source_once(obs)
    controller.show_subtitle("Still here.")  # and speech goes on
    assert text_of(obs, SUBTITLES) == "Still here."


# After the restart test: the caption it adds would be one source too many there.
def test_the_streamers_words_show_in_their_caption_as_heard_until_the_co_host_answers(obs: ObsProcess):
    with controller_for(obs, dataclasses.replace(SETUP, heard_caption=True)) as controller:
        bridge = ObsBridge(controller, heard_caption=True)
        try:
            bridge(Event(EventKind.HEARD_PARTIAL, text="Hey Nova what"))
            assert bridge.flush(10)
            assert text_of(obs, HEARD) == "Hey Nova what"
            bridge(Event(EventKind.HEARD, text="Hey Nova, what do you think?", question="yes"))
            assert bridge.flush(10)
            assert text_of(obs, HEARD) == "Hey Nova, what do you think?"
            bridge(Event(EventKind.SPEAKING_STARTED, line_id="1", text="I think so.", question="streamer: Hey Nova"))
            assert bridge.flush(10)
            assert text_of(obs, HEARD) == "" and text_of(obs, QUESTION) == "streamer: Hey Nova"
        finally:
            bridge.close()
