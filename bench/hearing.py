"""`cohost bench hearing`: the co-host hearing the streamer, timed end to end.

A real LiveEngine (the configured voice and avatar, in real time, into a probe output) with its
whole conversation (scripted brain, [hearing] mode "always") listens through the real listener:
Silero VAD, Whisper tiny.en, and the echo canceller. The microphone is a paced source that delivers
16 kHz blocks on the wall clock, as a device would: silence, the streamer's utterances when the
benchmark plays them (espeak-ng's British voice; the co-host speaks with its own voice), and the
co-host's own sound played back into it 150 ms late at 60 % (a loopback echo). Measured:

  (a) end of the streamer's speech → final transcript
  (b) end of speech → the answer's first audio sample handed to the output
  (c) barge-in: the streamer's speech onset while the co-host talks → its sound stops at the output
  (d) word error rate of the final transcripts
  (e) CPU of listening while idle (the listener's and Whisper's threads, % of one core)

What it leaves out: the sound device's own latency (PulseAudio adds ~10-30 ms each way), which the
tests cover for correctness but this benchmark does not time.
"""

from __future__ import annotations

import dataclasses
import queue
import subprocess
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from bench import add_engine_options, engine_config, save_json
from bench.cpu import thread_cpu
from bench.latency import Probe, summary
from engine.analysis.wer import word_errors
from engine.app.build import live_engine, with_played
from engine.app.session import conversation_session
from engine.cli_args import CliParser
from engine.config import Config
from engine.errors import CohostError
from engine.hearing.audio_in import BLOCK_S, RATE, Resampler
from engine.live.events import Event, EventKind, FanOut
from engine.output.base import Output

STREAMER_VOICE = "en-gb-x-rp"
ECHO_DELAY_S = 0.15
ECHO_LEVEL = 0.6
IDLE_S = 10.0
ANSWER_WAIT_S = 30.0
TARGETS_MS = {"speech_end_to_answer_audio_p50": 600, "speech_end_to_answer_audio_p95": 900, "barge_in_p95": 150}
UTTERANCES = (
    "What game are we playing today?", "Can you tell chat about the next boss fight?",
    "I think we should go left at the bridge.", "How many viewers are watching right now?",
    "Do you remember what happened last stream?", "Let's take a short break after this round.",
    "What do you think about the new patch?", "Say hello to everyone who just joined.",
    "My favourite weapon is the old bow.", "Should we try the hard mode next time?",
    "The weather is really nice outside today.", "Can you explain how the crafting works?",
    "We need more wood and some stone.", "Who won the last match in chat?",
    "I have never seen a map this big.", "Please remind me to drink some water.",
    "What is the best way to level up fast?", "This music is really relaxing.",
    "Tell me a fun fact about space.", "We almost made it to the top that time.",
    "How long have we been streaming today?", "I need to save the game before the boss.",
    "Thank you all for the follows and the subs.", "What time is it in Tokyo right now?",
    "Let's read some questions from chat.", "The final level has a secret room.",
    "Can you count to five for me?", "I will try a different strategy this time.",
    "What should we name the new character?", "That was the longest fight so far.",
)  # fmt: skip
BARGE_INS = ("Wait, stop, hold on.", "Hold on a second please.", "No no no, wait.", "Sorry, let me say something.",
             "Stop, I want to ask you something.", "Wait, wait, look at this.", "Hang on, hang on.",
             "Quiet for a moment please.", "Hold that thought.", "Wait a second.")  # fmt: skip


class PacedMic:
    """A microphone that delivers BLOCK_S blocks on the wall clock: what `play()` queued, mixed with
    the co-host's own sound from `Loopback` (its echo); silence otherwise. Notes when each utterance's
    first and last speech samples were delivered."""

    name = "bench microphone"

    def __init__(self, loopback: Loopback) -> None:
        self.loopback = loopback
        self._queued: queue.Queue[tuple[np.ndarray, dict[str, float]]] = queue.Queue()
        self._current: tuple[np.ndarray, dict[str, float]] | None = None
        self._at = 0
        self._next = 0.0

    def play(self, speech: np.ndarray, voiced: tuple[int, int]) -> dict[str, float]:
        """Queues 16 kHz speech; the returned dict gets "onset" and "end" (monotonic times of the
        blocks holding samples voiced[0] and voiced[1]) once they are delivered."""
        times: dict[str, float] = {"voiced_start": voiced[0], "voiced_end": voiced[1]}
        self._queued.put((speech, times))
        return times

    def open(self) -> None:
        self._next = time.monotonic()

    def read(self) -> np.ndarray | None:
        size = round(BLOCK_S * RATE)
        self._next += BLOCK_S
        time.sleep(max(0.0, self._next - time.monotonic()))
        block = np.zeros(size, np.float32)
        if self._current is None and not self._queued.empty():
            self._current, self._at = self._queued.get(), 0
        if self._current is not None:
            speech, times = self._current
            part = speech[self._at : self._at + size]
            block[: len(part)] += part
            for key, sample in (("onset", times["voiced_start"]), ("end", times["voiced_end"])):
                if key not in times and self._at <= sample < self._at + size:
                    times[key] = time.monotonic()
            self._at += size
            if self._at >= len(speech):
                self._current = None
        return block + self.loopback.take(size)

    def close(self) -> None:
        pass


class Loopback(Output):
    """The co-host's sound, resampled to 16 kHz and held back ECHO_DELAY_S, for PacedMic to mix in."""

    name = "loopback"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = np.zeros(round(ECHO_DELAY_S * RATE), np.float32)
        self._resample: Resampler | None = None

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        self._resample = Resampler(sample_rate)

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        assert self._resample is not None
        block = self._resample(pcm.astype(np.float32) / 32768) * ECHO_LEVEL
        with self._lock:
            self._buffer = np.concatenate([self._buffer, block])

    def take(self, size: int) -> np.ndarray:
        with self._lock:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return np.pad(out, (0, size - len(out)))

    def close(self) -> None:
        pass


class SoundProbe(Probe):
    """Probe, also noting each block's loudest sample (when the co-host's sound stops)."""

    def __init__(self, inner: Output) -> None:
        super().__init__(inner)
        self.peaks: list[tuple[float, int]] = []  # (wall time written, peak)

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        super().write(frame, pcm, sample)
        with self._lock:
            self.peaks.append((time.monotonic(), int(np.abs(pcm).max()) if len(pcm) else 0))

    def silent_from(self, after: float) -> float | None:
        """Wall time of the first block after `after` from which the sound stays below -40 dBFS."""
        with self._lock:
            peaks = [p for p in self.peaks if p[0] >= after]
        for i, (at, _) in enumerate(peaks):
            if all(peak < 330 for _, peak in peaks[i : i + 10]) and len(peaks) - i >= 10:
                return at
        return None


def _speech(text: str, tmp: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """espeak-ng's British voice at 16 kHz, with 0.3 s of silence after, and where its voice is."""
    path = tmp / "utterance.wav"
    subprocess.run(["espeak-ng", "-v", STREAMER_VOICE, "-s", "160", "-w", str(path), text], check=True)
    with wave.open(str(path)) as wav:
        rate, pcm = wav.getframerate(), np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    audio = Resampler(rate)(pcm.astype(np.float32) / 32768)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return np.concatenate([audio, np.zeros(round(0.3 * RATE), np.float32)]), (int(loud[0]), int(loud[-1]))


class _Watch:
    def __init__(self) -> None:
        self.events: list[tuple[float, Event]] = []
        self.arrived = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.arrived:
            self.events.append((time.monotonic(), event))
            self.arrived.notify_all()

    def next(self, kind: EventKind, after: int, timeout: float = ANSWER_WAIT_S) -> tuple[float, Event]:
        with self.arrived:
            found = lambda: [e for e in self.events[after:] if e[1].kind is kind]  # noqa: E731
            if not self.arrived.wait_for(lambda: found(), timeout):
                raise CohostError(f"no {kind} within {timeout:.0f} s")
            return found()[0]


def run(config: Config, utterances: int, barge_ins: int) -> dict[str, Any]:
    hearing = dataclasses.replace(config.hearing, enabled=True, mode="always", barge_in="stop")
    config = dataclasses.replace(config, hearing=hearing, brain=dataclasses.replace(config.brain, backend="scripted"))
    transcript_ms, answer_ms, barge_ms, detect_ms, errors, words_said, misheard = [], [], [], [], 0, 0, []
    with tempfile.TemporaryDirectory(prefix="cohost-bench-") as name:
        tmp = Path(name)
        config = dataclasses.replace(config, queue=dataclasses.replace(config.queue, path=str(tmp / "queue.sqlite3")))
        loopback, fan_out, watch = Loopback(), FanOut(), _Watch()
        fan_out.sinks.append(watch)
        played = with_played(config, fan_out)
        assert played is not None
        probe = SoundProbe(loopback)
        mic = PacedMic(loopback)
        with live_engine(config, [probe, played], sink=fan_out) as engine:
            engine.start()
            with conversation_session(config, engine, fan_out, [], played=played, hearing_source=mic) as conversation:
                time.sleep(2.0)
                idle_begin, idle_cpu = time.monotonic(), thread_cpu(LISTENER_THREADS)
                time.sleep(IDLE_S)
                idle_end, idle_cpu_end = time.monotonic(), thread_cpu(LISTENER_THREADS)
                idle_pct = {
                    group: round(100 * (idle_cpu_end.get(group, 0.0) - idle_cpu.get(group, 0.0)) / (idle_end - idle_begin), 1)
                    for group in ("listener", "asr")
                }  # fmt: skip
                for i in range(utterances):
                    text = UTTERANCES[i % len(UTTERANCES)]
                    speech, voiced = _speech(text, tmp)
                    mark = len(watch.events)
                    times = mic.play(speech, voiced)
                    heard_at, heard = watch.next(EventKind.HEARD, mark)
                    started_at, started = watch.next(EventKind.SPEAKING_STARTED, mark)
                    transcript_ms.append((heard_at - times["end"]) * 1000)
                    answer_ms.append((probe.written_at(started.sample) - times["end"]) * 1000)
                    wrong, count = word_errors(text, heard.text)
                    errors, words_said = errors + wrong, words_said + count
                    if wrong:
                        misheard.append(f"{text!r} → {heard.text!r}")
                    conversation.stop_talking()
                    _wait_quiet(conversation)
                for i in range(barge_ins):
                    long_line = " ".join(UTTERANCES[(i + k) % len(UTTERANCES)] for k in range(6))
                    mark = len(watch.events)
                    conversation.say(long_line)
                    watch.next(EventKind.SPEAKING_STARTED, mark)
                    time.sleep(1.5)  # the co-host is talking, its echo in the microphone
                    speech, voiced = _speech(BARGE_INS[i % len(BARGE_INS)], tmp)
                    times = mic.play(speech, voiced)
                    stopped_at, _ = watch.next(EventKind.STOPPED, mark)
                    deadline = time.monotonic() + 5
                    while "onset" not in times and time.monotonic() < deadline:
                        time.sleep(0.01)
                    silent = probe.silent_from(times["onset"])
                    deadline = time.monotonic() + 5
                    while silent is None and time.monotonic() < deadline:
                        time.sleep(0.05)
                        silent = probe.silent_from(times["onset"])
                    if silent is not None:
                        barge_ms.append((silent - times["onset"]) * 1000)
                        detect_ms.append((stopped_at - times["onset"]) * 1000)
                    watch.next(EventKind.HEARD, mark)
                    _wait_quiet(conversation)
    return {
        "benchmark": "hearing",
        "model": config.hearing.model,
        "utterances": utterances,
        "speech_end_to_transcript_ms": summary(transcript_ms),
        "speech_end_to_answer_audio_ms": summary(answer_ms),
        "barge_in_onset_to_silence_ms": summary(barge_ms),
        "barge_in_onset_to_stop_ms": summary(detect_ms),
        "word_error_rate": round(errors / max(1, words_said), 3),
        "misheard": misheard,
        "idle_cpu_pct_one_core": idle_pct,
        "targets": TARGETS_MS | {"word_error_rate": 0.10, "idle_cpu_pct": 10},
    }


LISTENER_THREADS = {"cohost-listen": "listener", "cohost-asr": "asr"}


def _wait_quiet(conversation: Any, timeout: float = ANSWER_WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while conversation.status().busy or conversation.status().hearing.speaking:
        if time.monotonic() > deadline:
            raise CohostError("the co-host did not go quiet")
        time.sleep(0.05)
    time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="cohost bench hearing", description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=30, metavar="N", help="questions spoken (default 30)")
    parser.add_argument(
        "--barge-ins", type=int, default=10, metavar="N", help="times the streamer talks over (default 10)"
    )
    add_engine_options(parser)
    args = parser.parse_args(argv)
    if args.utterances < 1 or args.barge_ins < 0:
        raise CohostError("--utterances must be at least 1 and --barge-ins at least 0")
    report = run(engine_config(args), args.utterances, args.barge_ins)
    rows = [("speech end → final transcript", "speech_end_to_transcript_ms"),
            ("speech end → answer's first audio", "speech_end_to_answer_audio_ms"),
            ("barge-in: onset → co-host silent", "barge_in_onset_to_silence_ms"),
            ("  of which onset → stop_talking()", "barge_in_onset_to_stop_ms")]  # fmt: skip
    print(f"{'':36} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for label, key in rows:
        s = report[key]
        print(f"{label:36} {s['n']:>4} {s.get('p50', 0):>8.0f} {s.get('p95', 0):>8.0f} {s.get('max', 0):>8.0f}")
    print(f"word error rate {report['word_error_rate']:.1%} over {report['utterances']} utterances (target ≤ 10 %)")
    for line in report["misheard"]:
        print(f"  misheard: {line}")
    cpu = report["idle_cpu_pct_one_core"]
    print(f"listening while idle: listener {cpu['listener']} %, Whisper {cpu['asr']} % of one core (target ≤ 10 %)")
    save_json(args.json, report)
    return 0
