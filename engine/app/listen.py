"""`cohost listen`: what the co-host hears, printed live (partials as they change, each utterance
once it ends), from the microphone or a WAV file; `cohost devices`: the audio devices to name."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TextIO

from engine.app.hearing import build_listener
from engine.config import Config
from engine.hearing.audio_in import FileSource
from engine.hearing.listener import Heard
from engine.media.devices import device_names, sounddevice


class _Printer:
    """Partials rewrite one terminal line; a final transcript ends it."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()

    def speech_started(self) -> None:
        pass

    def speech_ended(self) -> None:
        pass

    def heard(self, heard: Heard) -> None:
        if not heard.final:
            if self.tty:
                self.out.write(f"\r\033[K… {heard.text}")
                self.out.flush()
            return
        self.out.write(("\r\033[K" if self.tty else "") + f"{heard.text}\n")
        self.out.flush()


def run_listen(config: Config, file: Path | None = None, out: TextIO = sys.stdout) -> int:
    ended = threading.Event()
    source = FileSource(file) if file is not None else None
    listener = build_listener(config, _Printer(out), source=source, on_end=ended.set)
    where = str(file) if file is not None else (config.hearing.device or "the default input")
    print(f"cohost listen: {where} ({config.hearing.model}); Ctrl-C stops.", file=sys.stderr, flush=True)
    with listener:
        try:
            while not ended.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        listener.drain()
    return 0


def run_devices(out: TextIO = sys.stdout) -> int:
    sd = sounddevice()
    for direction, key in (("input", "[hearing] device"), ("output", "[live] audio_device")):
        names = device_names(sd, direction)
        print(f"{direction} devices (for {key}):", file=out)
        for name in names:
            print(f"  {name}", file=out)
        if not names:
            print("  none", file=out)
    return 0
