"""CosyVoice's FastAPI server (runtime/python/fastapi/server.py): a form to /inference_sft (a
built-in speaker) or /inference_zero_shot (the voice of a reference clip and what it says).

The body is raw 16-bit PCM at the model's rate with no header: 22.05 kHz for CosyVoice-300M (what
the project's client.py assumes), 24 kHz for CosyVoice2 and 3, told apart by [voice] server_model.
The server reads its form with GET (the latest server.py registers only GET), so the form goes in
a GET's body, as the project's own client sends it. It takes no speed.
"""

from __future__ import annotations

import re

from engine.config import VoiceConfig
from engine.errors import CohostError
from engine.voice.server.http import Request, multipart
from engine.voice.server.protocol import read_reference, required, server_url

_24KHZ_MODELS = re.compile(r"cosyvoice[23]", re.IGNORECASE)


class CosyVoice:
    name = "cosyvoice"

    def __init__(self, config: VoiceConfig) -> None:
        base, self.url = server_url(config.server_url, self.name)
        self.rate = 24000 if _24KHZ_MODELS.search(config.server_model) else 22050
        self._files: dict[str, tuple[str, bytes]] = {}
        if config.reference_audio:
            # FastAPI takes an empty form field for a missing one: the clip's words are required.
            text = required(config.reference_text, "reference_text", self.name, "the words of reference_audio")
            self._endpoint, self._fields = base + "/inference_zero_shot", {"prompt_text": text}
            self._files = {"prompt_wav": ("prompt.wav", read_reference(config.reference_audio))}
        elif config.server_voice:
            self._endpoint, self._fields = base + "/inference_sft", {"spk_id": config.server_voice}
        else:
            raise CohostError(
                "the cosyvoice voice needs [voice] server_voice (a speaker id such as 中文女) or reference_audio"
            )

    def request(self, sentence: str, speed: float = 1.0) -> Request:  # it takes no speed
        body, content_type = multipart({"tts_text": sentence, **self._fields}, self._files)
        return Request("GET", self._endpoint, body, {"Content-Type": content_type})
