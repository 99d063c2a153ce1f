"""A headless PulseAudio daemon for tests (no D-Bus, no X): the null sinks the project uses and a
virtual microphone, reachable only through its own socket.

    with PulseServer(tmp_path / "pulse") as pulse:
        subprocess.run(["pactl", "list", "short", "sinks"], env={**os.environ, **pulse.env})
        ObsProcess(home, port, env=pulse.env)   # OBS's audio sources see these devices

Sinks: `cohost_out` (the default sink; what the co-host plays) and `cohost_mic`; `cohost_virtual_mic`
is a source remapped from cohost_mic's monitor (a microphone another program can record from).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .process import Service, spawn, stop_group, wait_until

SINKS = ("cohost_out", "cohost_mic")
VIRTUAL_MIC = "cohost_virtual_mic"


class PulseServer(Service):
    """pulseaudio in the foreground (its PID is ours to stop), socket at runtime_dir/pulse/native,
    auth-anonymous so that children need no cookie."""

    def __init__(self, runtime_dir: Path, start_timeout: float = 15.0):
        self.runtime_dir = Path(runtime_dir)
        self.start_timeout = start_timeout
        self.socket_path = self.runtime_dir / "pulse" / "native"
        self.log_path = self.runtime_dir / "pulseaudio.log"
        self._proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for children that should use this server (and only this one)."""
        return {"XDG_RUNTIME_DIR": str(self.runtime_dir), "PULSE_SERVER": f"unix:{self.socket_path}"}

    def _write_config(self) -> Path:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.chmod(0o700)  # XDG_RUNTIME_DIR must be private, or Qt (in OBS) complains
        script = self.runtime_dir / "default.pa"
        script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket_path}\n"
            + "".join(f"load-module module-null-sink sink_name={sink}\n" for sink in SINKS)
            + f"load-module module-remap-source source_name={VIRTUAL_MIC} master=cohost_mic.monitor\n"
            f"set-default-sink {SINKS[0]}\n"
        )
        return script

    def _answers(self) -> bool:
        if not self.socket_path.exists():
            return False
        result = subprocess.run(["pactl", "info"], env={**os.environ, **self.env}, capture_output=True, timeout=5)
        return result.returncode == 0

    def start(self) -> PulseServer:
        if self._proc is not None and self._proc.poll() is None:
            return self
        script = self._write_config()
        # HOME in runtime_dir: the daemon looks for (and may write) its cookie and state under HOME.
        env = {**os.environ, **self.env, "HOME": str(self.runtime_dir)}
        self._proc = spawn(
            [
                "pulseaudio",
                "-n",
                "-F",
                str(script),
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--log-target=stderr",
            ],
            self.log_path,
            env=env,
            cwd=self.runtime_dir,
        )
        wait_until(self._answers, self.start_timeout, "PulseAudio", interval=0.1, alive=self._proc, log=self.log_path)
        return self

    def pactl(self, *args: str) -> str:
        """Runs pactl against this server and returns its stdout."""
        result = subprocess.run(
            ["pactl", *args], env={**os.environ, **self.env}, capture_output=True, text=True, timeout=10, check=True
        )
        return result.stdout

    def stop(self) -> None:
        stop_group(self._proc, timeout=10)
        self._proc = None
