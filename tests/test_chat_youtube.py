"""YouTube Live chat against recorded Data API v3 responses (tests/data/youtube/*.json, shaped like the
real API's), replayed by a local aiohttp server on a free loopback port that config.api_url points at.
Google's API cannot run here, so that server stands in for it; the source under test is the real one.
Sleeps are recorded, not waited, so the pacing is checked without wall-clock waits."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp import web

from engine.chat.message import ChatMessage
from engine.chat.youtube import YoutubeSource, item_to_message
from engine.config import YoutubeConfig
from engine.errors import CohostError
from tests.harness.web import Sleeps, serve_app

DATA = Path(__file__).parent / "data" / "youtube"
KEY = "AIzaSyTestKey-4f9Qx2Lm7Vb0Rt"
TOKEN = "ya29.a0TestOAuthToken-Kp3Zx8Wq"
VIDEO = "jfKfPfyJRdk"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


PAGES = [recorded(f"messages_page{n}.json") for n in (1, 2, 3)]
CHAT_ID = recorded("videos_live.json")["items"][0]["liveStreamingDetails"]["activeLiveChatId"]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any


@dataclass
class RecordedApi:
    """Serves the recorded pages in pageToken order, then "live chat ended". `upsets` are answered
    first, one per chat poll: "cut" (the connection drops mid-reply), an HTTP status, or a recorded error file."""

    videos: str = "videos_live.json"
    upsets: list[Any] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    async def _record(self, request: web.Request) -> None:
        body = await request.json() if request.can_read_body else None
        self.seen.append(Seen(request.method, request.path, dict(request.query),
                              request.headers.get("Authorization"), body))

    async def videos_route(self, request: web.Request) -> web.Response:
        await self._record(request)
        return self._file(self.videos)

    async def messages_route(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if request.method == "POST":
            return self._file("message_inserted.json")
        if self.upsets:
            upset = self.upsets.pop(0)
            if upset == "cut":  # the reply breaks off mid-body, as on a dropped connection
                response = web.StreamResponse(headers={"Content-Type": "application/json"})
                response.content_length = 4096
                await response.prepare(request)
                await response.write(b'{"kind": "youtube#liveChatMessageListResponse", ')
                assert request.transport is not None
                request.transport.close()
                return response
            if isinstance(upset, int):
                return web.Response(status=upset, text="<html>Service Unavailable</html>")
            return self._file(upset)
        token = request.query.get("pageToken", "")
        tokens = [""] + [page["nextPageToken"] for page in PAGES]
        if tokens.index(token) == len(PAGES):
            return self._file("error_live_chat_ended.json")
        page = json.loads(json.dumps(PAGES[tokens.index(token)]))
        if token == "":
            # The last backlog line is moved to "now": a viewer who wrote after the co-host started.
            now = datetime.now(timezone.utc).isoformat()
            page["items"][-1]["snippet"]["publishedAt"] = now
        return web.json_response(page)

    @staticmethod
    def _file(name: str) -> web.Response:
        body = recorded(name)
        return web.json_response(body, status=body.get("error", {}).get("code", 200))

    def polls(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/youtube/v3/liveChat/messages" and s.method == "GET"]


@pytest.fixture
def api() -> RecordedApi:
    return RecordedApi()


async def serving(api: RecordedApi) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/youtube/v3/videos", api.videos_route)
    app.router.add_route("*", "/youtube/v3/liveChat/messages", api.messages_route)
    runner, port = await serve_app(app)
    api.url = f"http://127.0.0.1:{port}/youtube/v3"
    return runner


def youtube_config(api: RecordedApi, **changes: Any) -> YoutubeConfig:
    base = YoutubeConfig(video_id=VIDEO, live_chat_id="", api_key=KEY, oauth_token="", api_url=api.url)
    return replace(base, **changes)


async def collect(messages: AsyncIterator[ChatMessage]) -> list[ChatMessage]:
    return [m async for m in messages]


def run_source(api: RecordedApi, **changes: Any) -> tuple[list[ChatMessage], Sleeps]:
    """Reads chat until the source ends (the recorded chat ends after the last page)."""
    sleeps = Sleeps()

    async def main() -> list[ChatMessage]:
        runner = await serving(api)
        try:
            source = YoutubeSource(youtube_config(api, **changes), sleep=sleeps)
            return await asyncio.wait_for(collect(source.messages()), 30)
        finally:
            await runner.cleanup()

    return asyncio.run(main()), sleeps


def raised_by(api: RecordedApi, **changes: Any) -> str:
    with pytest.raises(CohostError) as caught:
        run_source(api, **changes)
    return str(caught.value)


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def test_maps_chat_superchats_stickers_and_memberships(api: RecordedApi) -> None:
    messages, _ = run_source(api)
    new = messages[1:]  # after the one fresh line of the first page
    assert [(m.kind, m.user, m.text, m.amount, m.currency) for m in new] == [
        ("superchat", "Ravi Patel", "Nova, what's your favourite game?", 5.0, "USD"),
        ("superchat", "Lena Vogel", "A cat dancing", 2.0, "EUR"),
        ("member", "Sam Okafor", "Welcome to Forge Crew!", 0.0, ""),
        ("member", "Ravi Patel", "six months already!", 0.0, ""),
        ("member", "Jo Park", "Gifted 5 memberships", 0.0, ""),
        ("chat", "Nightbot", "Please keep chat friendly!", 0.0, ""),  # the deletion event is not chat
    ]
    superchat, nightbot = new[0], new[-1]
    assert superchat.user_id == "UC4nL7eQpX0sTzK2aWd9mVbg"
    assert superchat.badges == ("member",)
    assert superchat.time == at("2024-05-04T18:22:41.031517+00:00")
    assert superchat.id == PAGES[1]["items"][0]["id"]
    assert nightbot.badges == ("moderator", "verified")
    assert all(m.platform == "youtube" for m in messages)


def broken(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """The recorded Super Chat with the field at `path` set to `value`."""
    item = json.loads(json.dumps(PAGES[1]["items"][0]))
    node = item
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return item


@pytest.mark.parametrize("item", [
    broken(("snippet", "superChatDetails", "amountMicros"), "five dollars"),
    broken(("snippet", "superChatDetails", "amountMicros"), "-5000000"),
    broken(("snippet", "superChatDetails"), None),
    broken(("snippet", "publishedAt"), "yesterday"),
    broken(("snippet", "type"), "pollEvent"),
    broken(("authorDetails",), ["Ravi"]),
    broken(("authorDetails", "displayName"), 42),
    broken(("snippet",), "superChatEvent"),
    None,
])  # fmt: skip
def test_items_not_shaped_like_chat_map_to_none(item: Any) -> None:
    assert item_to_message(item) is None


def test_skips_the_backlog_of_the_first_page(api: RecordedApi) -> None:
    messages, _ = run_source(api)
    assert messages[0].text == "Nova are you there?"  # written after the start; the two before it are not
    assert {"first! hi everyone", "welcome in, we start in a minute"}.isdisjoint(m.text for m in messages)


def test_waits_the_polling_interval_and_chains_page_tokens(api: RecordedApi,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.chat")
    run_source(api)
    polls = api.polls()
    assert [p.query.get("pageToken", "") for p in polls] == [""] + [page["nextPageToken"] for page in PAGES]
    assert all(p.query["liveChatId"] == CHAT_ID and p.query["part"] == "snippet,authorDetails" for p in polls)
    assert "live chat" in caplog.text and "has ended" in caplog.text


def test_sleeps_what_polling_interval_millis_asks_but_at_least_a_second(api: RecordedApi) -> None:
    _, sleeps = run_source(api)
    assert sleeps.requested == [2.0, 3.5, 1.0]  # pollingIntervalMillis 2000, 3500, then 600 raised to 1 s


def test_finds_the_live_chat_of_the_video_with_the_api_key(api: RecordedApi) -> None:
    run_source(api)
    lookups = [s for s in api.seen if s.path.endswith("/videos")]
    assert len(lookups) == 1
    assert lookups[0].query == {"part": "liveStreamingDetails", "id": VIDEO, "key": KEY}
    assert all(s.query["key"] == KEY and s.authorization is None for s in api.seen)


def test_rate_limits_and_network_errors_are_retried_with_backoff(api: RecordedApi,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    api.upsets = ["cut", 503, "error_rate_limit_exceeded.json"]
    messages, sleeps = run_source(api)
    assert sleeps.requested == [2.0, 4.0, 8.0, 2.0, 3.5, 1.0]
    assert len(messages) == 7  # nothing lost: the same pages after the retries
    assert caplog.text.count("trying again") == 3 and KEY not in caplog.text


def test_spent_quota_is_one_line_error_without_the_key(api: RecordedApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.upsets = ["error_quota_exceeded.json"]
    message = raised_by(api)
    assert message.startswith("YouTube API quota used up for today")
    assert "\n" not in message and KEY not in message
    assert KEY not in caplog.text


def test_refused_oauth_token_is_one_line_error(api: RecordedApi) -> None:
    api.upsets = ["error_auth.json"]
    message = raised_by(api, api_key="", oauth_token=TOKEN, live_chat_id=CHAT_ID)
    assert "refused the credentials" in message
    assert "\n" not in message and TOKEN not in message


def test_video_without_a_live_chat_is_one_line_error() -> None:
    api = RecordedApi(videos="videos_ended.json")
    assert raised_by(api) == f"YouTube video {VIDEO} has no active live chat (is the stream live?)"


def test_unknown_live_chat_is_one_line_error(api: RecordedApi) -> None:
    api.upsets = ["error_live_chat_not_found.json"]
    message = raised_by(api, live_chat_id="Cg0KC2Rvb21lZA", video_id="")
    assert message.startswith("YouTube live chat Cg0KC2Rvb21lZA not found")


def test_no_key_and_no_token_is_one_line_error() -> None:
    with pytest.raises(CohostError, match="needs \\[youtube\\] api_key or oauth_token"):
        YoutubeSource(YoutubeConfig(video_id=VIDEO, live_chat_id="", api_key="", oauth_token="", api_url=""))


def serve_and(api: RecordedApi, work: Any) -> Any:
    async def main() -> Any:
        runner = await serving(api)
        try:
            return await asyncio.wait_for(work(), 30)
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def test_oauth_token_posts_the_reply_in_chat(api: RecordedApi) -> None:
    async def post() -> bool:
        source = YoutubeSource(youtube_config(api, api_key="", oauth_token=TOKEN, live_chat_id=CHAT_ID))
        return await source.send("Mine is Celeste.")

    assert serve_and(api, post) is True
    [posted] = api.seen
    assert (posted.method, posted.query, posted.authorization) == ("POST", {"part": "snippet"}, f"Bearer {TOKEN}")
    assert posted.body == {"snippet": {"liveChatId": CHAT_ID, "type": "textMessageEvent",
                                       "textMessageDetails": {"messageText": "Mine is Celeste."}}}


def test_api_key_alone_cannot_post(api: RecordedApi) -> None:
    async def post() -> bool:
        return await YoutubeSource(youtube_config(api)).send("hello")

    assert serve_and(api, post) is False
    assert api.seen == []


def test_close_ends_messages_during_the_wait(api: RecordedApi) -> None:
    waiting = asyncio.Event()

    async def endless(seconds: float) -> None:  # a wait that only close() can cut short
        waiting.set()
        await asyncio.Event().wait()

    async def read_then_close() -> list[ChatMessage]:
        source = YoutubeSource(youtube_config(api), sleep=endless)
        reading = asyncio.create_task(collect(source.messages()))
        await waiting.wait()
        await source.close()
        return await reading

    assert [m.text for m in serve_and(api, read_then_close)] == ["Nova are you there?"]
    assert len(api.polls()) == 1
