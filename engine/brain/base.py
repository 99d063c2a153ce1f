"""The brain: what the co-host answers. Every backend streams the answer as it is generated.

    brain = load_brain(config)                # engine.brain.load
    for piece in brain.stream(request, cancel):
        ...                                   # text pieces (tokens), in order

`stream` returns within 100 ms of `cancel` being set, whatever the model is doing, and closes any
connection so the server stops generating too. A model that fails raises BrainError (one line).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from engine.chat.message import ChatMessage
from engine.errors import CohostError


class BrainError(CohostError):
    """The model failed (unreachable, refused, malformed reply, too slow): one line saying why."""


@dataclass(frozen=True)
class Exchange:
    """A question answered earlier: the co-host's memory of a viewer and of the stream."""

    user: str
    question: str
    answer: str


def new_canary() -> str:
    """A random word for one answer's system prompt that the answer must never hold: if it does, the
    model is reciting its instructions (engine.moderation.injection.followed_injection)."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class BrainRequest:
    message: ChatMessage  # what to answer (its text already moderated)
    viewer_memory: tuple[Exchange, ...] = ()  # this viewer's last exchanges, oldest first
    stream_memory: tuple[Exchange, ...] = ()  # the stream's last exchanges with anyone, oldest first
    streamer_said: tuple[str, ...] = ()  # what the streamer said on stream lately, oldest first (hearing)
    canary: str = field(default_factory=new_canary)  # "" = none
    language: str = ""  # the answer's ([persona] answer_languages); "" = [persona] language


class Brain(Protocol):
    name: str  # "openai", "local", "scripted"

    def stream(self, request: BrainRequest, cancel: threading.Event) -> Iterator[str]: ...

    def close(self) -> None: ...
