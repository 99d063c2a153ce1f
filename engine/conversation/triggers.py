"""Which chat messages are questions for the co-host, and how urgent each one is."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.chat.message import ChatMessage
from engine.config import TriggersConfig
from engine.conversation.queue import PRIORITY_CHAT, PRIORITY_PAID

# Messages typed into `cohost chat` (and the API's manual lines) are always for the co-host.
DIRECT_PLATFORMS = ("console",)


@dataclass(frozen=True)
class Trigger:
    priority: int
    text: str  # what to answer: the message without the command that asked it
    why: str  # "paid", "command", "name", "nth", "direct"


class Triggers:
    """Not thread-safe (the every-Nth count): one Conversation calls it under its lock."""

    def __init__(self, config: TriggersConfig, persona_name: str) -> None:
        self.config = config
        names = [n.strip() for n in [persona_name, *config.names] if n.strip()]
        # A name counts as a whole word (or @name): "Nova" in "nova, hi" but not in "supernova".
        self._name = (
            re.compile(r"(?<![\w])@?(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w])", re.IGNORECASE)
            if names
            else None
        )
        self._commands = sorted((c.strip().lower() for c in config.commands if c.strip()), key=len, reverse=True)
        self._seen = 0

    def match(self, message: ChatMessage) -> Trigger | None:
        text = message.text.strip()
        if message.platform in DIRECT_PLATFORMS:
            return Trigger(PRIORITY_CHAT, text, "direct")
        if message.paid:
            return Trigger(PRIORITY_PAID, text, "paid") if self.config.paid else None
        lowered = text.lower()
        for command in self._commands:
            if lowered == command or lowered.startswith(command + " "):
                rest = text[len(command) :].strip()
                return Trigger(PRIORITY_CHAT, rest, "command") if rest else None
        if self._name is not None and self._name.search(text):
            return Trigger(PRIORITY_CHAT, text, "name")
        self._seen += 1
        if self.config.every_nth > 0 and self._seen % self.config.every_nth == 0:
            return Trigger(PRIORITY_CHAT, text, "nth")
        return None
