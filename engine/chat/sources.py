"""The chat sources named in `[chat] sources`, built from their config sections."""

from __future__ import annotations

from engine.chat.base import ChatSource
from engine.config import Config

SOURCES = ("twitch", "bilibili", "youtube", "console")


def make_sources(config: Config) -> list[ChatSource]:
    sources: list[ChatSource] = []
    for name in config.chat.sources:  # names checked at load (ChatSourceName)
        if name == "twitch":
            from engine.chat.twitch import TwitchSource

            sources.append(TwitchSource(config.twitch))
        elif name == "bilibili":
            from engine.chat.bilibili import BilibiliSource

            sources.append(BilibiliSource(config.bilibili))
        elif name == "youtube":
            from engine.chat.youtube import YoutubeSource

            sources.append(YoutubeSource(config.youtube))
        else:
            from engine.chat.console import ConsoleSource

            sources.append(ConsoleSource())
    return sources
