"""coqui's xtts-streaming-server: POST {url}/tts_stream with a speaker's conditioning latents.

The latents come once, on first use: from POST /clone_speaker (the reference clip, uploaded) or
from GET /studio_speakers (a built-in speaker by name, [voice] server_voice, else the first). The
stream is raw 16-bit PCM at 24 kHz, asked for without the WAV header. The server takes no speed.
"""

from __future__ import annotations

import json
from typing import Any

from engine.config import VoiceConfig
from engine.voice.server.http import Request, ServerError, fetch, multipart
from engine.voice.server.protocol import language_of, read_reference, server_url

# Cloning a clip takes the server a while (seconds on a CPU); it happens once per run.
SPEAKER_TIMEOUT_S = 15.0
_LANGUAGES = {"zh": "zh-cn"}  # XTTS's names where they differ from ours


class Xtts:
    name = "xtts"
    rate = 24000

    def __init__(self, config: VoiceConfig) -> None:
        self._base, self.url = server_url(config.server_url, self.name)
        self._voice = config.server_voice
        self._reference = read_reference(config.reference_audio) if config.reference_audio else None
        self._speaker: dict[str, Any] | None = None

    def request(self, sentence: str, speed: float = 1.0) -> Request:  # it takes no speed
        language = language_of(sentence)
        body = {
            **self._latents(),
            "text": sentence,
            "language": _LANGUAGES.get(language, language),
            "add_wav_header": False,
        }
        return Request(
            "POST", self._base + "/tts_stream", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )

    def _latents(self) -> dict[str, Any]:
        if self._speaker is None:
            self._speaker = self._cloned() if self._reference is not None else self._studio_speaker()
        return self._speaker

    def _cloned(self) -> dict[str, Any]:
        body, content_type = multipart({}, {"wav_file": ("reference.wav", self._reference or b"")})
        return _speaker(
            self._json(Request("POST", self._base + "/clone_speaker", body, {"Content-Type": content_type}))
        )

    def _studio_speaker(self) -> dict[str, Any]:
        speakers = self._json(Request("GET", self._base + "/studio_speakers"))
        if not isinstance(speakers, dict) or not speakers:
            raise ServerError("it has no studio speakers: set [voice] reference_audio to clone one")
        name = self._voice or next(iter(speakers))
        if name not in speakers:
            raise ServerError(f"it has no studio speaker {name!r}")
        return _speaker(speakers[name])

    def _json(self, request: Request) -> Any:
        try:
            return json.loads(fetch(request, SPEAKER_TIMEOUT_S))
        except ValueError:
            raise ServerError("it described the speaker in something other than JSON") from None


def _speaker(answer: Any) -> dict[str, Any]:
    try:
        return {"speaker_embedding": answer["speaker_embedding"], "gpt_cond_latent": answer["gpt_cond_latent"]}
    except (TypeError, KeyError):
        raise ServerError("its speaker has no speaker_embedding and gpt_cond_latent") from None
