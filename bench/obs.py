"""`cohost bench obs`: A/V offset and drift at the RTMP output, render-to-OBS latency and CPU, for
each path into OBS (`--path plugin`, `stream`, or `both`, one after the other in one run).

Starts a real headless OBS and a local nginx-rtmp (the test harness's), runs the real live engine
into OBS through the `plugin` output (the obs-cohost source, built from obs_plugin/ and installed
into that OBS) or the `stream` output (a Media Source), alternating speech (a line every 30 s) and idle, while OBS
streams through the `custom` preset to nginx. Every 2 s one frame is a white flash and its audio
block carries a 7 kHz tone burst at the same clock sample; every frame also carries the wall-clock
time it was rendered, as a 24-bit barcode in its top-left corner.

- Offset: in the nginx recording (what viewers get), flash time minus tone time, per marker
  (positive = picture late). Drift: the fitted change of that offset over the run, per 10 minutes.
- Latency: OBS's own picture of the avatar source (GetSourceScreenshot), polled twice a second; the
  barcode it shows says when that frame was rendered.
- CPU: this process (the engine, and this benchmark's polling) and OBS, over the whole run, as a
  share of one core.

Needs what the tests need: Debian's obs-studio, xvfb, nginx-light and libnginx-mod-rtmp.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from bench import save_json
from engine.app.build import live_engine
from engine.cli_args import CliParser, parse_size
from engine.config import load_config
from engine.media.decode import VideoReader, read_audio
from engine.models import PROJECT_ROOT
from engine.obs.client import ObsRequestFailed
from engine.obs.controller import ObsController
from engine.obs.sources import AVATAR, PLUGIN_AVATAR, ObsSetup
from engine.obs_plugin_build import build as build_plugin
from engine.obs_plugin_build import install as install_plugin
from engine.output.base import Output
from engine.output.plugin import PluginOutput
from engine.output.stream import StreamOutput
from engine.platforms import apply_platform, get_preset

# The real OBS and nginx come from the test harness, which lives in the source tree, not the package.
sys.path.insert(0, str(PROJECT_ROOT))
from tests.harness.obs import ObsProcess  # noqa: E402
from tests.harness.process import free_port  # noqa: E402
from tests.harness.rtmp import RtmpServer  # noqa: E402

MARKER_EVERY_S = 2.0
TONE_HZ = 7000.0
TONE_S = 0.010
BITS, CELL = 24, 20  # barcode: 24 cells of 20 px along the top-left edge
SHOT_SCALE = 2  # screenshots at half size: cheap for OBS to encode, cells still 10 px
SPEAK_EVERY_S = 30.0
LINES = [
    "Hello chat, thanks for the follow! Today we are testing an AI co-host that speaks your messages out loud.",
    "Let me know in the chat what you think of the new voice, and whether my lips keep up with my words.",
    "That was a great play. I did not expect the boss to go down that quickly, but here we are.",
]


class MarkerOutput:
    """Wraps an output: stamps the render time on every frame, and a flash + tone every 2 s."""

    def __init__(self, inner: Output, t0: float) -> None:
        self.inner, self.t0 = inner, t0
        self.name = inner.name
        self.sample_rate = 0
        self.marker_samples: list[int] = []

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        n = round(TONE_S * sample_rate)
        self._tone = (0.7 * 32767 * np.sin(2 * np.pi * TONE_HZ * np.arange(n) / sample_rate)).astype(np.int16)
        self._every = round(MARKER_EVERY_S * sample_rate)
        self.inner.open(width, height, fps, sample_rate)

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        frame = frame.copy()
        opaque = frame.shape[2] == 3
        if sample // self._every != (sample + len(pcm)) // self._every or sample == 0:
            frame[:] = 255
            pcm = pcm.copy()
            pcm[: len(self._tone)] = self._tone[: len(pcm)]
            self.marker_samples.append(sample)
        stamp = int((time.monotonic() - self.t0) * 1000) & ((1 << BITS) - 1)
        for i in range(BITS):
            cell = frame[:CELL, i * CELL : (i + 1) * CELL]
            cell[..., :3] = 255 if stamp >> i & 1 else 0
            if not opaque:
                cell[..., 3] = 255
        self.inner.write(frame, pcm, sample)

    def clock_started(self, sample: int, due_ns: int) -> None:
        self.inner.clock_started(sample, due_ns)

    def close(self) -> None:
        self.inner.close()


def read_stamp(png: bytes) -> int | None:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    cell = CELL // SHOT_SCALE
    if image is None or image.shape[1] < BITS * cell:
        return None
    cells = image[cell // 2, cell // 2 : BITS * cell : cell]
    return sum(1 << i for i, v in enumerate(cells) if v > 128)


def tone_onsets(samples: np.ndarray, sample_rate: int, near: np.ndarray, window_s: float = 0.4) -> list[float | None]:
    """Time of the tone burst closest to each `near` time (matched filter), or None."""
    n = round(TONE_S * sample_rate)
    t = np.arange(n) / sample_rate
    kernel = np.exp(2j * np.pi * TONE_HZ * t)
    out: list[float | None] = []
    for center in near:
        a = int(max(0, (center - window_s) * sample_rate))
        b = int(min(len(samples), (center + window_s) * sample_rate))
        if b - a <= n:
            out.append(None)
            continue
        response = np.abs(np.convolve(samples[a:b], kernel[::-1], mode="valid"))
        peak = response.max()
        if peak < 0.1 * n * 0.3:  # no burst here
            out.append(None)
            continue
        rising = int(np.argmax(response > 0.5 * peak))  # the filter's output reaches half at mid-burst
        out.append((a + rising + n / 2) / sample_rate)
    return out


def flash_times(path: Path) -> list[float]:
    times, previous = [], 0.0
    with VideoReader(path) as video:
        for t, rgb in video:
            level = float(rgb[rgb.shape[0] // 4 :].mean())  # below the barcode
            if level > 235 and previous <= 235:
                times.append(t)
            previous = level
    return times


def run(minutes: float, size: tuple[int, int], fps: int, path: str) -> dict:
    base = load_config()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            udp_port = s.getsockname()[1]
        config = replace(
            base,
            render=replace(base.render, width=size[0], height=size[1], fps=fps),
            live=replace(base.live, outputs=[path], stream_port=udp_port, plugin_socket=str(tmp / "plugin.sock")),
        )
        obs_home = tmp / "obs"
        if path == "plugin":
            install_plugin(build_plugin(tmp / "plugin-build"), obs_home / ".config" / "obs-studio")
            setup, source = ObsSetup(plugin_socket=config.live.plugin_socket), PLUGIN_AVATAR
            inner: PluginOutput | StreamOutput = PluginOutput(config.live.plugin_socket_path)
        else:
            setup = ObsSetup(
                avatar_url=f"udp://127.0.0.1:{udp_port}", avatar_sync_offset_ms=config.obs.avatar_sync_offset_ms
            )
            source, inner = AVATAR, StreamOutput(udp_port)
        with (
            RtmpServer(tmp / "rtmp") as rtmp,
            ObsProcess(obs_home, free_port(), canvas=(*size, fps)) as obs,
            ExitStack() as stack,
        ):
            controller = ObsController("127.0.0.1", obs.ws_port, "", "Co-host", setup)
            controller.connect()
            obs.call("SetCurrentProgramScene", sceneName="Co-host")
            apply_platform(controller, get_preset("custom"), rtmp.url, "bench")
            obs.call("StartStream")

            t0 = time.monotonic()
            marker = MarkerOutput(inner, t0)
            cpu_begin = (os.times(), _process_cpu_s(obs.pid))
            engine = stack.enter_context(live_engine(config, [marker]))
            stop = threading.Event()
            runner = threading.Thread(target=engine.run, args=(stop,), daemon=True)
            runner.start()
            latencies: list[tuple[float, float]] = []  # (from the request, from the request's midpoint)
            round_trips: list[float] = []
            next_line, line = time.monotonic() + 3.0, 0
            end = time.monotonic() + minutes * 60
            while time.monotonic() < end:
                if time.monotonic() >= next_line:
                    engine.say(LINES[line % len(LINES)])
                    line += 1
                    next_line += SPEAK_EVERY_S
                asked = time.monotonic()
                try:
                    stamp = read_stamp(controller.screenshot(source, width=size[0] // SHOT_SCALE))
                except ObsRequestFailed:  # no picture yet: the source is still opening the stream
                    stamp = None
                answered = time.monotonic()
                round_trips.append((answered - asked) * 1000)
                if stamp is not None:
                    asked_ms, middle_ms = ((t - t0) * 1000 for t in (asked, (asked + answered) / 2))
                    after = [(int(t) - stamp) % (1 << BITS) for t in (asked_ms, middle_ms)]
                    if after[1] < 5000:
                        latencies.append((float(after[0]), float(after[1])))
                time.sleep(max(0.0, 0.5 - (time.monotonic() - asked)))
            status = engine.status()
            wall = time.monotonic() - t0
            cpu_end = (os.times(), _process_cpu_s(obs.pid))
            engine_cpu = (cpu_end[0].user + cpu_end[0].system - cpu_begin[0].user - cpu_begin[0].system) / wall
            obs_cpu = (cpu_end[1] - cpu_begin[1]) / wall
            output_stats = inner.stats()
            stop.set()
            runner.join(timeout=10)
            engine.close()
            time.sleep(1.5)
            obs.call("StopStream")
            time.sleep(1.0)
            stream_stats = obs.call("GetStats")
            for line in obs.log_path.read_text(errors="replace").splitlines():
                if "[obs-cohost]" in line or "audio buffering" in line:
                    print(f"obs: {line}", file=sys.stderr)
            controller.close()
            recording = max(rtmp.recordings(), key=lambda p: p.stat().st_mtime)

            flashes = flash_times(recording)
            audio = read_audio(recording)
            tones = tone_onsets(audio.samples, audio.sample_rate, np.array(flashes) - audio.start)
            pairs = [(f, (f - (tone + audio.start)) * 1000) for f, tone in zip(flashes, tones) if tone is not None]
    if len(pairs) < 3:
        raise RuntimeError(f"only {len(pairs)} markers found in the recording")
    at = np.array([p[0] for p in pairs])
    offsets = np.array([p[1] for p in pairs])
    slope = float(np.polyfit(at, offsets, 1)[0]) if np.ptp(at) > 0 else 0.0
    lat = np.array(latencies) if latencies else np.full((1, 2), np.nan)
    return {
        "benchmark": "obs", "path": path,
        "minutes": minutes, "size": f"{size[0]}x{size[1]}", "fps": fps,
        "markers_sent": len(marker.marker_samples), "markers_found": len(pairs),
        "offset_ms_median": round(float(np.median(offsets)), 2),
        "offset_ms_p95_abs": round(float(np.percentile(np.abs(offsets), 95)), 2),
        "offset_ms_min": round(float(offsets.min()), 2), "offset_ms_max": round(float(offsets.max()), 2),
        "drift_ms_per_10min": round(slope * 600, 2),
        "latency_ms_median": round(float(np.nanmedian(lat[:, 1])), 1),
        "latency_ms_p95": round(float(np.nanpercentile(lat[:, 1], 95)), 1),
        # The picture cannot have been taken before it was asked for: a floor under the figures above.
        "latency_ms_median_from_request": round(float(np.nanmedian(lat[:, 0])), 1),
        "screenshot_round_trip_ms_median": round(float(np.median(round_trips)), 1) if round_trips else None,
        "latency_samples": len(latencies),
        "engine_cpu_pct_one_core": round(100 * engine_cpu, 1),
        "obs_cpu_pct_one_core": round(100 * obs_cpu, 1),
        "engine_frames_dropped": status.frames_dropped,
        "obs_render_skipped": stream_stats.get("renderSkippedFrames"),
        "obs_output_skipped": stream_stats.get("outputSkippedFrames"),
        "avatar_sync_offset_ms": config.obs.avatar_sync_offset_ms if path == "stream" else 0.0,
        **{f"output_{k}": v for k, v in output_stats.items()},
        "offsets_ms": [[round(t, 2), round(o, 2)] for t, o in pairs],  # (recording time, offset) per marker
    }  # fmt: skip


def _process_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) another process has used, from /proc; 0 where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="cohost bench obs", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    # 640x360 by default, for the engine and OBS's canvas alike: on a 2-core machine without a GPU,
    # OBS renders in software (llvmpipe) and shares the CPU with the engine.
    parser.add_argument("--size", type=parse_size, default=(640, 360), metavar="WxH")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument(
        "--path", choices=("plugin", "stream", "both"), default="both", help="how the co-host reaches OBS"
    )
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    paths = ("plugin", "stream") if args.path == "both" else (args.path,)
    reports = [run(args.minutes, args.size, args.fps, path) for path in paths]
    keys = list(dict.fromkeys(k for r in reports for k in r))  # each output has counters of its own
    width = max(len(k) for k in keys)
    print(f"{'':<{width}}  " + "  ".join(f"{r['path']:>12}" for r in reports))
    for key in (k for k in keys if k != "offsets_ms"):
        print(f"{key:<{width}}  " + "  ".join(f"{str(r.get(key, '-')):>12}" for r in reports))
    save_json(args.json, reports[0] if len(reports) == 1 else {"benchmark": "obs", "paths": reports})
    return 0
