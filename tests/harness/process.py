"""Small process helpers shared by the harness: free ports, child processes in their own process group,
waiting for a condition. Every child is started with start_new_session=True so that stopping it also
stops whatever it spawned, by its process-group id (never by name)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.1,
    alive: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Polls `condition` until it holds; raises TimeoutError naming `what` (with the log's tail) when it
    does not within `timeout` s, or RuntimeError at once when the process `alive` has exited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"{what}: process exited with code {alive.returncode}{log_tail(log)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s{log_tail(log)}")
        time.sleep(interval)


def log_tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log} ---\n" + "\n".join(tail)


def spawn(
    cmd: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen:
    """Starts `cmd` in a new session (its own process group), stdout and stderr appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
        )


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def stop_group(proc: subprocess.Popen | None, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Sends `sig` to the child's process group, waits up to `timeout` s, then SIGKILLs the group.
    Reaps the child, so no zombie is left behind."""
    if proc is None:
        return
    if proc.poll() is None:
        signal_group(proc, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left in the group (the child itself, or grandchildren it spawned) goes now.
    signal_group(proc, signal.SIGKILL)
    proc.wait()


class Service:
    """A started thing with start() and stop(); as a context manager it stops even when start() fails
    half-way (a process may be running while its port never answered)."""

    def start(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):  # type: ignore[no-untyped-def]
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
