"""Streaming platform presets (scenes/platforms.toml) and applying one to OBS.

What OBS 29 lets obs-websocket set, and so what apply_platform sets:
- the stream service: rtmp_custom with the server and key (SetStreamServiceSettings);
- the output size and frame rate (SetVideoSettings; the canvas is left alone, and never upscaled);
- in Simple output mode with the x264 encoder, the profile's basic.ini keys that SimpleOutput::Update()
  reads when the stream starts: SimpleOutput VBitrate and ABitrate, UseAdvanced=true so that it also
  reads Preset (the x264 preset) and x264Settings, where `keyint=<fps × keyframe_s>` gives the
  keyframe interval (simple mode has no keyframe setting of its own).
What it cannot set, and reports as a note instead: in Advanced output mode the encoder's bitrate,
keyframe interval and preset live in the profile's streamEncoder.json, which obs-websocket does not
reach; in Simple mode with a hardware encoder the x264 preset and options do not apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import read_toml
from engine.errors import CohostError, UsageError
from engine.obs.client import ObsRequestFailed
from engine.obs.controller import ObsController

PRESETS_PATH = Path(__file__).resolve().parent.parent / "scenes" / "platforms.toml"


@dataclass(frozen=True)
class PlatformPreset:
    name: str  # the preset's key: twitch, youtube, ...
    title: str
    servers: tuple[str, ...]
    server_required: bool
    width: int
    height: int
    fps: int
    video_kbps: int
    audio_kbps: int
    keyframe_s: int
    x264_preset: str
    key_help: str

    def server(self, override: str = "") -> str:
        """The ingest server: `override` when given, else the preset's default."""
        if override:
            if not override.startswith(("rtmp://", "rtmps://")):
                raise UsageError(f"server must be an rtmp:// or rtmps:// URL, got {override!r}")
            return override
        if self.server_required or not self.servers:
            raise UsageError(f"{self.title} needs a server: pass --server rtmp://... (from {self.key_help})")
        return self.servers[0]


_FIELDS = {f for f in PlatformPreset.__dataclass_fields__ if f != "name"}


def load_presets(path: Path = PRESETS_PATH) -> dict[str, PlatformPreset]:
    raw = read_toml(path, "platform presets")
    presets = {}
    for name, values in raw.items():
        if set(values) != _FIELDS:
            missing, extra = sorted(_FIELDS - set(values)), sorted(set(values) - _FIELDS)
            raise CohostError(f"platform preset [{name}] in {path}: missing {missing}, unknown {extra}")
        presets[name] = PlatformPreset(name=name, **{**values, "servers": tuple(values["servers"])})
    return presets


def get_preset(name: str, path: Path = PRESETS_PATH) -> PlatformPreset:
    presets = load_presets(path)
    if name not in presets:
        raise UsageError(f"unknown platform {name!r}; choose one of: {', '.join(presets)}")
    return presets[name]


@dataclass
class AppliedPlatform:
    """What apply_platform set in OBS, and what it could not (with what the user can do)."""

    server: str
    output_size: tuple[int, int]
    fps: int
    applied: dict[str, str] = field(default_factory=dict)  # "Category/Name" → value, basic.ini keys
    notes: list[str] = field(default_factory=list)


def output_size(canvas: tuple[int, int], height: int) -> tuple[int, int]:
    """The canvas scaled to the preset's height, keeping its aspect (even sizes; never upscaled)."""
    width_c, height_c = canvas
    if height_c <= height:
        return width_c, height_c
    return int(round(width_c * height / height_c / 2)) * 2, height


def _fps(video: dict[str, Any]) -> int:
    return round(int(video["fpsNumerator"]) / max(1, int(video["fpsDenominator"])))


def _with_keyint(options: str, keyint: int) -> str:
    """The user's x264 options with keyint replaced (or added); the others kept."""
    kept = [opt for opt in options.split() if not opt.startswith("keyint=")]
    return " ".join([*kept, f"keyint={keyint}"])


def apply_platform(controller: ObsController, preset: PlatformPreset, server: str, key: str) -> AppliedPlatform:
    """Points OBS's stream at `server` with `key` and applies the preset's output settings (see the
    module doc for what OBS lets us set). Refuses while OBS is streaming: OBS cannot change its video
    settings then."""
    if controller.call("GetStreamStatus")["outputActive"]:
        raise CohostError("OBS is already streaming; run `cohost stream stop` first")
    controller.call(
        "SetStreamServiceSettings",
        streamServiceType="rtmp_custom",
        streamServiceSettings={"server": server, "key": key, "use_auth": False},
    )
    video = controller.call("GetVideoSettings")
    size = output_size((int(video["baseWidth"]), int(video["baseHeight"])), preset.height)
    result = AppliedPlatform(server=server, output_size=size, fps=preset.fps)
    try:
        controller.call(
            "SetVideoSettings", outputWidth=size[0], outputHeight=size[1], fpsNumerator=preset.fps, fpsDenominator=1
        )
    except ObsRequestFailed as e:  # e.g. a recording or the virtual camera is running
        result.output_size, result.fps = (int(video["outputWidth"]), int(video["outputHeight"])), _fps(video)
        result.notes.append(
            f"OBS kept its video settings ({e.comment or 'an output is active'}): set "
            f"{size[0]}x{size[1]} at {preset.fps} fps in OBS → Settings → Video"
        )

    def profile(category: str, name: str) -> str:
        return str(
            controller.call("GetProfileParameter", parameterCategory=category, parameterName=name).get("parameterValue")
            or ""
        )

    def set_profile(category: str, name: str, value: str) -> None:
        controller.call("SetProfileParameter", parameterCategory=category, parameterName=name, parameterValue=value)
        result.applied[f"{category}/{name}"] = value

    mode = profile("Output", "Mode") or "Simple"
    if mode != "Simple":
        result.notes.append(
            f"OBS is in {mode} output mode, whose encoder settings obs-websocket cannot change: set "
            f"{preset.video_kbps} kbps video, keyframe interval {preset.keyframe_s} s and x264 preset "
            f"{preset.x264_preset} in OBS → Settings → Output → Streaming"
        )
        return result
    set_profile("SimpleOutput", "VBitrate", str(preset.video_kbps))
    set_profile("SimpleOutput", "ABitrate", str(preset.audio_kbps))
    encoder = profile("SimpleOutput", "StreamEncoder") or "x264"
    if encoder != "x264":
        result.notes.append(
            f"OBS streams with the {encoder} encoder: its preset and keyframe interval "
            f"({preset.keyframe_s} s) are yours to set in OBS → Settings → Output"
        )
        return result
    set_profile("SimpleOutput", "UseAdvanced", "true")
    set_profile("SimpleOutput", "Preset", preset.x264_preset)
    keyint = result.fps * preset.keyframe_s  # x264 counts the interval in frames
    set_profile("SimpleOutput", "x264Settings", _with_keyint(profile("SimpleOutput", "x264Settings"), keyint))
    return result
