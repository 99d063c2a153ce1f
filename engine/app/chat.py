"""`cohost chat`: talk to the co-host in the terminal; its answers are spoken, rendered and written
to an MP4 as they happen (no OBS needed). Every line typed is a question for the co-host, cleaned
and checked like chat; its answers print as they are spoken. Ctrl-D ends it once the last answer
has been heard."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import TextIO

from engine.app.build import live_engine, with_played
from engine.app.session import conversation_session
from engine.chat.console import ConsoleSource
from engine.config import Config
from engine.live.events import Event, EventKind, FanOut
from engine.output.file import FileOutput
from engine.secrets import install_log_redaction, register_config_secrets

SETTLE_TIMEOUT_S = 120.0  # after Ctrl-D: longest wait for the answers still queued


def run_chat(config: Config, out: Path, stdin: TextIO | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    register_config_secrets(config)
    # Everything typed is answered in turn (console lines skip the cooldown and rate limits).
    config = dataclasses.replace(config, triggers=dataclasses.replace(config.triggers, auto=True))
    name = config.persona.name
    fan_out = FanOut()
    fan_out.sinks.append(_printer(name))
    ended = threading.Event()
    played = with_played(config, fan_out)
    outputs = [FileOutput(out, key_color=config.live.key_color.rgb)] + ([played] if played else [])
    with live_engine(config, outputs, sink=fan_out) as engine:
        engine.start()
        with conversation_session(
            config, engine, fan_out, [ConsoleSource(stdin)], on_source_end=lambda _: ended.set(), played=played
        ) as conversation:
            print(
                f"cohost chat: talking to {name} (brain: {config.brain.backend}), recording {out}. "
                "Type a message; Ctrl-D ends.",
                flush=True,
            )
            while not ended.wait(0.2):
                if engine.error:
                    break
            deadline = time.monotonic() + SETTLE_TIMEOUT_S
            while conversation.status().busy and time.monotonic() < deadline and not engine.error:
                time.sleep(0.1)
            refused = {k: v for k, v in conversation.outcomes.items() if k not in ("queued", "ignored")}
        clock_s = engine.status().clock_s
    if refused:
        print("not answered: " + ", ".join(f"{n} {why}" for why, n in sorted(refused.items())), flush=True)
    print(f"cohost chat: wrote {out} ({clock_s:.1f} s)", flush=True)
    return 0


def _printer(name: str):
    def show(event: Event) -> None:
        if event.kind is EventKind.SUBTITLE:
            print(f"{name}: {event.text}", flush=True)
        elif event.kind is EventKind.HEARD:
            print(f"you (heard): {event.text}", flush=True)

    return show
