"""YouTube chat, end to end: a viewer's question in a recorded YouTube live chat (replayed by the
Data API stand-in of tests/harness/youtube.py: Google's API cannot run here) is answered aloud by the
live engine, and with [youtube] reply_in_chat the answer is posted back in that chat with the OAuth
token, addressed to the viewer."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from engine.chat.youtube import YoutubeSource
from tests.harness.live import Heard, small_conversation
from tests.harness.youtube import CHAT_ID, TOKEN, RecordedApi, Seen, serving, youtube_config


def first_post(api: RecordedApi, timeout: float = 60.0) -> Seen:
    deadline = time.monotonic() + timeout
    while not api.posts():
        assert time.monotonic() < deadline, "no reply was posted in YouTube chat"
        time.sleep(0.05)
    return api.posts()[0]


def test_a_youtube_question_is_answered_aloud_and_in_chat(config) -> None:
    api, heard = RecordedApi(), Heard()

    def converse() -> tuple[str, str, Seen]:
        youtube = youtube_config(api, api_key="", oauth_token=TOKEN, reply_in_chat=True)
        with small_conversation(dataclasses.replace(config, youtube=youtube),
                                sources=[YoutubeSource(youtube)]) as conversation:  # fmt: skip
            conversation.sinks.append(heard)
            question = heard.wait("speaking_started")[0].question
            spoken = heard.wait("speaking_ended")[0].text
            return question, spoken, first_post(api)

    async def scenario() -> tuple[str, str, Seen]:
        runner = await serving(api)
        try:
            return await asyncio.to_thread(converse)
        finally:
            await runner.cleanup()

    question, spoken, posted = asyncio.run(scenario())
    assert question == "Lena Vogel: Nova are you there?"  # the one line written after the co-host started
    assert posted.authorization == f"Bearer {TOKEN}"
    assert posted.body == {
        "snippet": {
            "liveChatId": CHAT_ID,
            "type": "textMessageEvent",
            "textMessageDetails": {"messageText": f"@Lena Vogel {spoken}"},
        }
    }
    assert spoken and all(seen.authorization == f"Bearer {TOKEN}" for seen in api.seen)
