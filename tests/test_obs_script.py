"""The OBS script inside a real, headless OBS, driving a real LiveEngine and its Conversation through the control API.

One OBS for the module, set up the way a user's is: `install.py --obs` (engine.obs_install) writes the
websocket settings and the "obs-cohost" collection, which lists obs_script/cohost_obs.py with the
engine's address and token. The test adds tests/obs_scripts/panel_probe.py beside it, to read the
script's panel (OBS has no request for that). Hotkeys are fired through obs-websocket's TriggerHotkeyByName, which
calls the script exactly as a key press would (press only: OBS sends no release that way).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from engine.api.server import ControlApi
from engine.chat.message import ChatMessage
from engine.conversation.director import Conversation
from tests.harness import ObsProcess, free_port
from tests.harness.live import obs_with_the_script, reset_engine, serving_api, small_conversation
from tests.harness.process import wait_until

TOKEN = "obs-script-test-token-4bT9"
HOTKEYS = [
    "cohost.say_next",
    "cohost.approve",
    "cohost.skip",
    "cohost.stop",
    "cohost.mute",
    "cohost.scene",
    "cohost.push_to_talk",
]
PANEL_PROBE = Path(__file__).with_name("obs_scripts") / "panel_probe.py"
LONG_TEXT = " ".join(f"Here is sentence number {n} of a line that is queued for later." for n in range(1, 13))


@pytest.fixture(scope="module")
def engine(config) -> Iterator[Conversation]:
    with small_conversation(config) as engine:
        yield engine


@pytest.fixture(scope="module")
def api(engine: Conversation) -> Iterator[ControlApi]:
    with serving_api(engine, free_port(), TOKEN) as api:
        yield api


@pytest.fixture(scope="module")
def obs(tmp_path_factory: pytest.TempPathFactory, api: ControlApi) -> Iterator[ObsProcess]:
    with obs_with_the_script(tmp_path_factory.mktemp("obs-home"), api.port, TOKEN, [PANEL_PROBE]) as process:
        yield process


@pytest.fixture
def events(api: ControlApi) -> Iterator[websocket.WebSocket]:
    ws = websocket.create_connection(f"ws://127.0.0.1:{api.port}/events?token={TOKEN}", timeout=20)
    assert json.loads(ws.recv())["kind"] == "hello"
    yield ws
    ws.close()


@pytest.fixture(autouse=True)
def quiet_engine(engine: Conversation) -> Iterator[None]:
    yield
    reset_engine(engine)


def trigger(obs: ObsProcess, hotkey: str) -> None:
    obs.call("TriggerHotkeyByName", hotkeyName=hotkey)


def next_event(
    ws: websocket.WebSocket, matches: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        event = json.loads(ws.recv())
        if matches(event):
            return event
    raise AssertionError(f"no matching event within {timeout} s")


def test_obs_loads_the_script(obs: ObsProcess) -> None:
    assert obs.log_lines("[obs-scripting]: Loaded python script: cohost_obs.py")
    assert obs.log_lines("[Python: cohost_obs.py] loaded; hotkeys: " + ", ".join(HOTKEYS))
    assert not obs.log_lines("Traceback")


def test_the_hotkeys_appear_in_obs(obs: ObsProcess) -> None:
    assert set(HOTKEYS) <= set(obs.call("GetHotkeyList")["hotkeys"])


def test_say_next_hotkey_speaks_the_queued_line_and_stop_hotkey_stops_it(
    obs: ObsProcess, engine: Conversation, events: websocket.WebSocket
) -> None:
    engine.add_line(LONG_TEXT)
    trigger(obs, "cohost.say_next")
    started = next_event(events, lambda e: e["kind"] == "speaking_started")
    assert started["text"] == LONG_TEXT and engine.status().queue == 0
    next_event(events, lambda e: e["kind"] == "subtitle")
    trigger(obs, "cohost.stop")
    ended = next_event(events, lambda e: e["kind"] == "speaking_ended" and e["line_id"] == started["line_id"])
    # Cut: it ended long before twelve sentences could have been spoken (about 4 s each with espeak).
    assert (ended["sample"] - started["sample"]) / engine.engine.sample_rate < 20
    assert engine.status().engine.speaking is False
    obs.wait_for_log(f"say next: speaking line {started['line_id']}")


def test_approve_and_skip_hotkeys_decide_which_questions_are_answered(
    obs: ObsProcess, engine: Conversation, events: websocket.WebSocket
) -> None:
    engine.approve_mode = True
    try:
        assert engine.receive(ChatMessage("hotkeys", "spam", "Nova, buy my followers?")) == "queued"
        assert engine.receive(ChatMessage("hotkeys", "ann", "Nova, who are you?")) == "queued"
        obs.wait_for_log("engine status: connected · idle · 2 queued (2 to approve)")  # polled every 2 s
        trigger(obs, "cohost.skip")
        obs.wait_for_log("skipped question")
        assert [q["user"] for q in engine.questions()] == ["ann"]
        trigger(obs, "cohost.approve")
        started = next_event(events, lambda e: e["kind"] == "speaking_started")
        obs.wait_for_log("approved question")
    finally:
        engine.approve_mode = False
    assert started["question"] == "ann: Nova, who are you?"


def test_mute_hotkey_toggles_the_co_host(obs: ObsProcess, engine: Conversation, events: websocket.WebSocket) -> None:
    trigger(obs, "cohost.mute")
    next_event(events, lambda e: e["kind"] == "muted")
    assert engine.status().engine.muted is True
    obs.wait_for_log("engine status: connected · idle · muted · 0 queued")  # polled every 2 s
    trigger(obs, "cohost_test.show_panel")
    assert obs.wait_for_log("panel (redraw=True): ").endswith("Engine: connected · idle · muted · 0 queued")
    trigger(obs, "cohost.mute")
    next_event(events, lambda e: e["kind"] == "unmuted")
    assert engine.status().engine.muted is False


def test_push_to_talk_hotkey_reaches_the_event_stream(obs: ObsProcess, events: websocket.WebSocket) -> None:
    trigger(obs, "cohost.push_to_talk")
    assert next_event(events, lambda e: e["kind"] == "ptt")["text"] == "down"


def on_gameplay_scene(obs: ObsProcess) -> None:
    if "Gameplay" not in {s["sceneName"] for s in obs.call("GetSceneList")["scenes"]}:
        obs.call("CreateScene", sceneName="Gameplay")
    obs.call("SetCurrentProgramScene", sceneName="Gameplay")


def wait_for_program_scene(obs: ObsProcess, name: str) -> None:
    wait_until(
        lambda: obs.call("GetCurrentProgramScene")["currentProgramSceneName"] == name, 10, f"program scene {name!r}"
    )


def test_scene_hotkey_switches_to_the_co_host_scene_and_back(obs: ObsProcess) -> None:
    on_gameplay_scene(obs)
    trigger(obs, "cohost.scene")
    wait_for_program_scene(obs, "Co-host")
    trigger(obs, "cohost.scene")
    wait_for_program_scene(obs, "Gameplay")


def test_a_hung_engine_never_freezes_obs(obs: ObsProcess, api: ControlApi, engine: Conversation) -> None:
    """Runs last: it leaves the script's worker busy with timeouts for a while."""
    api.stop()
    # A socket that accepts connections and never answers: every call waits for its full timeout.
    hung = socket.socket()
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hung.bind(("127.0.0.1", api.port))
    hung.listen(64)
    try:
        obs.wait_for_log("did not answer within 2 s")
        for _ in range(20):
            trigger(obs, "cohost.say_next")
        # Hotkeys run on OBS's UI thread, and scenes switch there: with 20 presses each waiting 2 s on
        # the engine, a script that called it from that thread would hold the switch up for 40 s.
        on_gameplay_scene(obs)
        trigger(obs, "cohost.scene")
        wait_for_program_scene(obs, "Co-host")
        obs.wait_for_log("say next: dropped, 8 earlier requests still wait for the engine")
    finally:
        hung.close()
        api.start()
    assert obs.running
