"""Bilibili live danmaku: a chat source over Bilibili's danmaku WebSocket, which can also post danmaku.

The room number from the address may be a short alias; room_init gives the real one. getDanmuInfo,
WBI-signed with keys from the main site's nav API, gives a join token and the danmaku hosts; when it
refuses anyway, the default host with an empty token still works, with viewer names masked. The
browser cookie (when set) makes names visible and, with its bili_jct (the CSRF token), lets the
co-host post; it goes only into request headers and the post's csrf field, never into a log line or
an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from engine.chat.bilibili_codec import (
    OP_AUTH_REPLY,
    OP_COMMAND,
    BilibiliProtocolError,
    auth_packet,
    command_to_message,
    decode_packets,
    heartbeat_packet,
)  # fmt: skip
from engine.chat.bilibili_wbi import mixin_key_from_nav, sign
from engine.chat.http import (
    Backoff,
    Sleep,
    TransientError,
    json_field,
    one_line,
    pause,
    request_json,
)  # fmt: skip
from engine.chat.message import ChatMessage
from engine.config import BilibiliConfig
from engine.errors import CohostError
from engine.secrets import redact, register_secret

log = logging.getLogger(__name__)

DEFAULT_WS_URL = "wss://broadcastlv.chat.bilibili.com/sub"
HEARTBEAT_S = 30.0  # the server drops a client silent for 70 s
AUTH_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 15.0
MAX_FRAME = 4 * 1024 * 1024
ROOM_NOT_FOUND = 60004  # room_init's code for a room number that does not exist
SIGNATURE_REFUSED = -352  # a missing or stale WBI signature
SESSION_COOKIES = ("SESSDATA", "bili_jct")  # what signs a browser in; the rest only identifies it
# Bilibili's API answers scripts without a browser's User-Agent with HTTP 412.
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0 Safari/537.36")  # fmt: skip

MAX_DANMAKU_CHARS = 20  # Bilibili's cap for most accounts (some get 40)
MAX_PIECES = 5  # more danmaku for one answer floods the chat and trails the voice by seconds
SEND_INTERVAL_S = 1.0  # Bilibili refuses danmaku sent faster
TOO_FAST = (10030, 10031)
TOO_FAST_WAIT_S = 2.0
SIGNED_OUT = (-101, -111)  # not signed in; CSRF token refused
FILTERED = ("f", "k")  # code 0 with one of these as its message: the word filter dropped the danmaku
BREAK_AFTER = frozenset("，。！？；：、,.!?;:…~）)」』】》")


def cookie_values(cookie: str) -> dict[str, str]:
    """The name=value pairs of a Cookie header as a browser copies it ("SESSDATA=...; buvid3=...")."""
    pairs = (part.split("=", 1) for part in cookie.split(";") if "=" in part)
    return {name.strip(): value.strip() for name, value in pairs}


def danmaku_pieces(text: str, limit: int = MAX_DANMAKU_CHARS, max_pieces: int = MAX_PIECES) -> list[str]:
    """`text` on one line, cut into danmaku of at most `limit` characters: after punctuation or at a
    space in a piece's second half, else at the limit. Past `max_pieces` the rest is dropped and the
    last piece ends in "…"."""
    text = " ".join(text.split())
    pieces: list[str] = []
    while text and len(pieces) <= max_pieces:
        cut = len(text)
        if cut > limit:
            halves = range(limit, limit // 2, -1)
            cut = next((i for i in halves if text[i - 1] in BREAK_AFTER or text[i] == " "), limit)
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if len(pieces) > max_pieces:
        pieces = pieces[:max_pieces]
        pieces[-1] = pieces[-1][: limit - 1] + "…"
    return pieces


class BilibiliSource:
    name = "bilibili"

    def __init__(
        self,
        config: BilibiliConfig,
        *,
        fallback_url: str = DEFAULT_WS_URL,
        heartbeat_s: float = HEARTBEAT_S,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`fallback_url`, `heartbeat_s`, `sleep` (the reconnect backoff's and the pause between
        danmaku) and `clock` (what paces danmaku) are there for tests."""
        if config.room_id <= 0:
            raise CohostError(
                "set [bilibili] room_id to the number in your live room's address (live.bilibili.com/ROOM)"
            )
        if "\n" in config.cookie or "\r" in config.cookie:
            raise CohostError("[bilibili] cookie must be one line (the Cookie header your browser sends)")
        self.config = config
        self._fallback_url = fallback_url
        self._heartbeat_s = heartbeat_s
        self._sleep = sleep
        self._clock = clock
        self._closed = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._room_id = 0  # the real room number, once room_init gave it
        self._wbi_key: str | None = None  # Bilibili rotates it daily: fetched again when refused
        self._send_lock = asyncio.Lock()  # one answer's pieces go out together, in order
        self._next_send_at = 0.0  # the clock's time before which no danmaku goes out
        cookies = cookie_values(config.cookie)
        self._csrf = cookies.get("bili_jct", "")
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
        """Posts `text` as danmaku, in pieces (danmaku_pieces) about a second apart. False without a
        signed-in cookie (one with bili_jct), or when Bilibili refuses a piece: that is logged and the
        rest of the answer dropped."""
        pieces = danmaku_pieces(text)
        if not self._csrf or not pieces:
            return False
        async with self._send_lock, aiohttp.ClientSession(headers=self._headers) as session:
            try:
                room_id = await self._resolve_room(session)
                for piece in pieces:
                    if not await self._send_piece(session, room_id, piece):
                        return False
            except CohostError as e:  # its message is already one secret-free line
                log.warning("Bilibili danmaku not sent: %s", e)
                return False
        return True

    async def close(self) -> None:
        self._closed.set()
        if self._ws is not None:
            await self._ws.close()

    def _live_api(self, path: str) -> str:
        return self.config.api_url.rstrip("/") + path

    async def _get(
        self, session: aiohttp.ClientSession, url: str, what: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return await self._call(session, "GET", url, what, params=params)

    async def _call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call whose reply must be a JSON object."""
        reply = await request_json(session, method, url, what=what, secrets=self._secrets, params=params, form=form)
        if not isinstance(reply.body, dict):
            raise TransientError(f"{what}: HTTP {reply.status}, unexpected reply")
        return reply.body

    async def _resolve_room(self, session: aiohttp.ClientSession) -> int:
        if not self._room_id:
            body = await self._get(
                session,
                self._live_api("/room/v1/Room/room_init"),
                "Bilibili room lookup",
                {"id": str(self.config.room_id)},
            )
            if body.get("code") == ROOM_NOT_FOUND:
                raise CohostError(f"Bilibili live room {self.config.room_id} does not exist (check [bilibili] room_id)")
            room_id = json_field(body, "data", "room_id")
            if body.get("code") != 0 or type(room_id) is not int:
                raise TransientError(f"Bilibili room lookup: code {body.get('code')} {body.get('message', '')}")
            self._room_id = room_id
        return self._room_id

    async def _danmaku_endpoint(self, session: aiohttp.ClientSession) -> tuple[str, str]:
        """The WebSocket URL and join token; the default host and no token when Bilibili refuses."""
        body = await self._danmu_info(session)
        hosts, token = json_field(body, "data", "host_list"), json_field(body, "data", "token")
        if body.get("code") != 0 or not isinstance(hosts, list) or not hosts or not isinstance(hosts[0], dict):
            log.warning(
                "Bilibili gave no danmaku token (code %s); joining anonymously, viewer names may be masked",
                body.get("code"),
            )
            return self._fallback_url, ""
        # The socket uses TLS when the API does; a plain-http api_url (a local test server) means ws://.
        host = hosts[0]
        if urlsplit(self.config.api_url).scheme == "https":
            url = f"wss://{host.get('host')}:{host.get('wss_port', 443)}/sub"
        else:
            url = f"ws://{host.get('host')}:{host.get('ws_port', 2244)}/sub"
        return url, token if isinstance(token, str) else ""

    async def _danmu_info(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        """getDanmuInfo; a refused signature (the keys rotate daily) fetches the keys again, once."""
        url = self._live_api("/xlive/web-room/v1/index/getDanmuInfo")
        params = {"id": str(self._room_id), "type": "0"}
        body = await self._get_signed(session, url, "Bilibili danmaku info", params)
        if body.get("code") == SIGNATURE_REFUSED:
            self._wbi_key = None
            body = await self._get_signed(session, url, "Bilibili danmaku info", params)
        return body

    async def _get_signed(
        self, session: aiohttp.ClientSession, url: str, what: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """A GET with a WBI signature (unsigned when Bilibili gave no keys)."""
        if key := await self._mixin_key(session):
            params = sign(params, key, wts=int(time.time()))
        return await self._get(session, url, what, params)

    async def _mixin_key(self, session: aiohttp.ClientSession) -> str | None:
        """The WBI signing key, from the nav API (which gives it even when not signed in)."""
        if self._wbi_key is None:
            url = self.config.web_api_url.rstrip("/") + "/x/web-interface/nav"
            self._wbi_key = mixin_key_from_nav(await self._get(session, url, "Bilibili signing keys"))
            if self._wbi_key is None:
                log.warning("Bilibili gave no request signing keys; asking for the danmaku token unsigned")
        return self._wbi_key

    async def _send_piece(self, session: aiohttp.ClientSession, room_id: int, piece: str) -> bool:
        """Posts one danmaku; when Bilibili says it came too fast, waits and tries once more."""
        form = {
            "bubble": "0",
            "msg": piece,
            "color": "16777215",
            "mode": "1",
            "fontsize": "25",
            "rnd": str(int(time.time())),
            "roomid": str(room_id),
            "csrf": self._csrf,
            "csrf_token": self._csrf,
        }
        body = await self._post_paced(session, form)
        if body.get("code") in TOO_FAST:
            self._next_send_at = self._clock() + TOO_FAST_WAIT_S
            body = await self._post_paced(session, form)
        code, message = body.get("code"), redact(" ".join(str(body.get("message", "")).split()), self._secrets)[:100]
        if code == 0 and message not in FILTERED:
            return True
        if code == 0:
            log.warning("Bilibili's word filter dropped a danmaku; the rest of the answer is not sent")
        else:
            log.warning(
                "Bilibili refused a danmaku (code %s: %s)%s",
                code,
                message,
                "; check [bilibili] cookie" if code in SIGNED_OUT else "",
            )
        return False

    async def _post_paced(self, session: aiohttp.ClientSession, form: dict[str, str]) -> dict[str, Any]:
        if (delay := self._next_send_at - self._clock()) > 0:
            await self._sleep(delay)
        try:
            return await self._call(session, "POST", self._live_api("/msg/send"), "Bilibili danmaku", form=form)
        finally:
            self._next_send_at = self._clock() + SEND_INTERVAL_S

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
            raise CohostError(
                f"Bilibili refused to join room {room_id} (code {code}); check [bilibili] cookie, "
                "or clear it to join anonymously"
            )

    async def _heartbeats(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            while not ws.closed:
                await ws.send_bytes(heartbeat_packet())
                await asyncio.sleep(self._heartbeat_s)
        except (aiohttp.ClientError, ConnectionError):
            pass  # the socket died; the reading side notices and reconnects
