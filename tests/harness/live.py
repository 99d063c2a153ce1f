"""A real live engine, kept light for tests that drive it through the API or OBS."""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from typing import Iterator

from engine.config import Config
from engine.live.engine import LiveEngine
from engine.live.run import FanOut


@contextmanager
def small_live_engine(config: Config) -> Iterator[LiveEngine]:
    """A real, running LiveEngine kept light for tests (espeak voice, 320x180 at 15 fps, no outputs).
    Its events go to `engine.sinks`, a list tests plug their sinks into."""
    small = dataclasses.replace(
        config,
        voice=dataclasses.replace(config.voice, backend="espeak"),
        render=dataclasses.replace(config.render, width=320, height=180, fps=15),
    )
    fan_out = FanOut()
    engine = LiveEngine(small, [], sink=fan_out)
    engine.sinks = fan_out.sinks  # type: ignore[attr-defined]
    engine.start()
    try:
        yield engine
    finally:
        engine.close()


def reset_engine(engine: LiveEngine, timeout: float = 10.0) -> None:
    """Back to an unmuted co-host with nothing queued and nothing being said."""
    engine.set_muted(False)
    while engine.status()["queue"]:
        engine.say_next()
    engine.stop_talking()
    deadline = time.monotonic() + timeout
    while (engine.status()["speaking"] or engine.status()["lines_pending"]) and time.monotonic() < deadline:
        time.sleep(0.05)
