"""Benchmarks behind `cohost bench NAME`: each prints its figures and can save them as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_json(path: Path | None, report: dict[str, Any]) -> None:
    """Writes the report when --json was given, and says where."""
    if path is not None:
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"json: {path}")
