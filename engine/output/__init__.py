"""Where the live co-host goes: `make_outputs` builds the outputs named in [live] outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.config import Config
from engine.output.base import Output


def _plugin(config: Config) -> Output:
    from engine.output.plugin import PluginOutput

    return PluginOutput(config.live.plugin_socket_path)


def _stream(config: Config) -> Output:
    from engine.output.stream import StreamOutput

    return StreamOutput(config.live.stream_port, key_color=config.live.key_color.rgb)


def _virtualcam(config: Config) -> Output:
    from engine.output.virtualcam import VirtualCamOutput

    return VirtualCamOutput(None, config.live.audio_device, key_color=config.live.key_color.rgb)


def _file(config: Config) -> Output:
    from engine.output.file import FileOutput

    return FileOutput(Path(config.live.file).expanduser(), key_color=config.live.key_color.rgb)


OUTPUTS: dict[str, Callable[[Config], Output]] = {
    "plugin": _plugin, "stream": _stream, "virtualcam": _virtualcam, "file": _file,
}  # fmt: skip


def make_outputs(config: Config) -> list[Output]:
    """One output per name in [live] outputs (checked at load), in order; a name given twice counts once."""
    return [OUTPUTS[name](config) for name in dict.fromkeys(config.live.outputs)]
