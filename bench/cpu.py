"""`cohost bench cpu`: the live engine's CPU use, idle and speaking, into the stream or the plugin output.

A real LiveEngine (the configured voice and avatar) runs in real time into a real StreamOutput
(`--output stream`: x264 + Opus in MPEG-TS over loopback UDP) or PluginOutput (`--output plugin`:
raw frames and PCM over its Unix socket); a separate process reads what it sends and throws it away,
as OBS would take it, so its CPU is not counted. The engine runs `--seconds` idle, then `--seconds` speaking without a
break (lines are kept queued, so only the pauses between sentences are silent). CPU % is this
process's CPU time (every thread: clock, encoder, voice, native pools) over wall time, as a share
of one core; the split by thread comes from /proc where there is one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import add_engine_options, engine_config, save_json
from bench.drain import drained_plugin_socket, drained_udp_port
from engine.app.build import live_engine
from engine.cli_args import CliParser
from engine.config import Config
from engine.errors import CohostError
from engine.live.engine import EngineStatus, LiveEngine
from engine.output.base import Output
from engine.output.plugin import PluginOutput
from engine.output.stream import StreamOutput

# % of one core: issue 3's for the stream output, issue 10's for the plugin (no encoder).
TARGETS = {"stream": {"idle": 15.0, "speaking": 40.0}, "plugin": {"idle": 10.0, "speaking": 30.0}}
WARMUP_S = 2.0  # the first keyframe and first-call allocations are not what a stream sees
LINES = (
    "Hello chat, thanks for the follow! Today we are testing an AI co-host that speaks your messages out loud.",
    "It reads your questions, thinks for a moment, and answers while the game goes on behind it.",
    "If you want it to stop talking, the streamer presses a hotkey and it goes quiet right away.",
)
SPEECH_WAIT_S = 30.0
LINES_AHEAD = 2  # lines kept waiting behind the one being spoken
# The engine's own threads by name; every other thread (onnxruntime's, OpenCV's and OpenBLAS's
# pools) is counted as "native". "bench" is this module polling status() four times a second.
THREAD_GROUPS = {
    "cohost-clock": "clock",
    "cohost-stream": "encoder",
    "cohost-plugin-send": "sender",
    "cohost-voice": "voice",
    "MainThread": "bench",
}


def thread_cpu(thread_groups: dict[str, str] = THREAD_GROUPS) -> dict[str, float]:
    """CPU seconds per thread group (threads named in `thread_groups`; the rest is "native"), from
    /proc (empty where there is no /proc)."""
    groups: dict[str, float] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return groups
    names = {t.native_id: thread_groups.get(t.name, "native") for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in tids:
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat.rpartition(")")[2].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        group = names.get(int(tid), "native")
        groups[group] = groups.get(group, 0.0) + seconds
    return groups


@dataclasses.dataclass
class _Mark:
    wall: float
    cpu: float
    threads: dict[str, float]
    status: EngineStatus

    @classmethod
    def now(cls, engine: LiveEngine) -> _Mark:
        return cls(time.monotonic(), time.process_time(), thread_cpu(), engine.status())


def _phase(
    name: str, engine: LiveEngine, output: StreamOutput | PluginOutput, seconds: float, lines: Iterator[str] | None
) -> dict[str, Any]:
    """`seconds` of the running engine; with `lines`, it is kept talking."""
    begin, stats0 = _Mark.now(engine), output.stats()
    end_at = begin.wall + seconds
    while (left := end_at - time.monotonic()) > 0:
        if lines is not None:
            _top_up(engine, lines)
        time.sleep(min(0.25, left))
    end = _Mark.now(engine)
    wall = end.wall - begin.wall
    stats = output.stats()
    threads = {g: round(100 * (end.threads.get(g, 0.0) - begin.threads.get(g, 0.0)) / wall, 1) for g in end.threads}
    s0, s1 = begin.status, end.status
    return {
        "phase": name,
        "seconds": round(wall, 2),
        "cpu_pct_one_core": round(100 * (end.cpu - begin.cpu) / wall, 1),
        "cpu_pct_by_thread": dict(sorted(threads.items())),
        "target_pct": TARGETS[output.name][name],
        **{
            key: getattr(s1, key) - getattr(s0, key) for key in ("frames_rendered", "frames_repeated", "frames_dropped")
        },
        # status() and stats() keep the last 300 frames: the phase's last 10 s at 30 fps.
        "render_ms_p50": s1.render_ms_p50,
        "render_ms_p95": s1.render_ms_p95,
        # The output's own counters over the phase, and its latest percentiles.
        "output": {k: v if k.endswith(("_p50", "_p95")) else v - stats0[k] for k, v in stats.items()},
    }


def _top_up(engine: LiveEngine, lines: Iterator[str]) -> None:
    for _ in range(LINES_AHEAD + 1 - engine.status().lines_pending):
        engine.say(next(lines))


@contextlib.contextmanager
def _drained_output(name: str, config: Config) -> Iterator[StreamOutput | PluginOutput]:
    if name == "plugin":
        with drained_plugin_socket(config.live.plugin_socket_path) as path:
            yield PluginOutput(path)
    else:
        with drained_udp_port() as port:
            yield StreamOutput(port)


def run(config: Config, seconds: float, output_name: str = "stream") -> dict[str, Any]:
    with _drained_output(output_name, config) as output:
        outputs: list[Output] = [output]
        began = time.perf_counter()
        with live_engine(config, outputs, realtime=True) as engine:
            setup_s = time.perf_counter() - began
            engine.start()
            time.sleep(WARMUP_S)
            idle = _phase("idle", engine, output, seconds, None)
            lines = itertools.cycle(LINES)
            _top_up(engine, lines)
            deadline = time.monotonic() + SPEECH_WAIT_S
            while not engine.status().speaking and not engine.error:
                if time.monotonic() > deadline:
                    raise CohostError(f"the co-host did not start speaking within {SPEECH_WAIT_S:.0f} s")
                time.sleep(0.01)
            speaking = _phase("speaking", engine, output, seconds, lines)
            engine.stop_talking()
            error = engine.error
        if error:
            raise CohostError(f"the live engine stopped: {error}")
    return {
        "benchmark": "cpu",
        "size": f"{engine.width}x{engine.height}",
        "fps": engine.fps,
        "voice": config.voice.backend,
        "outputs": [output_name],
        "engine_setup_s": round(setup_s, 2),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "phases": [idle, speaking],
    }


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="cohost bench cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, metavar="N", help="length of each phase (default 20)")
    parser.add_argument(
        "--output", choices=sorted(TARGETS), default="stream", help="the output the engine runs into (default stream)"
    )
    add_engine_options(parser)
    args = parser.parse_args(argv)
    if args.seconds < 5:
        raise CohostError("--seconds must be at least 5")
    report = run(engine_config(args), args.seconds, args.output)
    what = {"stream": "stream (x264 + Opus, MPEG-TS over UDP)", "plugin": "plugin (raw frames + PCM, Unix socket)"}
    print(f"{report['size']}@{report['fps']}, voice {report['voice']}, output {what[args.output]}; "
          f"load average {report['load_average'][0]:.2f} on {report['cpu_count']} cores")  # fmt: skip
    print(f"{'phase':>9} {'CPU %':>6} {'target':>6} {'rendered':>8} {'repeated':>8} {'dropped':>7} "
          f"{'render p50/p95 ms':>17}  output; CPU % by thread")  # fmt: skip
    for p in report["phases"]:
        frames = (p["frames_rendered"], p["frames_repeated"], p["frames_dropped"])
        render = f"{p['render_ms_p50']:.2f}/{p['render_ms_p95']:.2f}"
        out = ", ".join(f"{k} {v:g}" for k, v in p["output"].items())
        threads = ", ".join(f"{g} {v:.1f}" for g, v in p["cpu_pct_by_thread"].items())
        print(f"{p['phase']:>9} {p['cpu_pct_one_core']:>6.1f} {'<= ' + format(p['target_pct'], '.0f'):>6} "
              f"{frames[0]:>8} {frames[1]:>8} {frames[2]:>7} {render:>17}  {out}; {threads}")  # fmt: skip
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
