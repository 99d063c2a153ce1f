"""A loopback UDP port whose datagrams are read and thrown away by another process, so a benchmark's
stream output runs as it would into OBS without the reader's CPU being counted."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

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
