"""`cohost bench latency`: chat message in → the answer's first audio sample and first speaking frame
at the output, over many messages.

A real LiveEngine (the configured voice and avatar) runs in real time into a real StreamOutput (x264
+ Opus over loopback UDP, read and discarded by another process), with the whole conversation in
front of it: triggers, moderation, the SQLite queue, the brain, the sentence splitter and the output
filter. Each message goes in through Conversation.receive(), as chat from any platform does. The
output is wrapped by a probe that notes the wall time each block is handed over, so a latency is
"message received → the block holding the answer's first sample (or the frame that first moves the
mouth for it) was given to the output". Once heard, the answer is cut (stop talking), which is
timed too (until the brain has stopped, and until the voice has let go of the sentence it was
synthesizing), and the next message follows after a random pause, so messages land at every phase
of the frame clock.
"""

from __future__ import annotations

import dataclasses
import os
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import add_engine_options, engine_config, save_json
from bench.drain import drained_udp_port
from engine.app.build import live_engine
from engine.app.session import conversation_session
from engine.chat.message import ChatMessage
from engine.cli_args import CliParser
from engine.config import Config
from engine.errors import CohostError
from engine.face.animator import ANTICIPATION_S
from engine.live.events import Event, FanOut
from engine.output.stream import StreamOutput

TARGETS_MS = {"p50": 250.0, "p95": 400.0}  # scripted brain, issue 4
WARMUP_S = 2.0
ANSWER_WAIT_S = 60.0
QUESTIONS = (
    "{name}, who are you?", "Hi {name}!", "{name} what is this stream about?", "!ask are you an AI?",
    "{name}, how do you work?", "hello {name}, how are you today?", "!ask what game is this?",
    "{name} can you sing?", "{name}, what's your favourite food?", "!ask how old are you?",
)  # fmt: skip


class Probe:
    """An output that notes when each block (its first clock sample) is handed over, then passes it
    on to the real output."""

    name = "probe"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.blocks: list[tuple[int, float]] = []  # (first sample, wall time written)
        self._lock = threading.Lock()

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        self.inner.open(width, height, fps, sample_rate)

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        self.inner.write(frame, pcm, sample)
        with self._lock:
            self.blocks.append((sample, time.monotonic()))

    def clock_started(self, sample: int, due_ns: int) -> None:
        self.inner.clock_started(sample, due_ns)

    def close(self) -> None:
        self.inner.close()

    def written_at(self, sample: int, timeout: float = 5.0) -> float:
        """Wall time the block holding `sample` was handed over (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for i in range(len(self.blocks) - 1, -1, -1):
                    start, at = self.blocks[i]
                    if start <= sample:
                        if i + 1 < len(self.blocks) or start == sample:
                            return at
                        break
            time.sleep(0.002)
        raise CohostError("the output never received the answer's first block")


class Answers:
    """Waits for the speaking_started event of each answer."""

    def __init__(self) -> None:
        self._started: dict[str, Event] = {}
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        if event.kind == "speaking_started":
            with self._cond:
                self._started[event.line_id] = event
                self._cond.notify_all()

    def next_after(self, known: set[str], timeout: float) -> Event:
        with self._cond:
            if not self._cond.wait_for(lambda: set(self._started) - known, timeout):
                raise CohostError(f"no answer started within {timeout:.0f} s")
            line_id = sorted(set(self._started) - known)[0]
            return self._started[line_id]


def bench_config(config: Config, backend: str, queue_path: Path) -> Config:
    """The user's config with the conversation opened wide: every message is answered at once."""
    return dataclasses.replace(
        config,
        brain=dataclasses.replace(config.brain, backend=backend),
        queue=dataclasses.replace(config.queue, path=str(queue_path)),
        moderation=dataclasses.replace(
            config.moderation, user_cooldown_s=0.0, global_per_minute=100_000, duplicate_window_s=0.0, approve=False
        ),
        triggers=dataclasses.replace(config.triggers, auto=True),
    )


def run(config: Config, backend: str, messages: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    audio_ms: list[float] = []
    frame_ms: list[float] = []
    first_token_ms: list[float] = []
    first_sentence_ms: list[float] = []
    stop_ms: list[float] = []
    voice_stop_ms: list[float] = []
    still_writing = 0
    used: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="cohost-bench-") as tmp, drained_udp_port() as port:
        config = bench_config(config, backend, Path(tmp) / "queue.sqlite3")
        probe = Probe(StreamOutput(port))
        fan_out = FanOut()
        answers = Answers()
        fan_out.sinks.append(answers)
        with live_engine(config, [probe], sink=fan_out) as engine:
            sr, fps = engine.sample_rate, engine.fps
            lead = round(ANTICIPATION_S * sr)
            engine.start()
            with conversation_session(config, engine, fan_out, []) as conversation:
                time.sleep(WARMUP_S)
                known: set[str] = set()
                for i in range(messages):
                    _wait_quiet(conversation)
                    time.sleep(rng.uniform(0.1, 0.4))
                    text = QUESTIONS[i % len(QUESTIONS)].format(name=config.persona.name) + f" ({i})"
                    sent = time.monotonic()
                    outcome = conversation.receive(ChatMessage("bench", f"viewer{i}", text, user_id=str(i)))
                    if outcome != "queued":
                        raise CohostError(f"message {i} was not queued: {outcome}")
                    started = answers.next_after(known, ANSWER_WAIT_S)
                    known.add(started.line_id)
                    audio_ms.append((probe.written_at(started.sample) - sent) * 1000)
                    frame_ms.append((probe.written_at(max(0, started.sample - lead)) - sent) * 1000)
                    reply = conversation.reply_for(started.line_id)
                    if reply is not None and not reply.join(0):
                        still_writing += 1  # heard while the brain was still writing the answer
                    if reply is not None and reply.first_sentence_s is not None:
                        first_sentence_ms.append(reply.first_sentence_s * 1000)
                    brain = conversation.brain
                    if getattr(brain, "last_first_token_s", None) is not None:
                        first_token_ms.append(brain.last_first_token_s * 1000)
                    used_name = getattr(brain, "last_used", brain.name)
                    used[used_name] = used.get(used_name, 0) + 1
                    cut = time.monotonic()
                    conversation.stop_talking()
                    if reply is not None and reply.join(5.0):
                        stop_ms.append((time.monotonic() - cut) * 1000)
                    while engine.status().lines_pending:  # the voice finishing (and dropping) its sentence
                        time.sleep(0.001)
                    voice_stop_ms.append((time.monotonic() - cut) * 1000)
            error = engine.error
        if error:
            raise CohostError(f"the live engine stopped: {error}")
    return {
        "benchmark": "latency",
        "brain": backend,
        "answered_by": used,
        "voice": config.voice.backend,
        "size": f"{config.render.width}x{config.render.height}",
        "fps": fps,
        "messages": messages,
        "first_audio_ms": summary(audio_ms),
        "first_speaking_frame_ms": summary(frame_ms),
        "brain_first_token_ms": summary(first_token_ms),
        "first_sentence_ready_ms": summary(first_sentence_ms),
        "heard_while_brain_still_writing": still_writing,
        "stop_to_brain_stopped_ms": summary(stop_ms),
        "stop_to_voice_idle_ms": summary(voice_stop_ms),
        "targets_ms_scripted": TARGETS_MS,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    }


def _wait_quiet(conversation: Any, timeout: float = ANSWER_WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not conversation.status().busy:
            return
        time.sleep(0.02)
    raise CohostError("the co-host did not go quiet between messages")


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = np.sort(np.asarray(values))
    return {
        "n": len(values),
        "p50": round(float(np.percentile(ordered, 50)), 1),
        "p95": round(float(np.percentile(ordered, 95)), 1),
        "min": round(float(ordered[0]), 1),
        "max": round(float(ordered[-1]), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="cohost bench latency", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--brain",
        choices=("scripted", "local", "openai"),
        default="scripted",
        help="brain to answer with (default scripted)",
    )
    parser.add_argument("--messages", type=int, default=50, metavar="N", help="chat messages to answer (default 50)")
    parser.add_argument("--seed", type=int, default=1)
    add_engine_options(parser)
    args = parser.parse_args(argv)
    if args.messages < 1:
        raise CohostError("--messages must be at least 1")
    report = run(engine_config(args), args.brain, args.messages, args.seed)
    print(f"brain {report['brain']} (answered by {report['answered_by']}), voice {report['voice']}, "
          f"{report['size']}@{report['fps']} into a stream output; {report['messages']} messages; "
          f"load average {report['load_average'][0]:.2f} on {report['cpu_count']} cores")  # fmt: skip
    rows = [("chat → first audio sample", "first_audio_ms"), ("chat → first speaking frame", "first_speaking_frame_ms"),
            ("brain: first token", "brain_first_token_ms"), ("first sentence ready", "first_sentence_ready_ms"),
            ("stop → brain stopped", "stop_to_brain_stopped_ms"), ("stop → voice idle", "stop_to_voice_idle_ms")]  # fmt: skip
    print(f"{'':>30} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'min':>7} {'max':>7}")
    for label, key in rows:
        s = report[key]
        if s["n"]:
            print(f"{label:>30} {s['n']:>4} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['min']:>7.1f} {s['max']:>7.1f}")
    print(f"first audio went out while the brain was still writing the answer: {report['heard_while_brain_still_writing']} "
          f"of {report['messages']}")  # fmt: skip
    if args.brain == "scripted":
        audio = report["first_audio_ms"]
        met = audio["p50"] <= TARGETS_MS["p50"] and audio["p95"] <= TARGETS_MS["p95"]
        print(f"target (scripted): p50 <= {TARGETS_MS['p50']:.0f} ms, p95 <= {TARGETS_MS['p95']:.0f} ms: "
              f"{'met' if met else 'MISSED'}")  # fmt: skip
    save_json(args.json, report)
    return 0
