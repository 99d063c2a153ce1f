"""A real live engine with its conversation, kept light for tests that drive it through the API or OBS."""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.api.server import ControlApi
from engine.app.build import live_engine
from engine.app.session import conversation_session
from engine.chat.base import ChatSource
from engine.config import Config
from engine.conversation.director import Conversation
from engine.live.events import Event, FanOut


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
    config: Config, queue_path: Path | None = None, sources: list[ChatSource] | None = None
) -> Iterator[Conversation]:
    """A real, running LiveEngine (no outputs) and its Conversation, as `cohost live` wires them, with
    these chat sources; the queue in `queue_path` (default: a temporary file). The engine's events
    go to `conversation.sinks`, a list tests plug their sinks into."""
    with tempfile.TemporaryDirectory(prefix="cohost-queue-") as tmp:
        small = light_config(config, queue_path or Path(tmp) / "queue.sqlite3")
        fan_out = FanOut()
        with live_engine(small, [], sink=fan_out) as engine:
            engine.start()
            with conversation_session(small, engine, fan_out, sources or []) as conversation:
                conversation.sinks = fan_out.sinks  # type: ignore[attr-defined]
                yield conversation


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
