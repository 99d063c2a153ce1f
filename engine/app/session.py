"""Everything a conversation needs around a live engine, started and stopped together: the brain,
the persisted queue, the director and the chat sources (`cohost live` and `cohost chat`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.app.hearing import streamer_hearing
from engine.brain.base import Brain
from engine.brain.load import load_brain
from engine.chat.base import ChatSource
from engine.chat.bilibili import cookie_values
from engine.chat.message import ChatMessage
from engine.chat.replies import reply_line
from engine.chat.runner import ChatRunner
from engine.config import Config, state_dir
from engine.conversation.director import Conversation, Speaker
from engine.conversation.memory import Memory, memory_path
from engine.conversation.queue import QuestionQueue
from engine.conversation.triggers import Triggers
from engine.hearing.audio_in import AudioSource
from engine.hearing.echo import PlayedAudio
from engine.live.events import EventSink, FanOut
from engine.moderation.gate import ChatGate
from engine.moderation.judge import load_judge
from engine.moderation.text import TextFilter

log = logging.getLogger(__name__)


def queue_path(config: Config) -> Path:
    return Path(config.queue.path).expanduser() if config.queue.path else state_dir() / "cohost.sqlite3"


@contextmanager
def conversation_session(
    config: Config,
    engine: Speaker,
    fan_out: FanOut,
    sources: list[ChatSource],
    on_source_end: Callable[[str], None] | None = None,
    *,
    played: PlayedAudio | None = None,
    hearing_source: AudioSource | None = None,
) -> Iterator[Conversation]:
    """`played`: the engine's output that keeps what the co-host said (hearing tells its echo by it).
    The listener runs when [hearing] is enabled, or on `hearing_source` when one is given."""
    brain = load_brain(config)
    queue = QuestionQueue(queue_path(config), config.queue.max_size, config.queue.expire_s)
    conversation = build_conversation(config, engine, brain, queue, fan_out)
    fan_out.sinks.append(conversation.on_event)
    runner = ChatRunner(sources, conversation.receive, on_source_end)
    if platforms := reply_platforms(config, runner.sources):
        conversation.answer_hooks.append(_reply_in(runner, platforms))
    try:
        conversation.start()
        runner.start()
        with streamer_hearing(config, conversation, fan_out, played, hearing_source):
            yield conversation
    finally:
        runner.stop()
        conversation.close()
        fan_out.sinks.remove(conversation.on_event)
        queue.close()
        brain.close()


def build_conversation(
    config: Config, engine: Speaker, brain: Brain, queue: QuestionQueue, sink: EventSink | None = None
) -> Conversation:
    """The conversation's parts from config; moderation reads chat without the co-host's own names
    (they are no one's insult)."""
    names = [config.persona.name, *config.triggers.names]
    return Conversation(
        engine, brain, queue,
        TextFilter(config.moderation, load_judge(config), names=names),
        ChatGate(config.moderation),
        Triggers(config.triggers, config.persona.name),
        Memory(config.persona.memory_turns, memory_path(queue.path)),
        config.persona,
        auto=config.triggers.auto, approve=config.moderation.approve, sink=sink,
    )  # fmt: skip


def reply_platforms(config: Config, sources: Collection[str]) -> list[str]:
    """The platforms among `sources` whose answers are posted back in their chat ([PLATFORM]
    reply_in_chat). One warning for each that asks to but lacks what posting needs."""
    wanted = {"twitch": config.twitch.reply_in_chat, "youtube": config.youtube.reply_in_chat,
              "bilibili": config.bilibili.reply_in_chat}  # fmt: skip
    platforms = []
    for platform in sources:
        if not wanted.get(platform):
            continue
        if missing := _missing_credentials(config, platform):
            log.warning("[%s] reply_in_chat is on, but %s: answers are not posted in %s chat", platform, missing,
                        platform)  # fmt: skip
        else:
            platforms.append(platform)
    return platforms


def _missing_credentials(config: Config, platform: str) -> str:
    """What posting in `platform`'s chat needs and the config lacks; "" when nothing."""
    if platform == "twitch" and not (config.twitch.nick.strip() and config.twitch.token.strip()):
        return "nick and token are needed (anonymous chat only reads)"
    if platform == "youtube" and not config.youtube.oauth_token:
        return "oauth_token is empty (an API key only reads)"
    if platform == "bilibili" and not cookie_values(config.bilibili.cookie).get("bili_jct"):
        return "the cookie has no bili_jct (copy the whole Cookie header of a signed-in browser)"
    return ""


def _reply_in(runner: ChatRunner, platforms: Collection[str]) -> Callable[[ChatMessage, str], None]:
    def reply(message: ChatMessage, answer: str) -> None:
        if message.platform in platforms:
            runner.post(message.platform, reply_line(message, answer))

    return reply
