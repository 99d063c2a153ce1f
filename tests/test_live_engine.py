"""The live engine: one sample clock stamps every frame and audio block, speech is spliced onto it at
block boundaries, events follow the clock, stop and mute cut the voice, and the live path keeps lip
sync. A real voice and a real renderer; the recording output below is the engine's own output
interface (engine/output/base.py), not a stand-in for a peer."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.app.build import build_renderer
from engine.colour import Colour
from engine.errors import CohostError
from engine.face.animator import ANTICIPATION_S
from engine.face.idle import IdleMotion
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer, fit_portrait
from engine.live.engine import LiveEngine
from engine.live.events import Event
from engine.live.track import FADE_S, LINE_GAP_S, SENTENCE_GAP_S, Line, SpeechTrack
from engine.output import make_outputs
from engine.output.base import Output
from engine.output.file import FileOutput
from engine.voice.espeak import EspeakBackend
from tests.harness.process import wait_until
from tests.harness.voices import Tapped

SMALL = (320, 180)
TWO_SENTENCES = "The quick brown fox jumps over the lazy dog. Then it runs far away into the woods."


class Recorder(Output):
    """Keeps what the engine hands its outputs: every block's first sample and PCM, and the frames
    (all of them, or only a cheap fingerprint for long runs)."""

    name = "recorder"

    def __init__(self, keep_frames: bool = False) -> None:
        self.keep_frames = keep_frames
        self.samples: list[int] = []
        self.pcm: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []
        self.fingerprints: list[int] = []
        self.opened: tuple[int, int, int, int] | None = None
        self.clock: tuple[int, int] | None = None  # (sample, due_ns) from clock_started
        self.written_ns: list[int] = []
        self.closed = False

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        self.opened = (width, height, fps, sample_rate)

    def clock_started(self, sample: int, due_ns: int) -> None:
        self.clock = (sample, due_ns)

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        self.written_ns.append(time.monotonic_ns())
        self.samples.append(sample)
        self.pcm.append(pcm.copy())
        self.fingerprints.append(hash(frame.tobytes()))
        if self.keep_frames:
            self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True

    def audio(self) -> np.ndarray:
        return np.concatenate(self.pcm)


class Events(list):
    """The event sink: every event, plus the frames written when it arrived."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder
        self.blocks_written_at: dict[int, int] = {}
        self.arrived = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.arrived:
            self.blocks_written_at[len(self)] = len(self.recorder.samples)
            self.append(event)
            self.arrived.notify_all()

    def of(self, kind: str) -> list[Event]:
        return [e for e in self if e.kind == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 30.0) -> Event:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.of(kind)) >= count, timeout), f"no {kind} event"
            return self.of(kind)[count - 1]


@pytest.fixture
def espeak() -> Tapped:
    return Tapped(EspeakBackend("en-us"))


@pytest.fixture(scope="module")
def portrait(config):
    return load_portrait(config)


@pytest.fixture(scope="module")
def small_renderer(portrait) -> Renderer:
    return Renderer(portrait.image, portrait.landmarks, SMALL)


def _engine(renderer, voice, *, fps: int = 30, realtime: bool = False, keep_frames: bool = False):
    recorder = Recorder(keep_frames)
    events = Events(recorder)
    engine = LiveEngine(renderer, voice, [recorder], fps=fps, sink=events, realtime=realtime)
    return engine, recorder, events


def _run_until(engine: LiveEngine, events: Events, kind: str, limit_frames: int = 3000) -> None:
    for _ in range(limit_frames):
        if events.of(kind):
            return
        engine.run_frames(1)
    raise AssertionError(f"no {kind} event within {limit_frames} frames")


@pytest.mark.parametrize("fps", [30, 24], ids=["22050/30=735", "22050/24=918.75"])
def test_blocks_tile_the_clock_and_frame_k_is_stamped_at_k_sr_over_fps(config, small_renderer, espeak, fps):
    minutes = 3 if fps == 30 else 1
    engine, recorder, events = _engine(small_renderer, espeak, fps=fps)
    with engine:
        sr = engine.sample_rate
        frames = minutes * 60 * fps
        for k in range(frames):
            if k % (20 * fps) == fps:  # a line every 20 s, so speech and idle both cross the clock
                engine.say("Hello chat. Thanks for the follow!")
            engine.run_frames(1)
    assert recorder.opened == (*SMALL, fps, sr) and recorder.closed
    samples = np.array(recorder.samples)
    lengths = np.array([len(p) for p in recorder.pcm])
    k = np.arange(frames)
    assert np.array_equal(samples, k * sr // fps)
    assert np.array_equal(samples[1:], samples[:-1] + lengths[:-1])  # no gap, no overlap
    assert samples[-1] + lengths[-1] == frames * sr // fps  # exact after minutes: nothing drifts
    assert len(events.of("speaking_ended")) == len(range(fps, frames, 20 * fps))
    assert np.abs(recorder.audio()).max() > 1000  # the speech is in there


def test_speech_starts_at_a_block_boundary_and_subtitles_arrive_at_their_sentence(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak)
    with engine:
        engine.run_frames(10)
        line_id = engine.say(TWO_SENTENCES, question="what does the fox do?")
        _run_until(engine, events, "speaking_ended")
        engine.run_frames(5)
    chunks = espeak.chunks
    assert len(chunks) == 2
    sr, audio = engine.sample_rate, recorder.audio()
    started, ended = events.of("speaking_started")[0], events.of("speaking_ended")[0]
    subtitles = events.of("subtitle")
    # say() came before frame 10: the speech starts on the block of frame 10 + the mouth's lead.
    assert started.sample == engine.clock.frame_sample(10 + engine._lead_frames)
    assert (started.line_id, started.question, started.text) == (line_id, "what does the fox do?", TWO_SENTENCES)
    assert [s.text for s in subtitles] == [c.text for c in chunks]
    assert subtitles[0].sample == started.sample
    assert subtitles[1].sample == subtitles[0].sample + len(chunks[0].pcm) + round(SENTENCE_GAP_S * sr)
    for subtitle, chunk in zip(subtitles, chunks):
        # The sentence's audio sits exactly where its subtitle says ...
        assert np.array_equal(audio[subtitle.sample : subtitle.sample + len(chunk.pcm)], chunk.pcm)
        # ... and the event came out with the block that plays that sample, not when synthesized.
        written = events.blocks_written_at[events.index(subtitle)]
        assert (
            recorder.samples[written - 1]
            <= subtitle.sample
            < recorder.samples[written - 1] + len(recorder.pcm[written - 1])
        )
    assert ended.sample == subtitles[1].sample + len(chunks[1].pcm)
    assert not audio[: started.sample].any() and not audio[ended.sample :].any()


def test_lines_follow_each_other_with_a_pause(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak)
    with engine:
        first, second = engine.say("First line."), engine.say("Second line.")
        _run_until(engine, events, "speaking_ended")
        while len(events.of("speaking_ended")) < 2:
            engine.run_frames(1)
    ends = {e.line_id: e.sample for e in events.of("speaking_ended")}
    starts = {e.line_id: e.sample for e in events.of("speaking_started")}
    assert starts[second] - ends[first] == round(LINE_GAP_S * engine.sample_rate)


def test_stop_talking_cuts_the_voice_within_100_ms_of_clock_and_the_next_line_plays(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak)
    sr = espeak.sample_rate
    with engine:
        cut_id = engine.say(TWO_SENTENCES + " " + TWO_SENTENCES)
        queued_id = engine.say("This line was queued behind it.")
        _run_until(engine, events, "speaking_started")
        engine.run_frames(30)  # a second into the first sentence
        stop_at = engine.clock.frame_sample(len(recorder.samples))  # the first block not yet produced
        engine.stop_talking()
        engine.run_frames(60)
        after = engine.say("Back again.")
        while not any(e.line_id == after for e in events.of("speaking_ended")):
            engine.run_frames(1)
    audio = recorder.audio()
    resumed = next(e.sample for e in events.of("speaking_started") if e.line_id == after)
    heard = np.flatnonzero(audio[stop_at:resumed])
    assert (heard[-1] + 1) * 1000 / sr <= 100  # silent within 100 ms of clock
    # In fact the cut lands on the very next block and fades the sentence out over FADE_S (no click).
    began, first_sentence = events.of("speaking_started")[0].sample, espeak.chunks[0].pcm
    fade = round(FADE_S * sr)
    uncut = first_sentence[stop_at - began : stop_at - began + fade].astype(np.float32)
    faded = (uncut * np.linspace(1.0, 0.0, fade, endpoint=False, dtype=np.float32)).astype(np.int16)
    assert np.abs(uncut).max() > 100  # it was speaking when stopped
    assert np.array_equal(audio[stop_at : stop_at + fade], faded)
    assert not audio[stop_at + fade : resumed].any()
    ended = next(e for e in events.of("speaking_ended") if e.line_id == cut_id)
    assert ended.sample == stop_at + fade
    assert [e.line_id for e in events.of("dropped")] == [queued_id]
    assert [e.line_id for e in events.of("speaking_started")] == [cut_id, after]
    assert events.of("stopped")


def test_in_real_time_outputs_are_told_when_the_first_block_is_due_and_unpaced_they_are_not(small_renderer, espeak):
    engine, recorder, _ = _engine(small_renderer, espeak, realtime=True)
    with engine:
        engine.start()
        wait_until(lambda: len(recorder.samples) >= 10, 10, "ten frames")
    assert recorder.clock is not None
    sample, due_ns = recorder.clock
    assert sample == recorder.samples[0] and due_ns <= recorder.written_ns[0]
    # Frame k's block is written near its time on that clock (ahead of it, or late by a slow frame).
    lateness_s = [
        (w - due_ns) / 1e9 - (s - sample) / espeak.sample_rate for w, s in zip(recorder.written_ns, recorder.samples)
    ]
    assert max(lateness_s[1:]) < 2.0 and min(lateness_s) > -1.0

    unpaced, recorder, _ = _engine(small_renderer, espeak)
    with unpaced:
        unpaced.run_frames(3)
    assert recorder.clock is None and len(recorder.samples) == 3


def test_stop_talking_in_real_time_cuts_within_100_ms_of_the_clock(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak, realtime=True)
    sr = espeak.sample_rate
    with engine:
        engine.start()
        engine.say(TWO_SENTENCES)
        events.wait_for("speaking_started")
        time.sleep(0.5)
        called = time.monotonic()
        clock_at_call = engine.clock.frame_sample(len(recorder.samples))
        engine.stop_talking()
        ended = events.wait_for("speaking_ended")
        wall_ms = (time.monotonic() - called) * 1000
    audio = recorder.audio()
    heard = np.flatnonzero(audio[clock_at_call:])
    clock_ms = (heard[-1] + 1) * 1000 / sr if len(heard) else 0.0
    print(
        f"stop_talking: audio ends {clock_ms:.1f} ms of clock after the call; speaking_ended after {wall_ms:.1f} ms wall"
    )
    assert clock_ms <= 100
    assert ended.sample - clock_at_call <= 0.1 * sr


def test_a_slow_machine_drops_frames_but_keeps_the_clock(config, small_renderer, espeak):
    """Real-time mode with an output that stalls now and then (as a busy CPU would): the engine skips
    rendering to catch up, repeats the last picture for those frames, and the audio still tiles."""

    class Stalling(Recorder):
        def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
            super().write(frame, pcm, sample)
            if len(self.samples) % 15 == 0:
                time.sleep(0.2)

    recorder = Stalling()
    with LiveEngine(small_renderer, espeak, [recorder], fps=30, realtime=True) as engine:
        engine.start()
        engine.say("Keep talking while the machine stalls.")
        time.sleep(2.0)
        engine.close()
        status = engine.status()
    assert status.frames_dropped > 0
    assert status.frames_rendered + status.frames_repeated + status.frames_dropped == len(recorder.samples)
    samples = np.array(recorder.samples)
    assert np.array_equal(samples, engine.clock.frame_sample(np.arange(len(samples))))
    lengths = np.array([len(p) for p in recorder.pcm])
    assert np.array_equal(samples[1:], samples[:-1] + lengths[:-1])


def test_idle_frames_repeat_at_most_once_while_speech_and_blinks_render_every_frame(config, small_renderer, espeak):
    """An idle co-host renders every other frame and shows the previous picture in between; every
    frame is still written, with its own audio and clock sample. The first idle blink (seed 7) falls
    in frames 85-93, inside the idle stretch."""
    engine, recorder, events = _engine(small_renderer, espeak)
    rendered: list[bool] = []

    def step() -> None:
        before = engine.status().frames_rendered
        engine.run_frames(1)
        rendered.append(engine.status().frames_rendered > before)

    with engine:
        for _ in range(100):
            step()
        engine.say(TWO_SENTENCES)
        while not events.of("speaking_ended"):
            step()
        for _ in range(30):
            step()
        status = engine.status()
    fps, sr = engine.fps, engine.sample_rate
    frames = len(rendered)
    assert status.frames_rendered + status.frames_repeated == frames and status.frames_dropped == 0
    assert np.array_equal(recorder.samples, engine.clock.frame_sample(np.arange(frames)))
    repeats = [k for k in range(frames) if not rendered[k]]
    assert len(repeats) > 0.4 * 100  # about every other idle frame
    assert all(rendered[k - 1] for k in repeats)  # never two repeats in a row
    assert all(recorder.fingerprints[k] == recorder.fingerprints[k - 1] for k in repeats)  # the same picture
    idle = IdleMotion()
    blinking = [k for k in range(frames) if idle.at(k / fps).blink > 0]
    assert blinking and all(rendered[k] for k in blinking)
    # Speech: from the mouth's first anticipating frame to the end of the sound, every frame renders.
    began = events.of("speaking_started")[0].sample - round(ANTICIPATION_S * sr)
    ended = events.of("speaking_ended")[0].sample
    speech = range(engine.clock.first_frame_from(began), engine.clock.first_frame_from(ended) + 1)
    assert all(rendered[k] for k in speech)
    assert not all(rendered[speech.stop + 2 :])  # and idle again afterwards


def test_muted_cohost_drops_lines_but_keeps_moving_and_speaks_again_when_unmuted(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak)
    with engine:
        speaking = engine.say(TWO_SENTENCES)
        _run_until(engine, events, "speaking_started")
        engine.run_frames(10)
        engine.set_muted(True)
        muted_at = len(recorder.samples)
        dropped = engine.say("Nobody hears this.")
        engine.run_frames(90)
        status = engine.status()
        engine.set_muted(False)
        heard = engine.say("Now I can talk.")
        while not any(e.line_id == heard for e in events.of("speaking_ended")):
            engine.run_frames(1)
    assert status.muted and not status.speaking
    audio = recorder.audio()
    silent = audio[recorder.samples[muted_at + 1] : recorder.samples[muted_at + 90]]
    assert not silent.any()
    assert len(set(recorder.fingerprints[muted_at + 1 : muted_at + 90])) > 30  # the idle face still moves
    assert [e.kind for e in events if e.line_id == speaking][-1] == "speaking_ended"
    assert [e.kind for e in events if e.line_id == dropped] == ["dropped"]
    assert [e.kind for e in events if e.line_id == heard][0] == "speaking_started"
    assert [e.kind for e in events if e.kind in ("muted", "unmuted")] == ["muted", "unmuted"]


class GatedSource:
    """A SpeechSource whose sentences are released by the test, as an LLM would write them."""

    def __init__(self, *sentences: str) -> None:
        self.sentences = sentences
        self.gates = [threading.Event() for _ in sentences]
        self.cancelled = threading.Event()

    def __iter__(self) -> Iterator[str]:
        for sentence, gate in zip(self.sentences, self.gates):
            while not gate.wait(0.01):
                if self.cancelled.is_set():
                    return
            yield sentence

    def cancel(self) -> None:
        self.cancelled.set()


def test_a_streamed_line_is_heard_while_its_next_sentence_is_still_being_written(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak, realtime=True)
    source = GatedSource("Here is the first part.", "And here is the rest of it.")
    source.gates[0].set()
    with engine:
        engine.start()
        line_id = engine.say_stream(source, question="viewer: tell me")
        first = events.wait_for("subtitle")
        assert not source.gates[1].is_set()  # heard before the second sentence even exists
        source.gates[1].set()
        ended = events.wait_for("speaking_ended")
    assert first.text == "Here is the first part." and first.question == "viewer: tell me"
    assert [e.text for e in events.of("subtitle")] == list(source.sentences)
    assert ended.line_id == line_id and ended.text == " ".join(source.sentences)


def test_stop_talking_cancels_a_streamed_line_that_is_still_being_written(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak, realtime=True)
    source = GatedSource("A first sentence that is spoken.", "A second one that never comes.")
    source.gates[0].set()
    with engine:
        engine.start()
        line_id = engine.say_stream(source)
        events.wait_for("speaking_started")
        called = time.monotonic()
        engine.stop_talking()
        assert source.cancelled.wait(5)
        cancel_ms = (time.monotonic() - called) * 1000
        ended = events.wait_for("speaking_ended")
        after = engine.say("Still here.")
        assert events.wait_for("speaking_ended", count=2).line_id == after
    print(f"stop_talking: the streamed line's source cancelled after {cancel_ms:.1f} ms")
    assert ended.line_id == line_id
    assert [e.text for e in events.of("subtitle") if e.line_id == line_id] == ["A first sentence that is spoken."]


def test_a_streamed_line_said_while_muted_is_dropped_and_its_source_cancelled(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak)
    source = GatedSource("Nobody hears this.")
    with engine:
        engine.set_muted(True)
        line_id = engine.say_stream(source)
    assert source.cancelled.is_set()
    assert [e.line_id for e in events.of("dropped")] == [line_id]


def test_status_reports_the_clock_and_render_times(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak)
    with engine:
        engine.run_frames(45)
        status = engine.status()
    assert status.clock_s == pytest.approx(1.5)
    assert status.frames_rendered + status.frames_repeated == 45 and status.frames_dropped == 0
    assert 0 < status.render_ms_p50 <= status.render_ms_p95
    assert not status.speaking and not status.muted


def test_nothing_to_say_is_a_one_line_error(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak)
    with engine, pytest.raises(CohostError, match="nothing to say") as caught:
        engine.say("   🙂  ")
    assert "\n" not in str(caught.value)


def test_key_background_fills_around_the_person_with_the_key_colour(config, portrait):
    keyed = dataclasses.replace(config, live=dataclasses.replace(config.live, background="key",
                                                                 key_color=Colour(0, 255, 0)))  # fmt: skip
    base = build_renderer(keyed, portrait, SMALL).base
    green = np.all(base == (0, 255, 0), axis=2)
    assert green[:, :20].mean() > 0.9 and green[:, -20:].mean() > 0.9 and green[:30].mean() > 0.5
    _, points = fit_portrait(portrait.image, portrait.landmarks, SMALL)
    x, y = np.round(points[:, :2]).astype(int).T
    assert not green[y, x].any()  # every face landmark keeps the photo


def test_configured_outputs_are_built_in_order(config, tmp_path: Path):
    chosen = dataclasses.replace(config, live=dataclasses.replace(config.live, outputs=["file", "stream"],
                                                                  file=str(tmp_path / "s.mp4")))  # fmt: skip
    assert [o.name for o in make_outputs(chosen)] == ["file", "stream"]


def test_a_new_session_never_overwrites_the_last_one(config, small_renderer, espeak, tmp_path: Path):
    path = tmp_path / "session.mp4"
    path.write_bytes(b"yesterday's stream")
    output = FileOutput(path)
    with LiveEngine(small_renderer, espeak, [output], fps=30, realtime=False) as engine:
        engine.run_frames(10)
    assert path.read_bytes() == b"yesterday's stream"
    assert output.path != path and output.path.parent == tmp_path and output.path.stat().st_size > 0


def test_a_held_line_is_synthesized_unheard_and_starts_in_the_frames_after_its_release(config, small_renderer, espeak):
    engine, recorder, events = _engine(small_renderer, espeak)
    source = GatedSource("Prepared while the streamer paused.")
    source.gates[0].set()
    with engine:
        line_id = engine.say_stream(source, "streamer: are you ready?", held=True)
        deadline = time.monotonic() + 10
        while not espeak.chunks and time.monotonic() < deadline:
            engine.run_frames(1)
        engine.run_frames(15)
        assert espeak.chunks and not events  # made, and nothing of it heard or announced
        assert not recorder.audio().any()
        assert engine.status().lines_pending == 0  # a held line is not one the co-host is saying
        released_at = len(recorder.samples)
        assert engine.release(line_id) and not engine.release(line_id)
        _run_until(engine, events, "speaking_ended")
    started = events.of("speaking_started")[0]
    assert (started.line_id, started.question) == (line_id, "streamer: are you ready?")
    # Placed at the first block whose anticipating mouth frames are still to come, not after a
    # synthesis: within the lead frames (+1) of the release.
    assert started.sample <= engine.clock.frame_sample(released_at + engine._lead_frames + 1)
    assert [e.kind for e in events] == ["speaking_started", "subtitle", "speaking_ended"]


@pytest.mark.parametrize("how", ["withdraw", "stop_talking"])
def test_a_held_line_withdrawn_or_cut_ends_without_a_trace(config, small_renderer, espeak, how):
    engine, recorder, events = _engine(small_renderer, espeak)
    source = GatedSource("Prepared for nothing.", "Never written.")
    source.gates[0].set()
    with engine:
        line_id = engine.say_stream(source, held=True)
        deadline = time.monotonic() + 10
        while not espeak.chunks and time.monotonic() < deadline:
            engine.run_frames(1)
        engine.withdraw(line_id) if how == "withdraw" else engine.stop_talking()
        assert source.cancelled.wait(5) and not engine.release(line_id)
        after = engine.say("Still here.")
        _run_until(engine, events, "speaking_ended")
    assert {e.line_id for e in events if e.line_id} == {after}
    assert [e.kind for e in events if e.kind != "stopped"] == ["speaking_started", "subtitle", "speaking_ended"]


def test_a_sentence_streamed_in_pieces_plays_without_a_pause_and_shows_one_subtitle():
    """A voice server's audio is handed on as it streams in: the pieces after a sentence's first
    continue it, with no pause between them and no subtitle of their own."""
    track, line = SpeechTrack(22050), Line("a", "Hello there. How are you?", "", 0)
    piece = np.full(2205, 1000, np.int16)
    first = track.place(line, piece, "Hello there.", 0)
    more = track.place(line, piece, "Hello there.", 0, continues=True)
    second = track.place(line, piece, "How are you?", 0)
    assert more == first + len(piece)  # right after it
    assert second == more + len(piece) + round(SENTENCE_GAP_S * 22050)  # a new sentence: the pause
    _, events = track.block(0, second + len(piece))
    assert [e.text for e in events if e.kind == "subtitle"] == ["Hello there.", "How are you?"]
