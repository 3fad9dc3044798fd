"""Real processes for the device tests: reference-app instances, the device, a fake MEC 016 side.

The fake orchestrator is an aiohttp server in the test process: it answers app-context POSTs
with the instance a test chooses, keeps the DELETEs, and POSTs notifications to the device's
callback — real HTTP both ways, checked against the vendored UEAppInterfaceApi.yaml.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from aiohttp import web

from tests.etsi.conformance import EtsiSpec, _resolve
from tests.helpers import eventually

START_S = 60.0
DEV_APP = EtsiSpec("UEAppInterfaceApi.yaml")
CONTEXT_ID = "ctx-0001"


def dev_app_schema(name: str) -> dict[str, Any]:
    resolved: dict[str, Any] = _resolve(DEV_APP.spec, DEV_APP.spec["components"]["schemas"][name])
    return resolved


@dataclass
class FakeOrchestrator:
    """The MEC 016 side a device talks to, played by the test."""

    instance: str = ""
    url: str = ""
    created: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    """Statuses answered to the first POSTs (then 201)."""

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.failures:
            status = self.failures.pop(0)
            problem = {"status": status, "detail": "the test says no"}
            return web.json_response(
                problem, status=status, content_type="application/problem+json"
            )
        jsonschema.Draft202012Validator(DEV_APP.request_schema("post", "/app_contexts")).validate(
            body
        )
        self.created.append(body)
        context = {
            **body,
            "contextId": CONTEXT_ID,
            "appInfo": {
                **body["appInfo"],
                "userAppInstanceInfo": [{"appInstanceId": "inst-a", "referenceURI": self.instance}],
            },
        }
        DEV_APP.check("post", "/dev_app/v1/app_contexts", 201, context)
        location = f"{self.url}/dev_app/v1/app_contexts/{CONTEXT_ID}"
        return web.json_response(context, status=201, headers={"Location": location})

    async def delete(self, request: web.Request) -> web.Response:
        self.deleted.append(request.match_info["id"])
        return web.Response(status=204)

    async def notify(self, body: dict[str, Any]) -> int:
        """POST a notification to the device's callback; the status it answered."""
        jsonschema.Draft202012Validator(dev_app_schema(body["notificationType"])).validate(body)
        callback = self.created[-1]["callbackReference"]
        async with httpx.AsyncClient(timeout=10) as client:
            return (await client.post(callback, json=body)).status_code


@pytest.fixture
async def orchestrator() -> AsyncIterator[FakeOrchestrator]:
    fake = FakeOrchestrator()
    app = web.Application()
    app.router.add_post("/dev_app/v1/app_contexts", fake.create)
    app.router.add_delete("/dev_app/v1/app_contexts/{id}", fake.delete)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def _reference_command() -> list[str]:
    script = Path(sys.executable).parent / "mec-reference-app"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mec_app_sdk.reference.cli"]


@contextlib.asynccontextmanager
async def reference_app() -> AsyncIterator[str]:
    """A `mec-reference-app` without an agent; yields its devices' base URI."""
    process = await asyncio.create_subprocess_exec(
        *_reference_command(),
        "--listen=127.0.0.1:0",
        "--context-listen=127.0.0.1:0",
        "--state-bytes=1024",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_S)
        assert line, "mec-reference-app exited before listening"
        url = f"http://{json.loads(line)['http']}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await eventually(ready, within=START_S)
        yield url
    finally:
        await _stop(process)


@dataclass
class RunningDevice:
    process: asyncio.subprocess.Process
    records: Path
    started: dict[str, Any]

    async def stop(self) -> int:
        await _stop(self.process)
        assert self.process.returncode is not None
        return self.process.returncode


def device_command(orchestrator: str, records: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mec_devtools.ue",
        f"--orchestrator={orchestrator}",
        "--app-name=reference",
        "--app-provider=mec-dev",
        "--app-d-id=appd-reference",
        "--app-soft-version=1.0.0",
        "--device-id=ue-0001",
        "--rate=50",
        f"--records={records}",
        "--callback-listen=127.0.0.1:0",
        "--state-bytes=64",
        "--create-timeout=20",
        *extra,
    ]


@contextlib.asynccontextmanager
async def device(orchestrator: str, records: Path, *extra: str) -> AsyncIterator[RunningDevice]:
    process = await asyncio.create_subprocess_exec(
        *device_command(orchestrator, records, *extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_S)
        if not line:
            assert process.stderr is not None
            pytest.fail(f"the device exited: {(await process.stderr.read()).decode()}")
        yield RunningDevice(process, records, json.loads(line))
    finally:
        await _stop(process)
