"""Bilibili live danmaku: a read-only chat source over Bilibili's danmaku WebSocket.

The room number from the address may be a short alias; room_init gives the real one. getDanmuInfo
gives a join token and the danmaku hosts; when it refuses (it sometimes demands a request signature),
the default host with an empty token still works, with viewer names masked. The browser cookie (when
set) makes names visible; it goes only into request headers, never into a log line or an error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import aiohttp

from engine.chat.bilibili_codec import (
    OP_AUTH_REPLY, OP_COMMAND, BilibiliProtocolError, auth_packet, command_to_message, decode_packets,
    heartbeat_packet,
)  # fmt: skip
from engine.chat.http import Backoff, Sleep, TransientError, json_field, one_line, pause, request_json
from engine.chat.message import ChatMessage
from engine.config import BilibiliConfig
from engine.errors import CohostError
from engine.secrets import register_secret

log = logging.getLogger(__name__)

DEFAULT_WS_URL = "wss://broadcastlv.chat.bilibili.com/sub"
HEARTBEAT_S = 30.0  # the server drops a client silent for 70 s
AUTH_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 15.0
MAX_FRAME = 4 * 1024 * 1024
ROOM_NOT_FOUND = 60004  # room_init's code for a room number that does not exist
SESSION_COOKIES = ("SESSDATA", "bili_jct")  # what signs a browser in; the rest only identifies it
# Bilibili's API answers scripts without a browser's User-Agent with HTTP 412.
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0 Safari/537.36")  # fmt: skip


def cookie_values(cookie: str) -> dict[str, str]:
    """The name=value pairs of a Cookie header as a browser copies it ("SESSDATA=...; buvid3=...")."""
    pairs = (part.split("=", 1) for part in cookie.split(";") if "=" in part)
    return {name.strip(): value.strip() for name, value in pairs}


class BilibiliSource:
    name = "bilibili"

    def __init__(self, config: BilibiliConfig, *, fallback_url: str = DEFAULT_WS_URL,
                 heartbeat_s: float = HEARTBEAT_S, sleep: Sleep = asyncio.sleep) -> None:
        """`fallback_url`, `heartbeat_s` and `sleep` (the reconnect backoff's) are there for tests."""
        if config.room_id <= 0:
            raise CohostError("set [bilibili] room_id to the number in your live room's address "
                              "(live.bilibili.com/ROOM)")
        if "\n" in config.cookie or "\r" in config.cookie:
            raise CohostError("[bilibili] cookie must be one line (the Cookie header your browser sends)")
        self.config = config
        self._fallback_url = fallback_url
        self._heartbeat_s = heartbeat_s
        self._sleep = sleep
        self._closed = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._room_id = 0  # the real room number, once room_init gave it
        cookies = cookie_values(config.cookie)
        self._uid = int(cookies["DedeUserID"]) if cookies.get("DedeUserID", "").isdecimal() else 0
        self._buvid = cookies.get("buvid3", "")
        self._headers = {"User-Agent": USER_AGENT, "Referer": "https://live.bilibili.com/"}
        if config.cookie:
            self._headers["Cookie"] = config.cookie
        # The cookie, and its sign-in values on their own: an error could quote one.
        self._secrets = [s for s in (config.cookie, *(cookies.get(n, "") for n in SESSION_COOKIES)) if s]
        for secret in self._secrets:
            register_secret(secret)

    async def messages(self) -> AsyncIterator[ChatMessage]:
        backoff = Backoff()
        async with aiohttp.ClientSession(headers=self._headers) as session:
            while not self._closed.is_set():
                try:
                    async for message in self._connection(session, backoff):
                        yield message
                except (TransientError, BilibiliProtocolError) as e:
                    problem = str(e)
                except aiohttp.ClientError as e:  # connecting or reading the WebSocket
                    problem = f"danmaku connection: {one_line(e, self._secrets)}"
                else:
                    problem = "the danmaku server closed the connection"
                if self._closed.is_set():
                    return
                delay = backoff.next()
                log.warning("Bilibili room %d: %s; reconnecting in %g s", self.config.room_id, problem, delay)
                if not await pause(delay, self._closed, self._sleep):
                    return

    async def send(self, text: str) -> bool:
        return False  # sending danmaku needs a signed-in web session's CSRF dance; this source only reads

    async def close(self) -> None:
        self._closed.set()
        if self._ws is not None:
            await self._ws.close()

    async def _get(self, session: aiohttp.ClientSession, path: str, what: str) -> dict[str, Any]:
        reply = await request_json(session, "GET", self.config.api_url.rstrip("/") + path, what=what,
                                   secrets=self._secrets, params={"id": str(self._room_id or self.config.room_id)})
        if not isinstance(reply.body, dict):
            raise TransientError(f"{what}: HTTP {reply.status}, unexpected reply")
        return reply.body

    async def _resolve_room(self, session: aiohttp.ClientSession) -> int:
        if not self._room_id:
            body = await self._get(session, "/room/v1/Room/room_init", "Bilibili room lookup")
            if body.get("code") == ROOM_NOT_FOUND:
                raise CohostError(f"Bilibili live room {self.config.room_id} does not exist "
                                  "(check [bilibili] room_id)")
            room_id = json_field(body, "data", "room_id")
            if body.get("code") != 0 or type(room_id) is not int:
                raise TransientError(f"Bilibili room lookup: code {body.get('code')} {body.get('message', '')}")
            self._room_id = room_id
        return self._room_id

    async def _danmaku_endpoint(self, session: aiohttp.ClientSession) -> tuple[str, str]:
        """The WebSocket URL and join token; the default host and no token when Bilibili refuses."""
        body = await self._get(session, "/xlive/web-room/v1/index/getDanmuInfo", "Bilibili danmaku info")
        hosts, token = json_field(body, "data", "host_list"), json_field(body, "data", "token")
        if body.get("code") != 0 or not isinstance(hosts, list) or not hosts or not isinstance(hosts[0], dict):
            log.warning("Bilibili gave no danmaku token (code %s); joining anonymously, viewer names may be masked",
                        body.get("code"))
            return self._fallback_url, ""
        # The socket uses TLS when the API does; a plain-http api_url (a local test server) means ws://.
        host = hosts[0]
        if urlsplit(self.config.api_url).scheme == "https":
            url = f"wss://{host.get('host')}:{host.get('wss_port', 443)}/sub"
        else:
            url = f"ws://{host.get('host')}:{host.get('ws_port', 2244)}/sub"
        return url, token if isinstance(token, str) else ""

    async def _connection(self, session: aiohttp.ClientSession, backoff: Backoff) -> AsyncIterator[ChatMessage]:
        room_id = await self._resolve_room(session)
        url, token = await self._danmaku_endpoint(session)
        # A silent socket is a dead one: the server answers every heartbeat.
        timeout = aiohttp.ClientWSTimeout(ws_receive=2 * self._heartbeat_s + 10, ws_close=5)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                ws = await session.ws_connect(url, max_msg_size=MAX_FRAME, timeout=timeout)
        except TimeoutError:
            raise TransientError("danmaku server did not answer") from None
        self._ws = ws
        heartbeats: asyncio.Task[None] | None = None
        try:
            if self._closed.is_set():  # close() came while connecting
                return
            await ws.send_bytes(auth_packet(room_id, token, self._uid, self._buvid))
            await self._await_auth(ws, room_id)
            backoff.reset()
            log.info("Bilibili room %d: reading danmaku", room_id)
            heartbeats = asyncio.create_task(self._heartbeats(ws))
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.ERROR:
                    raise TransientError(f"danmaku connection: {one_line(ws.exception() or frame.data, self._secrets)}")
                if frame.type != aiohttp.WSMsgType.BINARY:
                    continue
                for packet in decode_packets(frame.data):
                    if packet.op == OP_COMMAND and (message := command_to_message(packet.json())):
                        yield message
        except TimeoutError:
            raise TransientError(f"nothing from the danmaku server for {timeout.ws_receive:g} s") from None
        finally:
            if heartbeats is not None:
                heartbeats.cancel()
            self._ws = None
            await ws.close()

    async def _await_auth(self, ws: aiohttp.ClientWebSocketResponse, room_id: int) -> None:
        """Waits for the auth reply; a refusal is final (a wrong cookie or a banned client)."""
        try:
            frame = await ws.receive(timeout=AUTH_TIMEOUT_S)
        except TimeoutError:
            raise TransientError("no reply to joining the danmaku room") from None
        if frame.type != aiohttp.WSMsgType.BINARY:
            raise TransientError("the danmaku server closed the connection while joining")
        replies = [p for p in decode_packets(frame.data) if p.op == OP_AUTH_REPLY]
        if not replies:
            raise BilibiliProtocolError("the danmaku server's first packet was not a join reply")
        code = replies[0].json().get("code")
        if code != 0:
            raise CohostError(f"Bilibili refused to join room {room_id} (code {code}); check [bilibili] cookie, "
                              "or clear it to join anonymously")

    async def _heartbeats(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            while not ws.closed:
                await ws.send_bytes(heartbeat_packet())
                await asyncio.sleep(self._heartbeat_s)
        except (aiohttp.ClientError, ConnectionError):
            pass  # the socket died; the reading side notices and reconnects

