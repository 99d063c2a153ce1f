"""YouTube Live chat against recorded Data API v3 responses, replayed by a local stand-in server that
config.api_url points at (tests/harness/youtube.py: Google's API cannot run here); the source under
test is the real one. Sleeps are recorded, not waited, so the pacing is checked without wall-clock waits."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.chat.message import ChatMessage
from engine.chat.quota import PACIFIC, QuotaBudget
from engine.chat.youtube import MAX_SEND_CHARS, YoutubeSource, item_to_message
from engine.config import YoutubeConfig
from engine.errors import CohostError
from tests.harness.web import Sleeps
from tests.harness.youtube import CHAT_ID, KEY, PAGES, TOKEN, VIDEO, RecordedApi, serving, youtube_config


@pytest.fixture
def api() -> RecordedApi:
    return RecordedApi()


async def collect(messages: AsyncIterator[ChatMessage]) -> list[ChatMessage]:
    return [m async for m in messages]


def run_source(api: RecordedApi, quota: QuotaBudget | None = None,
               **changes: Any) -> tuple[list[ChatMessage], Sleeps]:  # fmt: skip
    """Reads chat until the source ends (the recorded chat ends after the last page)."""
    sleeps = Sleeps()

    async def main() -> list[ChatMessage]:
        runner = await serving(api)
        try:
            source = YoutubeSource(youtube_config(api, **changes), sleep=sleeps, quota=quota)
            return await asyncio.wait_for(collect(source.messages()), 30)
        finally:
            await runner.cleanup()

    return asyncio.run(main()), sleeps


def raised_by(api: RecordedApi, quota: QuotaBudget | None = None, **changes: Any) -> str:
    with pytest.raises(CohostError) as caught:
        run_source(api, quota, **changes)
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


def test_waits_the_polling_interval_and_chains_page_tokens(api: RecordedApi, caplog: pytest.LogCaptureFixture) -> None:
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


def test_rate_limits_and_network_errors_are_retried_with_backoff(
    api: RecordedApi, caplog: pytest.LogCaptureFixture
) -> None:
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
        YoutubeSource(YoutubeConfig(video_id=VIDEO, live_chat_id="", api_key="", oauth_token="", api_url="",
                                    reply_in_chat=False, daily_quota=10000, stream_hours=4.0))  # fmt: skip


@pytest.mark.parametrize("changes", [{"daily_quota": 0}, {"stream_hours": 0.0}, {"stream_hours": -1.0}])
def test_a_budget_that_allows_no_polls_is_one_line_error(api: RecordedApi, changes: dict[str, Any]) -> None:
    with pytest.raises(CohostError, match=r"^\[youtube\] daily_quota must be at least 5 units and stream_hours"):
        YoutubeSource(youtube_config(api, **changes))


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
    assert posted.body == {
        "snippet": {
            "liveChatId": CHAT_ID,
            "type": "textMessageEvent",
            "textMessageDetails": {"messageText": "Mine is Celeste."},
        }
    }


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


# ----- the quota budget --------------------------------------------------------------------------------

NOON_PACIFIC = datetime(2024, 5, 4, 12, 0, tzinfo=PACIFIC).timestamp()  # hours from the quota's reset


def budget(tmp_path: Path, daily_units: int, stream_s: float = 2000.0) -> QuotaBudget:
    return QuotaBudget(tmp_path / "quota.json", daily_units, stream_s, clock=lambda: NOON_PACIFIC)


def test_short_polling_intervals_are_stretched_so_the_quota_lasts_the_stream(
        api: RecordedApi, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """1001 units over 2000 s: the lookup costs 1, each poll 5, and the units left after each poll are
    spread evenly over the stream (the API asks for 2, 3.5 and 0.6 s)."""
    caplog.set_level(logging.INFO, logger="engine.chat.youtube")
    quota = budget(tmp_path, 1001)
    _, sleeps = run_source(api, quota)
    assert sleeps.requested == pytest.approx([2000 / 199, 2000 / 198, 2000 / 197])
    assert quota.spent() == 1 + 4 * 5
    assert "1001 of 1001 quota units left today; polls at least 10.0 s apart" in caplog.text


def test_a_spent_budget_stops_polling_with_one_line_error(api: RecordedApi, tmp_path: Path) -> None:
    message = raised_by(api, budget(tmp_path, 16))  # the lookup and three polls
    assert message == ("YouTube chat poll: today's YouTube quota is spent (16 of 16 units, [youtube] daily_quota); "
                       "it resets at midnight Pacific time")  # fmt: skip
    assert len(api.polls()) == 3


def test_a_reply_costs_fifty_units_and_is_not_posted_past_the_budget(api: RecordedApi, tmp_path: Path) -> None:
    quota = budget(tmp_path, 99)

    async def post_twice() -> list[bool]:
        source = YoutubeSource(youtube_config(api, api_key="", oauth_token=TOKEN, live_chat_id=CHAT_ID), quota=quota)
        return [await source.send("first"), await source.send("second")]

    assert serve_and(api, post_twice) == [True, False]
    assert [p.body["snippet"]["textMessageDetails"]["messageText"] for p in api.posts()] == ["first"]
    assert quota.spent() == 50


def test_a_long_reply_is_cut_at_a_word_to_youtubes_limit(api: RecordedApi) -> None:
    async def post() -> bool:
        source = YoutubeSource(youtube_config(api, api_key="", oauth_token=TOKEN, live_chat_id=CHAT_ID))
        return await source.send("word " * 60)

    assert serve_and(api, post) is True
    posted = api.posts()[0].body["snippet"]["textMessageDetails"]["messageText"]
    assert posted == "word " * 39 + "word…" and len(posted) <= MAX_SEND_CHARS
