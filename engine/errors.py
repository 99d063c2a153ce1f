"""Errors a user can cause and fix. The CLI prints their message as one line, never a traceback."""

import sys


class CohostError(Exception):
    """A problem with the user's input, files or machine, explained in one line."""

    exit_code = 1


class UsageError(CohostError):
    """The command line itself is wrong (exit code 2, like argparse)."""

    exit_code = 2


class QueueFull(CohostError):
    """The question queue has no room for a manual line (the API answers 429)."""


def report(error: CohostError, prefix: str = "error") -> int:
    """Prints `error` as one line on stderr ("PREFIX: MESSAGE") and gives the exit code it ends in."""
    print(f"{prefix}: {error}", file=sys.stderr)
    return error.exit_code
