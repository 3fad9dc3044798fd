"""A real emulated RNIS process per test, and a real HTTP receiver for its notifications."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

START_S = 30.0


@dataclass
class Received:
    t: float
    body: Any


@dataclass
class Receiver:
    """Callbacks POSTed here are kept in arrival order; `statuses` answers the first ones."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        status = self.statuses.pop(0) if self.statuses else 204
        if status < 300:
            self.received.append(Received(time.monotonic(), body))
            self.arrived.set()
        return web.Response(status=status)

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.received) < count:
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{len(self.received)} notifications, wanted {count}")
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                continue
        return self.received


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/callback", recv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    recv.url = f"http://127.0.0.1:{runner.addresses[0][1]}/callback"
    try:
        yield recv
    finally:
        await runner.cleanup()


@pytest.fixture
async def rnis() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on a fresh `python -m mec_devtools.rnis` process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mec_devtools.rnis",
        "--listen=127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_S)
        assert line, "the RNIS emulator exited before listening"
        where = json.loads(line)["listening"]
        async with httpx.AsyncClient(base_url=f"http://{where}", timeout=30.0) as client:
            yield client
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        assert process.returncode == 0
