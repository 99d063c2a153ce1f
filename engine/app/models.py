"""`cohost models` (and `python -m engine.app.models`, which install.py runs): resolves the models,
prints where each came from, and with --prepare patches the piper voice for phoneme timing."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from engine.config import Config, load_config
from engine.errors import CohostError, report
from engine.models import MissingModel, format_table, resolve_all, resolve_voice


def prepare(config: Config) -> Path | None:
    """Build the configured piper voice's alignment-patched model in the cache (slow, so install.py does it
    once). Returns its path, or None when the voice backend is not piper."""
    if config.voice.backend != "piper":
        return None
    voice = resolve_voice(config.voice, config.models)
    try:
        from engine.voice.piper import aligned_model  # imports piper: only here, never in resolution
    except ImportError as e:
        if e.name != "engine.voice.piper":  # piper.py exists but is broken: a bug, not a setup problem
            raise
        raise CohostError(f"cannot prepare the piper voice: engine.voice.piper has no aligned_model ({e})") from None
    return aligned_model(voice.files["model"], voice.cache_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cohost models", description="Resolve the models obs-cohost uses and print where they are."
    )
    parser.add_argument("--all", action="store_true", help="also report the optional models")
    parser.add_argument("--online", action="store_true", help="allow downloads for this run")
    parser.add_argument("--prepare", action="store_true", help="then build the piper voice's alignment-patched model")
    args = parser.parse_args(argv)
    try:
        config = load_config()
        if args.online:
            config = dataclasses.replace(config, models=dataclasses.replace(config.models, allow_download=True))
        results = resolve_all(config.models, include_optional=args.all)
        print(format_table(results), flush=True)
        missing = [result for result in results if isinstance(result, MissingModel)]
        for result in missing:
            if result.optional:
                print(f"note: optional {result}", flush=True)
        required = [result for result in missing if not result.optional]
        if required:
            raise required[0]
        if args.prepare:
            aligned = prepare(config)
            print(f"piper voice prepared: {aligned}" if aligned else "voice backend is not piper: nothing to prepare")
    except CohostError as e:
        return report(e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
