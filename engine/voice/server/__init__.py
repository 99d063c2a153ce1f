"""TTS servers as voices: an OpenAI-compatible speech API, GPT-SoVITS, CosyVoice and XTTS, each
with the offline voice as its stand-in (voice.py). One module per protocol: what it sends, and the
audio format it gets back."""

from __future__ import annotations

from collections.abc import Callable

from engine.config import VoiceConfig
from engine.voice.base import VoiceBackend
from engine.voice.server.cosyvoice import CosyVoice
from engine.voice.server.gpt_sovits import GptSovits
from engine.voice.server.openai import OpenAiSpeech
from engine.voice.server.protocol import ServerProtocol
from engine.voice.server.voice import ServerVoice
from engine.voice.server.xtts import Xtts

PROTOCOLS: dict[str, Callable[[VoiceConfig], ServerProtocol]] = {
    "openai_tts": OpenAiSpeech,
    "gpt_sovits": GptSovits,
    "cosyvoice": CosyVoice,
    "xtts": Xtts,
}
SERVER_BACKENDS = tuple(PROTOCOLS)


def load_server_voice(config: VoiceConfig, fallback: VoiceBackend) -> ServerVoice:
    """The [voice] backend's server (its settings checked now: CohostError), standing in `fallback`."""
    return ServerVoice(PROTOCOLS[config.backend](config), fallback, config.server_timeout_s)
