"""`cohost stream start|stop|status|set-key`: OBS's own RTMP output, set up from a platform preset.

    cohost stream start --platform twitch [--server URL] [--key-from-stdin]
    cohost stream stop
    cohost stream status
    cohost stream set-key --platform twitch        (the key from stdin, or typed without echo)

The key is never taken from the command line (it would land in the shell history and in `ps`),
never printed and never logged.
"""

from __future__ import annotations

import getpass
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.cli_args import CliParser
from engine.config import Config, load_config, user_config_path
from engine.errors import CohostError, UsageError, report
from engine.obs.client import ObsRequestFailed, ObsUnavailable
from engine.obs.controller import ObsController
from engine.platforms import AppliedPlatform, PlatformPreset, apply_platform, get_preset, load_presets
from engine.secrets import ENV_VAR, install_log_redaction, load_key, register_config_secrets, register_secret, store_key

OBS_CONNECT_TIMEOUT_S = 5.0
GO_LIVE_TIMEOUT_S = 20.0
BITRATE_WINDOW_S = 1.0


def _parser(command: str, description: str) -> CliParser:
    parser = CliParser(prog=f"cohost stream {command}", description=description)
    parser.add_argument("--config", type=Path, metavar="FILE")
    return parser


@contextmanager
def _obs(config: Config) -> Iterator[ObsController]:
    """A connection to OBS that keeps no co-host sources: streaming needs none."""
    controller = ObsController(config.obs.host, config.obs.port, config.obs.password, config.obs.scene, setup=None)
    controller.connect(timeout=OBS_CONNECT_TIMEOUT_S)
    try:
        yield controller
    finally:
        controller.close()


def _read_key(prompt: str) -> str:
    key = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if not key:
        raise UsageError("no stream key given on stdin")
    return key


def _missing_key(preset: PlatformPreset, config_path: Path | None) -> CohostError:
    where = config_path or user_config_path()
    return CohostError(
        f"no stream key for {preset.name}: run `cohost stream set-key --platform {preset.name}`, set {ENV_VAR}, "
        f'or put key (with platform = "{preset.name}") under [stream] in {where}; the key is at {preset.key_help}'
    )


def cmd_start(argv: Sequence[str]) -> int:
    parser = _parser("start", "apply a platform preset to OBS and start OBS's stream")
    parser.add_argument(
        "--platform", metavar="NAME", help=f"one of: {', '.join(load_presets())} (default: [stream] platform)"
    )
    parser.add_argument("--server", metavar="URL", help="ingest server (default: the preset's, or [stream] server)")
    parser.add_argument("--key-from-stdin", action="store_true", help="read the stream key from stdin (not stored)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    register_config_secrets(config)
    preset = get_preset(args.platform or config.stream.platform)
    same_platform = config.stream.platform == preset.name
    server = preset.server(args.server or (config.stream.server if same_platform else ""))
    if args.key_from_stdin:
        key = _read_key("Stream key (not shown): ")
        register_secret(key)
    else:
        found = load_key(preset.name, config, args.config)
        if found is None:
            raise _missing_key(preset, args.config)
        key = found.value
    with _obs(config) as obs:
        applied = apply_platform(obs, preset, server, key)
        obs.call("StartStream")
        _wait_live(obs, server)
    print(f"live: {describe(preset, applied)}")
    for note in applied.notes:
        print(f"note: {note}")
    return 0


def _wait_live(obs: ObsController, server: str) -> None:
    deadline = time.monotonic() + GO_LIVE_TIMEOUT_S
    while not obs.call("GetStreamStatus")["outputActive"]:
        if time.monotonic() > deadline:
            raise CohostError(
                f"OBS did not go live on {server} within {GO_LIVE_TIMEOUT_S:.0f} s: "
                "check the server and the key (OBS's log says why)"
            )
        time.sleep(0.2)


def describe(preset: PlatformPreset, applied: AppliedPlatform) -> str:
    """One line on what the stream runs with (never the key)."""
    width, height = applied.output_size
    settings = [f"{width}x{height} at {applied.fps} fps"]
    if "SimpleOutput/VBitrate" in applied.applied:
        settings.append(f"{preset.video_kbps} kbps video, {preset.audio_kbps} kbps audio")
    if "SimpleOutput/x264Settings" in applied.applied:
        settings.append(f"keyframe every {preset.keyframe_s} s, x264 {preset.x264_preset}")
    return f"{preset.title} via {applied.server}: {', '.join(settings)}"


def cmd_stop(argv: Sequence[str]) -> int:
    args = _parser("stop", "stop OBS's stream").parse_args(argv)
    config = load_config(args.config)
    register_config_secrets(config)
    with _obs(config) as obs:
        if not obs.call("GetStreamStatus")["outputActive"]:
            print("not streaming")
            return 0
        obs.call("StopStream")
    print("stream stopped")
    return 0


def cmd_status(argv: Sequence[str]) -> int:
    args = _parser("status", "show whether OBS is live, its bitrate, dropped frames and congestion").parse_args(argv)
    config = load_config(args.config)
    register_config_secrets(config)
    with _obs(config) as obs:
        first = obs.call("GetStreamStatus")
        kbps = None
        if first["outputActive"]:
            time.sleep(BITRATE_WINDOW_S)  # the bitrate now: bytes sent over a short window
            second = obs.call("GetStreamStatus")
            elapsed_ms = int(second["outputDuration"]) - int(first["outputDuration"])
            if elapsed_ms > 0:
                kbps = (int(second["outputBytes"]) - int(first["outputBytes"])) * 8 / elapsed_ms
            first = second
        stats = obs.call("GetStats")
    for name, value in status_fields(first, stats, kbps):
        print(f"{name}: {value}")
    return 0


def status_fields(stream: dict[str, Any], stats: dict[str, Any], kbps: float | None) -> list[tuple[str, str]]:
    """Status lines from GetStreamStatus (whose outputSkippedFrames are frames the network output
    dropped), GetStats (frames skipped by the encoder, frames lagged by rendering) and a bitrate."""

    def share(part_key: str, total_key: str, source: dict[str, Any]) -> str:
        part, total = int(source.get(part_key) or 0), int(source.get(total_key) or 0)
        return f"{part} of {total} ({100.0 * part / total:.1f} %)" if total else str(part)

    if not stream.get("outputActive"):
        return [("live", "no")]
    return [
        ("live", "yes"),
        ("duration", str(stream.get("outputTimecode", "")).split(".")[0]),
        ("bitrate", f"{kbps:.0f} kbps" if kbps is not None else "unknown"),
        ("dropped frames (network)", share("outputSkippedFrames", "outputTotalFrames", stream)),
        ("skipped frames (encoder)", share("outputSkippedFrames", "outputTotalFrames", stats)),
        ("lagged frames (render)", share("renderSkippedFrames", "renderTotalFrames", stats)),
        ("congestion", f"{100.0 * float(stream.get('outputCongestion') or 0.0):.0f} %"),
        ("reconnecting", "yes" if stream.get("outputReconnecting") else "no"),
    ]


def cmd_set_key(argv: Sequence[str]) -> int:
    parser = _parser("set-key", "store a platform's stream key (OS keyring, else the 0600 config)")
    parser.add_argument("--platform", metavar="NAME", required=True, help=f"one of: {', '.join(load_presets())}")
    args = parser.parse_args(argv)
    preset = get_preset(args.platform)
    key = _read_key(f"Stream key for {preset.title} (not shown): ")
    where = store_key(preset.name, key, args.config)
    print(f"stream key for {preset.name} saved in {where}")
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "start": cmd_start,
    "stop": cmd_stop,
    "status": cmd_status,
    "set-key": cmd_set_key,
}


def main(argv: Sequence[str]) -> int:
    """`cohost stream ARGV…`: runs one subcommand; user mistakes end in one line on stderr."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="cohost: %(levelname)s: %(message)s")
    install_log_redaction()
    try:
        if not argv or argv[0] not in COMMANDS:
            raise UsageError(f"cohost stream needs one of: {', '.join(COMMANDS)} (see cohost stream COMMAND --help)")
        return COMMANDS[argv[0]](list(argv[1:]))
    except CohostError as e:
        return report(e, "cohost: error")
    except ObsRequestFailed as e:
        print(f"cohost: error: {e}", file=sys.stderr)
        return 1
    except ObsUnavailable as e:
        print(f"cohost: error: {e} (is OBS still running?)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cohost: interrupted", file=sys.stderr)
        return 130
