"""What the live engine tells the world: plain events that OBS control and the control API follow."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

LOG = logging.getLogger("cohost.live")


class EventKind(StrEnum):
    """A StrEnum: the control API's event stream and the OBS script read the plain names."""

    SPEAKING_STARTED = "speaking_started"
    SUBTITLE = "subtitle"  # a sentence starts: its text
    SPEAKING_ENDED = "speaking_ended"
    # A line that will never be heard: said while muted, cut by stop talking before it started, or
    # no speakable audio.
    DROPPED = "dropped"
    STOPPED = "stopped"  # stop talking was asked
    MUTED = "muted"
    UNMUTED = "unmuted"
    QUEUED = "queued"  # a chat question or a manual line joined the queue; line_id is the question's id
    PTT = "ptt"  # push-to-talk went "down" or "up" (text)
    HEARD_PARTIAL = "heard_partial"  # the streamer is speaking: what was heard so far (text)
    HEARD = "heard"  # what the streamer said (text); question: "yes" when it is a question for the co-host


@dataclass(frozen=True)
class Event:
    kind: EventKind
    line_id: str = ""
    text: str = ""  # the whole line (started), the sentence now spoken (subtitle)
    question: str = ""  # what the line answers, shown in OBS's question overlay
    sample: int = 0  # position on the engine's audio clock where this happens
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


EventSink = Callable[[Event], None]


class FanOut:
    """One EventSink feeding several; a failing sink is logged, never allowed to stop the engine."""

    def __init__(self) -> None:
        self.sinks: list[EventSink] = []

    def __call__(self, event: Event) -> None:
        for sink in list(self.sinks):
            try:
                sink(event)
            except Exception:
                LOG.exception("event %s not delivered to %r", event.kind, sink)
