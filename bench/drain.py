"""Receivers that read what a benchmark's output sends and throw it away, in another process, so the
output runs as it would into OBS without the reader's CPU being counted: a loopback UDP port (the
stream output) or a client of the plugin output's Unix socket."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The receiving end, in its own process: binds a free loopback port, prints it, discards datagrams
# until the bench's process is gone (however it ended).
_DRAIN = """
import os, socket
bench = os.getppid()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", 0))
s.settimeout(1.0)
print(s.getsockname()[1], flush=True)
while os.getppid() == bench:
    try:
        s.recv(65536)
    except socket.timeout:
        pass
"""


@contextmanager
def drained_udp_port() -> Iterator[int]:
    drain = subprocess.Popen([sys.executable, "-c", _DRAIN], stdout=subprocess.PIPE, text=True)
    try:
        assert drain.stdout is not None
        yield int(drain.stdout.readline())
    finally:
        drain.terminate()
        drain.wait()


# The plugin's end: connects to the socket once the engine listens on it, as OBS's source does, and
# reads until the engine or the bench's process is gone.
_DRAIN_PLUGIN = """
import os, socket, sys, time
bench = os.getppid()
while os.getppid() == bench:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
    except OSError:
        s.close()
        time.sleep(0.1)
        continue
    s.settimeout(1.0)
    while os.getppid() == bench:
        try:
            if not s.recv(1 << 20):
                break
        except socket.timeout:
            pass
    s.close()
"""


@contextmanager
def drained_plugin_socket(path: Path) -> Iterator[Path]:
    drain = subprocess.Popen([sys.executable, "-c", _DRAIN_PLUGIN, str(path)])
    try:
        yield path
    finally:
        drain.terminate()
        drain.wait()
