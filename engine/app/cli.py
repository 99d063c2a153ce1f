"""The `cohost` command. User mistakes end in one line on stderr (exit 2 for a wrong command line)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.cli_args import CliParser, parse_fps, parse_size
from engine.config import Config, load_config
from engine.errors import CohostError, UsageError, report

BENCHMARKS = ("render", "voice", "lipsync", "obs", "cpu", "latency", "moderation", "hearing")


def _with_voice(config: Config, voice: str | None) -> Config:
    """--voice: a piper voice name or .onnx path, or `espeak` / `espeak:VOICE`."""
    if not voice:
        return config
    if voice == "espeak" or voice.startswith("espeak:"):
        name = voice.partition(":")[2] or config.voice.espeak_voice
        chosen = dataclasses.replace(config.voice, backend="espeak", espeak_voice=name)
    else:
        chosen = dataclasses.replace(config.voice, backend="piper", name=voice)
    return dataclasses.replace(config, voice=chosen)


def _cmd_say(args: argparse.Namespace) -> int:
    from engine.app.say import say

    config = _with_voice(load_config(args.config), args.voice)
    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise UsageError(f"--out must be an .mp4 file, got {args.out!r}")
    result = say(args.text, config, out, photo=args.avatar, size=args.size, fps=args.fps)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    clip, t = result.clip, result.timings
    print(clip.path)
    print(
        f"{clip.seconds:.2f} s, {clip.frames} frames; first audio after {clip.first_audio_s * 1000:.0f} ms; "
        f"face set-up {t['face_setup']:.2f} s, voice load {t['voice_load']:.2f} s, "
        f"render {clip.render_ms_p50:.1f} ms/frame (median), speak+render+encode {t['speak_and_encode']:.2f} s, "
        f"total {t['total']:.2f} s"
    )
    return 0


def _cmd_avatar_check(args: argparse.Namespace) -> int:
    from engine.face.portrait import load_portrait

    avatar = load_portrait(load_config(args.config), args.photo)
    pose = avatar.pose
    print(f"face found: {avatar.path} ({avatar.image.shape[1]}x{avatar.image.shape[0]} photo)")
    print(f"faces: {avatar.faces_found}")
    print(f"face size: {avatar.face_height:.0f} px tall")
    print(f"pose: yaw {pose.yaw:+.1f}°, pitch {pose.pitch:+.1f}°, roll {pose.roll:+.1f}°")
    print(f"mouth: {'closed' if avatar.mouth_closed else 'open'} (lip gap {avatar.mouth_gap:.3f} of eye distance)")
    for warning in avatar.warnings:
        print(f"warning: {warning}")
    if args.preview:
        from engine.face.preview import write_preview

        write_preview(avatar, Path(args.preview))
        print(f"preview: {args.preview}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    return importlib.import_module(f"bench.{args.what}").main(args.rest)


def _cmd_live(args: argparse.Namespace) -> int:
    from engine.app.live import run_live

    return run_live(load_config(args.config), args.config, use_obs=not args.no_obs)


def _cmd_chat(args: argparse.Namespace) -> int:
    from engine.app.chat import run_chat

    config = _with_voice(load_config(args.config), args.voice)
    if args.brain:
        config = dataclasses.replace(config, brain=dataclasses.replace(config.brain, backend=args.brain))
    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise UsageError(f"--out must be an .mp4 file, got {args.out!r}")
    if args.mic:
        config = dataclasses.replace(config, hearing=dataclasses.replace(config.hearing, enabled=True))
    return run_chat(config, out)


def _cmd_listen(args: argparse.Namespace) -> int:
    from engine.app.listen import run_listen

    config = load_config(args.config)
    if args.device is not None:
        config = dataclasses.replace(config, hearing=dataclasses.replace(config.hearing, device=args.device))
    if args.file is not None and not Path(args.file).is_file():
        raise UsageError(f"--file {args.file!r} is not a file")
    return run_listen(config, Path(args.file) if args.file else None)


def _cmd_devices(args: argparse.Namespace) -> int:
    from engine.app.listen import run_devices

    return run_devices()


def _cmd_models(args: argparse.Namespace) -> int:
    from engine.app.models import main as models_main

    return models_main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="cohost", description="obs-cohost: an AI co-host for OBS, from one portrait photo.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CliParser)

    say = sub.add_parser("say", help="speak a line and write an MP4 of the talking head")
    say.add_argument("text")
    say.add_argument("--avatar", metavar="PHOTO", help="portrait photo (default: [avatar] photo in the config)")
    say.add_argument("--voice", metavar="NAME", help="piper voice name or .onnx path, or espeak[:VOICE]")
    say.add_argument("--out", default="reply.mp4", metavar="FILE.mp4")
    say.add_argument("--size", type=parse_size, metavar="WxH", help="video size (default 1280x720)")
    say.add_argument("--fps", type=parse_fps, metavar="N", help="frames per second (default 30)")
    say.add_argument("--config", type=Path, metavar="FILE")
    say.set_defaults(run=_cmd_say)

    avatar = sub.add_parser("avatar", help="check a portrait photo")
    avatar_sub = avatar.add_subparsers(dest="avatar_command", required=True, parser_class=CliParser)
    check = avatar_sub.add_parser("check", help="report the face found and write a preview")
    check.add_argument("photo")
    check.add_argument("--preview", metavar="OUT.png")
    check.add_argument("--config", type=Path, metavar="FILE")
    check.set_defaults(run=_cmd_avatar_check)

    live = sub.add_parser("live", help="run the co-host live into OBS until Ctrl-C")
    live.add_argument("--config", type=Path, metavar="FILE")
    live.add_argument("--no-obs", action="store_true", help="run without OBS control (outputs and API only)")
    live.set_defaults(run=_cmd_live)

    chat = sub.add_parser("chat", help="talk to the co-host in the terminal; its answers are recorded to an MP4")
    chat.add_argument("--out", default="cohost-chat.mp4", metavar="FILE.mp4")
    chat.add_argument("--brain", choices=("openai", "local", "scripted"), help="override [brain] backend")
    chat.add_argument("--voice", metavar="NAME", help="piper voice name or .onnx path, or espeak[:VOICE]")
    chat.add_argument("--mic", action="store_true", help="talk to it by voice too ([hearing] device and mode)")
    chat.add_argument("--config", type=Path, metavar="FILE")
    chat.set_defaults(run=_cmd_chat)

    listen = sub.add_parser("listen", help="print what the co-host hears, live, from the microphone or a WAV file")
    listen.add_argument("--file", metavar="FILE.wav", help="a WAV file instead of the microphone")
    listen.add_argument("--device", metavar="NAME", help="input device (default: [hearing] device)")
    listen.add_argument("--config", type=Path, metavar="FILE")
    listen.set_defaults(run=_cmd_listen)

    devices = sub.add_parser("devices", help="list the audio input and output devices by name")
    devices.set_defaults(run=_cmd_devices)

    stream = sub.add_parser("stream", help="go live on a platform through OBS: start, stop, status, set-key")
    stream.add_argument("rest", nargs=argparse.REMAINDER)

    voice = sub.add_parser("voice", help="voice clone SAMPLE.wav --backend NAME: register a clip with a cloning server")
    voice.add_argument("rest", nargs=argparse.REMAINDER)

    bench = sub.add_parser("bench", help="measure speed, sync and moderation (" + ", ".join(BENCHMARKS) + ")")
    bench.add_argument("what", choices=BENCHMARKS)
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="options of that benchmark (--help for them)")
    bench.set_defaults(run=_cmd_bench)

    models = sub.add_parser("models", help="show where each model comes from")
    models.add_argument("rest", nargs=argparse.REMAINDER)
    models.set_defaults(run=_cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # Benchmarks and the model table parse their own options.
        if len(argv) >= 2 and argv[0] == "bench" and argv[1] in BENCHMARKS:
            return _cmd_bench(argparse.Namespace(what=argv[1], rest=argv[2:]))
        if argv and argv[0] == "models":
            return _cmd_models(argparse.Namespace(rest=argv[1:]))
        if argv and argv[0] == "stream" and not {"-h", "--help"} & set(argv[1:2]):
            from engine.app.stream import main as stream_main

            return stream_main(argv[1:])
        if argv and argv[0] == "voice" and not {"-h", "--help"} & set(argv[1:2]):
            from engine.app.voice_clone import main as voice_main

            return voice_main(argv[1:])
        args = build_parser().parse_args(argv)
        return args.run(args)
    except CohostError as e:
        return report(e, "cohost: error")
    except KeyboardInterrupt:
        print("cohost: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
