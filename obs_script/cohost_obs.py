"""obs-cohost for OBS: hotkeys that drive the co-host engine, and the engine's status in this panel.

Add it in OBS → Tools → Scripts. OBS runs it in its own Python, so it uses the standard library only
and talks to the engine (`cohost live`) through the engine's local control API.

Threads: OBS calls hotkeys on its UI thread and timers on its graphics thread, neither of which may
wait on the network. Every HTTP call therefore runs on one worker thread fed by a small queue, with
short timeouts, so a dead or slow engine can never freeze OBS. The worker never calls into OBS: its
log lines wait in a queue that a timer hands to script_log on OBS's own thread (script_log from a
foreign thread loses the script's name in the log).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import obspython as obs

DEFAULT_ADDRESS = "http://127.0.0.1:8765"
DEFAULT_SCENE = "Co-host"
HTTP_TIMEOUT_S = 2.0
STATUS_POLL_S = 2.0
LOG_FLUSH_MS = 500
MAX_PENDING = 8  # hotkey presses waiting for the engine; more are dropped, never piled up


# -- talking to the engine --------------------------------------------------------------------------


class EngineError(Exception):
    """Why a call to the engine failed, in one line (never containing the token)."""


@dataclass(frozen=True)
class Connection:
    address: str
    token: str


def _cohost_config_token() -> str:
    """The API token from obs-cohost's own config file, for a user who added this script by hand and
    left its token empty (install.py --obs fills it in)."""
    try:
        import tomllib  # Python 3.11+; OBS on Windows and macOS may run an older Python
    except ImportError:
        return ""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    try:
        with open(Path(base) / "obs-cohost" / "config.toml", "rb") as f:
            token = tomllib.load(f).get("api", {}).get("token", "")
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    return token if isinstance(token, str) else ""


class EngineClient:
    """Blocking JSON calls to the engine's control API; used from the worker thread only."""

    def __init__(self) -> None:
        self.connection = Connection(DEFAULT_ADDRESS, "")
        # No proxies: the engine is local, and a system HTTP proxy must not see the token.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        conn = self.connection
        token = conn.token or _cohost_config_token()
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            request = urllib.request.Request(conn.address.rstrip("/") + path, data=data, method=method, headers=headers)
        except ValueError:
            raise EngineError(f"engine address {conn.address!r} should look like {DEFAULT_ADDRESS}") from None
        try:
            with self._opener.open(request, timeout=HTTP_TIMEOUT_S) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            if e.code == 401:
                raise EngineError("the engine refused the token: check this script's token setting") from None
            raise EngineError(f"the engine answered {e.code}: {_error_text(e)}") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ConnectionRefusedError):
                raise EngineError(f"no engine at {conn.address} (is `cohost live` running?)") from None
            if isinstance(e.reason, (TimeoutError, socket.timeout)):
                raise EngineError(
                    f"the engine at {conn.address} did not answer within {HTTP_TIMEOUT_S:.0f} s"
                ) from None
            raise EngineError(f"cannot reach the engine at {conn.address}: {e.reason}") from None
        except (TimeoutError, socket.timeout):
            raise EngineError(f"the engine at {conn.address} did not answer within {HTTP_TIMEOUT_S:.0f} s") from None
        except (OSError, ValueError) as e:  # a reset connection, or a reply that is not JSON
            raise EngineError(f"bad reply from the engine at {conn.address}: {e}") from None


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("error", error.reason))
    except (OSError, ValueError, AttributeError):
        return str(error.reason)


def status_line(status: dict[str, Any]) -> str:
    """The engine's status as the panel shows it, e.g. "connected · speaking · muted · 2 queued
    (1 to approve)"."""
    parts = ["connected", "speaking" if status.get("speaking") else "idle"]
    if status.get("muted"):
        parts.append("muted")
    queued = f"{int(status.get('queue', 0))} queued"
    if status.get("awaiting_approval"):
        queued += f" ({int(status['awaiting_approval'])} to approve)"
    parts.append(queued)
    return " · ".join(parts)


# -- the worker thread ------------------------------------------------------------------------------

Job = Callable[[EngineClient], object]


class Worker(threading.Thread):
    """Runs queued engine calls one at a time and polls the engine's status every STATUS_POLL_S."""

    def __init__(self, log: Callable[[str], None]) -> None:
        super().__init__(name="cohost-worker", daemon=True)
        self.client = EngineClient()
        self.status = "not connected yet"
        self.status_ok = False
        self._log = log
        self._jobs: queue.Queue[tuple[str, Job]] = queue.Queue(maxsize=MAX_PENDING)
        self._stopping = threading.Event()
        self._poll_now = threading.Event()

    def submit(self, what: str, job: Job) -> None:
        """Queues a call without ever blocking the caller (OBS's UI thread)."""
        try:
            self._jobs.put_nowait((what, job))
        except queue.Full:
            self._log(f"{what}: dropped, {MAX_PENDING} earlier requests still wait for the engine")

    def configure(self, connection: Connection) -> None:
        self.client.connection = connection  # one reference swap: the worker sees old or new, never half
        self._poll_now.set()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=HTTP_TIMEOUT_S + 1)

    def run(self) -> None:
        next_poll = 0.0
        while not self._stopping.is_set():
            try:
                what, job = self._jobs.get(timeout=max(0.0, min(next_poll - time.monotonic(), 0.25)))
            except queue.Empty:
                pass
            else:
                try:
                    job(self.client)
                except EngineError as e:
                    self._log(f"{what}: {e}")
                    self._set_status(f"not connected: {e}", ok=False)
                else:
                    next_poll = 0.0  # show the call's effect at once
            if self._poll_now.is_set() or time.monotonic() >= next_poll:
                self._poll_now.clear()
                self._poll()
                next_poll = time.monotonic() + STATUS_POLL_S

    def _poll(self) -> None:
        try:
            status = self.client.call("GET", "/status")
        except EngineError as e:
            self._set_status(f"not connected: {e}", ok=False)
            return
        self._set_status(status_line(status), ok=True)

    def _set_status(self, text: str, ok: bool) -> None:
        if text != self.status:
            self._log(f"engine status: {text}")
        self.status, self.status_ok = text, ok


# -- OBS side ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hotkey:
    name: str  # unique in OBS; the name obs-websocket's TriggerHotkeyByName takes
    description: str  # what Settings → Hotkeys shows
    on_press: Callable[[], None]
    on_release: Callable[[], None] | None = None


class CohostScript:
    """The script's state between OBS's calls: settings, hotkeys, the worker and its pending logs."""

    def __init__(self) -> None:
        self.pending_logs: deque[str] = deque(maxlen=200)
        self.worker: Worker | None = None
        self.scene = DEFAULT_SCENE
        self.previous_scene = ""
        self.hotkey_ids: dict[str, int] = {}
        self.hotkeys = [
            Hotkey("cohost.say_next", "Co-host: answer the next question (or say the next queued line)", self.say_next),
            Hotkey("cohost.approve", "Co-host: approve the next question waiting for approval", self.approve_next),
            Hotkey("cohost.skip", "Co-host: skip the next question", self.skip_next),
            Hotkey("cohost.stop", "Co-host: stop talking", self.stop_talking),
            Hotkey("cohost.mute", "Co-host: mute / unmute", self.toggle_mute),
            Hotkey("cohost.scene", "Co-host: switch to the co-host scene and back", self.toggle_scene),
            Hotkey(
                "cohost.push_to_talk",
                "Co-host: push-to-talk",
                lambda: self.push_to_talk(True),
                lambda: self.push_to_talk(False),
            ),
        ]

    # Worker-thread side: queue a line; the timer logs it on OBS's thread.
    def log_later(self, message: str) -> None:
        self.pending_logs.append(message)

    def flush_logs(self) -> None:
        while self.pending_logs:
            obs.script_log(obs.LOG_INFO, self.pending_logs.popleft())

    def _submit(self, what: str, job: Job) -> None:
        if self.worker is not None:
            self.worker.submit(what, job)

    # Hotkey actions (OBS's thread: queue and return).
    def say_next(self) -> None:
        def job(client: EngineClient) -> None:
            reply = client.call("POST", "/next")
            self.log_later(f"say next: {'speaking line ' + reply['id'] if reply.get('id') else 'nothing queued'}")

        self._submit("say next", job)

    def approve_next(self) -> None:
        def job(client: EngineClient) -> None:
            reply = client.call("POST", "/approve")
            self.log_later(f"approved question {reply['id']}" if reply.get("id") else "no question awaits approval")

        self._submit("approve", job)

    def skip_next(self) -> None:
        def job(client: EngineClient) -> None:
            reply = client.call("POST", "/skip")
            self.log_later(f"skipped question {reply['id']}" if reply.get("id") else "no question waiting")

        self._submit("skip", job)

    def stop_talking(self) -> None:
        self._submit("stop", lambda client: client.call("POST", "/stop"))

    def toggle_mute(self) -> None:
        def job(client: EngineClient) -> None:
            # The engine's own state decides: a status polled seconds ago may be stale.
            muted = not client.call("GET", "/status").get("muted", False)
            client.call("POST", "/mute", {"muted": muted})
            self.log_later("co-host muted" if muted else "co-host unmuted")

        self._submit("mute", job)

    def push_to_talk(self, down: bool) -> None:
        self._submit("push-to-talk", lambda client: client.call("POST", "/ptt", {"down": down}))

    def toggle_scene(self) -> None:
        """To the co-host scene, remembering where we were; pressed again, back there."""
        current = obs.obs_frontend_get_current_scene()
        current_name = obs.obs_source_get_name(current) if current else ""
        obs.obs_source_release(current)
        if current_name != self.scene:
            target, self.previous_scene = self.scene, current_name
        elif self.previous_scene:
            target = self.previous_scene
        else:
            obs.script_log(obs.LOG_INFO, f"already on {self.scene!r} and no scene to go back to")
            return
        source = obs.obs_get_source_by_name(target)
        if source is None:
            obs.script_log(obs.LOG_WARNING, f"no scene named {target!r}")
            return
        obs.obs_frontend_set_current_scene(source)
        obs.obs_source_release(source)
        obs.script_log(obs.LOG_INFO, f"scene: {target}")

    # Hotkey registration and persistence.
    def register_hotkeys(self, settings: Any) -> None:
        for hotkey in self.hotkeys:
            hotkey_id = obs.obs_hotkey_register_frontend(hotkey.name, hotkey.description, _dispatcher(hotkey))
            saved = obs.obs_data_get_array(settings, hotkey.name)
            obs.obs_hotkey_load(hotkey_id, saved)  # the user's key bindings from the last session
            obs.obs_data_array_release(saved)
            self.hotkey_ids[hotkey.name] = hotkey_id

    def save_hotkeys(self, settings: Any) -> None:
        for name, hotkey_id in self.hotkey_ids.items():
            bindings = obs.obs_hotkey_save(hotkey_id)
            obs.obs_data_set_array(settings, name, bindings)
            obs.obs_data_array_release(bindings)


def _dispatcher(hotkey: Hotkey) -> Callable[[bool], None]:
    """OBS calls a hotkey with pressed=True and, when the key goes up, pressed=False (obs-websocket's
    TriggerHotkeyByName sends only the press)."""

    def on_hotkey(pressed: bool) -> None:
        if pressed:
            hotkey.on_press()
        elif hotkey.on_release is not None:
            hotkey.on_release()

    return on_hotkey


SCRIPT = CohostScript()


# -- OBS's script API --------------------------------------------------------------------------------


def script_description() -> str:
    return (
        "<b>obs-cohost</b>: hotkeys for your AI co-host (set them in Settings → Hotkeys) and the "
        "engine's status. Start the engine with <code>cohost live</code>."
    )


def script_defaults(settings: Any) -> None:
    obs.obs_data_set_default_string(settings, "engine_address", DEFAULT_ADDRESS)
    obs.obs_data_set_default_string(settings, "scene", DEFAULT_SCENE)


def script_properties() -> Any:
    props = obs.obs_properties_create()
    obs.obs_properties_add_text(props, "engine_address", "Engine address", obs.OBS_TEXT_DEFAULT)
    token = obs.obs_properties_add_text(props, "token", "Token", obs.OBS_TEXT_PASSWORD)
    obs.obs_property_set_long_description(
        token, "The [api] token from obs-cohost's config.toml; left empty, it is read from there."
    )
    obs.obs_properties_add_text(props, "scene", "Co-host scene", obs.OBS_TEXT_DEFAULT)
    status = obs.obs_properties_add_text(props, "status", "", obs.OBS_TEXT_INFO)
    _show_status(status)
    obs.obs_properties_add_button(props, "refresh", "Refresh status", _on_refresh)
    return props


def _show_status(prop: Any) -> None:
    worker = SCRIPT.worker
    ok = worker is not None and worker.status_ok
    obs.obs_property_set_description(prop, f"Engine: {worker.status if worker else 'not running'}")
    obs.obs_property_text_set_info_type(prop, obs.OBS_TEXT_INFO_NORMAL if ok else obs.OBS_TEXT_INFO_WARNING)


def _on_refresh(props: Any, _prop: Any) -> bool:
    # OBS's panel cannot be redrawn from a timer; a click re-reads the status the worker keeps fresh.
    _show_status(obs.obs_properties_get(props, "status"))
    return True  # True: OBS redraws the panel


def script_update(settings: Any) -> None:
    address = obs.obs_data_get_string(settings, "engine_address").strip() or DEFAULT_ADDRESS
    SCRIPT.scene = obs.obs_data_get_string(settings, "scene").strip() or DEFAULT_SCENE
    if SCRIPT.worker is not None:
        SCRIPT.worker.configure(Connection(address, obs.obs_data_get_string(settings, "token").strip()))


def script_load(settings: Any) -> None:
    SCRIPT.worker = Worker(SCRIPT.log_later)
    script_update(settings)  # configured before its first status poll (OBS calls script_update later)
    SCRIPT.worker.start()
    SCRIPT.register_hotkeys(settings)
    obs.timer_add(SCRIPT.flush_logs, LOG_FLUSH_MS)
    obs.script_log(obs.LOG_INFO, f"loaded; hotkeys: {', '.join(h.name for h in SCRIPT.hotkeys)}")


def script_save(settings: Any) -> None:
    SCRIPT.save_hotkeys(settings)


def script_unload() -> None:
    # OBS itself removes the script's timers and hotkeys; the thread is ours to end.
    if SCRIPT.worker is not None:
        SCRIPT.worker.stop()  # a live thread left behind when OBS unloads Python crashes OBS
        SCRIPT.worker = None
