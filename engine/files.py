"""Writing files so that a crash or a concurrent reader never sees half of one."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Replaces `path` with `text` atomically, readable by the user alone (these files hold tokens,
    passwords or what must survive a restart). Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # per process: two writers never share one
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)  # a leftover temp file keeps its old mode through O_TRUNC
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def patched_once(source: Path, cache_dir: Path, kind: str, patch: Callable[[Path], bool]) -> Path:
    """A patched copy of the model file `source`, made once into `cache_dir` and kept there, keyed by
    the source's sha256 (so a replaced file never reuses a stale patch). `patch(out)` writes the
    patched model to `out`, or returns False when the source needs none: the source is used then."""
    with source.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    target = cache_dir / f"{source.stem}.{kind}-{digest[:16]}{source.suffix}"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        if not patch(tmp):
            return source
        os.replace(tmp, target)  # atomic: a concurrent reader sees no file or the whole file
    finally:
        tmp.unlink(missing_ok=True)
    return target
