"""Audio devices by name, for both directions: the voice played to an output device (virtualcam) and
the streamer's microphone (hearing). PortAudio (sounddevice) lists the devices; on Linux it sees
PulseAudio as one device, `pulse`, so a PulseAudio sink or source is chosen by name through the
PULSE_SINK / PULSE_SOURCE variable that libpulse reads when the stream connects."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from engine.errors import CohostError

Direction = Literal["input", "output"]
_CHANNELS = {"input": "max_input_channels", "output": "max_output_channels"}
_PULSE = {"input": ("sources", "PULSE_SOURCE"), "output": ("sinks", "PULSE_SINK")}


def platform() -> str:
    return "linux" if sys.platform.startswith("linux") else sys.platform


def sounddevice() -> Any:
    try:
        import sounddevice
    except OSError:
        raise CohostError("PortAudio not found: install it (Debian/Ubuntu: apt install libportaudio2)") from None
    return sounddevice


def pulse_names(direction: Direction) -> list[str]:
    """PulseAudio's sinks (output) or sources (input) by name; [] without PulseAudio."""
    try:
        result = subprocess.run(
            ["pactl", "list", "short", _PULSE[direction][0]], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split("\t")[1] for line in result.stdout.splitlines() if line.count("\t") >= 1]


@dataclass(frozen=True)
class Device:
    """A device to open: PortAudio's index or name, and the environment that selects it."""

    device: int | str | None  # None: the system's default
    env: dict[str, str]
    label: str  # what to call it in messages


def device_names(sd: Any, direction: Direction) -> list[str]:
    """Every device of that direction a config may name: PortAudio's, then PulseAudio's."""
    names = [d["name"] for d in sd.query_devices() if d[_CHANNELS[direction]] > 0]
    if "pulse" in names:
        names += [name for name in pulse_names(direction) if name not in names]
    return names


def find_device(sd: Any, name: str, direction: Direction, help_text: str = "") -> Device:
    """The device named `name` (exact, else a case-insensitive part of a PortAudio device's name),
    or on Linux a PulseAudio sink or source of that name, through the `pulse` device. "" is the
    default device. CohostError (one line, with `help_text` or the devices there are) when none."""
    if not name:
        return Device(None, {}, "the default device")
    for rescan in (False, True):
        if rescan:  # PortAudio lists devices once; one created since (a new sink, a cable) needs a rescan
            sd._terminate()
            sd._initialize()
        found = [(i, d["name"]) for i, d in enumerate(sd.query_devices()) if d[_CHANNELS[direction]] > 0]
        for matches in (lambda n: n == name, lambda n: name.lower() in n.lower()):
            for i, device_name in found:
                if matches(device_name):
                    return Device(i, {}, repr(device_name))
        if any(device_name == "pulse" for _, device_name in found) and name in pulse_names(direction):
            return Device("pulse", {_PULSE[direction][1]: name}, repr(name))
    what = "audio input device" if direction == "input" else "audio output device"
    known = ", ".join(repr(n) for n in device_names(sd, direction)) or "none"
    raise CohostError(f"no {what} {name!r}: " + (help_text or f"there are {known} (`cohost devices` lists them)"))


@contextmanager
def selected(device: Device) -> Iterator[None]:
    """The device's environment set while a stream connects (libpulse reads it then), then restored."""
    saved = {key: os.environ.get(key) for key in device.env}
    os.environ.update(device.env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
