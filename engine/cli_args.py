"""Command-line plumbing shared by `cohost`, `cohost stream` and the benchmarks: a parser whose
mistakes are a UsageError (one line, exit 2) and the argument types for sizes and frame rates."""

from __future__ import annotations

import argparse
from typing import NoReturn

from engine.errors import UsageError

MIN_SIZE, MAX_SIZE = 64, 3840


class CliParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got {text!r}") from None
    if not (MIN_SIZE <= w <= MAX_SIZE and MIN_SIZE <= h <= MAX_SIZE) or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size must be even numbers from {MIN_SIZE} to {MAX_SIZE}, got {text!r}")
    return w, h


def parse_fps(text: str) -> int:
    try:
        fps = int(text)
    except ValueError:
        fps = 0
    if not 1 <= fps <= 120:
        raise argparse.ArgumentTypeError(f"fps must be a whole number from 1 to 120, got {text!r}")
    return fps
