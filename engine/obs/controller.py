"""ObsController: the engine's hands in OBS, over obs-websocket v5.

It connects with retry and backoff, sets up the co-host's sources (idempotently, engine/obs/sources.py)
and keeps them: when OBS is closed and reopened it reconnects by itself and runs the same setup again.
Every method may be called from any thread. While OBS is away, live calls raise ObsUnavailable at
once instead of waiting, so that a speaking engine never stalls on OBS.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Any

import websocket

from engine.config import Config
from engine.errors import CohostError
from engine.obs.client import ObsAuthFailed, ObsConnection, ObsRequestFailed, ObsUnavailable
from engine.obs.duck import Ducker
from engine.obs.sources import (
    HEARD,
    QUESTION,
    SUBTITLES,
    SUBTITLES_ONLY,
    ObsSetup,
    Request,
    SetupReport,
    ensure_sources,
)

LOG = logging.getLogger(__name__)

# What obs-websocket's SetInputAudioSyncOffset accepts (protocol.md, v5): OBS delays an input's sound
# by a positive offset and advances it by a negative one (it buffers more audio to do that).
SYNC_OFFSET_MIN_MS, SYNC_OFFSET_MAX_MS = -950, 20000
FIRST_RETRY_S = 0.25
MAX_RETRY_S = 5.0
HEALTH_CHECK_S = 1.0  # how often the supervisor looks at a connection nobody reported lost

# What an OBS that is not (yet) there looks like, as opposed to one that refuses us.
_UNREACHABLE = (OSError, websocket.WebSocketException)


class ObsController:
    """host, port, password: obs-websocket's address (Tools → WebSocket Server Settings in OBS).
    scene: the scene the co-host's sources live in, created when missing; "" = the current scene.
    setup: which sources to keep (see ObsSetup); None = none, just the connection (`cohost stream`)."""

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        scene: str = "Co-host",
        setup: ObsSetup | None = SUBTITLES_ONLY,
        request_timeout: float = 10.0,
    ):
        self.host = host
        self.port = port
        self.scene = scene
        self.setup = setup
        self.request_timeout = request_timeout
        self.platform = ""  # GetVersion's platform: "windows", "macos", or the Linux distribution's id
        self.report: SetupReport | None = None  # of the last setup
        self._password = password
        self._ducker = Ducker(setup.duck_sources, setup.duck_db) if setup else Ducker((), 0.0)
        self._want_duck = False
        self._sync_offsets: dict[str, int] = {}  # input → offset (ms) that the engine keeps set
        self._conn: ObsConnection | None = None
        self._setup_lock = threading.Lock()
        self._ready = threading.Event()  # connected and set up
        self._wake = threading.Event()  # the connection ended, or a request found it gone
        self._closing = threading.Event()
        self._supervisor: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: Config) -> ObsController:
        live = config.live
        setup = ObsSetup(
            # The engine's `stream` output sends MPEG-TS to this loopback port; other outputs need no source.
            avatar_url=f"udp://127.0.0.1:{live.stream_port}" if "stream" in live.outputs else None,
            plugin_socket=str(live.plugin_socket_path) if "plugin" in live.outputs else None,
            key_color=live.key_color if live.background == "key" else None,
            duck_sources=tuple(config.obs.duck_sources),
            duck_db=config.obs.duck_db,
            avatar_sync_offset_ms=config.obs.avatar_sync_offset_ms,
            heard_caption=config.hearing.enabled,
        )
        return cls(config.obs.host, config.obs.port, config.obs.password, config.obs.scene, setup)

    def __repr__(self) -> str:  # never the password
        return f"ObsController({self.host}:{self.port}, scene={self.scene!r}, connected={self.connected})"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- connection ------------------------------------------------------------------------------
    def connect(self, timeout: float = 15.0) -> SetupReport | None:
        """Connects (retrying with exponential backoff for up to `timeout` s), sets up the sources and
        from then on keeps the connection: reconnects and re-runs the setup whenever OBS comes back.
        Raises CohostError (one line) when OBS is not there in time or refuses the password."""
        deadline = time.monotonic() + timeout
        delay = FIRST_RETRY_S
        while True:
            try:
                self._open()
                break
            except ObsAuthFailed:
                raise CohostError(self._auth_hint()) from None
            except ObsRequestFailed as e:
                raise CohostError(f"OBS at {self.address} refused to set up the co-host: {e.comment}") from None
            except _UNREACHABLE as e:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CohostError(
                        f"cannot reach OBS at {self.address} ({_reason(e)}): is OBS running with its WebSocket "
                        "server enabled? (OBS: Tools → WebSocket Server Settings; set [obs] host/port to match)"
                    ) from None
                LOG.debug("OBS at %s not there yet (%s); retrying in %.2f s", self.address, _reason(e), delay)
                time.sleep(min(delay, left))
                delay = min(delay * 2, MAX_RETRY_S)
        if self._supervisor is None:
            self._closing.clear()
            self._supervisor = threading.Thread(target=self._supervise, name="obs-reconnect", daemon=True)
            self._supervisor.start()
        return self.report

    def _auth_hint(self) -> str:
        if not self._password:
            return (
                f"OBS at {self.address} wants a password: put it in [obs] password "
                "(OBS: Tools → WebSocket Server Settings → Show Connect Info)"
            )
        return (
            f"OBS at {self.address} refused the password: set [obs] password to the one in "
            "OBS: Tools → WebSocket Server Settings → Show Connect Info"
        )

    def _open(self) -> None:
        """One connection attempt: connect, identify, set up, then publish the connection."""
        conn = ObsConnection(self.host, self.port, self._password, self.request_timeout, on_lost=self._wake.set)
        conn.connect()
        try:
            platform = str(conn.request("GetVersion").get("platform", ""))
            if self.setup is not None:
                with self._setup_lock:
                    self.report = ensure_sources(conn.request, self.scene, self.setup, platform)
                self._ducker.apply(conn.request, self._want_duck)
            for source, ms in list(self._sync_offsets.items()):
                self._apply_sync_offset(conn.request, source, ms)
        except BaseException:
            conn.close()
            raise
        self.platform = platform
        old, self._conn = self._conn, conn
        if old is not None:
            old.close()
        self._ready.set()
        if self.report is not None and self.report.created:
            LOG.info("OBS at %s: added %s to scene %r", self.address, ", ".join(self.report.created), self.report.scene)
        if self.report is not None and self.report.missing:
            LOG.warning(
                "OBS at %s has no Co-host (obs-cohost) source: the plugin is not installed there, so the co-host "
                'is not shown in OBS. Run python3 install.py --obs, or set [live] outputs = ["stream"]',
                self.address,
            )

    def _supervise(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(HEALTH_CHECK_S)
            self._wake.clear()
            conn = self._conn
            if self._closing.is_set() or (conn is not None and conn.alive):
                continue
            self._ready.clear()
            LOG.warning("lost the connection to OBS at %s; reconnecting", self.address)
            self._reconnect()

    def _reconnect(self) -> None:
        delay = FIRST_RETRY_S
        told_auth = False
        while not self._closing.is_set():
            try:
                self._open()
                LOG.warning("reconnected to OBS at %s", self.address)
                return
            except ObsAuthFailed:
                if not told_auth:  # once per outage: the user may fix it in OBS while we keep trying
                    LOG.error("%s", self._auth_hint())
                    told_auth = True
            except ObsRequestFailed as e:  # OBS answers but is still loading its scenes: try again
                LOG.debug("setup after reconnect failed: %s", e)
            except _UNREACHABLE as e:
                LOG.debug("OBS at %s not back yet (%s)", self.address, _reason(e))
            self._closing.wait(delay)
            delay = min(delay * 2, MAX_RETRY_S)

    @property
    def connected(self) -> bool:
        """Connected and set up."""
        return self._ready.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout=5)
        self._supervisor = None
        self._ready.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> ObsController:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------------
    def call(self, request: str, **data: Any) -> dict[str, Any]:
        """Any obs-websocket v5 request. Raises ObsUnavailable (OBS away) or ObsRequestFailed."""
        conn = self._conn
        if conn is None or not self._ready.is_set():
            raise ObsUnavailable(f"not connected to OBS at {self.address}")
        try:
            return conn.request(request, data)
        except ObsUnavailable:
            self._wake.set()  # the supervisor checks the connection now rather than within a second
            raise

    def _request(self, name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(name, **(data or {}))

    def ensure_setup(self) -> SetupReport:
        """Runs the idempotent setup again now (it also runs on every reconnect)."""
        if self.setup is None:
            raise ValueError("this controller keeps no sources (setup=None)")
        with self._setup_lock:
            self.report = ensure_sources(self._request, self.scene, self.setup, self.platform)
        return self.report

    # -- live behaviour --------------------------------------------------------------------------
    def show_subtitle(self, text: str) -> None:
        self.call("SetInputSettings", inputName=SUBTITLES, inputSettings={"text": text})

    def show_question(self, text: str) -> None:
        self.call("SetInputSettings", inputName=QUESTION, inputSettings={"text": text})

    def show_heard(self, text: str) -> None:
        self.call("SetInputSettings", inputName=HEARD, inputSettings={"text": text})

    def duck(self, active: bool) -> None:
        """Turns the configured duck sources down by duck_db (True) or back to the user's level (False).
        Sources that do not exist are skipped. The wish is remembered and re-applied after a reconnect."""
        self._want_duck = active
        self._ducker.apply(self._request, active)

    def set_audio_sync_offset(self, source: str, ms: float) -> None:
        """Sets an audio input's sync offset to `ms` (positive delays its sound, negative advances it;
        SYNC_OFFSET_MIN_MS..SYNC_OFFSET_MAX_MS), now and after every reconnect: OBS writes a changed
        offset to disk only with its next scene-collection save, so an OBS that crashed comes back
        without it. An input that OBS lacks (or one without audio) is one warning, not an error; while
        OBS is away the offset is set when it is back."""
        offset = int(round(ms))
        self._sync_offsets[source] = offset
        try:
            self._apply_sync_offset(self._request, source, offset)
        except ObsUnavailable:
            LOG.debug("OBS away; the sync offset of %r is set when it is back", source)

    @staticmethod
    def _apply_sync_offset(request: Request, source: str, ms: int) -> None:
        try:
            request("SetInputAudioSyncOffset", {"inputName": source, "inputAudioSyncOffset": ms})
        except ObsRequestFailed as e:
            LOG.warning("cannot set the audio sync offset of OBS input %r to %+d ms: %s", source, ms, e.comment or e)

    def screenshot(self, source: str, width: int | None = None) -> bytes:
        """What `source` shows now, as PNG bytes (scaled to `width`, keeping the aspect, when given)."""
        data: dict[str, Any] = {"sourceName": source, "imageFormat": "png"}
        if width:
            data["imageWidth"] = width
        image = str(self.call("GetSourceScreenshot", **data)["imageData"])
        return base64.b64decode(image.partition("base64,")[2])


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or error.__class__.__name__
