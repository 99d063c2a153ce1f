"""An http(s) address from the config, checked once, and the form of it that is safe to show."""

from __future__ import annotations

import urllib.parse

from engine.errors import CohostError


def checked_http_url(url: str, setting: str, error: type[CohostError] = CohostError) -> urllib.parse.SplitResult:
    """`url` split, with a scheme of http or https, a host and a well-formed port; otherwise `error`
    (one line naming `setting`, e.g. "[brain] url")."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise error(f"{setting} {url!r} is not an http:// or https:// address")
    try:
        parts.port  # noqa: B018  # raises on a malformed port
    except ValueError:
        raise error(f"{setting} {url!r} has a malformed port") from None
    return parts


def shown_url(parts: urllib.parse.SplitResult, path: str = "") -> str:
    """The address without any user:password@ it may carry, for messages."""
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], path, "", ""))
