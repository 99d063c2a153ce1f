"""Everything a conversation needs around a live engine, started and stopped together: the brain,
the persisted queue, the director and the chat sources (`cohost live` and `cohost chat`)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from engine.brain.load import load_brain
from engine.chat.base import ChatSource
from engine.chat.message import ChatMessage
from engine.chat.runner import ChatRunner
from engine.config import Config, state_dir
from engine.conversation.director import Conversation, Speaker
from engine.conversation.queue import QuestionQueue
from engine.live.run import FanOut

log = logging.getLogger(__name__)


def queue_path(config: Config) -> Path:
    return Path(config.queue.path).expanduser() if config.queue.path else state_dir() / "cohost.sqlite3"


@contextmanager
def conversation_session(config: Config, engine: Speaker, fan_out: FanOut, sources: list[ChatSource],
                         on_source_end: Callable[[str], None] | None = None) -> Iterator[Conversation]:
    brain = load_brain(config)
    queue = QuestionQueue(queue_path(config), config.queue.max_size, config.queue.expire_s)
    conversation = Conversation(config, engine, brain, queue, sink=fan_out)
    fan_out.sinks.append(conversation.on_event)
    runner = ChatRunner(sources, conversation.receive, on_source_end)
    if config.twitch.reply_in_chat:
        conversation.answer_hooks.append(_reply_in(runner, "twitch"))
    try:
        conversation.start()
        runner.start()
        yield conversation
    finally:
        runner.stop()
        conversation.close()
        fan_out.sinks.remove(conversation.on_event)
        queue.close()
        brain.close()


def _reply_in(runner: ChatRunner, platform: str) -> Callable[[ChatMessage, str], None]:
    def reply(message: ChatMessage, answer: str) -> None:
        if message.platform == platform:
            runner.send(platform, f"@{message.user} {answer}")

    return reply
