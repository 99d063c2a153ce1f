"""Small pieces for tests that stand in for a web API on loopback (where no real server can run
here) and for sources whose waits are recorded instead of slept."""

from __future__ import annotations

import asyncio

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
