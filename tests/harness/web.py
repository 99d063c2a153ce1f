"""Small pieces for tests that stand in for a web API on loopback (where no real server can run
here) and for sources whose waits are recorded instead of slept."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiohttp import web

from tests.harness.process import free_port


async def serve_app(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serves `app` on a free loopback port; no access log (it would print `?key=` queries)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


class Sleeps:
    """An injectable sleep that records what was asked and yields once instead of waiting."""

    def __init__(self) -> None:
        self.requested: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)
        await asyncio.sleep(0)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
def fake_server() -> Iterator[Callable[[Handler], str]]:
    """Serves a handler on POST /v1/chat/completions on a loopback port; returns the base url."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners: list[web.AppRunner] = []

    def serve(handler: Handler) -> str:
        async def start() -> int:
            app = web.Application()
            app.router.add_post("/v1/chat/completions", handler)
            runner, port = await serve_app(app)
            runners.append(runner)
            return port

        port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
        return f"http://127.0.0.1:{port}/v1"

    yield serve
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
