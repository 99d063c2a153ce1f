"""An RTMP ingest for tests: nginx with the rtmp module, recording every stream it receives.

with RtmpServer(tmp_path / "rtmp") as rtmp:
    ... stream to rtmp.url with any key ...
    rtmp.recordings()   # the FLV files: what a platform (and its viewers) would receive
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .process import Service, free_port, port_open, spawn, stop_group, wait_until

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
# Where Debian's nginx-light puts it (as irc.py names ngircd's): /usr/sbin is not on a non-root PATH.
NGINX = Path("/usr/sbin/nginx")


class RtmpServer(Service):
    """nginx in the foreground (`daemon off`) on 127.0.0.1:<free port>, application `live`, `record all`
    into root/rec with unique names. `url` is what a streaming client is given as its server."""

    def __init__(self, root: Path, port: int | None = None, start_timeout: float = 15.0):
        self.root = Path(root)
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.record_dir = self.root / "rec"
        self.log_path = self.root / "nginx.log"
        self.error_log_path = self.root / "nginx.err"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live"

    def _write_config(self) -> Path:
        self.record_dir.mkdir(parents=True, exist_ok=True)
        # nginx's workers drop to `nobody` when the master runs as root and could not write the
        # recordings; as root we keep them root. Without root the `user` directive is ignored anyway.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = self.root / "nginx.conf"
        conf.write_text(
            f"load_module {RTMP_MODULE};\n"
            f"{user}worker_processes 1;\ndaemon off;\n"
            f"pid {self.root / 'nginx.pid'};\nerror_log {self.error_log_path} info;\n"
            "events { worker_connections 64; }\n"
            "rtmp { server {\n"
            f"  listen 127.0.0.1:{self.port};\n"
            "  application live {\n"
            "    live on;\n"
            "    record all;\n"
            f"    record_path {self.record_dir};\n"
            "    record_unique on;\n"
            "  }\n"
            "} }\n"
        )
        return conf

    def start(self) -> RtmpServer:
        if self._proc is not None and self._proc.poll() is None:
            return self
        conf = self._write_config()
        # -e: nginx would otherwise try its compiled-in /var/log/nginx/error.log before reading the config.
        self._proc = spawn(
            [str(NGINX), "-p", str(self.root), "-e", str(self.error_log_path), "-c", str(conf)],
            self.log_path,
            cwd=self.root,
        )
        wait_until(
            lambda: port_open(self.port),
            self.start_timeout,
            f"nginx-rtmp on port {self.port}",
            alive=self._proc,
            log=self.error_log_path,
        )
        return self

    def stop(self) -> None:
        """Stops nginx (master and worker: the whole process group). Recordings stay on disk."""
        stop_group(self._proc, timeout=10)
        self._proc = None

    def recordings(self) -> list[Path]:
        """The FLV recordings so far, oldest first."""
        return sorted(self.record_dir.glob("*.flv"), key=lambda p: (p.stat().st_mtime, p.name))

    def recorded_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.recordings())
