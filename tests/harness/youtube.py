"""A stand-in for the YouTube Data API v3 (Google's API cannot run here): a local aiohttp server on a
free loopback port that replays recorded responses (tests/data/youtube/*.json, shaped like the real
API's) and records what it was asked.

    api = RecordedApi()
    runner = await serving(api)   # api.url is then what [youtube] api_url points at
    ...
    await runner.cleanup()
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.config import YoutubeConfig
from tests.harness.web import serve_app

DATA = Path(__file__).parent.parent / "data" / "youtube"
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
        self.seen.append(
            Seen(request.method, request.path, dict(request.query), request.headers.get("Authorization"), body)
        )

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
            now = datetime.now(UTC).isoformat()
            page["items"][-1]["snippet"]["publishedAt"] = now
        return web.json_response(page)

    @staticmethod
    def _file(name: str) -> web.Response:
        body = recorded(name)
        return web.json_response(body, status=body.get("error", {}).get("code", 200))

    def polls(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/youtube/v3/liveChat/messages" and s.method == "GET"]

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]


async def serving(api: RecordedApi) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/youtube/v3/videos", api.videos_route)
    app.router.add_route("*", "/youtube/v3/liveChat/messages", api.messages_route)
    runner, port = await serve_app(app)
    api.url = f"http://127.0.0.1:{port}/youtube/v3"
    return runner


def youtube_config(api: RecordedApi, **changes: Any) -> YoutubeConfig:
    """Reads `api` with the API key. The quota is as good as unlimited, so only the API's pacing
    counts (tests of the quota budget set their own)."""
    base = YoutubeConfig(video_id=VIDEO, live_chat_id="", api_key=KEY, oauth_token="", api_url=api.url,
                         reply_in_chat=False, daily_quota=10**9, stream_hours=4.0)  # fmt: skip
    return replace(base, **changes)
