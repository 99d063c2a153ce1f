"""Answers posted back in chat: how the line reads, and which platforms get them ([PLATFORM]
reply_in_chat, with what posting there needs)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from engine.app.session import reply_platforms
from engine.chat.message import ChatMessage
from engine.chat.replies import reply_line, shorten


def test_reply_is_addressed_to_the_viewer():
    assert reply_line(ChatMessage("twitch", "ann_99", "hi"), "Hello Ann!") == "@ann_99 Hello Ann!"
    assert reply_line(ChatMessage("youtube", "@RaviPlays", "hi"), "Hi Ravi.") == "@RaviPlays Hi Ravi."


@pytest.mark.parametrize(("text", "limit", "short"), [
    ("fits as it is", 13, "fits as it is"),
    ("cut after the last whole word", 16, "cut after the…"),
    ("cut after the last whole word", 15, "cut after the…"),
    ("onelongwordwithoutspaces", 10, "onelongwo…"),
    ("没有空格的中文句子", 5, "没有空格…"),
])  # fmt: skip
def test_shorten_cuts_at_a_word_and_marks_the_cut(text: str, limit: int, short: str):
    assert shorten(text, limit) == short
    assert len(shorten(text, limit)) <= limit


def with_replies(config, **changes):
    """`config` with reply_in_chat on everywhere and these [twitch]/[youtube]/[bilibili] changes."""
    sections = {
        name: dataclasses.replace(getattr(config, name), reply_in_chat=True, **changes.get(name, {}))
        for name in ("twitch", "youtube", "bilibili")
    }
    return dataclasses.replace(config, **sections)


def test_platforms_with_what_posting_needs_get_replies(config, caplog: pytest.LogCaptureFixture):
    ready = with_replies(config, twitch={"nick": "novabot", "token": "t0kent0kent0ken"},
                         youtube={"oauth_token": "ya29.t0ken"},
                         bilibili={"cookie": "SESSDATA=abc123; bili_jct=0f1e2d3c; DedeUserID=42"})  # fmt: skip
    assert reply_platforms(ready, ["twitch", "youtube", "bilibili", "console"]) == ["twitch", "youtube", "bilibili"]
    assert reply_platforms(ready, ["youtube"]) == ["youtube"]  # only where chat is read
    assert caplog.records == []


def test_missing_credentials_are_one_warning_each_and_no_replies(config, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="engine.app.session")
    bare = with_replies(config, twitch={"nick": "novabot", "token": ""}, youtube={"api_key": "AIzaKey"},
                        bilibili={"cookie": "buvid3=xyz; SESSDATA=abc123"})  # fmt: skip
    assert reply_platforms(bare, ["twitch", "youtube", "bilibili"]) == []
    assert [r.getMessage() for r in caplog.records] == [
        "[twitch] reply_in_chat is on, but nick and token are needed (anonymous chat only reads): "
        "answers are not posted in twitch chat",
        "[youtube] reply_in_chat is on, but oauth_token is empty (an API key only reads): "
        "answers are not posted in youtube chat",
        "[bilibili] reply_in_chat is on, but the cookie has no bili_jct (copy the whole Cookie header of a "
        "signed-in browser): answers are not posted in bilibili chat",
    ]
    assert "abc123" not in caplog.text


def test_replies_are_off_by_default(config):
    assert reply_platforms(config, ["twitch", "youtube", "bilibili"]) == []
