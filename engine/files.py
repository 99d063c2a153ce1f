"""Writing a small file so that a crash or a concurrent reader never sees half of it."""

from __future__ import annotations

import os
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
