"""GPT-SoVITS's api_v2.py: POST {url}/tts with JSON, cloning the voice of a reference clip.

With streaming_mode true and media_type "wav", the body is a WAV header (its sizes 0, its rate the
model's: 32 kHz for v2) and then raw 16-bit PCM, one piece per text fragment as it is made. The
reference clip is a path the server opens itself: on another machine, the path there.
"""

from __future__ import annotations

import json

from engine.config import VoiceConfig
from engine.voice.server.http import Request
from engine.voice.server.protocol import language_of, required, server_url


class GptSovits:
    name = "gpt_sovits"
    rate = 32000  # v2's; the stream's header gives the model's own

    def __init__(self, config: VoiceConfig) -> None:
        base, self.url = server_url(config.server_url, self.name)
        self._endpoint = base + "/tts"
        reference = required(
            config.reference_audio, "reference_audio", self.name, "a clip to clone (cohost voice clone)"
        )
        self._fields = {
            "ref_audio_path": reference,
            "prompt_text": config.reference_text,
            "prompt_lang": language_of(config.reference_text),
            "streaming_mode": True,
            "media_type": "wav",
        }
        self._speed = config.speed

    def request(self, sentence: str, speed: float = 1.0) -> Request:
        fields = {"text": sentence, "text_lang": language_of(sentence), "speed_factor": self._speed * speed}
        body = json.dumps({**self._fields, **fields}).encode()
        return Request("POST", self._endpoint, body, {"Content-Type": "application/json"})
