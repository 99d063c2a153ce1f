"""A brain on any OpenAI-compatible chat API (Ollama, LM Studio, llama.cpp's server, vLLM, DeepSeek, OpenAI...).

One streamed POST {url}/chat/completions per answer, read as server-sent events on a worker thread:
a cancel returns at once and shuts the socket, so the server sees the client gone and stops generating.
`complete` asks one short question without streaming, within a time budget (the moderation judge).
Standard library only (http.client), so no event loop is needed in the caller.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from functools import partial

from engine.brain.base import BrainError, BrainRequest
from engine.brain.prompt import build_messages
from engine.brain.worker import Worker
from engine.config import BrainConfig, PersonaConfig
from engine.sockets import shut_down
from engine.urls import checked_http_url, shown_url

# Longest silence (connecting, or between two bytes of the answer) before the server counts as hung.
# The fallback brain gives up much earlier on a slow first word; this bounds a stall in mid-answer.
TIMEOUT_S = 60.0
_ERROR_BODY_BYTES = 4096
_ANSWER_BYTES = 1 << 20  # a non-streamed answer longer than this is no short answer

Emit = Callable[[str], None]


class OpenAIBrain:
    name = "openai"

    def __init__(self, brain: BrainConfig, persona: PersonaConfig, timeout_s: float = TIMEOUT_S) -> None:
        parts = checked_http_url(brain.url, "[brain] url", BrainError)
        self._brain = brain
        self._persona = persona
        self._parts = parts
        self._timeout_s = timeout_s
        self.url = shown_url(parts, parts.path.rstrip("/"))  # shown in errors

    def stream(self, request: BrainRequest, cancel: threading.Event) -> Iterator[str]:
        body = {
            "model": self._brain.model,
            "messages": build_messages(self._persona, request),
            "max_tokens": self._brain.max_tokens,
            "temperature": self._brain.temperature,
            "stream": True,
        }
        connection = _Connection(self._parts, self._timeout_s)
        produce = partial(self._produce, connection, json.dumps(body).encode(), True)
        worker = Worker(produce, connection.abort, "openai")
        yield from worker.pieces(cancel)

    def complete(self, messages: list[dict[str, str]], max_tokens: int, timeout_s: float) -> str:
        """The server's answer to `messages`, not streamed, at temperature 0, within `timeout_s` in all
        (connecting included). Raises TimeoutError when late, BrainError when the server fails; the
        connection is shut either way, so the server stops on its side too."""
        body = {
            "model": self._brain.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": False,
        }
        connection = _Connection(self._parts, timeout_s)
        produce = partial(self._produce, connection, json.dumps(body).encode(), False)
        worker = Worker(produce, connection.abort, "openai-complete")
        try:
            answer = worker.next(threading.Event(), time.monotonic() + timeout_s)
        finally:
            worker.close()
        if answer is None:
            raise BrainError(f"the LLM server at {self.url} sent no answer")
        return answer

    def close(self) -> None:
        """Nothing to release: each answer opens and closes its own connection."""

    def _produce(self, connection: _Connection, body: bytes, streamed: bool, emit: Emit, halt: threading.Event) -> None:
        try:
            try:
                connection.open()
            except OSError as e:
                raise self._unreachable(e) from None
            response = connection.post(self._path("/chat/completions"), body, self._headers(streamed))
            if response.status != 200:
                raise self._refused(response.status, response.read(_ERROR_BODY_BYTES))
            (self._read_events if streamed else self._read_answer)(response, emit, halt)
        except (OSError, http.client.HTTPException, BrainError) as e:
            if halt.is_set():
                return  # we shut the socket ourselves: whatever broke is our doing
            if isinstance(e, BrainError):
                raise
            if isinstance(e, TimeoutError):
                raise BrainError(f"the LLM server at {self.url} sent nothing for {connection.timeout_s:g} s") from None
            raise BrainError(f"the LLM server at {self.url} broke off the answer ({_describe(e)})") from None
        finally:
            connection.close()

    def _read_events(self, response: http.client.HTTPResponse, emit: Emit, halt: threading.Event) -> None:
        for raw in response:
            if halt.is_set():
                return
            line = raw.decode("utf-8", errors="replace").strip()
            if not line or line.startswith((":", "event:", "id:", "retry:")):
                continue
            if not line.startswith("data:"):
                raise self._malformed(line)
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                return
            piece = self._content(data)
            if piece:
                emit(piece)
        raise BrainError(f"the LLM server at {self.url} closed the stream before the answer was complete")

    def _read_answer(self, response: http.client.HTTPResponse, emit: Emit, halt: threading.Event) -> None:
        """choices[0].message.content of a non-streamed answer."""
        body = response.read(_ANSWER_BYTES)
        try:
            answer = json.loads(body)
            content = answer["choices"][0]["message"]["content"]
        except (ValueError, TypeError, KeyError, IndexError):
            raise self._malformed(body.decode("utf-8", errors="replace"), "answer") from None
        if not isinstance(content, str):
            raise self._malformed(body.decode("utf-8", errors="replace"), "answer")
        if not halt.is_set():
            emit(content)

    def _content(self, data: str) -> str:
        """choices[0].delta.content of one event; "" for events without text (the role, the finish)."""
        try:
            event = json.loads(data)
        except ValueError:
            raise self._malformed(data) from None
        if isinstance(event, dict) and "error" in event:
            raise BrainError(f"the LLM server at {self.url} failed mid-answer: {_error_text(event)}")
        try:
            choices = event["choices"]
            content = choices[0].get("delta", {}).get("content") if choices else ""
        except (TypeError, KeyError, AttributeError):
            raise self._malformed(data) from None
        if content is not None and not isinstance(content, str):
            raise self._malformed(data)
        return content or ""

    def _path(self, endpoint: str) -> str:
        return self._parts.path.rstrip("/") + endpoint

    def _headers(self, streamed: bool) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if streamed else "application/json",
        }
        if self._brain.api_key:
            headers["Authorization"] = f"Bearer {self._brain.api_key}"
        return headers

    def _unreachable(self, error: OSError) -> BrainError:
        if isinstance(error, ConnectionRefusedError):
            return BrainError(f"no LLM server at {self.url} — start Ollama or set [brain] url")
        if isinstance(error, socket.gaierror):
            return BrainError(f"cannot find the LLM server {self._parts.hostname!r}: check [brain] url")
        if isinstance(error, TimeoutError):
            return BrainError(f"the LLM server at {self.url} did not accept a connection within {self._timeout_s:g} s")
        return BrainError(f"cannot reach the LLM server at {self.url}: {_describe(error)}")

    def _refused(self, status: int, body: bytes) -> BrainError:
        if status in (401, 403):
            # The body is not shown: some servers echo part of the key back.
            if not self._brain.api_key:
                problem = f"needs an API key (HTTP {status}): set COHOST_BRAIN_API_KEY"
            else:
                problem = f"refused the API key (HTTP {status}): check COHOST_BRAIN_API_KEY or [brain] api_key"
            return BrainError(f"the LLM server at {self.url} {problem}")
        detail = _error_text(body)
        if status == 404:
            return BrainError(
                f"the LLM server at {self.url} has no model {self._brain.model!r} (HTTP 404: {detail}): "
                "check [brain] model and url"
            )
        return BrainError(f"the LLM server at {self.url} answered HTTP {status}: {detail}")

    def _malformed(self, line: str, what: str = "stream") -> BrainError:
        return BrainError(f"the LLM server at {self.url} sent a malformed {what}: {_one_line(line)!r}")


class _Connection:
    """One HTTP exchange whose socket another thread may shut, to unblock a read at once."""

    def __init__(self, parts: urllib.parse.SplitResult, timeout_s: float) -> None:
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._http = kind(parts.hostname or "", parts.port, timeout=timeout_s)
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._aborted = False

    def open(self) -> None:
        self._http.connect()
        with self._lock:
            if self._aborted:  # cancelled while connecting: abort() found no socket to shut
                raise ConnectionAbortedError("cancelled")

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
        self._http.request("POST", path, body, headers)
        return self._http.getresponse()

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            sock = self._http.sock
        shut_down(sock)

    def close(self) -> None:
        self._http.close()


def _error_text(body: bytes | dict[str, object]) -> str:
    """The message of an error reply: {"error": {"message": ...}}, {"error": "..."}, {"detail": ...}, or its text."""
    try:
        data = json.loads(body) if isinstance(body, bytes) else body
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return _one_line(str(error))
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
    return _one_line(text) or "no details"


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
