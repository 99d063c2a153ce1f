"""The native path end to end, all real: obs_plugin/ built with cmake against Debian's libobs and
installed into a headless OBS's own HOME, and `cohost live` (a subprocess, as a streamer runs it)
with [live] outputs = ["plugin"] and a transparent background feeding it over the Unix socket."""

from __future__ import annotations

import base64
import io
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.config import load_config, update_user_config
from engine.face.landmarks import FaceLandmarker
from engine.obs.sources import PLUGIN_AVATAR, SUBTITLES
from engine.obs_plugin_build import install, missing_tools
from tests.harness.obs import ObsProcess, ObsRequestError
from tests.harness.obs_plugin import obs_plugin_module  # noqa: F401 (a fixture, found by name)
from tests.harness.process import free_port, log_tail, spawn, stop_group, wait_until
from tests.test_live_obs_e2e import Live, _items_named, _wait_for_text, speech_through_rtmp_in_sync

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="needs cmake, a C compiler and libobs-dev (.ci/run)")


@pytest.fixture(scope="module")
def plugin_obs(tmp_path_factory, obs_plugin_module):  # noqa: F811
    home = tmp_path_factory.mktemp("obs-plugin-home")
    install(obs_plugin_module, home / ".config" / "obs-studio")
    with ObsProcess(home, free_port(), canvas=(640, 360, 30)) as obs:
        yield obs


@dataclass
class Engine:
    """`cohost live` into the plugin, started (again) on demand with the same config."""

    config_path: Path
    home: Path
    live: Live | None = None

    def start(self) -> Live:
        log = self.home / f"live-{time.monotonic_ns()}.log"
        env = {**os.environ, "HOME": str(self.home)}
        proc = spawn([sys.executable, "-m", "engine", "live", "--config", str(self.config_path)], log, env=env)
        wait_until(lambda: "control API" in log.read_text() or proc.poll() is not None, 90, "cohost live to start")
        assert proc.poll() is None, log_tail(log)
        config = load_config(self.config_path)
        self.live = Live(
            proc, self.config_path, self.home, log, f"http://127.0.0.1:{config.api.port}", config.api.token
        )
        return self.live


@pytest.fixture(scope="module")
def engine(plugin_obs, tmp_path_factory):
    home = tmp_path_factory.mktemp("cohost-plugin-home")
    config_path = home / "config.toml"
    update_user_config(
        {
            "obs": {"port": plugin_obs.ws_port, "password": "", "duck_sources": []},
            "live": {"outputs": ["plugin"], "plugin_socket": str(home / "cohost.sock"), "background": "transparent"},
            "api": {"port": free_port()},
            "render": {"width": 640, "height": 360},
        },
        config_path,
    )
    engine = Engine(config_path, home)
    engine.start()
    yield engine
    if engine.live is not None:
        stop_group(engine.live.proc, sig=signal.SIGINT, timeout=20)


def _picture(obs, source: str = PLUGIN_AVATAR) -> np.ndarray:
    """What OBS shows of `source`; one black pixel while it has no picture yet (OBS refuses then)."""
    try:
        shot = obs.call("GetSourceScreenshot", sourceName=source, imageFormat="png")["imageData"]
    except ObsRequestError:
        return np.zeros((1, 1, 3), np.uint8)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(shot.split(",", 1)[1]))).convert("RGB"))


def _frames_change(obs, looks: int = 6) -> bool:
    """Whether the source's picture moves over about a second (the idle face sways and breathes)."""
    first = _picture(obs)
    for _ in range(looks):
        time.sleep(0.2)
        picture = _picture(obs)
        if picture.shape == first.shape and np.abs(picture.astype(int) - first).max() > 8:
            return True
    return False


def test_the_face_shows_in_obs_through_the_plugin_and_the_subtitles_follow(engine, plugin_obs, face_model):
    wait_until(lambda: _items_named(plugin_obs, PLUGIN_AVATAR) == 1, 30, "the plugin's source in the scene")
    wait_until(lambda: _picture(plugin_obs).max() > 0, 30, "a picture from the engine")
    faces = FaceLandmarker(face_model).detect(_picture(plugin_obs))
    assert len(faces) == 1 and faces[0].height > 0.3 * 360  # the co-host's face, filling the picture
    live = engine.live
    live.request("POST", "/say", {"text": "Hello from the plugin path. This is the second sentence."})
    _wait_for_text(plugin_obs, SUBTITLES, lambda text: "second" in text, "the second sentence's subtitle")
    wait_until(lambda: not live.request("GET", "/status")["speaking"], 30, "the co-host to finish")


def test_the_engine_killed_mid_sentence_and_restarted_is_picked_up_with_no_obs_restart(engine, plugin_obs):
    obs_pid = plugin_obs.pid
    wait_until(lambda: _frames_change(plugin_obs), 30, "live frames through the plugin")
    live = engine.live
    live.request("POST", "/say", {"text": "A long sentence that is cut in the middle by the engine dying suddenly."})
    wait_until(lambda: live.request("GET", "/status")["speaking"], 30, "the co-host to start speaking")
    live.proc.send_signal(signal.SIGKILL)
    live.proc.wait(10)
    time.sleep(1.0)
    assert not _frames_change(plugin_obs)  # the last picture stays while the engine is gone
    engine.start()
    wait_until(lambda: _frames_change(plugin_obs), 30, "the source to reconnect and move again")
    assert plugin_obs.pid == obs_pid and plugin_obs.call("GetVersion")
    inputs = [i["inputName"] for i in plugin_obs.call("GetInputList")["inputs"]]
    assert inputs.count(PLUGIN_AVATAR) == 1 and _items_named(plugin_obs, PLUGIN_AVATAR) == 1


def test_speech_reaches_viewers_through_the_plugin_and_rtmp_in_sync(engine, plugin_obs, rtmp, face_model):  # noqa: F811
    speech_through_rtmp_in_sync(engine.live, plugin_obs, rtmp, face_model)


def test_a_transparent_co_host_shows_the_source_below_it_around_the_head(engine, plugin_obs, face_model):
    scene = load_config(engine.config_path).obs.scene
    blue = 0xFFFF0000  # OBS colours are ABGR
    if "Backdrop" not in [i["inputName"] for i in plugin_obs.call("GetInputList")["inputs"]]:
        plugin_obs.call("CreateInput", sceneName=scene, inputName="Backdrop", inputKind="color_source_v3",
                        inputSettings={"color": blue, "width": 640, "height": 360})  # fmt: skip
    backdrop = plugin_obs.call("GetSceneItemId", sceneName=scene, sourceName="Backdrop")["sceneItemId"]
    plugin_obs.call("SetSceneItemIndex", sceneName=scene, sceneItemId=backdrop, sceneItemIndex=0)  # below all
    wait_until(lambda: _picture(plugin_obs, scene)[5, 5].tolist() == [0, 0, 255], 30, "the backdrop behind the co-host")
    picture = _picture(plugin_obs, scene)
    face = FaceLandmarker(face_model).detect(picture)
    assert len(face) == 1  # the co-host stands over it
    x0, y0, x1, y1 = (round(v) for v in face[0].box)
    blue_px = np.all(np.abs(picture.astype(int) - [0, 0, 255]) < 30, axis=2)
    assert blue_px[: (y0 + y1) // 2, : max(1, x0 - 40)].mean() > 0.9  # beside the head: the source below
    assert blue_px[y0:y1, x0:x1].mean() < 0.05  # the face itself is opaque
