"""Twitch chat, end to end: a viewer on a real IRC server (ngircd, on loopback) asks the co-host a
question; the live engine speaks the scripted brain's answer with the question shown, and the answer
is posted back in chat from the co-host's account."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.chat.twitch import TwitchSource
from tests.harness.irc import IrcServer, IrcViewer
from tests.harness.live import Heard, small_conversation

TOKEN = "e2etoken0123456789abcdef"


@pytest.fixture(scope="module")
def ircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    with IrcServer(tmp_path_factory.mktemp("ircd"), password=f"oauth:{TOKEN}") as server:
        yield server


def test_a_twitch_question_is_answered_aloud_and_in_chat(config, ircd: IrcServer, tmp_path: Path) -> None:
    twitch = dataclasses.replace(
        config.twitch,
        channel="streamer",
        nick="novabot",
        token=TOKEN,
        server="127.0.0.1",
        port=ircd.port,
        tls=False,
        reply_in_chat=True,
    )
    heard = Heard()

    async def scenario() -> str:
        viewer = await IrcViewer.connect(ircd.port, "viewer3", "#streamer", password=f"oauth:{TOKEN}")
        try:
            await viewer.wait_member("novabot")
            await viewer.say("gg")  # not for the co-host
            await viewer.say("Nova, who are you?")
            started = await asyncio.to_thread(heard.wait, "speaking_started")
            assert started[0].question == "viewer3: Nova, who are you?"
            reply = await viewer.wait_for(lambda m: m.command == "PRIVMSG" and m.nick == "novabot", timeout=60)
            return reply.params[1]
        finally:
            await viewer.close()

    with small_conversation(dataclasses.replace(config, twitch=twitch), sources=[TwitchSource(twitch)]) as conversation:
        conversation.sinks.append(heard)
        posted = asyncio.run(scenario())
        spoken = heard.wait("speaking_ended")[0].text
        outcomes = dict(conversation.outcomes)
    assert posted == f"@viewer3 {spoken}" and "Nova" in spoken
    assert outcomes == {"ignored": 1, "queued": 1}
