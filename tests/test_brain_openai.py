"""OpenAIBrain against a real OpenAI-compatible server: llama-cpp-python's server on SmolLM2-135M."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from aiohttp import web

from engine.brain.base import BrainError, BrainRequest
from engine.brain.openai import TIMEOUT_S, OpenAIBrain
from engine.brain.prompt import build_messages
from engine.chat.message import ChatMessage
from tests.harness.llama import API_KEY, LlamaServer, requires_llama_cpp
from tests.harness.process import free_port, wait_until

QUESTION = BrainRequest(ChatMessage("twitch", "ana", "What is your favourite colour?"))


def brain_for(config, url: str, timeout_s: float = TIMEOUT_S, **changes) -> OpenAIBrain:  # type: ignore[no-untyped-def]
    brain = dataclasses.replace(config.brain, backend="openai", url=url, **{"api_key": API_KEY, **changes})
    return OpenAIBrain(brain, config.persona, timeout_s)


def answer(brain: OpenAIBrain, request: BrainRequest = QUESTION) -> list[str]:
    return list(brain.stream(request, threading.Event()))


def one_line_error(brain: OpenAIBrain) -> str:
    with pytest.raises(BrainError) as caught:
        answer(brain)
    message = str(caught.value)
    assert "\n" not in message
    return message


@requires_llama_cpp
def test_answer_streams_in_pieces_in_order(config, llama: LlamaServer) -> None:
    pieces = answer(brain_for(config, llama.url, max_tokens=12))
    assert len(pieces) >= 3
    assert "".join(pieces).strip()


@requires_llama_cpp
def test_cancel_mid_answer_stops_and_hangs_up_so_the_server_stops_generating(config, llama: LlamaServer) -> None:
    cancel = threading.Event()
    stream = brain_for(config, llama.url, max_tokens=800).stream(QUESTION, cancel)
    hang_ups = llama.log().count("Disconnected from client")
    assert next(stream)
    assert llama.client_connections() == 1
    cancel.set()
    assert list(stream) == []
    wait_until(lambda: llama.client_connections() == 0, 5, "the client connection to close")
    wait_until(lambda: llama.log().count("Disconnected from client") > hang_ups, 10, "the server to see the hang-up")
    assert llama.healthy()
    assert answer(brain_for(config, llama.url, max_tokens=8))


@requires_llama_cpp
def test_cancel_while_the_server_is_silent_returns_at_once(config, llama: LlamaServer) -> None:
    brain = brain_for(config, llama.url, max_tokens=8)
    cancel = threading.Event()
    # Our request waits behind another client's long answer: nothing comes back.
    with llama.busy(build_messages(config.persona, QUESTION)):
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        assert list(brain.stream(QUESTION, cancel)) == []
        waited = time.monotonic() - started
    assert waited < 5  # the busy answer runs far longer: the cancel, not the server, ended the wait
    wait_until(lambda: llama.client_connections() == 0, 5, "the client connections to close")
    assert answer(brain)


@requires_llama_cpp
def test_server_silent_past_the_timeout_is_a_one_line_error(config, llama: LlamaServer) -> None:
    with llama.busy(build_messages(config.persona, QUESTION)):
        message = one_line_error(brain_for(config, llama.url, timeout_s=0.5))
    assert message == f"the LLM server at {llama.url} sent nothing for 0.5 s"


@requires_llama_cpp
def test_refused_api_key_is_one_line_and_never_shows_the_key(config, llama: LlamaServer) -> None:
    message = one_line_error(brain_for(config, llama.url, api_key="sk-wrong-secret-123"))
    assert "refused the API key (HTTP 401)" in message
    assert "sk-wrong-secret-123" not in message


@requires_llama_cpp
def test_missing_api_key_says_how_to_set_one(config, llama: LlamaServer) -> None:
    message = one_line_error(brain_for(config, llama.url, api_key=""))
    assert "needs an API key (HTTP 401): set COHOST_BRAIN_API_KEY" in message


@requires_llama_cpp
def test_wrong_address_path_names_the_model_and_the_url(config, llama: LlamaServer) -> None:
    url = llama.url.removesuffix("/v1")  # a forgotten /v1: the server has no /chat/completions
    message = one_line_error(brain_for(config, url, model="qwen2.5:1.5b"))
    assert message.startswith(f"the LLM server at {url} has no model 'qwen2.5:1.5b' (HTTP 404")


def test_no_server_at_the_address_says_to_start_one(config) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert one_line_error(brain_for(config, url)) == f"no LLM server at {url} — start Ollama or set [brain] url"


def test_malformed_address_is_refused_at_once(config) -> None:
    with pytest.raises(BrainError, match="is not an http:// or https:// address"):
        brain_for(config, "localhost:11434")


# ----- Replies no llama.cpp server gives -------------------------------------------------------------
# llama-cpp-python serves its one model under any name and never sends a broken stream, so these two
# replies come from a fake peer: a small aiohttp server with Ollama's exact 404 body, and one that
# sends garbage in its event stream.


async def ollama_model_missing(request: web.Request) -> web.Response:
    model = (await request.json())["model"]
    error = {"error": {"message": f'model "{model}" not found, try pulling it first', "type": "api_error"}}
    return web.json_response(error, status=404)


async def garbage_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n')
    await response.write(b"data: {not json\n\n")
    return response


def test_unknown_model_is_named_with_the_server_reason(config, fake_server) -> None:
    url = fake_server(ollama_model_missing)
    message = one_line_error(brain_for(config, url, model="qwen9:7b"))
    assert message == (
        f"the LLM server at {url} has no model 'qwen9:7b' (HTTP 404: model \"qwen9:7b\" not found, "
        "try pulling it first): check [brain] model and url"
    )


def test_malformed_event_stream_is_a_one_line_error_after_the_good_pieces(config, fake_server) -> None:
    stream = brain_for(config, fake_server(garbage_stream)).stream(QUESTION, threading.Event())
    assert next(stream) == "Hi"
    with pytest.raises(BrainError, match=r"sent a malformed stream: '\{not json'"):
        next(stream)
