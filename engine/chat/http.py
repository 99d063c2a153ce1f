"""What the network chat sources share: JSON requests whose failures read as one secret-free line, a
safe walk into the JSON they return, the reconnect backoff, and a pause that close() cuts short."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from engine.errors import CohostError
from engine.secrets import redact

Sleep = Callable[[float], Awaitable[object]]

REQUEST_TIMEOUT_S = 15.0
MAX_REPLY_BYTES = 4 * 1024 * 1024  # a chat API page is a few KB; more is a broken or hostile server


class TransientError(CohostError):
    """The network, a timeout, a server error: worth trying again later."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # the parsed JSON


def one_line(error: BaseException, secrets: Sequence[str]) -> str:
    """An exception as one line without any of `secrets` (aiohttp messages may quote a URL)."""
    text = " ".join(str(error).split()) or error.__class__.__name__
    return redact(text, secrets)[:200]


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    secrets: Sequence[str] = (),
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    form: Mapping[str, str] | None = None,
) -> Reply:
    """Sends one request (with a JSON `body` or a `form`) and parses the JSON reply, whatever its status. Network trouble, a 5xx or a
    reply that is not JSON raise TransientError("`what`: ..."); `what` names the call for the user
    and must not hold the URL, which may carry a key."""
    try:
        async with session.request(
            method,
            url,
            params=params,
            headers=headers,
            json=body,
            data=form,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as response:
            status, raw = response.status, bytearray()
            async for chunk in response.content.iter_any():
                raw += chunk
                if len(raw) > MAX_REPLY_BYTES:
                    raise TransientError(f"{what}: reply larger than {MAX_REPLY_BYTES} bytes")
    except (aiohttp.ClientError, TimeoutError) as e:
        raise TransientError(f"{what}: {one_line(e, secrets)}") from None
    if status >= 500 or status == 429:
        raise TransientError(f"{what}: HTTP {status}")
    try:
        return Reply(status, json.loads(raw))
    except (ValueError, RecursionError):
        raise TransientError(f"{what}: HTTP {status}, reply is not JSON") from None


def json_field(value: Any, *keys: str) -> Any:
    """value[k1][k2]... of parsed JSON; None where a level is missing or not an object."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


class Backoff:
    """Delays between reconnects: first, doubled each failure up to cap; reset after a success."""

    def __init__(self, first_s: float = 1.0, cap_s: float = 60.0) -> None:
        self.first_s, self.cap_s = first_s, cap_s
        self._next = first_s

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap_s, delay * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first_s


async def pause(seconds: float, closed: asyncio.Event, sleep: Sleep) -> bool:
    """Waits `seconds` with `sleep`; returns False at once when `closed` is set before that."""
    if closed.is_set():
        return False
    sleeper = asyncio.ensure_future(sleep(seconds))
    closing = asyncio.ensure_future(closed.wait())
    try:
        await asyncio.wait((sleeper, closing), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, closing):
            task.cancel()
    return not closed.is_set()
