"""Twitch chat over IRC: reads a channel anonymously, or as an account that can also reply.

Twitch's chat servers speak IRC with IRCv3 tags carrying display names, badges, bits and
subscriptions. The connection runs in one task that logs in, joins, answers PINGs and reconnects
with capped backoff after a drop or a Twitch RECONNECT; `messages()` reads what it queues. Replies
over Twitch's rate limit wait their turn, but only briefly: a late answer is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from engine.chat.http import Backoff
from engine.chat.irc import IrcLineError, IrcMessage, format_line, parse_line
from engine.chat.message import ChatMessage
from engine.chat.replies import shorten
from engine.config import TwitchConfig
from engine.errors import CohostError
from engine.secrets import register_secret

LOG = logging.getLogger(__name__)

# Twitch's limit for an account that is not a moderator; past it Twitch mutes the account for 30 min.
SEND_LIMIT = 20
# The limit in a channel where the account is a moderator or the broadcaster (USERSTATE says which).
MOD_SEND_LIMIT = 100
SEND_WINDOW_S = 30.0
MAX_SEND_DELAY_S = 10.0  # a reply not posted within this long is dropped: a stale answer is worse than none
MAX_SEND_CHARS = 500  # Twitch's longest chat message
MAX_RECONNECT_DELAY_S = 30.0
CONNECT_TIMEOUT_S = 15.0
LOGIN_TIMEOUT_S = 20.0
_LINE_LIMIT = 1 << 20  # tags make Twitch lines far longer than IRC's 512 bytes

MEMBER_EVENTS = frozenset({"sub", "resub", "subgift", "submysterygift"})
# What Twitch says (NOTICE) to a token it does not accept, before it hangs up.
_TWITCH_AUTH_FAILURES = ("Login authentication failed", "Improperly formatted auth", "Login unsuccessful")
_NAME = re.compile(r"[a-z0-9_]+")
_CHEER = re.compile(r"[A-Za-z]+([0-9]+)")  # a cheermote: any prefix ("Cheer", "Kappa", a channel's own) + bits
_COMMAND_START = re.compile(r"^[/.]+(?=\w)")  # "/ban x", ".timeout x": Twitch would run it as a command


class SendLimit:
    """At most `count` sends in any `window_s` seconds (a sliding window)."""

    def __init__(self, count: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.count, self.window_s, self._clock = count, window_s, clock
        self._sent: deque[float] = deque()

    def wait_s(self) -> float:
        """Seconds until one more send stays within the limit; 0 when it does now."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.window_s:
            self._sent.popleft()
        return 0.0 if len(self._sent) < self.count else self._sent[0] + self.window_s - now

    def allow(self) -> bool:
        """True (and counts a send) when one more send stays within the limit."""
        if self.wait_s() > 0:
            return False
        self._sent.append(self._clock())
        return True


def to_chat_message(msg: IrcMessage, channel: str, own_nick: str) -> ChatMessage | None:
    """A PRIVMSG (chat, or a bits cheer) or a subscription USERNOTICE in #`channel` as a ChatMessage;
    None for anything else, our own lines included."""
    if msg.command not in ("PRIVMSG", "USERNOTICE") or not msg.params or msg.params[0].lower() != f"#{channel}":
        return None
    tags = msg.tags
    login = tags.get("login") or msg.nick  # a USERNOTICE comes from the server: the viewer is in `login`
    if login.lower() == own_nick:
        return None
    text = msg.params[1] if len(msg.params) > 1 else ""
    if text.startswith("\x01ACTION "):  # "/me waves" arrives as a CTCP ACTION
        text = text[len("\x01ACTION ") :].rstrip("\x01")
    fields: dict = {
        "platform": "twitch",
        "user": tags.get("display-name") or login,
        "user_id": tags.get("user-id", ""),
        "badges": tuple(b for b in tags.get("badges", "").split(",") if b),
        "id": tags.get("id", ""),
    }
    if tags.get("tmi-sent-ts", "").isdecimal():
        fields["time"] = int(tags["tmi-sent-ts"]) / 1000
    if msg.command == "USERNOTICE":
        if tags.get("msg-id") not in MEMBER_EVENTS:
            return None
        return ChatMessage(text=text or tags.get("system-msg", ""), kind="member", **fields)
    bits = int(tags["bits"]) if tags.get("bits", "").isdecimal() else 0
    if bits:
        return ChatMessage(text=_without_cheers(text, bits), kind="gift", amount=float(bits), currency="bits",
                           **fields)  # fmt: skip
    return ChatMessage(text=text, **fields)


def _without_cheers(text: str, bits: int) -> str:
    """`text` without its cheermotes ("Cheer100"), only as many as add up to `bits`, so that an
    ordinary word like "mp3" after them stays."""
    kept, cheered = [], 0
    for word in text.split():
        cheer = _CHEER.fullmatch(word)
        if cheer and cheered + int(cheer[1]) <= bits:
            cheered += int(cheer[1])
        else:
            kept.append(word)
    return " ".join(kept) or f"{bits} bits"


def login_refused(msg: IrcMessage) -> bool:
    """Whether `msg` (seen before the welcome) says the server will not take our PASS."""
    if msg.command == "NOTICE":
        return any(failure in msg.trailing for failure in _TWITCH_AUTH_FAILURES)
    # 464 ERR_PASSWDMISMATCH; a plain IRC server (ngircd) may only say "ERROR :Access denied: Bad password?"
    return msg.command == "464" or (msg.command == "ERROR" and "Access denied" in msg.trailing)


def clean_outgoing(text: str) -> str:
    """`text` as one chat line: runs of whitespace (line breaks too) become one space, at most
    MAX_SEND_CHARS, and never a chat command."""
    text = " ".join(text.replace("\0", "").split())
    return shorten(_COMMAND_START.sub("", text), MAX_SEND_CHARS)


def is_moderator(userstate: IrcMessage) -> bool:
    """Whether a USERSTATE says the co-host's account moderates the channel (or owns it)."""
    badges = userstate.tags.get("badges", "")
    return userstate.tags.get("mod") == "1" or any(b.startswith("broadcaster/") for b in badges.split(","))


def _name(value: str, what: str) -> str:
    name = value.strip().lstrip("#").lower()
    if not name:
        raise CohostError(f"[twitch] {what} is empty: set it to the name from twitch.tv/NAME")
    if not _NAME.fullmatch(name):
        raise CohostError(f"[twitch] {what} {value!r} is not a Twitch name (letters, digits and _ only)")
    return name


class TwitchSource:
    """Chat of one Twitch channel. Without [twitch] token it reads anonymously (justinfanNNNN) and
    cannot send. The connection starts with the first `messages()` iteration; one consumer only.
    `send_limit` lines in `send_window_s` (Twitch's limit) and `max_send_delay_s` are there for tests."""

    name = "twitch"

    def __init__(self, config: TwitchConfig, *, ssl_context: ssl.SSLContext | None = None,
                 reconnect_delay_s: float = 1.0, send_limit: int = SEND_LIMIT, send_window_s: float = SEND_WINDOW_S,
                 max_send_delay_s: float = MAX_SEND_DELAY_S):  # fmt: skip
        self.channel = _name(config.channel, "channel")
        token = config.token.strip().removeprefix("oauth:")
        register_secret(token)
        if token and not config.nick.strip():
            raise CohostError("[twitch] token is set but nick is empty: set nick to the account's login name")
        self.nick = _name(config.nick, "nick") if token else f"justinfan{random.randint(10000, 99999999)}"
        self._password = f"oauth:{token}" if token else ""
        self._address = (config.server, config.port)
        self._ssl = (ssl_context or ssl.create_default_context()) if config.tls else None
        self._reconnect_delay_s = reconnect_delay_s
        self._queue: asyncio.Queue[ChatMessage | Exception | None] = asyncio.Queue()
        self._send_limit = SendLimit(send_limit, send_window_s)
        self._user_limit = send_limit
        self._max_send_delay_s = max_send_delay_s
        # Replies waiting for the rate limit or a connection: (time.monotonic() at send(), text). No
        # more than one window holds: more could not all go out in time anyway.
        self._outbox: deque[tuple[float, str]] = deque()
        self._outbox_size = send_limit
        self._outbox_filled = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None  # set while logged in and joined
        self._task: asyncio.Task | None = None
        self._closed = False

    async def messages(self) -> AsyncIterator[ChatMessage]:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name=f"twitch-chat-{self.channel}")
        while not self._closed:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def send(self, text: str) -> bool:
        """Posts `text` (one line, cut to 500 characters) in the channel, at once when connected and
        within Twitch's rate limit; otherwise it is queued, to be posted when the limit (or a
        reconnection) allows, and True says so. A queued line is dropped, with a warning, if it
        cannot go out within `max_send_delay_s`. False when anonymous, closed, or the queue is full."""
        text = clean_outgoing(text)
        if not self._password or not text or self._closed:
            return False
        writer = self._writer
        if writer is not None and not self._outbox and self._send_limit.allow():
            return await self._post(writer, text)
        self._drop_late(0.0)
        if len(self._outbox) >= self._outbox_size:
            LOG.warning("Twitch chat: %d replies already waiting, reply dropped", len(self._outbox))
            return False
        self._outbox.append((time.monotonic(), text))
        self._outbox_filled.set()
        return True

    async def close(self) -> None:
        """Ends `messages()` at once and closes the connection."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        self._queue.put_nowait(None)

    async def _run(self) -> None:
        backoff = Backoff(self._reconnect_delay_s, MAX_RECONNECT_DELAY_S)
        try:
            while True:
                failure = ""
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(*self._address, ssl=self._ssl, limit=_LINE_LIMIT), CONNECT_TIMEOUT_S
                    )
                    try:
                        await self._login(reader, writer)
                        backoff.reset()
                        self._writer = writer
                        poster = asyncio.create_task(self._post_queued(writer), name="twitch-replies")
                        try:
                            await self._read_chat(reader, writer)
                        finally:
                            poster.cancel()
                    finally:
                        self._writer = None
                        writer.close()
                except OSError as e:  # ConnectionError, TimeoutError and ssl.SSLError among them
                    failure = str(e) or type(e).__name__
                delay = backoff.next()
                if failure:
                    LOG.warning("Twitch chat %s:%d: %s; reconnecting in %g s", *self._address, failure, delay)
                await asyncio.sleep(delay)
        except Exception as e:  # CohostError (refused login), or a bug: messages() raises it
            self._queue.put_nowait(e)

    async def _post_queued(self, writer: asyncio.StreamWriter) -> None:
        """Posts the queued replies on this connection as fast as the rate limit allows."""
        while True:
            self._drop_late(self._send_limit.wait_s())
            if not self._outbox:
                self._outbox_filled.clear()
                await self._outbox_filled.wait()
            elif (wait := self._send_limit.wait_s()) > 0:
                await asyncio.sleep(wait)
            elif self._send_limit.allow():
                _, text = self._outbox.popleft()
                if not await self._post(writer, text):
                    return  # the connection broke: the reader sees it and reconnects

    def _drop_late(self, wait_s: float) -> None:
        """Drops the queued replies that would be posted too late if the next went out in `wait_s`."""
        now = time.monotonic()
        while self._outbox and now + wait_s - self._outbox[0][0] > self._max_send_delay_s:
            self._outbox.popleft()
            LOG.warning("Twitch chat: reply dropped, it could not be posted within %g s (Twitch allows %d "
                        "messages in %g s, or the connection was down)", self._max_send_delay_s,
                        self._send_limit.count, self._send_limit.window_s)  # fmt: skip

    async def _post(self, writer: asyncio.StreamWriter, text: str) -> bool:
        try:
            self._send_line(writer, "PRIVMSG", f"#{self.channel}", text)
            await writer.drain()
        except OSError as e:
            LOG.warning("Twitch chat: reply not posted (%s)", e)
            return False
        return True

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._password:
            self._send_line(writer, "PASS", self._password)
        self._send_line(writer, "NICK", self.nick)
        self._send_line(writer, "USER", self.nick, "0", "*", self.nick)  # Twitch ignores it; IRC needs it
        async with asyncio.timeout(LOGIN_TIMEOUT_S):
            while (msg := await self._read(reader)).command != "001":
                if login_refused(msg):
                    raise CohostError(f"Twitch refused the login for {self.nick}: check [twitch] token")
                if msg.command == "433":  # a plain IRC server still holding our last connection
                    raise ConnectionError(f"nick {self.nick} is still in use")
                await self._answer(msg, writer)
        # Asked for only now: a plain IRC server holds the registration of a client that asks before
        # it until CAP END. A server without these capabilities answers NAK, and chat still works.
        self._send_line(writer, "CAP", "REQ", "twitch.tv/tags twitch.tv/commands")
        self._send_line(writer, "JOIN", f"#{self.channel}")
        await writer.drain()
        LOG.info("Twitch chat: joined #%s as %s", self.channel, self.nick)

    async def _read_chat(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            msg = await self._read(reader)
            if msg.command == "RECONNECT":  # Twitch is about to restart this server
                raise ConnectionError("Twitch asked to reconnect")
            if msg.command == "NOTICE" and msg.tags.get("msg-id") == "msg_channel_suspended":
                raise CohostError(
                    f"Twitch channel {self.channel} does not exist or is suspended: check [twitch] channel"
                )
            if msg.command == "USERSTATE" and msg.params[:1] == (f"#{self.channel}",):
                self._send_limit.count = MOD_SEND_LIMIT if is_moderator(msg) else self._user_limit
            if chat := to_chat_message(msg, self.channel, self.nick):
                self._queue.put_nowait(chat)
            else:
                await self._answer(msg, writer)

    async def _answer(self, msg: IrcMessage, writer: asyncio.StreamWriter) -> None:
        """What every phase of the connection does with PING and ERROR."""
        if msg.command == "PING":
            self._send_line(writer, "PONG", *msg.params)
            await writer.drain()
        elif msg.command == "ERROR":
            raise ConnectionError(f"the server closed the connection: {msg.trailing}")

    async def _read(self, reader: asyncio.StreamReader) -> IrcMessage:
        while True:
            try:
                raw = await reader.readline()
            except ValueError as e:  # over _LINE_LIMIT: the stream cannot be resynchronised
                raise ConnectionError("the server sent an overlong line") from e
            if not raw:
                raise ConnectionError("the server closed the connection")
            line = raw.decode("utf-8", "replace")
            LOG.debug("twitch < %s", line.rstrip("\r\n"))
            try:
                return parse_line(line)
            except IrcLineError as e:
                LOG.debug("twitch: skipped %s", e)

    def _send_line(self, writer: asyncio.StreamWriter, command: str, *params: str) -> None:
        writer.write(format_line(command, *params).encode())
        LOG.debug("twitch > %s", "PASS ***" if command == "PASS" else " ".join((command, *params)))
