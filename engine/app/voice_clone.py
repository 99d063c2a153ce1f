"""`cohost voice clone SAMPLE.wav --backend gpt-sovits`: registers the clip a cloning voice server
imitates. The clip is checked (a WAV of 3-10 s: shorter clones badly, longer is refused or cut by
the servers), copied into the state directory (so the config never points at a download folder that
gets cleaned), and named in the user's config with the backend and what the clip says."""

from __future__ import annotations

import argparse
import shutil
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.cli_args import CliParser
from engine.config import state_dir, update_user_config
from engine.errors import CohostError, UsageError, report

MIN_S, MAX_S = 3.0, 10.0
# The command line's names for the [voice] backends that clone a clip.
CLONING = {"gpt-sovits": "gpt_sovits", "cosyvoice": "cosyvoice", "xtts": "xtts"}
NEEDS_TEXT = {"cosyvoice"}  # its zero-shot form has no default for the clip's words


def clip_seconds(path: Path) -> float:
    """The clip's length; CohostError when it is no readable PCM WAV of MIN_S to MAX_S seconds."""
    try:
        with wave.open(str(path), "rb") as clip:
            frames, rate = clip.getnframes(), clip.getframerate()
    except FileNotFoundError:
        raise CohostError(f"{path}: no such file") from None
    except (OSError, wave.Error, EOFError) as e:
        raise CohostError(f"{path} is not a readable PCM WAV file ({e})") from None
    seconds = frames / rate if rate else 0.0
    if not MIN_S <= seconds <= MAX_S:
        raise CohostError(f"{path} is {seconds:.1f} s long: a reference clip must be {MIN_S:g} to {MAX_S:g} s")
    return seconds


@dataclass(frozen=True)
class Registered:
    seconds: float
    copy: Path
    config: Path  # the file written


def register(sample: Path, backend: str, text: str, config_path: Path | None) -> Registered:
    """Checks the clip, copies it into the state directory and sets [voice] to clone it."""
    seconds = clip_seconds(sample)
    copy = state_dir() / "voices" / f"reference-{backend}.wav"
    try:
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample, copy)
    except OSError as e:
        raise CohostError(f"cannot copy {sample} to {copy}: {e.strerror}") from None
    voice = {"backend": backend, "reference_audio": str(copy), "reference_text": text}
    return Registered(seconds, copy, update_user_config({"voice": voice}, config_path))


def _parser() -> CliParser:
    parser = CliParser(prog="cohost voice clone", description="register a 3-10 s WAV as the voice a server clones")
    parser.add_argument("sample", metavar="SAMPLE.wav")
    parser.add_argument("--backend", choices=tuple(CLONING), required=True, help="the voice server that clones it")
    parser.add_argument("--text", default="", help="what the sample says, word for word")
    parser.add_argument("--config", type=Path, metavar="FILE", help="the config file to write (default: yours)")
    return parser


def main(argv: Sequence[str]) -> int:
    """`cohost voice ARGV…`; user mistakes end in one line on stderr (exit 2 for a wrong command line)."""
    try:
        if not argv or argv[0] != "clone":
            raise UsageError("cohost voice needs: clone SAMPLE.wav --backend NAME (see cohost voice clone --help)")
        args: argparse.Namespace = _parser().parse_args(list(argv[1:]))
        if args.backend in NEEDS_TEXT and not args.text:
            raise UsageError(f"--backend {args.backend} needs --text: what the sample says")
        done = register(Path(args.sample), CLONING[args.backend], args.text, args.config)
    except CohostError as e:
        return report(e, "cohost: error")
    print(f"reference clip ({done.seconds:.1f} s) kept as {done.copy}")
    print(f"{done.config}: [voice] backend = {CLONING[args.backend]!r}, reference_audio and reference_text set")
    return 0
