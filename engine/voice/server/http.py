"""One HTTP exchange with a voice server: its body read as it arrives, its socket shut by another
thread to stop at once, and a deadline on the first bytes of the body (the audio).

Standard library only (http.client): the voice runs on the engine's worker thread, with no event loop.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.sockets import shut_down

_READ_BYTES = 1 << 16


class ServerError(Exception):
    """The server is down, refused the request, sent no audio in time or sent something unreadable.
    The message names what happened, never a key or a response body (some servers echo the key)."""


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold the API key


class Exchange:
    """A request whose response body `chunks()` yields as it arrives. `cut()`, from any thread, shuts
    the socket: a blocked read returns at once, and the server sees the client gone."""

    def __init__(self, request: Request, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(request.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._connection = kind(parts.hostname or "", parts.port, timeout=timeout_s)
        self._path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self._request = request
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._cut = False

    def chunks(self) -> Iterator[bytes]:
        """The body, piece by piece. Raises ServerError; after `cut()` it may also just end."""
        deadline = time.monotonic() + self._timeout_s
        try:
            self._connection.connect()
            with self._lock:
                if self._cut:  # cut while connecting: cut() found no socket to shut
                    return
            self._connection.request(self._request.method, self._path, self._request.body, self._request.headers)
            self._wait_until(deadline)
            response = self._connection.getresponse()
            if response.status != 200:
                raise ServerError(f"it answered HTTP {response.status} {response.reason}".rstrip())
            self._wait_until(deadline)  # the headers came: the audio still has to, in the same time
            data = response.read1(_READ_BYTES)
            if self._connection.sock is not None:
                self._connection.sock.settimeout(self._timeout_s)  # from now on: the longest silence
            while data:
                yield data
                data = response.read1(_READ_BYTES)
        except TimeoutError:
            raise ServerError(f"it sent no audio for {self._timeout_s:g} s") from None
        except ConnectionRefusedError:
            raise ServerError("nothing is listening there") from None
        except socket.gaierror:
            raise ServerError("its host name is unknown") from None
        # http.client raises ValueError on a chunked body cut off mid-size line.
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise ServerError(f"the connection failed ({_describe(e)})") from None
        finally:
            self._connection.close()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            sock = self._connection.sock
        shut_down(sock)

    def _wait_until(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if self._connection.sock is not None:
            self._connection.sock.settimeout(left)


def fetch(request: Request, timeout_s: float) -> bytes:
    """The whole body of a short answer (a speaker's description, not audio)."""
    return b"".join(Exchange(request, timeout_s).chunks())


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body (FastAPI's Form() and UploadFile read it) and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
        for name, value in fields.items()
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, (filename, data) in files.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _describe(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
