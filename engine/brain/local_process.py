"""The local language model in a process of its own: llama.cpp runs in a spawned child, so a crash in its
native code (a segfault, an out-of-memory kill) ends that child, never the engine.

    model = ModelProcess(path, threads, on_exit)   # waits until the child has loaded the GGUF
    for piece in model.generate(Job(messages, max_tokens, temperature), cancel):
        ...
    model.close()

The child answers one Job at a time and sends the pieces back through a pipe. A stop flag in shared
memory, read by llama.cpp's abort callback without Python, stops it between two graph nodes, in the
middle of reading a long prompt too.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from engine.brain.base import BrainError

CONTEXT_TOKENS = 2048
POLL_S = 0.05  # how often a waiting consumer looks at its cancel
CLOSE_TIMEOUT_S = 5.0  # for the child to stop before it is killed

StopFlag = ctypes.Array[ctypes.c_char]  # b"" while the model may run, b"\x01" to stop it


@dataclass(frozen=True)
class Job:
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float


@dataclass(frozen=True)
class _End:
    error: str | None = None


class ModelProcess:
    """One child process holding the model. Raises BrainError when the model does not load.

    `on_exit(self, why)` is called once, on a thread of this object's, when the child has ended; `why`
    says how ("the local language model crashed (signal 11)")."""

    def __init__(self, path: Path, threads: int, on_exit: Callable[[ModelProcess, str], None]) -> None:
        context = multiprocessing.get_context("spawn")  # never fork: the engine has threads
        self._flag: StopFlag = context.RawArray(ctypes.c_char, 2)
        self._conn, child_end = context.Pipe()
        self._process = context.Process(
            target=serve, args=(child_end, str(path), threads, self._flag), name="local-brain", daemon=True
        )
        self._process.start()
        child_end.close()  # so that the child's death reads as the end of the pipe
        self._await_loaded()
        self.started = time.monotonic()
        self.tokens_held = 0  # tokens in the model's cache after the last answer (reused by the next prompt)
        self._on_exit = on_exit
        self._changed = threading.Condition()
        self._current: queue.SimpleQueue[str | _End] | None = None  # the running answer's pieces
        self._ended: str | None = None  # how the child ended, once it has
        self._closing = False
        threading.Thread(target=self._read, name="local-brain-reader", daemon=True).start()

    @property
    def pid(self) -> int:
        return self._process.pid  # type: ignore[return-value]  # started

    def busy(self) -> bool:
        """Whether the child is on an answer (one that was cancelled too, until the model has stopped)."""
        return self._current is not None

    def generate(self, job: Job, cancel: threading.Event) -> Iterator[str]:
        """The answer's pieces, after the previous answer has stopped. Returns within POLL_S of `cancel`
        and stops the model; raises BrainError when the model fails or its process dies."""
        pieces = self._begin(job, cancel)
        if pieces is None:
            return
        try:
            while not cancel.is_set():
                try:
                    item = pieces.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if isinstance(item, _End):
                    if item.error is not None:
                        raise BrainError(item.error)
                    return
                yield item
        finally:
            with self._changed:
                if self._current is pieces:  # not a later answer's: a late stop must not cut that one short
                    self._flag[0] = b"\x01"

    def close(self) -> None:
        """Stops the model, lets the child exit (kills it after CLOSE_TIMEOUT_S) and waits for it."""
        with self._changed:
            self._closing = True
            self._flag[0] = b"\x01"
            if self._ended is None:
                try:
                    self._conn.send(None)
                except OSError:
                    pass  # the child has just died: nothing to ask
        self._process.join(CLOSE_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _await_loaded(self) -> None:
        try:
            kind, detail = self._conn.recv()
        except EOFError:
            kind, detail = "died", None
        if kind == "ready":
            return
        self._conn.close()
        self._process.join()
        raise BrainError(detail or f"{_death(self._process.exitcode)} while loading")

    def _begin(self, job: Job, cancel: threading.Event) -> queue.SimpleQueue[str | _End] | None:
        """Hands `job` to the child once it is free; None when cancelled first."""
        with self._changed:
            while self._current is not None and not cancel.is_set():
                self._changed.wait(POLL_S)
            if cancel.is_set():
                return None
            if self._closing:
                raise BrainError("the local brain is closed")
            if self._ended is not None:
                raise BrainError(self._ended)
            self._flag[0] = b"\x00"  # the previous answer has stopped: nothing reads the flag meanwhile
            self._current = pieces = queue.SimpleQueue()
            self._conn.send(job)
            return pieces

    def _read(self) -> None:
        """Passes the child's messages to the running answer until the pipe ends, then reports the exit."""
        while True:
            try:
                kind, detail = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._changed:
                if kind == "piece":
                    self._current.put(detail)  # type: ignore[union-attr]  # a piece belongs to a running answer
                    continue
                if kind == "done":
                    self.tokens_held = detail
                self._current.put(_End(detail if kind == "failed" else None))  # type: ignore[union-attr]
                self._current = None
                self._changed.notify_all()
        self._conn.close()
        self._process.join()
        why = _death(self._process.exitcode)
        with self._changed:
            self._ended = f"{why}; restarting it"
            if self._current is not None:
                self._current.put(_End(None if self._closing else self._ended))  # closing ends the answer
                self._current = None
            self._changed.notify_all()
        self._on_exit(self, why)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the local language model crashed (signal {-exitcode})"
    return f"the local language model exited (status {exitcode})"


def serve(conn: Connection, path: str, threads: int, flag: StopFlag) -> None:
    """The child: loads the model, says ("ready", None) or ("failed", why), then answers one Job after
    another with ("piece", text)... and ("done", tokens held) or ("failed", why), until it gets None or
    the parent is gone."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when this process ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import llama_cpp  # the parent checked it is installed

    try:
        llm = llama_cpp.Llama(model_path=path, n_ctx=CONTEXT_TOKENS, n_threads=threads, verbose=False)
    except (ValueError, RuntimeError) as e:
        conn.send(("failed", f"cannot load the language model {path}: {e}"))
        return
    # `flag` lives as long as this function, the context no longer.
    llama_cpp.llama_set_abort_callback(llm._ctx.ctx, _c_strlen(llama_cpp.ggml_abort_callback), ctypes.addressof(flag))
    try:
        conn.send(("ready", None))
        while (job := conn.recv()) is not None:
            conn.send(_answer(llm, job, flag, conn.send))
    except (EOFError, OSError):
        pass  # the parent is gone: nobody to answer
    finally:
        llm.close()


def _answer(llm: Any, job: Job, flag: StopFlag, send: Callable[[tuple[str, str]], None]) -> tuple[str, object]:
    """Sends the answer's pieces until it ends or `flag` is raised; returns the closing message."""
    try:
        chunks: Any = llm.create_chat_completion(
            messages=job.messages, max_tokens=job.max_tokens, temperature=job.temperature, stream=True
        )
        try:
            for chunk in chunks:
                if flag[0] != b"\x00":
                    break
                content = chunk["choices"][0]["delta"].get("content")
                if content:
                    send(("piece", content))
        finally:
            chunks.close()
    except (ValueError, RuntimeError) as e:  # e.g. a prompt longer than the context
        if flag[0] == b"\x00":
            return ("failed", f"the local language model failed: {e}")
        # llama_decode aborted at the stop. llama-cpp-python counts a decode's tokens only once it
        # succeeds and llama.cpp drops the aborted ones: the next prompt starts clean.
    return ("done", llm.n_tokens)


def _c_strlen(abort_callback_type: Any) -> Any:
    """C's strlen as llama.cpp's abort callback `bool (*)(void *data)`, data being the stop flag.

    llama.cpp asks the callback between every node of its compute graph, some 600 times a decode. A
    Python callback would take the GIL each time: next to a busy Python thread a token took twice as
    long. strlen never touches Python; its 0 or 1 lands in the low byte of the return register, where
    the x86-64 and AArch64 ABIs return a bool."""
    libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(None)
    return ctypes.cast(libc.strlen, abort_callback_type)
