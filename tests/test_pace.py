"""Told it talks too fast, the co-host says its last answer again, slower (a fixed trigger): the
phrases that trigger it, in Chinese and English, and those that must not; then with a real live
engine (espeak voice), the real scripted brain and the conversation."""

from __future__ import annotations

import pytest

from engine.chat.message import ChatMessage
from engine.conversation.pace import asks_to_slow_down
from tests.harness.live import Heard, small_conversation


@pytest.mark.parametrize(
    "text",
    ["讲得太快了", "主播你说得太快了吧", "语速太快", "说慢点好吗", "慢一点说", "念得有点快",
     "you talk too fast", "Nova you're talking way too fast", "can you speak slower", "too fast to follow",
     "slow down your talking please"],
)  # fmt: skip
def test_a_complaint_about_the_co_hosts_pace_slows_it_down(text):
    assert asks_to_slow_down(text)


@pytest.mark.parametrize(
    "text",
    ["这车太快了", "他跑得太快了", "快点开始吧", "slow down, the boss is coming", "that was fast", "fast food",
     "Nova, who are you?"],
)  # fmt: skip
def test_speed_that_is_not_about_its_voice_leaves_it_alone(text):
    assert not asks_to_slow_down(text)


def test_told_it_talks_too_fast_it_says_its_last_answer_again_slower(config):
    heard = Heard()
    with small_conversation(config) as conversation:
        conversation.sinks.append(heard)
        assert (
            conversation.receive(ChatMessage("twitch", "li", "讲得太快了", user_id="li")) == "ignored"
        )  # nothing said yet
        assert conversation.receive(ChatMessage("twitch", "ann", "Nova, who are you?", user_id="ann")) == "queued"
        heard.wait("speaking_ended", 1)
        assert conversation.receive(ChatMessage("twitch", "li", "you talk too fast", user_id="li")) == "slowed"
        heard.wait("speaking_ended", 2)
    first, again = heard.of("speaking_ended")
    started = heard.of("speaking_started")
    assert again.text == first.text and started[1].question == "li: you talk too fast"
    lengths = [ended.sample - start.sample for start, ended in zip(started, (first, again))]
    assert lengths[1] > 1.1 * lengths[0]  # at 0.85 of the pace: about 18 % longer
