"""FallbackBrain: the scripted brain answers when the LLM server is gone, silent or empty; an answer
broken off mid-way stands as said. The LLM is a real llama-cpp-python server."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

import pytest

from engine.brain.base import BrainRequest
from engine.brain.fallback import FallbackBrain
from engine.brain.openai import OpenAIBrain
from engine.brain.prompt import build_messages
from engine.brain.scripted import ScriptedBrain
from engine.chat.message import ChatMessage
from engine.models import resolve
from tests.harness.llama import API_KEY, LlamaServer, requires_llama_cpp
from tests.harness.process import free_port, wait_until

QUESTION = BrainRequest(ChatMessage("twitch", "ana", "Who are you?"))


def fallback_for(config, url: str, timeout_s: float, max_tokens: int = 8) -> FallbackBrain:
    brain = dataclasses.replace(config.brain, url=url, api_key=API_KEY, max_tokens=max_tokens)
    return FallbackBrain(OpenAIBrain(brain, config.persona), ScriptedBrain(config.persona), timeout_s)


def scripted_answer(config) -> str:  # type: ignore[no-untyped-def]
    return ScriptedBrain(config.persona).answer(QUESTION.message)


def test_no_llm_server_means_the_scripted_brain_answers(config, caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    brain = fallback_for(config, url, timeout_s=5)
    with caplog.at_level(logging.WARNING, logger="engine.brain.fallback"):
        assert "".join(brain.stream(QUESTION, threading.Event())) == scripted_answer(config)
    assert (brain.name, brain.last_used) == ("openai", "scripted")
    assert brain.last_first_token_s is not None
    assert [r.getMessage() for r in caplog.records] == [
        (
            f"the openai brain failed: no LLM server at {url} — start Ollama or set [brain] url; "
            "the scripted brain answers instead"
        )
    ]


@requires_llama_cpp
def test_llm_answer_is_used_and_its_first_token_time_recorded(config, llama: LlamaServer) -> None:
    brain = fallback_for(config, llama.url, timeout_s=120)  # generous: only the answer's source is checked
    started = time.monotonic()
    pieces = list(brain.stream(QUESTION, threading.Event()))
    elapsed = time.monotonic() - started
    assert "".join(pieces).strip()
    assert brain.last_used == "openai"
    assert brain.last_first_token_s is not None and 0 < brain.last_first_token_s <= elapsed


@requires_llama_cpp
def test_silent_llm_is_replaced_after_the_first_token_timeout(config, llama: LlamaServer) -> None:
    brain = fallback_for(config, llama.url, timeout_s=0.3)
    with llama.busy(build_messages(config.persona, QUESTION)):  # our request waits: no first token comes
        answer = "".join(brain.stream(QUESTION, threading.Event()))
    assert answer == scripted_answer(config)
    assert brain.last_used == "scripted"
    assert brain.last_first_token_s is not None and brain.last_first_token_s >= 0.3
    wait_until(lambda: llama.client_connections() == 0, 5, "the abandoned request's connection to close")


@requires_llama_cpp
def test_cancel_while_waiting_for_the_first_token_answers_nothing(config, llama: LlamaServer) -> None:
    brain = fallback_for(config, llama.url, timeout_s=30)
    cancel = threading.Event()
    with llama.busy(build_messages(config.persona, QUESTION)):
        threading.Timer(0.2, cancel.set).start()
        started = time.monotonic()
        assert list(brain.stream(QUESTION, cancel)) == []
        assert time.monotonic() - started < 5  # far below the 30 s timeout: the cancel ended it
    assert brain.last_used == ""


@requires_llama_cpp
def test_llm_dying_mid_answer_stops_there_without_a_second_voice(
    config, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    gguf = resolve("llm/smollm2-135m", config.models).files["model"]
    with LlamaServer(tmp_path / "doomed", gguf, api_key=API_KEY) as doomed:
        brain = fallback_for(config, doomed.url, timeout_s=120, max_tokens=1000)
        stream = brain.stream(QUESTION, threading.Event())
        with caplog.at_level(logging.WARNING, logger="engine.brain.fallback"):
            pieces = [next(stream)]
            doomed.kill()
            pieces += list(stream)
    assert "".join(pieces).strip()
    assert scripted_answer(config) not in "".join(pieces)
    assert brain.last_used == "openai"
    assert len(caplog.records) == 1
    warning = caplog.records[0].getMessage()
    assert warning.startswith(f"the openai brain stopped mid-answer: the LLM server at {doomed.url}")
