"""One TOML config file: the documented defaults in defaults.toml, overridden by the user's file."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import CohostError

DEFAULTS_PATH = Path(__file__).with_name("defaults.toml")


@dataclass(frozen=True)
class AvatarConfig:
    photo: str


@dataclass(frozen=True)
class VoiceConfig:
    backend: str
    name: str
    espeak_voice: str


@dataclass(frozen=True)
class RenderConfig:
    width: int
    height: int
    fps: int
    av_offset_ms: float


@dataclass(frozen=True)
class ModelsConfig:
    cache_dir: str
    allow_download: bool


@dataclass(frozen=True)
class Config:
    avatar: AvatarConfig
    voice: VoiceConfig
    render: RenderConfig
    models: ModelsConfig


_SECTIONS = {"avatar": AvatarConfig, "voice": VoiceConfig, "render": RenderConfig, "models": ModelsConfig}


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "obs-cohost" / "config.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise CohostError(f"cannot read config {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise CohostError(f"config {path} is not valid TOML: {e}") from None


def load_config(path: Path | None = None) -> Config:
    """Defaults, then the user's file (`path`, or the per-user file when it exists)."""
    merged = _read_toml(DEFAULTS_PATH)
    user_path = path if path is not None else user_config_path()
    if path is not None or user_path.exists():
        user = _read_toml(user_path)
        for section, values in user.items():
            if section not in merged or not isinstance(values, dict):
                raise CohostError(f"config {user_path}: unknown section [{section}]")
            for key, value in values.items():
                if key not in merged[section]:
                    raise CohostError(f"config {user_path}: unknown key {section}.{key}")
                default = merged[section][key]
                if type(value) is not type(default) and not (isinstance(default, float) and isinstance(value, int)):
                    raise CohostError(
                        f"config {user_path}: {section}.{key} must be {type(default).__name__}, got {value!r}"
                    )
                merged[section][key] = value
    return Config(**{name: cls(**merged[name]) for name, cls in _SECTIONS.items()})
