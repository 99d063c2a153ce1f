"""The co-host's speech on the engine's sample clock: sentences placed where they will play, mixed
block by block into the audio, announced when the clock reaches them, cut with a short fade.

Single-threaded: only the engine's clock loop calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.live.events import Event, EventKind

SENTENCE_GAP_S = 0.25  # pause between sentences; piper runs them together otherwise
LINE_GAP_S = 0.5  # between two lines (two answers), a little longer than between sentences
FADE_S = 0.010  # a cut line fades out over this, so stopping mid-word does not click


@dataclass(eq=False)
class Line:
    """One `say()`: the text, what it answers, and where it stands.

    state: "waiting" (not heard yet) → "speaking" (its first sentence has started playing) →
    "over" (played to the end, cut, or dropped). `generation` is the engine's cancel count when the
    line was queued: a later stop_talking() makes it stale.
    """

    line_id: str
    text: str
    question: str
    generation: int
    state: str = "waiting"
    synthesized: bool = False  # the voice has delivered all of its sentences
    # Prepared (LiveEngine.say_stream held=True): synthesized but not placed until released; one
    # withdrawn (or cut) while still held ends without a trace.
    held: bool = False
    end: int = 0  # clock sample one past its last placed audio
    speed: float = 1.0  # the voice's pace for it, relative to [voice] speed


@dataclass(eq=False)
class _Segment:
    line: Line | None  # None: the fade-out of a cut line, which announces nothing
    start: int  # clock sample of pcm[0]
    pcm: np.ndarray  # int16 mono
    text: str
    announced: bool = True  # its start shows its text (a sentence's first piece)

    @property
    def end(self) -> int:
        return self.start + len(self.pcm)


class SpeechTrack:
    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._segments: list[_Segment] = []
        self._lines: list[Line] = []  # placed and not over, in order
        self._tail = 0  # one past the last placed sample
        self._tail_line: Line | None = None  # whose speech ends at _tail (None after a cut)

    @property
    def speaking(self) -> Line | None:
        return next((line for line in self._lines if line.state == "speaking"), None)

    @property
    def placed_until(self) -> int:
        """One past the last sample of speech placed so far."""
        return self._tail

    def next_free(self) -> int | None:
        """The earliest sample a further sentence could start at (after the shortest gap), or None
        when nothing is placed: a clock that waits for the voice uses this to know when it must."""
        if self._tail_line is None:
            return None
        return self._tail + round(SENTENCE_GAP_S * self.sample_rate)

    def place(self, line: Line, pcm: np.ndarray, text: str, earliest: int, continues: bool = False) -> int:
        """Schedules a sentence of `line` no earlier than `earliest`, after what is already placed
        plus the pause between sentences (or lines); `continues`: more of the sentence placed last,
        right after it. Returns the clock sample where it starts."""
        start = earliest
        if self._tail_line is not None:
            gap = LINE_GAP_S
            if self._tail_line is line:
                gap = 0.0 if continues else SENTENCE_GAP_S
            start = max(earliest, self._tail + round(gap * self.sample_rate))
        self._segments.append(_Segment(line, start, pcm, text, announced=not continues))
        if line not in self._lines:
            self._lines.append(line)
        line.end = start + len(pcm)
        self._tail, self._tail_line = line.end, line
        return start

    def finish(self, line: Line) -> list[Event]:
        """The voice has delivered everything for `line`. A line that produced no audio at all (or a
        stale one the track never saw) is dropped here; one with audio ends on the clock."""
        line.synthesized = True
        if line.state != "over" and line not in self._lines:
            line.state = "over"
            return [Event(EventKind.DROPPED, line.line_id, line.text, line.question, self._tail)]
        return []

    def block(self, start: int, stop: int) -> tuple[np.ndarray, list[Event]]:
        """The audio of samples [start, stop) and what happened in it: lines starting, each sentence
        starting (its subtitle), lines ending — each stamped with its exact clock sample."""
        pcm = np.zeros(stop - start, np.int16)
        events: list[Event] = []
        for seg in self._segments:
            a, b = max(start, seg.start), min(stop, seg.end)
            if a >= b:
                continue
            pcm[a - start : b - start] = seg.pcm[a - seg.start : b - seg.start]
            line = seg.line
            if line is not None and start <= seg.start < stop:
                if line.state == "waiting":
                    line.state = "speaking"
                    events.append(Event(EventKind.SPEAKING_STARTED, line.line_id, line.text, line.question, seg.start))
                if seg.announced:
                    events.append(Event(EventKind.SUBTITLE, line.line_id, seg.text, line.question, seg.start))
        self._segments = [seg for seg in self._segments if seg.end > stop]
        for line in self._lines:
            if line.state == "speaking" and line.synthesized and line.end <= stop:
                line.state = "over"
                events.append(Event(EventKind.SPEAKING_ENDED, line.line_id, line.text, line.question, line.end))
        self._lines = [line for line in self._lines if line.state != "over"]
        events.sort(key=lambda e: e.sample)
        return pcm, events

    def cut(self, at: int) -> list[Event]:
        """Stops everything placed from sample `at` on: the sentence playing there fades out over
        FADE_S, the rest is dropped. Returns speaking_ended for the line that was heard and
        dropped for lines that never were."""
        fade = round(FADE_S * self.sample_rate)
        kept: list[_Segment] = []
        for seg in self._segments:
            if seg.start <= at < seg.end:
                tail = seg.pcm[at - seg.start : at - seg.start + fade].astype(np.float32)
                tail *= np.linspace(1.0, 0.0, len(tail), endpoint=False, dtype=np.float32)
                kept.append(_Segment(None, at, tail.astype(np.int16), ""))
        end = kept[0].end if kept else at
        events = []
        for line in self._lines:
            kind = EventKind.SPEAKING_ENDED if line.state == "speaking" else EventKind.DROPPED
            events.append(Event(kind, line.line_id, line.text, line.question, end))
            line.state = "over"
        self._segments, self._lines = kept, []
        self._tail, self._tail_line = end, None
        return events
