"""Ending a socket's traffic from another thread: a blocked send or receive on it fails at once."""

from __future__ import annotations

import socket


def shut_down(sock: socket.socket | None) -> None:
    """Shuts both directions of `sock`; nothing to do when it is None or no longer connected."""
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # not connected (any more), or already closed
        pass
