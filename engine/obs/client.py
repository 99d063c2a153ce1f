"""One obs-websocket v5 connection, on obs-websocket-py's handshake and receive thread.

What we change in the library, and why:
- no library reconnect (`authreconnect`): it retries at a fixed interval and its retry thread dies on
  the first refused handshake; ObsController reconnects with backoff and re-runs its setup instead;
- requests are sent here rather than through `obsws.call`, which logs every request payload at DEBUG
  (a stream key included), drops OBS's error code and comment, and hands out request ids unlocked;
- the receive thread ends quietly when OBS goes away (the library's raises from its thread: a
  traceback on the user's terminal) and tells us, so that the controller notices at once.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import websocket
from obswebsocket import obsws
from obswebsocket.core import RecvThread
from obswebsocket.exceptions import ConnectionFailure

LOG = logging.getLogger(__name__)

# obs-websocket's RequestStatus codes we act on (obs-websocket 5 protocol.md).
RESOURCE_NOT_FOUND = 600
RESOURCE_ALREADY_EXISTS = 601


class ObsUnavailable(ConnectionError):
    """OBS is not connected right now (closed, restarting, or never reached)."""


class ObsAuthFailed(ConnectionError):
    """OBS answered but refused our Identify: the password is wrong or missing."""


class ObsRequestFailed(RuntimeError):
    """OBS answered a request with a failure status."""

    def __init__(self, request: str, code: int, comment: str):
        super().__init__(f"OBS refused {request}: {comment or 'code ' + str(code)}")
        self.request = request
        self.code = code
        self.comment = comment


class _Receiver(RecvThread):
    def __init__(self, core: ObsConnection, on_end: Callable[[], None]):
        super().__init__(core)
        self._on_end = on_end

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # a reset connection, or the library failing to close it: the same loss
            LOG.debug("obs-websocket receive thread ended: %s", e)
        finally:
            self._on_end()


class ObsConnection(obsws):
    """A connected obs-websocket v5 session; `request` is safe to call from several threads."""

    def __init__(self, host: str, port: int, password: str, timeout: float, on_lost: Callable[[], None]):
        # legacy=False always: with port 4444 the library would otherwise speak the v4 protocol.
        super().__init__(host, port, password or "", legacy=False, timeout=timeout, authreconnect=0)
        self._on_lost = on_lost
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._ended = threading.Event()

    def connect(self) -> None:
        """Opens the socket and identifies. Raises OSError / websocket errors when OBS is not there and
        ObsAuthFailed when it refuses the password."""
        self.ws = websocket.WebSocket()
        try:
            self.ws.connect(f"ws://{self.host}:{self.port}", timeout=self.timeout)
            self._auth()
        except ConnectionFailure as e:
            self._close_socket()
            # obs-websocket closes an Identify with a bad (or missing) password with code 4009, which the
            # library reports as an empty Identify response.
            if "Identify" in str(e):
                raise ObsAuthFailed(str(e)) from None
            raise ConnectionError(f"not an obs-websocket v5 server: {e}") from None
        except BaseException:
            self._close_socket()
            raise
        self.ws.settimeout(None)  # the receive thread blocks on recv; only requests have a timeout
        self.thread_recv = _Receiver(self, self._ended_once)
        self.thread_recv.daemon = True
        self.thread_recv.start()

    def _ended_once(self) -> None:
        first = not self._ended.is_set()
        self._ended.set()  # before waking the waiting: a request starting now sees it and fails at once
        self._wake_waiting()
        if first:
            self._on_lost()

    def _wake_waiting(self) -> None:
        """Requests waiting for an answer that can no longer come fail now, not after their timeout."""
        for waiting in list(self.events.values()):
            waiting.set()

    def _close_socket(self) -> None:
        try:
            self.ws.close(timeout=1)
        except Exception:  # already broken: nothing left to close
            pass

    @property
    def alive(self) -> bool:
        return not self._ended.is_set() and self.ws is not None and bool(self.ws.connected)

    def request(self, name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sends one request and waits for its answer (response data). Raises ObsRequestFailed when OBS
        refuses it and ObsUnavailable when the connection is gone or OBS does not answer in time."""
        request_id = str(next(self._ids))
        answered = threading.Event()
        self.events[request_id] = answered  # registered first: a connection ending from now on wakes it
        try:
            if not self.alive:
                raise ObsUnavailable("not connected to OBS")
            payload = {"op": 6, "d": {"requestId": request_id, "requestType": name, "requestData": data or {}}}
            try:
                with self._send_lock:
                    self.ws.send(json.dumps(payload))
            except (OSError, websocket.WebSocketException) as e:
                raise ObsUnavailable(f"connection to OBS lost ({e.__class__.__name__})") from None
            if not answered.wait(self.timeout):
                raise ObsUnavailable(f"OBS did not answer {name} within {self.timeout:.0f} s")
        finally:
            self.events.pop(request_id, None)
        answer = self.answers.pop(request_id, None)
        if answer is None:
            raise ObsUnavailable("connection to OBS lost")
        status = answer.get("requestStatus", {})
        if not status.get("result"):
            raise ObsRequestFailed(name, int(status.get("code", 0)), str(status.get("comment", "")))
        return dict(answer.get("responseData") or {})

    def close(self) -> None:
        self._ended.set()  # our own close is not a loss to report
        self._wake_waiting()
        if self.thread_recv is not None:
            self.thread_recv.running = False
        self._close_socket()
        if self.thread_recv is not None and self.thread_recv is not threading.current_thread():
            self.thread_recv.join(timeout=2)
