"""A chat flood through the control API's WebSocket bridge: 1000 messages a second for 10 seconds
into a real conversation and live engine. The queue stays bounded, memory stays flat, and the API
keeps answering while it lasts."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
import websocket

from engine.api.server import ControlApi
from engine.conversation.director import Conversation
from tests.harness.live import serving_api, small_conversation

TOKEN = "flood-token-9Xa"
RATE = 1000  # messages per second
SECONDS = 10
BURST = 50  # messages sent together, every BURST/RATE seconds


@pytest.fixture(scope="module")
def served(config) -> Iterator[tuple[Conversation, ControlApi]]:
    with small_conversation(config) as conversation, serving_api(conversation, 0, TOKEN) as api:
        yield conversation, api


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def flood_message(rng: random.Random, n: int) -> dict:
    roll = rng.random()
    user = f"viewer{n}"
    if roll < 0.55:
        return {"user": user, "text": f"lol {rng.randint(0, 10**6)} gg"}
    if roll < 0.85:
        return {"user": user, "text": f"Nova what about {rng.randint(0, 10**9)}?", "platform": "douyin"}
    if roll < 0.95:
        return {"user": user, "text": "Nova you are shit", "platform": "kuaishou"}
    return {"user": user, "text": "", "kind": "gift", "amount": rng.randint(1, 500), "currency": "CNY"}


def test_a_flood_of_chat_keeps_the_queue_bounded_memory_flat_and_the_api_answering(served) -> None:
    conversation, api = served
    limit = conversation.queue.max_size
    ws = websocket.create_connection(f"ws://127.0.0.1:{api.port}/chat?token={TOKEN}", timeout=30)
    results: dict[str, int] = {}
    replies_done = threading.Event()

    def read_replies() -> None:
        got = 0
        while got < RATE * SECONDS // BURST:
            for outcome in json.loads(ws.recv())["results"]:
                results[outcome] = results.get(outcome, 0) + 1
            got += 1
        replies_done.set()

    status_ms: list[float] = []
    failures: list[str] = []
    queue_sizes: list[int] = []
    flooding = threading.Event()
    flooding.set()

    def poll_status() -> None:
        request = urllib.request.Request(api.url + "/status", headers={"Authorization": f"Bearer {TOKEN}"})
        while flooding.is_set():
            began = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    queue_sizes.append(json.loads(response.read())["queue"])
                status_ms.append((time.monotonic() - began) * 1000)
            except Exception as e:  # recorded: the assertion below names it
                failures.append(repr(e))
            time.sleep(0.2)

    reader = threading.Thread(target=read_replies, daemon=True)
    poller = threading.Thread(target=poll_status, daemon=True)
    reader.start()
    poller.start()
    rng = random.Random(4)
    rss = {"start": rss_mb()}
    started = time.monotonic()
    sent = 0
    for burst in range(RATE * SECONDS // BURST):
        ws.send(json.dumps([flood_message(rng, sent + i) for i in range(BURST)]))
        sent += BURST
        if burst == RATE * SECONDS // BURST // 2:
            rss["half"] = rss_mb()
        time.sleep(max(0.0, started + sent / RATE - time.monotonic()))
    elapsed = time.monotonic() - started
    assert replies_done.wait(60)
    rss["end"] = rss_mb()
    flooding.clear()
    poller.join()
    ws.close()
    status = conversation.status()
    print(
        f"flood: {sent} messages in {elapsed:.1f} s; outcomes {results}; queue max {max(queue_sizes)}; "
        f"/status {len(status_ms)} answers, slowest {max(status_ms):.0f} ms; RSS MB {rss}"
    )
    assert sum(results.values()) == sent
    assert results["queued"] >= 1 and results["rate"] > 1000 and results["banned"] > 500
    assert not failures and len(status_ms) >= SECONDS * 2  # answered all along
    assert max(queue_sizes) <= limit and status.queue <= limit
    assert rss["end"] - rss["half"] < 20  # flat: the second half of the flood adds (almost) nothing
