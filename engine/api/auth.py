"""The control API's token: generated once, kept in the private user config, compared in constant time."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from engine.config import Config, update_user_config


def ensure_token(config: Config, path: Path | None = None) -> str:
    """config.api.token, or a new random one saved to the user config (`path`, default the per-user
    file; written 0600) so that the OBS script and other tools keep working after a restart."""
    if config.api.token:
        return config.api.token
    token = secrets.token_urlsafe(32)
    update_user_config({"api": {"token": token}}, path)
    return token


def token_matches(given: str, expected: str) -> bool:
    # compare_digest: the time taken must not tell an attacker how many leading characters were right.
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
