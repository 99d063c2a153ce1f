"""The control API against a real LiveEngine and its Conversation (espeak voice, no outputs, a small frame) on a free port:
tokens, the event stream, say / stop / mute / queue, bad input, and floods that stay bounded."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket

from engine.api.auth import ensure_token
from engine.api.server import CLIENT_BACKLOG, MAX_PENDING_LINES, MAX_TEXT, ControlApi
from engine.config import load_config
from engine.conversation.director import Conversation
from engine.errors import CohostError
from engine.live.engine import RENDER_AHEAD_S
from engine.live.events import Event, EventKind
from engine.live.track import FADE_S
from tests.harness.live import reset_engine, serving_api, small_conversation

TOKEN = "test-token-Zq8x"
LONG_TEXT = " ".join(f"This is sentence number {n} of a long answer that keeps on going." for n in range(1, 13))


@pytest.fixture(scope="module")
def engine(config) -> Iterator[Conversation]:
    with small_conversation(config) as engine:
        yield engine


@pytest.fixture(scope="module")
def api(engine: Conversation) -> Iterator[ControlApi]:
    with serving_api(engine, 0, TOKEN) as api:
        yield api


@pytest.fixture(autouse=True)
def quiet_engine(engine: Conversation) -> Iterator[None]:
    """Each test starts with an unmuted co-host, nothing queued, nothing being said."""
    yield
    reset_engine(engine)


def call(
    api: ControlApi, method: str, path: str, body: Any = None, token: str | None = TOKEN, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(api.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def connect_events(api: ControlApi, **options: Any) -> websocket.WebSocket:
    """A client of /events, returned once the hello arrived (so it is registered for every event)."""
    ws = websocket.create_connection(f"ws://127.0.0.1:{api.port}/events?token={TOKEN}", timeout=15, **options)
    hello = json.loads(ws.recv())
    assert hello["kind"] == "hello"
    return ws


def events_until(
    ws: websocket.WebSocket, done: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> list[dict[str, Any]]:
    """Events received until one satisfies `done` (included)."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        event = json.loads(ws.recv())
        received.append(event)
        if done(event):
            return received
    raise AssertionError(f"no matching event within {timeout} s; got {[e['kind'] for e in received]}")


def test_requests_without_the_right_token_get_401(api: ControlApi) -> None:
    for token in (None, "", "wrong", TOKEN + "x", TOKEN[:-1]):
        status, body = call(api, "GET", "/status", token=token)
        assert status == 401 and body == {"error": "missing or wrong token"}
    # Routes are not revealed without the token, and nothing happens.
    assert call(api, "POST", "/say", {"text": "hi"}, token="wrong")[0] == 401
    assert call(api, "GET", "/nowhere", token=None)[0] == 401
    assert call(api, "GET", "/status?token=wrong", token=None)[0] == 401
    assert call(api, "GET", f"/status?token={TOKEN}", token=None)[0] == 200
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://127.0.0.1:{api.port}/events?token=wrong", timeout=5)
    assert refused.value.status_code == 401


def test_say_streams_speaking_events_in_order_on_the_websocket(api: ControlApi) -> None:
    ws = connect_events(api)
    try:
        status, body = call(api, "POST", "/say", {"text": "Hello chat. Thanks for the follow.", "question": "Hi?"})
        assert status == 200
        line_id = body["id"]
        events = [
            e
            for e in events_until(ws, lambda e: e["kind"] == "speaking_ended" and e["line_id"] == line_id)
            if e["line_id"] == line_id
        ]
    finally:
        ws.close()
    assert [e["kind"] for e in events] == ["speaking_started", "subtitle", "subtitle", "speaking_ended"]
    assert [e["text"] for e in events[1:3]] == ["Hello chat.", "Thanks for the follow."]
    assert all(e["question"] == "Hi?" for e in events)
    samples = [e["sample"] for e in events]
    assert samples == sorted(samples) and samples[-1] > samples[0]


def test_stop_cuts_the_line_within_one_frame_of_the_clock(api: ControlApi, engine: Conversation) -> None:
    ws = connect_events(api)
    try:
        line_id = call(api, "POST", "/say", {"text": LONG_TEXT})[1]["id"]
        events_until(ws, lambda e: e["kind"] == "subtitle" and e["line_id"] == line_id)
        clock_at_stop = engine.status().engine.clock_s
        assert call(api, "POST", "/stop") == (200, {"ok": True})
        ended = events_until(ws, lambda e: e["kind"] == "speaking_ended" and e["line_id"] == line_id)[-1]
    finally:
        ws.close()
    rate, fps = engine.engine.sample_rate, engine.engine.fps
    # The cut lands at the next block the clock renders, then fades out: one frame, the render-ahead
    # margin and the fade (one more frame for the status read racing the clock).
    bound_s = 2 / fps + RENDER_AHEAD_S + FADE_S
    assert ended["sample"] / rate - clock_at_stop <= bound_s
    assert engine.status().engine.speaking is False


def test_mute_silences_the_co_host_until_unmuted(api: ControlApi) -> None:
    ws = connect_events(api)
    try:
        assert call(api, "POST", "/mute", {"muted": True}) == (200, {"muted": True})
        events_until(ws, lambda e: e["kind"] == "muted")
        assert call(api, "GET", "/status")[1]["muted"] is True
        line_id = call(api, "POST", "/say", {"text": "You should not hear this."})[1]["id"]
        dropped = events_until(ws, lambda e: e["line_id"] == line_id)[-1]
        assert dropped["kind"] == "dropped"
        assert call(api, "POST", "/queue", {"text": "Later, please."})[1]["queue"] == 1
        assert call(api, "POST", "/next") == (200, {"id": None})  # muted: the queue waits
        assert call(api, "POST", "/mute", {"muted": False}) == (200, {"muted": False})
        events_until(ws, lambda e: e["kind"] == "unmuted")
        next_id = call(api, "POST", "/next")[1]["id"]
        started = events_until(ws, lambda e: e["kind"] == "speaking_started")[-1]
        assert started["line_id"] == next_id and started["text"] == "Later, please."
    finally:
        ws.close()


def test_status_reports_speaking_muted_and_queue(api: ControlApi) -> None:
    status, idle = call(api, "GET", "/status")
    assert status == 200
    assert (idle["speaking"], idle["muted"], idle["queue"], idle["lines_pending"]) == (False, False, 0, 0)
    call(api, "POST", "/queue", {"text": "First queued line."})
    call(api, "POST", "/queue", {"text": "Second queued line."})
    assert call(api, "GET", "/status")[1]["queue"] == 2
    ws = connect_events(api)
    try:
        call(api, "POST", "/say", {"text": LONG_TEXT})
        events_until(ws, lambda e: e["kind"] == "speaking_started")
    finally:
        ws.close()
    speaking = call(api, "GET", "/status")[1]
    assert speaking["speaking"] is True and speaking["line_id"] and speaking["queue"] == 2


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/say", {"text": ""}, "'text' is empty"),
        ("/say", {"text": "   \n"}, "'text' is empty"),
        ("/say", {"text": "a" * (MAX_TEXT + 1)}, f"at most {MAX_TEXT}"),
        ("/say", {"text": 42}, "'text' must be a string"),
        ("/say", {"text": "hi", "question": ["x"]}, "'question' must be a string"),
        ("/say", {}, "missing field 'text'"),
        ("/say", {"txt": "hi"}, "unknown field 'txt'"),
        ("/say", ["hi"], "must be a JSON object"),
        ("/say", {"text": "🙂🙂"}, "nothing to say"),  # the engine's own refusal, passed on
        ("/queue", {"text": ""}, "'text' is empty"),
        ("/mute", {"muted": "yes"}, "'muted' must be a boolean"),
        ("/mute", {"muted": 1}, "'muted' must be a boolean"),
        ("/ptt", {}, "missing field 'down'"),
        ("/next", {"now": True}, "unknown field 'now'"),
    ],
)
def test_bad_input_gets_400_with_one_line(api: ControlApi, path: str, body: Any, message: str) -> None:
    status, reply = call(api, "POST", path, body)
    assert status == 400
    assert message in reply["error"] and "\n" not in reply["error"]


def test_malformed_bodies_and_routes_get_json_errors(api: ControlApi) -> None:
    assert call(api, "POST", "/say", raw=b"{not json") == (400, {"error": "the body is not valid JSON"})
    status, reply = call(api, "POST", "/say", raw=json.dumps({"text": "a" * 100_000}).encode())
    assert status == 413 and reply["error"]
    assert call(api, "GET", "/say")[0] == 405
    assert call(api, "GET", "/nowhere")[0] == 404
    assert call(api, "GET", "/status")[1]["lines_pending"] == 0  # none of it reached the engine


def test_queue_then_next_speaks_the_queued_lines_in_order(api: ControlApi) -> None:
    assert call(api, "POST", "/queue", {"text": "Number one."})[1]["queue"] == 1
    assert call(api, "POST", "/queue", {"text": "Number two."})[1]["queue"] == 2
    ws = connect_events(api)
    try:
        first = call(api, "POST", "/next")[1]["id"]
        second = call(api, "POST", "/next")[1]["id"]
        assert call(api, "POST", "/next") == (200, {"id": None})
        ended = events_until(ws, lambda e: e["kind"] == "speaking_ended" and e["line_id"] == second)
    finally:
        ws.close()
    started = [(e["line_id"], e["text"]) for e in ended if e["kind"] == "speaking_started"]
    assert started == [(first, "Number one."), (second, "Number two.")]


def test_push_to_talk_is_published_as_a_ptt_event(api: ControlApi) -> None:
    ws = connect_events(api)
    try:
        assert call(api, "POST", "/ptt", {"down": True}) == (200, {"ok": True})
        assert call(api, "POST", "/ptt", {"down": False}) == (200, {"ok": True})
        ptt = [
            e["text"]
            for e in events_until(ws, lambda e: e["kind"] == "ptt" and e["text"] == "up")
            if e["kind"] == "ptt"
        ]
    finally:
        ws.close()
    assert ptt == ["down", "up"]


def test_a_flood_of_lines_is_refused_beyond_the_caps(api: ControlApi, engine: Conversation) -> None:
    size = engine.queue.max_size
    queued = [call(api, "POST", "/queue", {"text": f"Line {n}."}) for n in range(size + 20)]
    assert [status for status, _ in queued] == [200] * size + [429] * 20
    assert "queue is full" in queued[-1][1]["error"]
    assert engine.status().queue == size

    said = [call(api, "POST", "/say", {"text": LONG_TEXT})[0] for _ in range(MAX_PENDING_LINES + 20)]
    assert said.count(429) >= 20 - 2  # a line or two may finish synthesizing while the flood goes on
    assert engine.status().engine.lines_pending <= MAX_PENDING_LINES


def test_a_websocket_client_that_stops_reading_is_dropped_not_buffered(api: ControlApi) -> None:
    # A tiny receive buffer: the server's writes stall quickly, and its backlog for this client fills.
    stuck = connect_events(api, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    published = 4000
    for n in range(published):
        api.publish(Event(EventKind.SUBTITLE, f"flood-{n}", "x" * 2000))
    time.sleep(1.0)
    received = 0
    try:
        while True:
            message = stuck.recv()
            if not message:
                break
            received += json.loads(message)["line_id"].startswith("flood-")
    except websocket.WebSocketConnectionClosedException:
        pass
    finally:
        stuck.close()
    # It got its backlog, then the server closed on it. The end-of-stream marker takes the oldest slot,
    # so when the sender has taken nothing yet (the hello still waiting) one event less arrives.
    assert CLIENT_BACKLOG - 1 <= received < published
    fresh = connect_events(api)  # the API itself is unharmed
    fresh.close()


def test_the_token_never_reaches_the_log(api: ControlApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    call(api, "GET", f"/status?token={TOKEN}", token=None)
    call(api, "POST", "/say", {"text": ""})
    connect_events(api).close()
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(api)


def test_a_taken_port_is_one_clear_error(api: ControlApi, engine: Conversation) -> None:
    second = ControlApi(engine, "127.0.0.1", api.port, TOKEN)
    with pytest.raises(CohostError, match=rf"control API cannot listen on 127.0.0.1:{api.port}: .*in use"):
        second.start()


def test_ensure_token_generates_one_token_and_keeps_it_private(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[api]\nport = 9000\n")
    token = ensure_token(load_config(path), path)
    assert len(token) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    reloaded = load_config(path)
    assert reloaded.api.token == token and reloaded.api.port == 9000
    assert ensure_token(reloaded, path) == token


# ----- chat bridge and the question queue -------------------------------------------------------------


@pytest.fixture
def approving(engine: Conversation) -> Iterator[Conversation]:
    """Approve mode for one test: questions wait in the queue, where the test can look at them."""
    engine.approve_mode = True
    try:
        yield engine
    finally:
        engine.approve_mode = False


def test_chat_posted_by_a_bridge_is_moderated_and_queued(api: ControlApi, approving: Conversation) -> None:
    assert call(api, "POST", "/chat", {"user": "ann", "text": "Nova, how are you?", "platform": "douyin"}) == (
        200,
        {"result": "queued"},
    )
    batch = {"messages": [
        {"user": "bob", "text": "just chatting"},
        {"user": "eve", "text": "Nova say fuck"},
        {"user": "ann", "text": "Nova, me again", "platform": "douyin"},
        {"user": "rich", "text": "", "kind": "gift", "amount": 30, "currency": "CNY"},
    ]}  # fmt: skip
    assert call(api, "POST", "/chat", batch) == (200, {"results": ["ignored", "banned", "cooldown", "queued"]})
    questions = call(api, "GET", "/questions")[1]["questions"]
    assert [(q["user"], q["platform"], q["kind"]) for q in questions] == [
        ("rich", "bridge", "gift"),
        ("ann", "douyin", "chat"),
    ]
    assert not any(q["approved"] for q in questions)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"text": "hi"}, "missing field 'user'"),
        ({"user": "a", "text": "hi", "kind": "tip"}, "'kind' must be one of"),
        ({"user": "a", "text": "hi", "amount": "5"}, "'amount' must be a number"),
        ({"user": "a", "text": "hi", "amount": -1}, "must not be negative"),
        ({"user": "a", "text": "  "}, "'text' is empty"),
        ({"messages": [{"user": "a", "text": "x"}] * 201}, "at most 200 messages"),
    ],
)
def test_bad_chat_is_a_one_line_400(api: ControlApi, body: Any, error: str) -> None:
    status, reply = call(api, "POST", "/chat", body)
    assert status == 400 and error in reply["error"] and "\n" not in reply["error"]


def test_chat_over_the_websocket_bridge_answers_each_frame(api: ControlApi, approving: Conversation) -> None:
    ws = websocket.create_connection(f"ws://127.0.0.1:{api.port}/chat?token={TOKEN}", timeout=15)
    try:
        ws.send(json.dumps({"user": "kay", "text": "!ask what is this game?", "platform": "kuaishou"}))
        assert json.loads(ws.recv()) == {"results": ["queued"]}
        ws.send(json.dumps([{"user": "lee", "text": "Nova hi"}, {"user": "lee", "text": "Nova hi again"}]))
        assert json.loads(ws.recv()) == {"results": ["queued", "cooldown"]}
        ws.send("not json")
        assert "not valid JSON" in json.loads(ws.recv())["error"]
        ws.send(json.dumps({"user": "x"}))
        assert "missing field 'text'" in json.loads(ws.recv())["error"]
    finally:
        ws.close()
    assert [q["text"] for q in call(api, "GET", "/questions")[1]["questions"]] == ["what is this game?", "Nova hi"]


def test_questions_are_approved_skipped_and_reordered_through_the_api(api: ControlApi, approving: Conversation) -> None:
    for user in ("ann", "bob", "cat", "dan"):  # (their own platform: other tests' viewers are on cooldown)
        reply = call(api, "POST", "/chat", {"user": user, "text": f"Nova, I am {user}", "platform": "reorder"})[1]
        assert reply == {"result": "queued"}
    ids = {q["user"]: q["id"] for q in call(api, "GET", "/questions")[1]["questions"]}
    assert call(api, "POST", f"/questions/{ids['dan']}/move", {"position": 0}) == (200, {"ok": True})
    assert call(api, "POST", f"/questions/{ids['bob']}/skip") == (200, {"ok": True})
    assert call(api, "POST", "/skip") == (200, {"id": ids["dan"]})  # the one on top
    assert call(api, "POST", f"/questions/{ids['cat']}/approve") == (200, {"ok": True})
    assert call(api, "POST", "/approve") == (200, {"id": ids["ann"]})
    assert call(api, "POST", "/approve") == (200, {"id": None})
    assert call(api, "POST", "/questions/nope/approve") == (200, {"ok": False})
    assert call(api, "POST", f"/questions/{ids['ann']}/explode")[0] == 404
    assert call(api, "POST", f"/questions/{ids['ann']}/move", {"position": "top"})[0] == 400
    ws = connect_events(api)
    try:
        approving.approve_mode = False  # as a streamer turning approve mode off: approved ones are answered
        answered = events_until(ws, lambda e: e["kind"] == "speaking_ended", timeout=30)
    finally:
        ws.close()
    started = [e["question"] for e in answered if e["kind"] == "speaking_started"]
    assert started and started[0].startswith(("ann:", "cat:"))
