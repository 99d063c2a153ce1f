"""The listener built from [hearing], feeding the conversation (`cohost live`, `cohost chat --mic`)
or the terminal (`cohost listen`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from engine.config import Config, HearingConfig
from engine.conversation.director import Conversation
from engine.conversation.streamer import StreamerVoice
from engine.hearing.asr import load_transcriber
from engine.hearing.audio_in import AudioSource, MicSource
from engine.hearing.echo import PlayedAudio
from engine.hearing.listener import HearingSink, Listener
from engine.hearing.vad import Endpoint, SileroVad
from engine.hearing.wake import WakeNames
from engine.live.events import EventSink


def heard_languages(config: Config) -> HearingConfig:
    """[hearing], following [persona]: a co-host that answers in more than one language hears them
    all, with the multilingual model, where tiny.en (English only) is configured; one that answers in
    Chinese alone hears Chinese."""
    hearing, languages = config.hearing, config.persona.answer_languages
    if hearing.model != "tiny.en" or languages == ("en",):
        return hearing
    return replace(hearing, model="base", language="auto" if len(languages) > 1 else languages[0])


def build_listener(
    config: Config,
    sink: HearingSink,
    *,
    source: AudioSource | None = None,
    played: PlayedAudio | None = None,
    on_end=None,
) -> Listener:
    """The configured microphone (or `source`), Silero VAD and Whisper. Loading the model raises
    MissingModel (one line naming the install step) when it is not installed."""
    hearing = heard_languages(config)
    endpoint = Endpoint(hearing.vad_threshold, hearing.end_silence_ms, hearing.min_speech_ms, hearing.pre_roll_ms)
    return Listener(
        source or MicSource(hearing.device), SileroVad(),
        load_transcriber(hearing, config.models, [config.persona.name, *config.triggers.names]), endpoint, sink,
        push_to_talk=hearing.mode == "push_to_talk",
        partial_interval_s=hearing.partial_interval_ms / 1000 if hearing.partials else None,
        played=played, on_end=on_end,
    )  # fmt: skip


@contextmanager
def streamer_hearing(
    config: Config,
    conversation: Conversation,
    sink: EventSink,
    played: PlayedAudio | None,
    source: AudioSource | None = None,
) -> Iterator[Listener | None]:
    """The listener feeding `conversation`, running while inside; None when [hearing] is off."""
    if not config.hearing.enabled and source is None:
        yield None
        return
    hearing = config.hearing
    voice = StreamerVoice(conversation, hearing.mode, WakeNames([config.persona.name, *config.triggers.names]),
                          hearing.barge_in, hearing.context_minutes * 60, sink)  # fmt: skip
    listener = build_listener(config, voice, source=source, played=played)
    conversation.push_to_talk_hooks.append(listener.set_push_to_talk)
    conversation.listener_status = listener.status
    with listener:
        yield listener
