"""The live engine: the co-host running continuously, on one clock, into its outputs.

The clock is the count of audio samples produced. Each tick cuts one block of audio from it and
renders the video frame shown at the block's first sample, so every output stamps picture and
sound from the same number and they cannot drift. Silence shows the idle animation; a line passed
to `say()` is synthesized on a worker thread, sentence by sentence, and each sentence is spliced
onto the clock as soon as it is ready. While idle, every other frame shows the previous picture
again (IDLE_FRAME_STEP): half the rendering, the same clock.

A line can also arrive while it is being written: `say_stream()` takes a SpeechSource (an answer
streaming from the LLM), and each sentence goes to the voice as soon as the source yields it, so
the first sentence is heard while the rest is still being generated. Stop talking and mute cancel
the sources in flight, so the LLM stops too. A line can be prepared (`held=True`): written and
synthesized while it is not yet sure it is wanted (the streamer paused, and may go on), then
`release()`d to be heard at once, or `withdraw()`n without a trace.

Threads: `run()` is the clock loop (it owns the animator, the renderer, the speech track and the
outputs); one worker thread owns the voice; `say()`, `say_stream()`, `stop_talking()`,
`set_muted()` and `status()` may be called from any thread (the control API, OBS hotkeys).

Muting: a muted co-host says nothing at all. Muting cuts the line being spoken (like stop talking)
and lines passed to `say()` while muted are dropped (a `dropped` event), never held: a streamer who
unmutes after a phone call does not want a backlog of stale answers. The face keeps its idle motion,
so the co-host still looks alive on screen.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from engine.errors import CohostError
from engine.face.animator import ANTICIPATION_S, Animator
from engine.face.renderer import Pose, Renderer
from engine.live.clock import SampleClock
from engine.live.events import Event, EventKind, EventSink
from engine.live.track import Line, SpeechTrack
from engine.output.base import Output
from engine.stats import p50_p95
from engine.voice.base import SpeechChunk, VoiceBackend
from engine.voice.text import normalise

log = logging.getLogger(__name__)

# The loop renders each frame at most this far ahead of its wall-clock time: enough to absorb the
# jitter of one slow frame, small enough that stop_talking() cuts audio that is not yet heard.
RENDER_AHEAD_S = 0.040
# A frame whose turn comes later than this after its time is not rendered (the previous picture
# is sent again with the frame's own audio), so a slow machine drops frames instead of stretching
# time and the sound never stutters.
DROP_LATE_S = 0.050
RENDER_STATS_FRAMES = 300  # render times kept for status(): the last 10 s at 30 fps
# While idle, a rendered picture is shown for this many frames (each frame still carries its own
# audio and clock sample): the idle motion (sway, breathing, eye moves) moves well under a pixel
# a frame, so 15 pictures a second read the same as 30, and an idle co-host renders half as much.
# Blinks and speech, from the mouth's first anticipating frame, render every frame.
IDLE_FRAME_STEP = 2
# The voice synthesizes the next sentence once less than this is left to play: enough to cover a
# long sentence's synthesis on a busy machine (piper: ~0.1-0.25 s per second of speech).
SYNTH_AHEAD_S = 4.0
SYNTH_POLL_S = 0.02
VOICE_WAIT_S = 30.0  # unpaced mode: longest wait for the voice before the clock goes on regardless
DUCK_GAIN = 0.25  # the co-host's voice while ducked under the streamer's (-12 dB)

_WORKER_STOP = object()


@dataclass(frozen=True)
class EngineStatus:
    speaking: bool  # a line is being heard
    line_id: str  # which ("" when none)
    muted: bool
    lines_pending: int  # lines said whose end has not been reached (being heard included; held ones not)
    frames_rendered: int
    frames_dropped: int  # late: the previous picture sent again with the frame's own audio
    frames_repeated: int  # idle: the picture on screen shown again (IDLE_FRAME_STEP)
    clock_s: float
    render_ms_p50: float  # over the last RENDER_STATS_FRAMES rendered frames
    render_ms_p95: float
    error: str  # why a clock started with start() stopped on its own

    @property
    def frames(self) -> int:
        """Frames sent to the outputs so far."""
        return self.frames_rendered + self.frames_dropped + self.frames_repeated

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SpeechSource(Protocol):
    """Sentences of one line, yielded as they become ready (iterating may block while they are
    written); `cancel()`, from any thread, makes the iteration end promptly."""

    def __iter__(self) -> Iterator[str]: ...

    def cancel(self) -> None: ...


class LiveEngine:
    """Given its parts: the renderer of the portrait, the voice (its maker closes it, after the
    engine), the outputs, and the frame rate and A/V offset of [render].

    `realtime=False` runs the clock as fast as the machine renders, waiting for the voice instead
    of the wall clock: the same calls then give the same output every time (`cohost say`, tests)."""

    def __init__(
        self,
        renderer: Renderer,
        voice: VoiceBackend,
        outputs: list[Output],
        *,
        fps: int,
        av_offset_ms: float = 0.0,
        sink: EventSink | None = None,
        realtime: bool = True,
    ) -> None:
        self.outputs = list(outputs)
        self.realtime = realtime
        self._sink = sink
        self.renderer = renderer
        self.voice = voice
        self.width, self.height = self.renderer.size
        self.fps = fps
        self.av_offset_ms = av_offset_ms
        self.sample_rate = self.voice.sample_rate
        self.clock = SampleClock(self.sample_rate, self.fps)
        self._animator = self._new_animator()
        self._track = SpeechTrack(self.sample_rate)
        self._frame_buffer = self.renderer.base.copy()
        # Mouths move before their sound: speech starts this many frames after the next one, so the
        # frames that anticipate it are still to be rendered.
        lead_s = ANTICIPATION_S - av_offset_ms / 1000
        self._lead_frames = max(0, int(np.ceil(lead_s * self.fps)))
        # Samples after the end of placed speech during which its mouth frames may still be shown.
        trail_s = max(0.0, av_offset_ms / 1000 - ANTICIPATION_S)
        self._mouth_trail = int(np.ceil(trail_s * self.sample_rate)) + self.clock.frame_sample(1) + 1

        self._lock = threading.Lock()
        self._generation = 0  # bumped by stop_talking()/mute: lines queued before are cut
        self._muted = False
        self.pace = 1.0  # set_pace()
        self._ducked = False
        self._gain = 1.0  # the voice's gain at the end of the last block (ramps to the ducked one)
        self._in_flight = 0  # lines handed to the worker whose end it has not reported yet
        self._sources: dict[str, SpeechSource] = {}  # streamed lines not finished by the worker
        self._prepared: dict[str, Line] = {}  # held lines, not yet released or withdrawn
        self._withdrawn: set[str] = set()  # held lines withdrawn (or cut) that the worker has not ended yet
        self._working_on: Line | None = None  # the line the voice worker is synthesizing
        self._stashed: dict[str, tuple[Line, list[SpeechChunk | None]]] = {}  # clock thread: held lines' sound
        self._lines_for_worker: queue.Queue[Any] = queue.Queue()
        self._from_worker: queue.Queue[tuple[Line, SpeechChunk | None]] = queue.Queue()
        self._held: tuple[Line, SpeechChunk | None] | None = None  # taken early; placed next tick

        # Clock-loop state (read by status() without the lock: single values, a torn read is harmless).
        self._frame = 0
        self._cut_generation = 0
        self._frames_rendered = 0
        self._frames_dropped = 0
        self._frames_repeated = 0
        self._calm_shown: int | None = None  # the frame whose picture is on screen, if rendered idle
        self._render_ms: deque[float] = deque(maxlen=RENDER_STATS_FRAMES)
        self._opened = False
        self.error = ""  # why a clock started with start() stopped on its own
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._synthesize_lines, name="cohost-voice", daemon=True)
        self._worker.start()

    # ----- control, from any thread -------------------------------------------------------------

    def say(self, text: str, question: str = "", speed: float = 1.0) -> str:
        """Queues a line; returns its id. Events follow on the sink as it plays (or is dropped).
        `speed`: this line's pace, times the engine's (pace)."""
        if not normalise(text):
            raise CohostError("nothing to say: the text has no speakable words")
        return self._submit(text, question, None, speed=speed)

    def say_stream(self, source: SpeechSource, question: str = "", *, held: bool = False) -> str:
        """Queues a line whose sentences come from `source` as they are written; returns its id.
        Its text (in the events) grows by each sentence as it is synthesized. `held`: its first
        sentence is synthesized now, but nothing is heard (and no event sent) until release()."""
        return self._submit("", question, source, held)

    def set_pace(self, pace: float) -> None:
        """The voice's pace for the lines queued from now on, relative to [voice] speed (the co-host
        told it speaks too fast slows down); kept within 0.5..2."""
        self.pace = min(max(pace, 0.5), 2.0)

    def release(self, line_id: str) -> bool:
        """A held line is to be heard, from the next frame on; False if it is not held (any more)."""
        with self._lock:
            line = self._prepared.pop(line_id, None)
            if line is not None:
                line.held = False
        return line is not None

    def withdraw(self, line_id: str) -> None:
        """A held line is not wanted: its source is cancelled, its synthesis stopped (when the voice
        can), and it ends without an event."""
        with self._lock:
            line = self._prepared.pop(line_id, None)
            if line is None:
                return
            line.state = "over"
            self._withdrawn.add(line_id)
            source = self._sources.get(line_id)
            synthesizing = self._working_on is line
        if source is not None:
            source.cancel()
        interrupt = getattr(self.voice, "interrupt", None)
        if interrupt is not None and synthesizing:
            interrupt()

    def _submit(
        self, text: str, question: str, source: SpeechSource | None, held: bool = False, speed: float = 1.0
    ) -> str:
        with self._lock:
            line = Line(uuid.uuid4().hex[:12], text, question, self._generation, held=held, speed=self.pace * speed)
            muted = self._muted
            if not muted:
                self._in_flight += 1
                if source is not None:
                    self._sources[line.line_id] = source
                if held:
                    self._prepared[line.line_id] = line
                self._lines_for_worker.put(line)
        if muted:
            line.state = "over"
            if source is not None:
                source.cancel()
            self._emit(Event(EventKind.DROPPED, line.line_id, text, question, self._clock_sample()))
        return line.line_id

    def stop_talking(self) -> None:
        """Cuts the line being spoken and drops the lines queued behind it; the clock loop fades the
        sound out at its next block (within one frame plus RENDER_AHEAD_S of clock time)."""
        self._cut()
        self._emit(Event(EventKind.STOPPED, sample=self._clock_sample()))

    def _cut(self) -> None:
        """Makes every line queued so far stale, cancels the sources still being written and stops
        the voice's synthesis under way (when the voice can)."""
        with self._lock:
            self._generation += 1
            self._withdrawn.update(self._prepared)
            self._prepared.clear()
            sources = list(self._sources.values())
        for source in sources:
            source.cancel()
        interrupt = getattr(self.voice, "interrupt", None)
        if interrupt is not None and self._in_flight:
            interrupt()

    def set_muted(self, muted: bool) -> None:
        with self._lock:
            changed = muted != self._muted
            self._muted = muted
        if muted:
            self._cut()
        if changed:
            self._emit(Event(EventKind.MUTED if muted else EventKind.UNMUTED, sample=self._clock_sample()))

    def set_ducked(self, ducked: bool) -> None:
        """Lowers the voice by DUCK_GAIN (the streamer is talking over it), or brings it back; the
        change ramps over one block, so it does not click."""
        self._ducked = ducked

    def status(self) -> EngineStatus:
        render_p50, render_p95 = p50_p95(self._render_ms)
        speaking = self._track.speaking
        with self._lock:
            muted, pending = self._muted, self._in_flight - len(self._prepared) - len(self._withdrawn)
        return EngineStatus(
            speaking=speaking is not None,
            line_id=speaking.line_id if speaking else "",
            muted=muted,
            lines_pending=pending,
            frames_rendered=self._frames_rendered,
            frames_dropped=self._frames_dropped,
            frames_repeated=self._frames_repeated,
            clock_s=self.clock.seconds(self._clock_sample()),
            render_ms_p50=render_p50,
            render_ms_p95=render_p95,
            error=self.error,
        )

    # ----- running ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Opens every output; a failure closes the ones already open and is raised (one line)."""
        if self._opened:
            return
        opened: list[Output] = []
        try:
            for output in self.outputs:
                output.open(self.width, self.height, self.fps, self.sample_rate)
                opened.append(output)
        except BaseException:
            for output in opened:
                _close_quietly(output)
            raise
        self._opened = True

    def run(self, stop_event: threading.Event) -> None:
        """Runs the clock until `stop_event` is set, then closes the outputs."""
        # Frames are rendered on one thread (for the whole process: OpenCV has no per-call
        # setting). OpenCV's worker pool spin-waits between its jobs, which cost more CPU than the
        # millisecond it saves a frame: 23 -> 20 % of a core idle at 720p30 (`cohost bench cpu`).
        cv2.setNumThreads(1)
        self.open()
        try:
            started_ns = time.monotonic_ns()
            started = started_ns / 1e9
            first = self._frame
            if self.realtime:
                for output in self.outputs:
                    output.clock_started(self._clock_sample(), started_ns)
            while not stop_event.is_set():
                render = True
                if self.realtime:
                    due = started + (self._frame - first) / self.fps
                    if stop_event.wait(max(0.0, due - RENDER_AHEAD_S - time.monotonic())):
                        break
                    render = time.monotonic() - due <= DROP_LATE_S
                self.tick(render=render, wait_for_voice=not self.realtime)
        finally:
            self._close_outputs()

    def run_frames(self, frames: int) -> None:
        """Unpaced: advances the clock by `frames` ticks (outputs opened on first use). For tests and
        offline rendering; the outputs stay open until close()."""
        self.open()
        for _ in range(frames):
            self.tick(wait_for_voice=True)

    def run_until_quiet(self, limit_frames: int) -> None:
        """Unpaced: ticks until every line said so far has been heard to its end (or dropped) and its
        last mouth frame shown, or for `limit_frames` at most."""
        self.open()
        for _ in range(limit_frames):
            if self._quiet():
                return
            self.tick(wait_for_voice=True)

    def _quiet(self) -> bool:
        placed_shown = self._clock_sample() >= self._track.placed_until + self._mouth_trail
        return self._in_flight == 0 and self._track.speaking is None and placed_shown

    def start(self) -> None:
        """Runs the clock on a thread (outputs are opened first, so their errors reach the caller)."""
        self.open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_in_thread, name="cohost-clock", daemon=True)
        self._thread.start()

    def _run_in_thread(self) -> None:
        try:
            self.run(self._stop)
        except Exception as e:  # an output failed: the clock has stopped; status() tells why
            log.exception("the live engine stopped")
            self.error = str(e) or type(e).__name__

    def close(self) -> None:
        """Stops the clock and the voice worker and closes the outputs (not the voice). Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close_outputs()
        if self._worker.is_alive():
            self._cut()  # the worker abandons the line it is on
            self._lines_for_worker.put(_WORKER_STOP)
            self._worker.join()

    def __enter__(self) -> LiveEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the clock loop ----------------------------------------------------------------------------

    def tick(self, render: bool = True, wait_for_voice: bool = False) -> None:
        """One frame: its audio block, its picture (or the last one again: when dropped, or every other
        idle frame), to every output."""
        k = self._frame
        start, stop = self.clock.block(k)
        events = self._apply_cut(start)
        events += self._take_speech(k, wait_for_voice)
        pcm, heard = self._track.block(start, stop)
        events += heard
        pcm = self._apply_gain(pcm)
        if render:
            pose = self._animator.pose_at(k)
            calm = self._calm(start, pose)
            if calm and self._calm_shown is not None and k - self._calm_shown < IDLE_FRAME_STEP:
                self._frames_repeated += 1  # the picture on screen is shown again
            else:
                began = time.perf_counter()
                self.renderer.render_into(self._frame_buffer, pose)
                self._render_ms.append((time.perf_counter() - began) * 1000)
                self._frames_rendered += 1
                self._calm_shown = k if calm else None
        else:
            self._frames_dropped += 1
        for output in self.outputs:
            output.write(self._frame_buffer, pcm, start)
        self._animator.forget_before(k)
        self._frame = k + 1
        for event in events:
            self._emit(event)

    def _apply_gain(self, pcm: np.ndarray) -> np.ndarray:
        target = DUCK_GAIN if self._ducked else 1.0
        if target == self._gain == 1.0:
            return pcm
        ramp = np.linspace(self._gain, target, len(pcm), dtype=np.float32)
        self._gain = target
        return (pcm * ramp).astype(np.int16)

    def _calm(self, sample: int, pose: Pose) -> bool:
        """Nothing but slow idle motion at this frame: no blink under way, and no speech placed
        that the mouth has still to show (from its anticipating frames, which only come after the
        tick that placed it, to its last frame, which trails the sound when av_offset_ms > 0)."""
        return max(pose.blink) == 0.0 and sample >= self._track.placed_until + self._mouth_trail

    def _apply_cut(self, at: int) -> list[Event]:
        generation = self._generation
        if generation == self._cut_generation:
            return []
        self._cut_generation = generation
        # The idle layer is a pure function of time, so a fresh animator continues it seamlessly
        # while forgetting the cut speech: the mouth closes with the fade.
        self._animator = self._new_animator()
        return self._track.cut(at)

    def _take_speech(self, k: int, wait_for_voice: bool) -> list[Event]:
        """Places every sentence the worker has delivered; the earliest start is the first block
        whose anticipating mouth frames are still to be rendered. With `wait_for_voice` (unpaced
        mode) it first waits for any sentence that would otherwise start later than it should, so
        the result is as if synthesis took no time."""
        earliest = self.clock.frame_sample(k + self._lead_frames)
        events: list[Event] = []
        if self._stashed:
            with self._lock:
                prepared = set(self._prepared)
            for line_id, (line, stash) in list(self._stashed.items()):
                if line_id not in prepared:  # released (its sound so far goes first), withdrawn or cut
                    del self._stashed[line_id]
                    for chunk in stash:
                        events += self._deliver(line, chunk, earliest)
        while True:
            if self._held is not None:
                (line, chunk), self._held = self._held, None
            else:
                wait = wait_for_voice and self._must_wait(k)
                try:
                    line, chunk = (
                        self._from_worker.get(timeout=VOICE_WAIT_S) if wait else self._from_worker.get_nowait()
                    )
                except queue.Empty:
                    if wait:
                        log.warning("the voice delivered nothing for %.0f s; the clock goes on", VOICE_WAIT_S)
                    return events
            if line.generation > self._cut_generation:
                # Queued after a stop that this tick has not applied yet: it waits for the next tick.
                self._held = (line, chunk)
                return events
            if line.held or line.line_id in self._stashed:
                self._stashed.setdefault(line.line_id, (line, []))[1].append(chunk)
            else:
                events += self._deliver(line, chunk, earliest)

    def _deliver(self, line: Line, chunk: SpeechChunk | None, earliest: int) -> list[Event]:
        """Places a sentence the voice made for `line` (None: its last was made) on the track."""
        if chunk is None:
            with self._lock:
                self._in_flight -= 1
                self._withdrawn.discard(line.line_id)
            # A line withdrawn or cut while held was never heard of: it ends without an event.
            return [] if line.held else self._track.finish(line)
        if line.generation == self._cut_generation and line.state != "over":
            start = self._track.place(line, chunk.pcm, chunk.text, earliest, chunk.continues)
            self._animator.add_speech(chunk, start)
        return []

    def _must_wait(self, k: int) -> bool:
        """A line is being synthesized and its next sentence is due before frame k+1's placement
        (a held line is not due at all)."""
        with self._lock:
            if self._in_flight - len(self._prepared) - len(self._withdrawn) == 0:
                return False
        free = self._track.next_free()
        return free is None or free < self.clock.frame_sample(k + 1 + self._lead_frames)

    # ----- the voice worker --------------------------------------------------------------------------

    def _synthesize_lines(self) -> None:
        while True:
            line = self._lines_for_worker.get()
            if line is _WORKER_STOP:
                return
            try:
                # The voice synthesizes one sentence per step of this iterator, so a cut stops
                # synthesis at the next sentence boundary, and pausing between steps keeps the
                # voice from running far ahead of the clock (CPU spent on lines that may be cut).
                with self._lock:
                    source = self._sources.get(line.line_id)
                    self._working_on = line
                if source is None:
                    sentences = self.voice.stream(line.text, speed=line.speed)
                else:
                    sentences = self._stream_chunks(line, source)
                made = 0  # samples synthesized
                while self._wait_until_needed(line, made) and (chunk := next(sentences, None)) is not None:
                    self._from_worker.put((line, chunk))
                    made += len(chunk.pcm)
            except Exception:  # a voice (or source) failure loses this line, not the co-host
                log.exception("the voice failed on line %s", line.line_id)
            with self._lock:
                source = self._sources.pop(line.line_id, None)
                self._working_on = None
            if source is not None:
                source.cancel()  # cut or finished: either way nothing more is wanted from it
            self._from_worker.put((line, None))

    def _stream_chunks(self, line: Line, source: SpeechSource) -> Iterator[SpeechChunk]:
        for sentence in source:
            if line.generation != self._generation:
                return
            continued = bool(line.text)
            line.text = f"{line.text} {sentence}".strip()
            if normalise(sentence):
                yield from self.voice.stream(sentence, continued=continued, speed=line.speed)

    def _wait_until_needed(self, line: Line, made: int) -> bool:
        """Waits while the clock has more than SYNTH_AHEAD_S of speech still to play (or sentences
        not yet placed), or while `line` is held with `made` samples of it that long; False once it
        has been cut or withdrawn."""
        while line.generation == self._generation and line.state != "over":
            if line.held:
                # Its first sentence (clause) only: enough to start at once on release, and all a
                # withdrawal wastes; the rest follows while that plays.
                ready = made == 0
            else:
                ahead = self._track.placed_until - self._clock_sample()
                ready = self._from_worker.empty() and ahead < SYNTH_AHEAD_S * self.sample_rate
            if ready:
                return True
            time.sleep(SYNTH_POLL_S)
        return False

    # ----- helpers ------------------------------------------------------------------------------------

    def _new_animator(self) -> Animator:
        return Animator(self.fps, self.sample_rate, av_offset_ms=self.av_offset_ms)

    def _clock_sample(self) -> int:
        return self.clock.frame_sample(self._frame)

    def _emit(self, event: Event) -> None:
        if self._sink is None:
            return
        try:
            self._sink(event)
        except Exception:  # a broken listener must not stop the co-host
            log.exception("event sink failed on %s", event.kind)

    def _close_outputs(self) -> None:
        if not self._opened:
            return
        self._opened = False
        for output in self.outputs:
            _close_quietly(output)


def _close_quietly(output: Output) -> None:
    try:
        output.close()
    except Exception:
        log.exception("closing output %s failed", getattr(output, "name", output))
