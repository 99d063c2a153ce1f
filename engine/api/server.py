"""The control API: local HTTP + WebSocket for the OBS script, Streamer.bot-like tools and dashboards.

    api = ControlApi(engine, "127.0.0.1", 8765, token)
    api.start()                  # serves from its own thread and asyncio loop
    api.publish(event)           # from any thread: pushed to every /events WebSocket client
    api.stop()

Every request carries the token (`Authorization: Bearer TOKEN`, or `?token=` for WebSocket clients that
cannot set headers). Routes, all JSON:

    POST /say    {"text", "question"?}  → {"id"}        speak now (after the lines already waiting)
    POST /queue  {"text"}               → {"id", "queue": n}  a line for "say next"; n items now queued
    POST /next                          → {"id"|null}    answer or say the next queued item now
    POST /stop                          → {"ok": true}   stop talking (the LLM stops too)
    POST /mute   {"muted": bool}        → {"muted"}
    POST /ptt    {"down": bool}         → {"ok": true}   push-to-talk: gates the microphone ([hearing]
                                                      mode = "push_to_talk"), published as a "ptt" event
    GET  /status                        → the engine's and the conversation's status

    POST /chat   MESSAGE or {"messages": [MESSAGE...]}  → {"result"} or {"results": [...]}
    GET  /chat                          WebSocket: each text frame a MESSAGE or a list of them;
                                        answered with {"results": [...]}
         MESSAGE = {"user", "text", "platform"?, "kind"?, "amount"?, "currency"?, "user_id"?, "id"?}
         result  = "queued", "ignored" (not for the co-host) or why it was refused ("banned",
                   "cooldown", "rate", "duplicate", "full", "empty")
    GET  /questions                     → {"questions": [...]} waiting, in answer order
    POST /questions/ID/approve | /skip  → {"ok": bool}
    POST /questions/ID/move {"position": n}  → {"ok": bool}   0 = answered next
    POST /approve                       → {"id"|null}    approve the first question awaiting approval
    POST /skip                          → {"id"|null}    drop the first question waiting
    GET  /events                        WebSocket: {"kind": "hello", "status"}, then every event

Errors are {"error": "one line"}: 400 bad input, 401 token, 404/405 route, 413 body too large, 429 too
many waiting (MAX_PENDING_LINES lines to be spoken, a full queue): a flood of requests is refused,
never stored. Chat is different: every message is taken and moderated, and most of a flood is
refused by the conversation's rate limit, as it would be from a platform.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from engine.api.auth import token_matches
from engine.chat.message import KINDS, ChatMessage
from engine.conversation.director import ConversationStatus
from engine.errors import CohostError, QueueFull
from engine.live.events import Event, EventKind

log = logging.getLogger(__name__)

MAX_TEXT = 2000  # characters in a line to say; longer is a mistake, not a monologue
MAX_BODY = 64 * 1024  # bytes; 2000 characters of any script fit with room to spare
CLIENT_BACKLOG = 256  # events waiting for one WebSocket client; a client that far behind is dropped
MAX_PENDING_LINES = 10  # lines said and not spoken yet (a minute or more of speech)
MAX_CHAT_BATCH = 200  # chat messages in one request or WebSocket frame


class Control(Protocol):
    """What the API drives: the conversation (engine.conversation.director.Conversation), which
    passes say / stop / mute on to the live engine."""

    def say(self, text: str, question: str = "", speed: float = 1.0) -> str: ...

    def add_line(self, text: str) -> object: ...

    def say_next(self) -> str | None: ...

    def stop_talking(self) -> None: ...

    def set_muted(self, muted: bool) -> None: ...

    def set_push_to_talk(self, down: bool) -> None: ...

    def status(self) -> ConversationStatus: ...

    def receive(self, message: ChatMessage) -> str: ...

    def questions(self) -> list[dict[str, Any]]: ...

    def approve(self, qid: str) -> bool: ...

    def approve_next(self) -> str | None: ...

    def skip(self, qid: str) -> bool: ...

    def skip_next(self) -> str | None: ...

    def move(self, qid: str, position: int) -> bool: ...


class BadRequest(Exception):
    """A request the API refuses with 400 and this one-line message."""


class TooMany(Exception):
    """A request the API refuses with 429: the engine has enough lines waiting."""


@dataclass(frozen=True)
class _Field:
    name: str
    kind: type
    required: bool = True


def _parse(body: Any, *fields: _Field) -> dict[str, Any]:
    """The request's JSON object checked against `fields` (no others allowed): a typo fails loudly."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    known = {f.name for f in fields}
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; expected {', '.join(sorted(known)) or 'no fields'}")
    values: dict[str, Any] = {}
    for f in fields:
        if f.name not in body:
            if f.required:
                raise BadRequest(f"missing field {f.name!r}")
            continue
        value = body[f.name]
        # bool is an int in Python; JSON true must not pass for a number, nor 1 for a bool.
        kinds = (int, float) if f.kind is float else f.kind
        if not isinstance(value, kinds) or (f.kind is not bool and isinstance(value, bool)):
            raise BadRequest(f"{f.name!r} must be a {_JSON_NAMES[f.kind]}")
        values[f.name] = value
    return values


_JSON_NAMES = {str: "string", bool: "boolean (true or false)", int: "whole number", float: "number"}
_CHAT_FIELDS = (
    _Field("user", str), _Field("text", str), _Field("platform", str, required=False),
    _Field("kind", str, required=False), _Field("amount", float, required=False),
    _Field("currency", str, required=False), _Field("user_id", str, required=False),
    _Field("id", str, required=False),
)  # fmt: skip


def _chat_message(body: Any) -> ChatMessage:
    values = _parse(body, *_CHAT_FIELDS)
    kind = values.get("kind", "chat")
    if kind not in KINDS:
        raise BadRequest(f"'kind' must be one of {', '.join(KINDS)}")
    text = _line_text(values["text"], allow_empty=kind != "chat")
    amount = float(values.get("amount", 0.0))
    if amount < 0:
        raise BadRequest("'amount' must not be negative")
    platform = values.get("platform", "bridge").strip()[:32] or "bridge"
    return ChatMessage(
        platform,
        values["user"].strip()[:64],
        text,
        kind,
        amount,
        values.get("currency", "")[:8],
        user_id=values.get("user_id", "")[:64],
        id=values.get("id", "")[:64],
    )


def _chat_batch(body: Any) -> tuple[list[ChatMessage], bool]:
    """The messages of a /chat body (one object, {"messages": [...]}, or a list); True when batched."""
    if isinstance(body, dict) and "messages" in body:
        if set(body) != {"messages"}:
            raise BadRequest('a batch is {"messages": [...]} and nothing else')
        body = body["messages"]
    if isinstance(body, list):
        if len(body) > MAX_CHAT_BATCH:
            raise BadRequest(f"at most {MAX_CHAT_BATCH} messages at once, got {len(body)}")
        return [_chat_message(item) for item in body], True
    return [_chat_message(body)], False


def _line_text(value: str, name: str = "text", allow_empty: bool = False) -> str:
    text = value.strip()
    if not text and not allow_empty:
        raise BadRequest(f"{name!r} is empty")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"{name!r} is {len(text)} characters; at most {MAX_TEXT}")
    return text


class ControlApi:
    """The API server on its own thread and asyncio loop (the live engine is threaded, not async)."""

    def __init__(self, engine: Control, host: str = "127.0.0.1", port: int = 8765, token: str = ""):
        if not token:
            raise ValueError("the control API needs a token (see engine.api.auth.ensure_token)")
        self.engine = engine
        self.host = host
        self.port = port  # 0 = any free port; the real one is set once start() returns
        self._token = token
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._clients: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def __repr__(self) -> str:  # the token must never reach a log or a traceback
        return f"ControlApi(host={self.host!r}, port={self.port})"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Listens before returning; raises CohostError (one line) when it cannot."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as e:  # handed to start()'s caller, which raises it as one line
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="control-api", daemon=True)
        self._thread.start()
        ready.wait()  # binding a local socket succeeds or fails at once
        if failure:
            self._thread.join()
            self._loop = self._thread = None
            error = failure[0]
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            raise CohostError(f"control API cannot listen on {self.host}:{self.port}: {reason}") from None
        log.info("control API listening on %s", self.url)
        if not _is_loopback(self.host):
            log.warning("the control API at %s is reachable from other machines; only its token protects it", self.url)

    async def _listen(self) -> None:
        app = web.Application(middlewares=[self._errors_as_json, self._require_token], client_max_size=MAX_BODY)
        app.router.add_post("/say", self._say)
        app.router.add_post("/queue", self._queue)
        app.router.add_post("/next", self._next)
        app.router.add_post("/stop", self._stop)
        app.router.add_post("/mute", self._mute)
        app.router.add_post("/ptt", self._ptt)
        app.router.add_get("/status", self._status)
        app.router.add_post("/chat", self._chat)
        app.router.add_get("/chat", self._chat_socket)
        app.router.add_get("/questions", self._questions)
        app.router.add_post("/questions/{id}/{action}", self._question_action)
        app.router.add_post("/approve", self._approve_next)
        app.router.add_post("/skip", self._skip_next)
        app.router.add_get("/events", self._events)
        # access_log=None: aiohttp's access log would write `?token=...` of WebSocket URLs to the log.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]  # port 0: the one the OS picked

    def stop(self) -> None:
        """Closes every client and the listening socket; returns when the thread has ended."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        for client in self._clients:
            _close_after_backlog(client)
        self._clients.clear()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> ControlApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- events ------------------------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Sends `event` to every /events client. Thread-safe and non-blocking: the engine calls it."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._fan_out, event.to_json())
        except RuntimeError:  # the loop closed between the check and the call (stop() racing)
            pass

    def _fan_out(self, message: dict[str, Any]) -> None:
        for client in list(self._clients):
            if client.full():
                # Too far behind: drop it rather than let its backlog grow without bound.
                self._clients.discard(client)
                _close_after_backlog(client)
            else:
                client.put_nowait(message)

    # -- middlewares -------------------------------------------------------------------------------
    @web.middleware
    async def _errors_as_json(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except (BadRequest, CohostError) as e:  # CohostError: the engine's one-line refusal
            return _error(400, str(e))
        except TooMany as e:
            return _error(429, str(e))
        except web.HTTPException as e:  # 404, 405, 413 from aiohttp: JSON like every other answer
            if e.status < 400:
                raise
            return _error(e.status, e.reason, headers=e.headers)

    @web.middleware
    async def _require_token(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        given = header[len("Bearer ") :] if header.startswith("Bearer ") else request.query.get("token", "")
        if not token_matches(given.strip(), self._token):
            return _error(401, "missing or wrong token", headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    # -- routes ------------------------------------------------------------------------------------
    async def _say(self, request: web.Request) -> web.Response:
        body = _parse(
            await _json(request),
            _Field("text", str), _Field("question", str, required=False), _Field("speed", float, required=False),
        )  # fmt: skip
        text = _line_text(body["text"])
        question = _line_text(body.get("question", ""), "question", allow_empty=True)
        speed = body.get("speed", 1.0)
        if not 0.5 <= speed <= 2.0:
            raise BadRequest("'speed' must be from 0.5 to 2 (1 is the voice's own pace)")
        # Handlers run one at a time on this loop, so no other request slips in between check and say.
        if self.engine.status().engine.lines_pending >= MAX_PENDING_LINES:
            raise TooMany(f"{MAX_PENDING_LINES} lines are already waiting to be spoken; try again when one is done")
        return web.json_response({"id": self.engine.say(text, question, speed)})

    async def _queue(self, request: web.Request) -> web.Response:
        body = _parse(await _json(request), _Field("text", str))
        text = _line_text(body["text"])
        try:
            question = self.engine.add_line(text)
        except QueueFull as e:
            raise TooMany(str(e)) from None
        return web.json_response({"id": getattr(question, "id", ""), "queue": self.engine.status().queue})

    async def _next(self, request: web.Request) -> web.Response:
        _parse(await _json(request, empty_ok=True))
        return web.json_response({"id": self.engine.say_next()})

    async def _stop(self, request: web.Request) -> web.Response:
        _parse(await _json(request, empty_ok=True))
        self.engine.stop_talking()
        return web.json_response({"ok": True})

    async def _mute(self, request: web.Request) -> web.Response:
        muted = _parse(await _json(request), _Field("muted", bool))["muted"]
        self.engine.set_muted(muted)
        return web.json_response({"muted": muted})

    async def _ptt(self, request: web.Request) -> web.Response:
        down = _parse(await _json(request), _Field("down", bool))["down"]
        self.engine.set_push_to_talk(down)
        self._fan_out(Event(EventKind.PTT, text="down" if down else "up").to_json())
        return web.json_response({"ok": True})

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.engine.status().to_json())

    async def _chat(self, request: web.Request) -> web.Response:
        messages, batched = _chat_batch(await _json(request))
        results = [self.engine.receive(m) for m in messages]
        return web.json_response({"results": results} if batched else {"result": results[0]})

    async def _chat_socket(self, request: web.Request) -> web.WebSocketResponse:
        """Bridges that keep one connection open (danmaku tools): a bad frame is answered with an
        error, and the connection stays."""
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_BODY)
        await ws.prepare(request)
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            try:
                body = json.loads(frame.data)
                messages, _ = _chat_batch(body if isinstance(body, list) else {"messages": [body]})
            except (ValueError, BadRequest) as e:
                await ws.send_json({"error": str(e) if isinstance(e, BadRequest) else "the frame is not valid JSON"})
                continue
            await ws.send_json({"results": [self.engine.receive(m) for m in messages]})
        return ws

    async def _questions(self, request: web.Request) -> web.Response:
        return web.json_response({"questions": self.engine.questions()})

    async def _question_action(self, request: web.Request) -> web.Response:
        qid, action = request.match_info["id"], request.match_info["action"]
        if action == "move":
            position = _parse(await _json(request), _Field("position", int))["position"]
            return web.json_response({"ok": self.engine.move(qid, position)})
        _parse(await _json(request, empty_ok=True))
        if action == "approve":
            return web.json_response({"ok": self.engine.approve(qid)})
        if action == "skip":
            return web.json_response({"ok": self.engine.skip(qid)})
        raise web.HTTPNotFound(reason=f"no action {action!r}: approve, skip or move")

    async def _approve_next(self, request: web.Request) -> web.Response:
        _parse(await _json(request, empty_ok=True))
        return web.json_response({"id": self.engine.approve_next()})

    async def _skip_next(self, request: web.Request) -> web.Response:
        _parse(await _json(request, empty_ok=True))
        return web.json_response({"id": self.engine.skip_next()})

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        backlog: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(CLIENT_BACKLOG)
        # The hello goes first in the backlog, and no event can be fanned out between the status
        # snapshot and joining the clients (no await in between): the client misses nothing.
        backlog.put_nowait({"kind": "hello", "status": self.engine.status().to_json()})
        self._clients.add(backlog)
        sender = asyncio.create_task(self._send_events(ws, backlog))
        try:
            async for _message in ws:  # clients have nothing to say; reading notices when they leave
                pass
        finally:
            self._clients.discard(backlog)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    async def _send_events(self, ws: web.WebSocketResponse, backlog: asyncio.Queue[dict[str, Any] | None]) -> None:
        while (message := await backlog.get()) is not None:
            await ws.send_json(message)
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping or client too slow")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return host == "localhost"


def _close_after_backlog(client: asyncio.Queue[dict[str, Any] | None]) -> None:
    """Queues the end-of-stream marker, dropping the oldest event when the backlog is full."""
    if client.full():
        client.get_nowait()
    client.put_nowait(None)


async def _json(request: web.Request, empty_ok: bool = False) -> Any:
    raw = await request.read()
    if not raw.strip():
        if empty_ok:
            return {}
        raise BadRequest("the body must be a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None


def _error(status: int, message: str, headers: Any = None) -> web.Response:
    response = web.json_response({"error": message}, status=status)
    if headers:
        for name in ("WWW-Authenticate", "Allow"):
            if name in headers:
                response.headers[name] = headers[name]
    return response
