"""Benchmarks behind `cohost bench NAME`: each prints its figures and can save them as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from engine.cli_args import parse_size
from engine.config import Config, load_config


def save_json(path: Path | None, report: dict[str, Any]) -> None:
    """Writes the report when --json was given, and says where."""
    if path is not None:
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"json: {path}")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """--size, --config and --json, as every live-engine benchmark takes them."""
    parser.add_argument("--size", type=parse_size, metavar="WxH", help="video size (default: the config's, 1280x720)")
    parser.add_argument("--config", type=Path, metavar="FILE")
    parser.add_argument("--json", type=Path, metavar="FILE")


def engine_config(args: argparse.Namespace) -> Config:
    """The config named by --config (or the user's), at --size when given."""
    config = load_config(args.config)
    if args.size:
        width, height = args.size
        config = dataclasses.replace(config, render=dataclasses.replace(config.render, width=width, height=height))
    return config
