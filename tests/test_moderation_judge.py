"""The LLM judge: one SAFE/UNSAFE question per unsure reply sentence, on the brain's OpenAI-compatible
server, with a strict time budget. A real server (llama-cpp-python's, when installed) for the round
trip; small aiohttp servers for what a real one does not do on demand: fixed verdicts, never
answering, a malformed answer."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest
from aiohttp import web

from engine.brain.openai import OpenAIBrain
from engine.config import Config
from engine.moderation.judge import EXAMPLES, MAX_TOKENS, Judge, load_judge
from engine.moderation.text import TextFilter
from tests.harness.llama import API_KEY, LlamaServer, requires_llama_cpp
from tests.harness.process import free_port

SENTENCE = 'Thanks for the follow, "Ana"! See you tomorrow.'


def judge_on(config: Config, url: str, timeout_s: float = 5.0) -> Judge:
    brain = dataclasses.replace(config.brain, backend="openai", url=url, api_key=API_KEY)
    return Judge(OpenAIBrain(brain, config.persona), timeout_s, (0.35, 0.65))


def with_moderation(config: Config, backend: str = "openai", **moderation) -> Config:
    return dataclasses.replace(
        config,
        brain=dataclasses.replace(config.brain, backend=backend),
        moderation=dataclasses.replace(config.moderation, **moderation),
    )


def answering(content: object, seen: list[dict] | None = None):  # type: ignore[no-untyped-def]
    """A handler answering every question with `content` as choices[0].message.content, keeping
    each request body and its Authorization header in `seen`."""

    async def handler(request: web.Request) -> web.Response:
        if seen is not None:
            seen.append({"body": await request.json(), "auth": request.headers.get("Authorization")})
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": content}}]})

    return handler


@requires_llama_cpp
def test_a_real_server_gives_a_verdict(config, llama: LlamaServer) -> None:
    judge = judge_on(config, llama.url, timeout_s=30.0)
    assert judge.unsafe(SENTENCE) in (True, False)  # SmolLM2-135M's judgement is no test of ours
    assert judge.last_s is not None


@pytest.mark.parametrize(("content", "verdict"), [("UNSAFE", True), ("unsafe.", True), ("Not safe", True),
                                                  ("SAFE", False), (" Safe.", False)])  # fmt: skip
def test_the_answer_word_is_the_verdict(config, fake_server, content: str, verdict: bool) -> None:
    assert judge_on(config, fake_server(answering(content))).unsafe(SENTENCE) is verdict


def test_the_question_is_short_and_unstreamed_with_the_sentence_last_as_quoted_data(config, fake_server) -> None:
    seen: list[dict] = []
    judge_on(config, fake_server(answering("SAFE", seen))).unsafe(SENTENCE)
    (request,) = seen
    body = request["body"]
    assert body["stream"] is False and body["max_tokens"] == MAX_TOKENS and body["temperature"] == 0.0
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * len(EXAMPLES) + ["user"]
    assert all(SENTENCE not in m["content"] for m in messages[:-1])
    assert json.loads(messages[-1]["content"]) == {"sentence": SENTENCE}
    assert request["auth"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("content", ["I think it is fine", "", None, 42])
def test_an_answer_that_is_no_verdict_gives_none(config, fake_server, content: object) -> None:
    assert judge_on(config, fake_server(answering(content))).unsafe(SENTENCE) is None


@pytest.mark.parametrize("body", [b"not json", b'{"choices": []}', b'{"result": "SAFE"}'])
def test_a_malformed_answer_gives_none(config, fake_server, body: bytes) -> None:
    async def malformed(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    assert judge_on(config, fake_server(malformed)).unsafe(SENTENCE) is None


def test_a_failing_or_absent_server_gives_none(config, fake_server) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "model crashed"}}, status=500)

    assert judge_on(config, fake_server(broken)).unsafe(SENTENCE) is None
    assert judge_on(config, f"http://127.0.0.1:{free_port()}/v1").unsafe(SENTENCE) is None


def test_a_server_that_never_answers_gives_none_within_the_budget_and_is_hung_up_on(config, fake_server) -> None:
    hung_up = asyncio.Event()

    async def silent(request: web.Request) -> web.Response:
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.02)
        hung_up.set()
        return web.Response()

    judge = judge_on(config, fake_server(silent), timeout_s=0.3)
    started = time.monotonic()
    assert judge.unsafe(SENTENCE) is None
    assert time.monotonic() - started < 3  # the server would wait forever: the budget ended it
    deadline = time.monotonic() + 5
    while not hung_up.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hung_up.is_set()


def test_the_unsure_band_is_inclusive(config) -> None:
    judge = judge_on(config, "http://127.0.0.1:1/v1")
    assert [judge.unsure(s) for s in (0.34, 0.35, 0.5, 0.65, 0.66)] == [False, True, True, True, False]


def test_the_judge_is_off_by_default_and_only_for_an_openai_brain(config) -> None:
    assert config.moderation.judge is False and load_judge(config) is None
    assert load_judge(with_moderation(config, backend="local", judge=True)) is None
    judge = load_judge(with_moderation(config, judge=True, judge_timeout_s=0.5, judge_band=[0.2, 0.9]))
    assert judge is not None and judge.band == (0.2, 0.9)


def unsure_everywhere(config: Config, url: str, timeout_s: float = 5.0) -> Judge:
    """A judge for whom every classifier score is unsure, so each reply sentence is put to it."""
    brain = dataclasses.replace(config.brain, backend="openai", url=url, api_key=API_KEY)
    return Judge(OpenAIBrain(brain, config.persona), timeout_s, (0.0, 1.0))


@pytest.mark.parametrize(("content", "spoken"), [("SAFE", True), ("UNSAFE", False), ("no idea", False)])
def test_a_reply_sentence_the_classifier_is_unsure_about_is_spoken_only_when_the_judge_clears_it(
    config, fake_server, content: str, spoken: bool
) -> None:
    text_filter = TextFilter(config.moderation, unsure_everywhere(config, fake_server(answering(content))))
    verdict = text_filter.check_output(SENTENCE)
    assert (verdict.ok, verdict.reason) == ((True, "") if spoken else (False, "unsure"))


def test_chat_is_never_put_to_the_judge(config, fake_server) -> None:
    seen: list[dict] = []
    text_filter = TextFilter(config.moderation, unsure_everywhere(config, fake_server(answering("UNSAFE", seen))))
    assert text_filter.clean_input(SENTENCE).ok
    assert seen == []
