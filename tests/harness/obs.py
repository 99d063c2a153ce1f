"""A real OBS Studio, headless: its own Xvfb display and HOME, obs-websocket on a loopback port.

    with ObsProcess(tmp_path / "home", free_port()) as obs:
        obs.call("GetInputList")["inputs"]
        obs.kill(); obs.start()            # a crash, then OBS reopened with the same HOME

OBS 29 keeps its websocket settings in global.ini ([OBSWebSocket]); OBS's stdout/stderr (its log,
including the `script_log` lines of loaded scripts) go to `log_path`. Scripts are loaded by listing
them in the scene collection under modules.scripts-tool, as OBS does when a user adds them in
Tools → Scripts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obswebsocket import obsws, requests

from .process import Service, log_tail, spawn, stop_group, wait_until

# Not passed on to OBS: importing cv2 (the engine's renderer) in the test process points Qt at cv2's
# own Qt plugins and fonts, and OBS's Qt aborts on them; a Wayland session would bypass Xvfb.
_NOT_FOR_OBS = {"QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR", "LD_LIBRARY_PATH", "WAYLAND_DISPLAY"}


class ObsRequestError(AssertionError):
    """An obs-websocket request that OBS answered with a failure."""


@dataclass(frozen=True)
class ObsScript:
    """A script for OBS to load at start, with the settings its properties would hold."""

    path: Path
    settings: Mapping[str, Any] = field(default_factory=dict)


class ObsClient:
    """A minimal obs-websocket v5 client for tests, independent of the engine's controller so that
    tests check the controller's work with a second pair of eyes."""

    def __init__(self, port: int, password: str | None = None, host: str = "127.0.0.1", timeout: float = 15.0):
        # legacy=False: obs-websocket-py would speak the v4 protocol to port 4444.
        self._ws = obsws(host, port, password or "", legacy=False, timeout=timeout)
        self._ws.connect()

    def call(self, request: str, **data: Any) -> dict[str, Any]:
        """Sends one request and returns its response data; raises ObsRequestError when OBS refuses it."""
        reply = self._ws.call(getattr(requests, request)(**data))
        if not reply.status:
            raise ObsRequestError(f"{request} failed: {reply.datain}")
        return dict(reply.datain)

    def close(self) -> None:
        try:
            self._ws.disconnect()
        except Exception:  # OBS may already be gone (killed by the test)
            pass

    def __enter__(self) -> ObsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObsProcess(Service):
    """One headless OBS. start() returns once obs-websocket answers GetVersion and the canvas is set.

    home: OBS's HOME (its config goes to home/.config/obs-studio).
    ws_port, password: obs-websocket's port and password (None = no authentication).
    scripts: scripts to load (paths or ObsScript), written into the scene collection.
    scene_collection: name of the scene collection to write and start with; None and no scripts =
        leave OBS to create its default one.
    env: extra environment for OBS (e.g. PulseServer.env so that OBS's audio goes to a test server).
    canvas: (width, height, fps) set with SetVideoSettings after start; 1280x720@30 keeps llvmpipe fast.
    write_config: False leaves home's OBS config alone (a test that prepared it itself, as install.py
        --obs would for a user).
    """

    def __init__(
        self,
        home: Path,
        ws_port: int,
        password: str | None = None,
        scripts: Sequence[Path | ObsScript] = (),
        scene_collection: str | None = None,
        env: Mapping[str, str] | None = None,
        canvas: tuple[int, int, int] = (1280, 720, 30),
        write_config: bool = True,
        start_timeout: float = 90.0,
    ):
        self.home = Path(home)
        self.ws_port = ws_port
        self.password = password
        self.scripts = [s if isinstance(s, ObsScript) else ObsScript(Path(s)) for s in scripts]
        self.scene_collection = scene_collection or ("Cohost Test" if self.scripts else None)
        self.env = dict(env or {})
        self.canvas = canvas
        self.write_config = write_config
        self.start_timeout = start_timeout
        self.log_path = self.home / "obs.log"
        self.xvfb_log_path = self.home / "xvfb.log"
        self.startup_seconds: float | None = None  # of the last start(): spawn → GetVersion answered
        self._obs: subprocess.Popen | None = None
        self._xvfb: subprocess.Popen | None = None
        self._display = ""
        self._client: ObsClient | None = None
        self._config_written = False

    # -- configuration ---------------------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        return self.home / ".config" / "obs-studio"

    def _write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        auth = self.password is not None
        lines = [
            "[General]",
            "FirstRun=true",  # skips the auto-configuration wizard
            "EnableAutoUpdates=false",
            "",
            "[OBSWebSocket]",
            "FirstLoad=false",
            "ServerEnabled=true",
            f"ServerPort={self.ws_port}",
            "AlertsEnabled=false",
            f"AuthRequired={'true' if auth else 'false'}",
            f"ServerPassword={self.password or ''}",
            "",
        ]
        if self.scene_collection:
            lines += [
                "[Basic]",
                f"SceneCollection={self.scene_collection}",
                f"SceneCollectionFile={self._collection_file_stem}",
                "",
            ]
            self._write_scene_collection()
        (self.config_dir / "global.ini").write_text("\n".join(lines))

    @property
    def _collection_file_stem(self) -> str:
        return "".join(c if c.isalnum() else "_" for c in self.scene_collection or "")

    def _write_scene_collection(self) -> None:
        scene = {
            "id": "scene",
            "versioned_id": "scene",
            "name": "Scene",
            "enabled": True,
            "mixers": 0,
            "settings": {"custom_size": False, "id_counter": 0, "items": []},
        }
        collection = {
            "name": self.scene_collection,
            "current_scene": "Scene",
            "current_program_scene": "Scene",
            "scene_order": [{"name": "Scene"}],
            "sources": [scene],
            "groups": [],
            "transitions": [],
            "modules": {
                "scripts-tool": [{"path": str(s.path.resolve()), "settings": dict(s.settings)} for s in self.scripts]
            },
        }
        scenes = self.config_dir / "basic" / "scenes"
        scenes.mkdir(parents=True, exist_ok=True)
        (scenes / f"{self._collection_file_stem}.json").write_text(json.dumps(collection, indent=2))

    # -- lifecycle -------------------------------------------------------------------------------
    def _start_xvfb(self) -> None:
        if self._xvfb is not None and self._xvfb.poll() is None:
            return
        width, height, _ = self.canvas
        read_fd, write_fd = os.pipe()
        try:
            # -displayfd: Xvfb picks a free display number itself and writes it to the pipe, so that
            # parallel test runs never fight over :99.
            self._xvfb = spawn(
                ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                self.xvfb_log_path,
                pass_fds=[write_fd],
            )
            os.close(write_fd)
            write_fd = -1
            number = b""
            while not number.endswith(b"\n"):
                chunk = os.read(read_fd, 16)
                if not chunk:
                    raise RuntimeError(f"Xvfb did not start{log_tail(self.xvfb_log_path)}")
                number += chunk
            self._display = ":" + number.decode().strip()
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)

    def start(self) -> ObsProcess:
        """Starts OBS (and its X display when not already up). The config is written on the first start
        only: a restart finds what OBS itself saved, as a user's OBS would."""
        if self.running:
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        if self.write_config and not self._config_written:
            self._write_config()
            self._config_written = True
        self._start_xvfb()
        inherited = {k: v for k, v in os.environ.items() if k not in _NOT_FOR_OBS}
        env = {
            **inherited,
            **self.env,
            "HOME": str(self.home),
            "DISPLAY": self._display,
            "XDG_CONFIG_HOME": str(self.home / ".config"),
        }
        args = ["obs", "--disable-shutdown-check", "--disable-missing-files-check", "--minimize-to-tray", "--multi"]
        if self.scene_collection:
            args += ["--collection", self.scene_collection]
        started = time.monotonic()
        self._obs = spawn(args, self.log_path, env=env, cwd=self.home)
        self._client = None
        try:
            wait_until(
                self._answers,
                self.start_timeout,
                f"OBS on port {self.ws_port}",
                interval=0.2,
                alive=self._obs,
                log=self.log_path,
            )
        except BaseException:  # an OBS that never answered is not left behind
            stop_group(self._obs, timeout=5)
            self._obs = None
            raise
        self.startup_seconds = time.monotonic() - started
        width, height, fps = self.canvas
        self.call(
            "SetVideoSettings",
            baseWidth=width,
            baseHeight=height,
            outputWidth=width,
            outputHeight=height,
            fpsNumerator=fps,
            fpsDenominator=1,
        )
        return self

    def _answers(self) -> bool:
        try:
            client = ObsClient(self.ws_port, self.password, timeout=5)
        except Exception:  # not listening yet: poll again
            return False
        try:
            client.call("GetVersion")
        except Exception:  # listening but not ready yet
            client.close()
            return False
        self._client = client
        return True

    @property
    def running(self) -> bool:
        return self._obs is not None and self._obs.poll() is None

    @property
    def pid(self) -> int | None:
        return self._obs.pid if self._obs else None

    def kill(self) -> None:
        """SIGKILL, like a crash: OBS saves nothing. The X display stays up for a restart."""
        self._drop_client()
        stop_group(self._obs, timeout=0, sig=signal.SIGKILL)
        self._obs = None

    def stop(self) -> None:
        """Closes OBS (SIGTERM, then SIGKILL after 15 s) and its X display."""
        self._drop_client()
        stop_group(self._obs, timeout=15)
        self._obs = None
        stop_group(self._xvfb, timeout=5)
        self._xvfb = None

    def restart(self) -> ObsProcess:
        """Closes OBS cleanly and opens it again with the same HOME."""
        self._drop_client()
        stop_group(self._obs, timeout=15)
        self._obs = None
        return self.start()

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- talking to it ---------------------------------------------------------------------------
    def call(self, request: str, **data: Any) -> dict[str, Any]:
        """One obs-websocket request on the harness's own connection (reopened after a restart)."""
        if self._client is None:
            self._client = ObsClient(self.ws_port, self.password)
        return self._client.call(request, **data)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self, containing: str = "") -> list[str]:
        """OBS's log lines (all starts appended) that contain `containing`, e.g. a script's name."""
        return [line for line in self.log_text().splitlines() if containing in line]

    def wait_for_log(self, containing: str, timeout: float = 20.0) -> str:
        """Waits for a log line containing `containing` and returns the first one."""
        wait_until(
            lambda: bool(self.log_lines(containing)),
            timeout,
            f"OBS log line with {containing!r}",
            alive=self._obs,
            log=self.log_path,
        )
        return self.log_lines(containing)[0]
