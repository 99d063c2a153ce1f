"""YouTube Live chat through the Data API v3: polls liveChat/messages at the pace the API asks for.

An API key reads; an OAuth access token also lets the co-host reply in chat. Each call costs quota
(a poll 5 units, a reply 50, of a default 10,000 a day): polls are never faster than
pollingIntervalMillis, and are spread so the day's quota lasts [youtube] stream_hours (engine.chat.quota).
A spent quota is a one-line error, not a retry loop. The key rides in the query string, so no URL is
ever logged or put in an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, NoReturn

import aiohttp

from engine.chat.http import Backoff, Reply, Sleep, TransientError, json_field, pause, request_json
from engine.chat.message import ChatMessage
from engine.chat.quota import LOOKUP_UNITS, POLL_UNITS, SEND_UNITS, QuotaBudget
from engine.chat.replies import shorten
from engine.config import YoutubeConfig, state_dir
from engine.errors import CohostError
from engine.secrets import redact, register_secret

log = logging.getLogger(__name__)

MIN_POLL_S = 1.0  # whatever the API says: a faster poll would only burn quota
MAX_SEND_CHARS = 200  # YouTube's limit for a chat message
QUOTA_FILE = "youtube-quota.json"  # in state_dir(): the units spent today, across restarts
BADGES = (("isChatOwner", "owner"), ("isChatModerator", "moderator"), ("isChatSponsor", "member"),
          ("isVerified", "verified"))  # fmt: skip


class ChatEnded(Exception):
    """The live chat is over (the stream ended): messages() stops without an error."""


class YoutubeSource:
    name = "youtube"

    def __init__(self, config: YoutubeConfig, *, sleep: Sleep = asyncio.sleep,
                 quota: QuotaBudget | None = None) -> None:  # fmt: skip
        """`sleep` waits between polls and before retries; tests pass one that records the delays, and
        a `quota` of their own (by default: [youtube] daily_quota and stream_hours, counted in state_dir())."""
        if not config.api_key and not config.oauth_token:
            raise CohostError(
                "YouTube chat needs [youtube] api_key or oauth_token "
                "(or COHOST_YOUTUBE_API_KEY / COHOST_YOUTUBE_OAUTH_TOKEN)"
            )
        if any(c in config.oauth_token + config.api_key for c in "\r\n"):
            raise CohostError("[youtube] api_key and oauth_token must be one line each")
        if not config.live_chat_id and not config.video_id:
            raise CohostError("set [youtube] video_id (the v=... of your live stream) or live_chat_id")
        if config.daily_quota < POLL_UNITS or config.stream_hours <= 0:
            raise CohostError(f"[youtube] daily_quota must be at least {POLL_UNITS} units and stream_hours above 0")
        self.config = config
        self._sleep = sleep
        self._quota = quota or QuotaBudget(state_dir() / QUOTA_FILE, config.daily_quota, config.stream_hours * 3600)
        self._closed = asyncio.Event()
        self._chat_id = config.live_chat_id
        # An OAuth token goes in a header; a key can only go in the query string.
        self._auth_headers = {"Authorization": f"Bearer {config.oauth_token}"} if config.oauth_token else {}
        self._auth_params = {} if config.oauth_token else {"key": config.api_key}
        self._secrets = [s for s in (config.api_key, config.oauth_token) if s]
        for secret in self._secrets:
            register_secret(secret)

    async def messages(self) -> AsyncIterator[ChatMessage]:
        started = time.time()
        page_token = ""
        first_page = True
        backoff = Backoff(first_s=2.0)
        quota = self._quota
        log.info("YouTube chat: %d of %d quota units left today; polls at least %.1f s apart so they last "
                 "%g h", quota.left(), quota.daily_units, max(MIN_POLL_S, quota.interval_s()),
                 self.config.stream_hours)  # fmt: skip
        async with aiohttp.ClientSession() as session:
            while not self._closed.is_set():
                try:
                    page = await self._list(session, page_token)
                except TransientError as e:
                    delay = backoff.next()
                    log.warning("YouTube chat: %s; trying again in %g s", e, delay)
                    if not await pause(delay, self._closed, self._sleep):
                        return
                    continue
                except ChatEnded as e:
                    log.info("YouTube chat: %s", e)
                    return
                backoff.reset()
                for item in _list_of(page.get("items")):
                    message = item_to_message(item)
                    # The first page is the chat's recent history: answering it would answer the past.
                    if message and not (first_page and message.time < started):
                        yield message
                first_page = False
                next_token = page.get("nextPageToken")
                page_token = next_token if isinstance(next_token, str) and next_token else page_token
                if page.get("offlineAt"):
                    log.info("YouTube chat: the stream went offline at %s", page["offlineAt"])
                    return
                interval = page.get("pollingIntervalMillis")
                wait = interval / 1000 if isinstance(interval, (int, float)) else 0.0
                if not await pause(max(MIN_POLL_S, wait, quota.interval_s()), self._closed, self._sleep):
                    return

    async def send(self, text: str) -> bool:
        """Posts `text` as the OAuth token's channel; False with only an API key (it cannot post)."""
        if not self.config.oauth_token:
            return False
        async with aiohttp.ClientSession() as session:
            try:
                chat_id = await self._live_chat_id(session)
                body = {
                    "snippet": {
                        "liveChatId": chat_id,
                        "type": "textMessageEvent",
                        "textMessageDetails": {"messageText": shorten(text, MAX_SEND_CHARS)},
                    }
                }
                await self._call(session, "POST", "/liveChat/messages", "YouTube chat post", SEND_UNITS,
                                 {"part": "snippet"}, body)  # fmt: skip
            except (CohostError, ChatEnded) as e:
                log.warning("YouTube chat: could not post: %s", e)
                return False
        return True

    async def close(self) -> None:
        self._closed.set()

    async def _list(self, session: aiohttp.ClientSession, page_token: str) -> dict[str, Any]:
        chat_id = await self._live_chat_id(session)
        params = {"liveChatId": chat_id, "part": "snippet,authorDetails"}
        if page_token:
            params["pageToken"] = page_token
        return await self._call(session, "GET", "/liveChat/messages", "YouTube chat poll", POLL_UNITS, params)

    async def _live_chat_id(self, session: aiohttp.ClientSession) -> str:
        if not self._chat_id:
            video = self.config.video_id
            page = await self._call(
                session,
                "GET",
                "/videos",
                "YouTube video lookup",
                LOOKUP_UNITS,
                {"part": "liveStreamingDetails", "id": video},
            )
            items = _list_of(page.get("items"))
            if not items:
                raise CohostError(f"YouTube video {video} not found (check [youtube] video_id)")
            chat_id = json_field(items[0], "liveStreamingDetails", "activeLiveChatId")
            if not isinstance(chat_id, str) or not chat_id:
                raise CohostError(f"YouTube video {video} has no active live chat (is the stream live?)")
            self._chat_id = chat_id
        return self._chat_id

    async def _call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        what: str,
        units: int,
        params: dict[str, str],
        body: Any = None,
    ) -> dict[str, Any]:
        """One API call, charged to the quota first (`units`); past the budget it is not made at all."""
        if not self._quota.charge(units):
            raise CohostError(
                f"{what}: today's YouTube quota is spent ({self._quota.spent()} of "
                f"{self._quota.daily_units} units, [youtube] daily_quota); it resets at midnight "
                "Pacific time"
            )
        reply = await request_json(
            session,
            method,
            self.config.api_url.rstrip("/") + path,
            what=what,
            secrets=self._secrets,
            params={**params, **self._auth_params},
            headers=self._auth_headers,
            body=body,
        )
        if reply.status >= 400:
            self._raise_api_error(reply, what)
        if not isinstance(reply.body, dict):
            raise TransientError(f"{what}: HTTP {reply.status}, unexpected reply")
        return reply.body

    def _raise_api_error(self, reply: Reply, what: str) -> NoReturn:
        """Google's error reply ({"error": {"code", "message", "errors": [{"reason"}]}}) as what to do."""
        error = reply.body.get("error") if isinstance(reply.body, dict) else None
        reasons = [e.get("reason") for e in _list_of(json_field(error, "errors")) if isinstance(e, dict)]
        reason = next((r for r in reasons if isinstance(r, str)), "")
        detail = json_field(error, "message")
        detail = redact(" ".join(detail.split()), self._secrets)[:200] if isinstance(detail, str) else ""
        chat = self._chat_id or self.config.video_id
        if reason == "rateLimitExceeded":
            raise TransientError(f"{what}: YouTube says too many requests")
        if reason in ("quotaExceeded", "dailyLimitExceeded"):
            raise CohostError(
                "YouTube API quota used up for today; it resets at midnight Pacific time "
                "(or ask Google for more in the Cloud console)"
            )
        if reason == "liveChatEnded":
            raise ChatEnded(f"live chat {chat} has ended")
        if reason == "liveChatNotFound":
            raise CohostError(f"YouTube live chat {chat} not found (check [youtube] video_id / live_chat_id)")
        if reason == "liveChatDisabled":
            raise CohostError(f"YouTube live chat {chat} is disabled for this stream")
        if reply.status == 401 or reason in ("keyInvalid", "authError"):
            raise CohostError(
                f"YouTube refused the credentials (HTTP {reply.status}): check [youtube] api_key "
                "or oauth_token (an OAuth token expires after an hour)"
            )
        raise CohostError(f"{what} failed: HTTP {reply.status} {reason or 'error'}{': ' + detail if detail else ''}")


def item_to_message(item: Any) -> ChatMessage | None:
    """A liveChatMessage resource as a ChatMessage; None for events that are not chat (deletions, bans,
    polls) and for anything not shaped like the API's resources."""
    snippet, author = json_field(item, "snippet"), json_field(item, "authorDetails")
    if not isinstance(snippet, dict) or not isinstance(author, dict):
        return None
    kind_and_text = _kind_and_text(snippet)
    user, published = author.get("displayName"), _parse_time(snippet.get("publishedAt"))
    if kind_and_text is None or not isinstance(user, str) or published is None:
        return None
    kind, text, amount, currency = kind_and_text
    item_id, channel = item.get("id"), author.get("channelId")
    return ChatMessage(
        platform="youtube",
        user=user,
        text=text,
        kind=kind,
        amount=amount,
        currency=currency,
        time=published,
        user_id=channel if isinstance(channel, str) else "",
        badges=tuple(badge for flag, badge in BADGES if author.get(flag) is True),
        id=item_id if isinstance(item_id, str) else "",
    )


def _kind_and_text(snippet: dict[str, Any]) -> tuple[str, str, float, str] | None:
    """(kind, text, amount, currency) of the message types the co-host may answer; None for the rest."""
    kind, shown = snippet.get("type"), _text(snippet.get("displayMessage"))
    if kind == "textMessageEvent":
        text = json_field(snippet, "textMessageDetails", "messageText")
        return ("chat", text, 0.0, "") if isinstance(text, str) else None
    if kind == "superChatEvent":
        details = snippet.get("superChatDetails")
        return _paid(details, json_field(details, "userComment"), "Super Chat")
    if kind == "superStickerEvent":
        details = snippet.get("superStickerDetails")
        return _paid(details, json_field(details, "superStickerMetadata", "altText"), "Super Sticker")
    if kind == "newSponsorEvent":
        return "member", shown or "New member", 0.0, ""
    if kind == "memberMilestoneChatEvent":
        comment = _text(json_field(snippet, "memberMilestoneChatDetails", "userComment"))
        return "member", comment or shown or "Member milestone", 0.0, ""
    if kind == "membershipGiftingEvent":
        count = json_field(snippet, "membershipGiftingDetails", "giftMembershipsCount")
        gifted = f"Gifted {count} memberships" if type(count) is int else shown or "Gifted memberships"
        return "member", gifted, 0.0, ""
    return None


def _paid(details: Any, said: Any, fallback: str) -> tuple[str, str, float, str] | None:
    amount, currency = _micros(json_field(details, "amountMicros")), json_field(details, "currency")
    if amount is None or not isinstance(currency, str):
        return None
    return "superchat", _text(said) or fallback, amount, currency


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list_of(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _micros(value: Any) -> float | None:
    """amountMicros: an unsigned long, which Google's JSON sends as a string."""
    if isinstance(value, bool):
        return None
    try:
        amount = int(value) / 1e6
    except (TypeError, ValueError, OverflowError):
        return None
    return amount if amount >= 0 else None


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
