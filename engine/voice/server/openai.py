"""The OpenAI speech API, POST {url}/v1/audio/speech, which many local servers speak too
(Kokoro-FastAPI, openedai-speech, LocalAI, Speaches...).

Asked for "pcm", the body is raw 16-bit little-endian mono at 24 kHz (OpenAI's documented format),
sent as it is made. A server that answers WAV instead is read from its header (pcm.py).
"""

from __future__ import annotations

import json

from engine.config import VoiceConfig
from engine.voice.server.http import Request
from engine.voice.server.protocol import server_url

# OpenAI's own names, for a server that needs both fields filled and the config names neither.
DEFAULT_MODEL, DEFAULT_VOICE = "tts-1", "alloy"


class OpenAiSpeech:
    name = "openai_tts"
    rate = 24000

    def __init__(self, config: VoiceConfig) -> None:
        base, self.url = server_url(config.server_url, self.name)
        # Accept the API's base as the brain's [brain] url writes it, ".../v1", as well as the bare server.
        self._endpoint = base + ("/audio/speech" if base.endswith("/v1") else "/v1/audio/speech")
        self._headers = {"Content-Type": "application/json"}
        if config.api_key:
            self._headers["Authorization"] = f"Bearer {config.api_key}"
        self._fields = {
            "model": config.server_model or DEFAULT_MODEL,
            "voice": config.server_voice or DEFAULT_VOICE,
            "response_format": "pcm",
        }
        self._speed = config.speed

    def request(self, sentence: str, speed: float = 1.0) -> Request:
        body = json.dumps({**self._fields, "input": sentence, "speed": self._speed * speed}).encode()
        return Request("POST", self._endpoint, body, self._headers)
