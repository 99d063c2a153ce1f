"""ObsBridge: the live engine's events shown in OBS (subtitles, the question overlay, ducking).

The engine calls the bridge from its own thread and must never wait on OBS, so the bridge only
records what OBS should show now; a worker thread brings OBS there. Because the worker applies the
latest wanted state rather than a queue of changes, subtitles that went stale while OBS was slow or
away are skipped, and after a reconnect OBS gets the current state again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from engine.live.events import Event, EventKind
from engine.obs.client import RESOURCE_NOT_FOUND, ObsRequestFailed, ObsUnavailable
from engine.obs.controller import ObsController

LOG = logging.getLogger(__name__)

RECONNECT_POLL_S = 1.0


@dataclass(frozen=True)
class Shown:
    """What OBS should show: the subtitle, the question overlay, whether audio is ducked, and what the
    co-host hears the streamer say (None: no such caption in OBS)."""

    subtitle: str = ""
    question: str = ""
    ducked: bool = False
    heard: str | None = None


class ObsBridge:
    """An EventSink (engine/live/events.py): speaking_started shows the question and ducks,
    subtitle shows the sentence, speaking_ended (or stopped) clears both and unducks. With
    `heard_caption`, heard_partial and heard show the streamer's words until the co-host speaks."""

    def __init__(self, controller: ObsController, heard_caption: bool = False):
        self.controller = controller
        self._idle = Shown(heard="" if heard_caption else None)
        self._wanted = self._idle
        self._applied: Shown | None = None  # None: unknown (never applied, or OBS came back)
        self._changed = threading.Condition()
        self._closing = False
        self._worker = threading.Thread(target=self._run, name="obs-bridge", daemon=True)
        self._worker.start()

    def __call__(self, event: Event) -> None:
        with self._changed:
            if event.kind is EventKind.SPEAKING_STARTED:
                self._wanted = replace(self._idle, question=event.question, ducked=True)
            elif event.kind is EventKind.SUBTITLE:
                self._wanted = replace(self._wanted, subtitle=event.text)
            elif event.kind in (EventKind.SPEAKING_ENDED, EventKind.STOPPED):
                self._wanted = replace(self._idle, heard=self._wanted.heard)
            elif event.kind in (EventKind.HEARD_PARTIAL, EventKind.HEARD) and self._idle.heard is not None:
                self._wanted = replace(self._wanted, heard=event.text)
            else:
                return
            self._changed.notify_all()

    def flush(self, timeout: float) -> bool:
        """Waits until OBS shows what the last event asked for; False if it did not within `timeout`."""
        with self._changed:
            return self._changed.wait_for(lambda: self._applied == self._wanted, timeout)

    def close(self, timeout: float = 3.0) -> None:
        """Clears the overlays and unducks (best effort, up to `timeout` s), then stops the worker."""
        with self._changed:
            self._wanted = self._idle
            self._changed.notify_all()
        self.flush(timeout)
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._worker.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closing or self._applied != self._wanted)
                if self._closing:
                    return
                wanted, applied = self._wanted, self._applied
            try:
                self._apply(wanted, applied)
            except ObsUnavailable:
                with self._changed:
                    self._applied = None  # whatever OBS shows after it returns, set it all again
                while not self._closing and not self.controller.wait_connected(RECONNECT_POLL_S):
                    pass
                continue
            except ObsRequestFailed as e:  # shown as far as OBS lets us; retrying would only repeat it
                LOG.warning("%s", e)
            with self._changed:
                self._applied = wanted
                self._changed.notify_all()

    def _apply(self, wanted: Shown, applied: Shown | None) -> None:
        # Ducking first: it is what the audience hears the moment the co-host starts.
        if applied is None or wanted.ducked != applied.ducked:
            self.controller.duck(wanted.ducked)
        if applied is None or wanted.question != applied.question:
            self._show(self.controller.show_question, wanted.question)
        if applied is None or wanted.subtitle != applied.subtitle:
            self._show(self.controller.show_subtitle, wanted.subtitle)
        if wanted.heard is not None and (applied is None or wanted.heard != applied.heard):
            self._show(self.controller.show_heard, wanted.heard)

    def _show(self, show: Callable[[str], None], text: str) -> None:
        try:
            show(text)
        except ObsRequestFailed as e:
            if e.code != RESOURCE_NOT_FOUND:
                raise
            # The user deleted the text source while we were connected: put it back, then show.
            self.controller.ensure_setup()
            show(text)
