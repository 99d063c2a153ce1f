"""What each voice-server protocol provides (one module each beside this one), and the config
checks they share, made when the voice loads so that a mistake is one line before going live."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from engine.errors import CohostError
from engine.language import detect_language
from engine.urls import checked_http_url, shown_url
from engine.voice.server.http import Request

# The languages the cloning servers are asked for, told from each sentence's script.
_LANGUAGES = ("en", "zh", "ja", "ko")


class ServerProtocol(Protocol):
    name: str  # the [voice] backend
    rate: int  # the sample rate the server streams when its stream does not say (a WAV header does)
    url: str  # the server, for messages: no path, no user:password@

    def request(self, sentence: str, speed: float = 1.0) -> Request:
        """The request that speaks `sentence` at `speed` times [voice] speed (where the server takes
        a speed). May itself ask the server something first (raises ServerError)."""
        ...


def server_url(url: str, backend: str) -> tuple[str, str]:
    """[voice] server_url without a trailing slash, and its shown form (scheme, host and port only)."""
    if not url.strip():
        raise CohostError(f"[voice] server_url is empty: the {backend} voice needs its server's address")
    return url.strip().rstrip("/"), shown_url(checked_http_url(url, "[voice] server_url"))


def required(value: str, key: str, backend: str, what: str) -> str:
    if not value:
        raise CohostError(f"[voice] {key} is empty: the {backend} voice needs {what}")
    return value


def read_reference(path: str) -> bytes:
    """The reference clip a cloning server is sent."""
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as e:
        raise CohostError(f"cannot read [voice] reference_audio {path}: {e.strerror}") from None


def language_of(text: str) -> str:
    """ "en", "zh", "ja" or "ko": what a cloning server is told it reads (English when short or mixed)."""
    return detect_language(text, _LANGUAGES, "en")
