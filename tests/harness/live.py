"""A real live engine with its conversation, kept light for tests that drive it through the API or OBS."""

from __future__ import annotations

import dataclasses
import json
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.api.server import ControlApi
from engine.app.build import live_engine, with_played
from engine.app.session import conversation_session
from engine.chat.base import ChatSource
from engine.config import Config
from engine.conversation.director import Conversation
from engine.live.events import Event, FanOut
from engine.obs_install import install
from engine.output.base import Output
from tests.harness.obs import ObsProcess
from tests.harness.process import free_port


def light_config(config: Config, queue_path: Path) -> Config:
    """espeak voice, 320x180 at 15 fps, the scripted brain, a queue file of the test's own."""
    return dataclasses.replace(
        config,
        voice=dataclasses.replace(config.voice, backend="espeak"),
        render=dataclasses.replace(config.render, width=320, height=180, fps=15),
        brain=dataclasses.replace(config.brain, backend="scripted"),
        queue=dataclasses.replace(config.queue, path=str(queue_path)),
    )


@contextmanager
def small_conversation(
    config: Config,
    queue_path: Path | None = None,
    sources: list[ChatSource] | None = None,
    *,
    outputs: list[Output] | None = None,
) -> Iterator[Conversation]:
    """A real, running LiveEngine (no outputs, or `outputs`) and its Conversation, as `cohost live`
    wires them, with these chat sources; the queue in `queue_path` (default: a temporary file); the
    listener when `config` enables [hearing]. The engine's events go to `conversation.sinks`, a list
    tests plug their sinks into."""
    with tempfile.TemporaryDirectory(prefix="cohost-queue-") as tmp:
        small = light_config(config, queue_path or Path(tmp) / "queue.sqlite3")
        fan_out = FanOut()
        played = with_played(small, fan_out)
        with live_engine(small, [*(outputs or []), *([played] if played else [])], sink=fan_out) as engine:
            engine.start()
            with conversation_session(small, engine, fan_out, sources or [], played=played) as conversation:
                conversation.sinks = fan_out.sinks  # type: ignore[attr-defined]
                yield conversation


@contextmanager
def obs_with_the_script(
    home: Path, api_port: int, token: str, more_scripts: list[Path] | None = None, env: dict[str, str] | None = None
) -> Iterator[ObsProcess]:
    """A real OBS set up the way a user's is: `install.py --obs` (engine.obs_install) writes the
    websocket settings and the "obs-cohost" collection, which lists obs_script/cohost_obs.py with the
    engine's address and token (plus `more_scripts`); returned once the script reached the engine."""
    obs_config = home / ".config" / "obs-studio"
    obs_config.mkdir(parents=True)
    # A user who has opened OBS once (FirstRun=true: no auto-configuration wizard).
    (obs_config / "global.ini").write_text("[General]\nFirstRun=true\nEnableAutoUpdates=false\n")
    config_path = home / "cohost.toml"
    config_path.write_text(f'[obs]\nport = {free_port()}\n\n[api]\nport = {api_port}\ntoken = "{token}"\n')
    install(config_path, obs_config, obs_version=29, dry_run=False)
    collection_path = obs_config / "basic" / "scenes" / "obs-cohost.json"
    collection = json.loads(collection_path.read_text())
    collection["modules"]["scripts-tool"] += [{"path": str(path), "settings": {}} for path in more_scripts or []]
    collection_path.write_text(json.dumps(collection))
    obs_settings = tomllib.loads(config_path.read_text())["obs"]
    with ObsProcess(home, obs_settings["port"], obs_settings["password"], scene_collection="obs-cohost",
                    write_config=False, env=env) as process:  # fmt: skip
        process.wait_for_log("engine status: connected")
        yield process


@contextmanager
def serving_api(conversation: Conversation, port: int, token: str) -> Iterator[ControlApi]:
    """The control API over `conversation`, its events published to /events clients."""
    api = ControlApi(conversation, "127.0.0.1", port, token)
    api.start()
    conversation.sinks.append(api.publish)  # type: ignore[attr-defined]
    try:
        yield api
    finally:
        conversation.sinks.remove(api.publish)  # type: ignore[attr-defined]
        api.stop()


def reset_engine(conversation: Conversation, timeout: float = 10.0) -> None:
    """Back to an unmuted co-host with nothing queued and nothing being said."""
    conversation.set_muted(False)
    conversation.queue.clear()
    conversation.stop_talking()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = conversation.status()
        if not (status.engine.speaking or status.engine.lines_pending or status.answering):
            return
        time.sleep(0.05)


class Heard:
    """The events of the engine: what was said (subtitles) and when lines ended."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def of(self, kind: str) -> list[Event]:
        with self.cond:
            return [e for e in self.events if e.kind == kind]

    def wait(self, kind: str, count: int = 1, timeout: float = 30.0) -> list[Event]:
        with self.cond:
            assert self.cond.wait_for(lambda: len([e for e in self.events if e.kind == kind]) >= count, timeout), (
                f"fewer than {count} {kind} events"
            )
        return self.of(kind)
