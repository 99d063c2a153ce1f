"""Stream keys (and other secrets): where they come from, where they are kept, and keeping them out
of every log line.

A key is looked for in the environment (COHOST_STREAM_KEY), then the OS keyring (service
"obs-cohost", user = the platform), then the config's [stream] key (which belongs to [stream]
platform). `store_key` prefers the keyring and falls back to the config file, written 0600. A
headless Linux often has no keyring backend: every keyring error counts as "no keyring".

Every secret this process learns is registered, and RedactingFilter replaces each with *** in any
log record that passes through a handler it is installed on (install_log_redaction).
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.config import Config, update_user_config, user_config_path

LOG = logging.getLogger(__name__)

ENV_VAR = "COHOST_STREAM_KEY"
KEYRING_SERVICE = "obs-cohost"
MASK = "***"
_MIN_SECRET_LEN = 4  # shorter "secrets" would mask ordinary words and digits in every log line

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


@dataclass(frozen=True)
class StreamKey:
    value: str
    source: str  # where it came from, for messages: "COHOST_STREAM_KEY", "the OS keyring", a config path

    def __repr__(self) -> str:
        return f"StreamKey(value={MASK!r}, source={self.source!r})"

    __str__ = __repr__


def register_secret(value: str) -> None:
    """Makes RedactingFilter mask `value` from now on."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _secrets_lock:
            _secrets.add(value)


def register_config_secrets(config: Config) -> None:
    for value in (
        config.obs.password, config.api.token, config.stream.key, config.twitch.token,
        config.bilibili.cookie, config.youtube.api_key, config.youtube.oauth_token, config.brain.api_key,
        config.voice.api_key,
    ):  # fmt: skip
        register_secret(value)


def known_secrets() -> list[str]:
    with _secrets_lock:
        return list(_secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and its URL-encoded form) replaced by ***; longest first, so that a
    secret containing another is masked whole."""
    forms = {form for s in secrets if s for form in (s, urllib.parse.quote(s, safe=""))}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks every registered secret in a record's message, arguments and traceback. Install it on
    handlers (install_log_redaction): a filter on a logger sees only that logger's own records, not
    those propagating from its children."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = known_secrets()
        if not secrets:
            return True
        message = record.getMessage()
        clean = redact(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


_REDACTING = RedactingFilter()


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Adds the RedactingFilter to `logger` (default: the root logger) and to each of its handlers;
    calling it again adds nothing twice. Call it after the handlers are set up (logging.basicConfig)."""
    logger = logger or logging.getLogger()
    logger.addFilter(_REDACTING)  # records logged on this logger itself (addFilter skips duplicates)
    for handler in logger.handlers:
        handler.addFilter(_REDACTING)
    return _REDACTING


def _keyring_get(platform: str) -> str | None:
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, platform)
    except Exception as e:  # no backend (headless Linux), locked, or broken: the keyring is "absent"
        LOG.debug("no OS keyring: %s", e.__class__.__name__)
        return None


def load_key(platform: str, config: Config, config_path: Path | None = None) -> StreamKey | None:
    """The stream key for `platform`, from the environment, the keyring or the config (in that order)."""
    found: StreamKey | None = None
    if os.environ.get(ENV_VAR):
        found = StreamKey(os.environ[ENV_VAR], ENV_VAR)
    elif stored := _keyring_get(platform):
        found = StreamKey(stored, "the OS keyring")
    elif config.stream.key and config.stream.platform == platform:
        found = StreamKey(config.stream.key, str(config_path or user_config_path()))
    if found:
        register_secret(found.value)
    return found


def store_key(platform: str, key: str, config_path: Path | None = None) -> str:
    """Keeps the key in the OS keyring, or (no keyring) in the config file, 0600, as [stream] key with
    [stream] platform. Returns where it went, for the user."""
    register_secret(key)
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, platform, key)
        return "the OS keyring"
    except Exception as e:
        LOG.debug("no OS keyring (%s); keeping the key in the config file", e.__class__.__name__)
    path = update_user_config({"stream": {"platform": platform, "key": key}}, config_path)
    return f"{path} (readable only by you)"
