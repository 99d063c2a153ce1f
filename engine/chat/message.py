"""The one shape every chat source yields, whatever the platform."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

KINDS = ("chat", "gift", "superchat", "member")


@dataclass(frozen=True)
class ChatMessage:
    platform: str  # "twitch", "bilibili", "youtube", "console", or what a bridge client names ("douyin")
    user: str  # the name shown to viewers (Twitch display-name, Bilibili uname, YouTube channel title)
    text: str  # what they wrote; for a gift with no text, the gift's name ("Rocket x2")
    kind: str = "chat"  # one of KINDS
    amount: float = 0.0  # what was paid, in `currency` (Twitch bits count as "bits"); 0 for chat
    currency: str = ""
    time: float = field(default_factory=time.time)  # when it was sent (Unix seconds)
    user_id: str = ""  # the platform's stable id for the viewer, when it gives one
    badges: tuple[str, ...] = ()  # e.g. ("moderator", "subscriber/12"); platform-specific names
    id: str = ""  # the platform's message id, when it gives one

    @property
    def paid(self) -> bool:
        return self.kind != "chat" or self.amount > 0
