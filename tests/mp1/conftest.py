"""Fixtures of the Mp1 tests: an Mp1 service in the test's loop, agent processes, answer checks.

Every answer the SDK client receives passes through `Recorder` (an httpx transport) and is
checked against the ETSI file (tests/etsi/specs/MecAppSupportApi.yaml) by `check_answer`, which
knows the file's gaps: it documents no success status for confirm_ready and
confirm_termination (GS MEC 011 v3.1.1 clauses 7.6.3.4 and 7.7.3.4: 204 No Content), no 400
or 409 for them, and writes `CurrentTime.timeSourceStatus` as `enum: [source]` (the GS:
TRACEABLE, NONTRACEABLE).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest

from edge_host_agent.mp1 import Mp1Service
from mec_app_sdk.mp1 import Mp1Client, Mp1Settings
from tests.agents.conftest import Processes, Spawned, processes
from tests.callbacks.conftest import receivers
from tests.etsi.conformance import EtsiSpec, _resolve

__all__ = ["processes", "receivers"]

SPEC = EtsiSpec("MecAppSupportApi.yaml")
PROBLEM_JSON = "application/problem+json"
CONFIRMATIONS = ("/confirm_ready", "/confirm_termination")
START_WITHIN_S = 60.0  # an agent process on a loaded 2-core machine


def schema(name: str) -> dict[str, Any]:
    """A component schema of the file, every $ref resolved."""
    resolved: dict[str, Any] = _resolve(SPEC.spec, SPEC.spec["components"]["schemas"][name])
    return resolved


_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port free now and never handed out before in this test process.

    The kernel may give the same ephemeral port to two probes made one after the other (each
    closed before the next), so two hosts of one test once got the same port; remembering what
    was handed out rules that out.
    """
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def body_of(response: httpx.Response) -> Any:
    return response.json() if response.content else None


def check_answer(response: httpx.Response) -> None:
    """Fail unless the answer is what the ETSI file (or, where it is silent, the GS) says."""
    method, path, status = response.request.method, response.request.url.path, response.status_code
    body = body_of(response)
    if status >= 400:
        assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
        assert body["status"] == status, body
        assert body["detail"], body
    if path.endswith(CONFIRMATIONS):
        if status == 204:
            assert body is None, body
        else:
            jsonschema.Draft202012Validator(schema("ProblemDetails")).validate(body)
        return
    if path.endswith("/timing/current_time") and status == 200:
        expected = SPEC.response_schema(method, path, status)
        assert expected is not None
        expected["properties"]["timeSourceStatus"]["enum"] = ["TRACEABLE", "NONTRACEABLE"]
        jsonschema.Draft202012Validator(expected).validate(body)
        return
    if status == 409:  # no Mp1 operation documents a conflict
        jsonschema.Draft202012Validator(schema("ProblemDetails")).validate(body)
        return
    SPEC.check(method, path, status, body)


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests on and keeps every answer (read) for checking."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.answers: list[httpx.Response] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        await response.aread()
        response.request = request
        self.answers.append(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    def check_all(self) -> int:
        """Check every answer recorded so far against the file; how many were checked."""
        for response in self.answers:
            check_answer(response)
        return len(self.answers)


def client(mp1_url: str, recorder: Recorder, app_instance_id: str | None = None) -> Mp1Client:
    settings = Mp1Settings(mp1_url=mp1_url, app_instance_id=app_instance_id, mp1_timeout_s=30)
    return Mp1Client(settings, transport=recorder)


async def wait_until(what: str, done: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def service() -> AsyncIterator[Mp1Service]:
    """Mp1 served from the test's event loop on 127.0.0.1 (any port)."""
    served = Mp1Service("127.0.0.1:0")
    await served.start()
    try:
        yield served
    finally:
        await served.stop()


async def start_agent_with_mp1(processes: Processes) -> tuple[Spawned, str]:
    """An agent process serving Mp1; (the process, its Mp1 URL) once Mp1 answers.

    No orchestrator listens at the address it is given: the agent keeps retrying in the
    background, and Mp1 does not depend on it.
    """
    port = free_port()
    agent = await processes.start(
        "run",
        "--host",
        "edge-a",
        "--orchestrator",
        f"127.0.0.1:{free_port()}",
        "--listen",
        "127.0.0.1:0",
        "--insecure",
        "--backoff-initial",
        "0.5",
        "--backoff-max",
        "2",
        "--mp1-listen",
        f"127.0.0.1:{port}",
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_WITHIN_S
    async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
        while True:
            if agent.process.returncode is not None:
                raise AssertionError(f"the agent stopped: {agent.log_text()}")
            try:
                await http.get(f"{url}/mec_app_support/v1/timing/current_time")
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"Mp1 not served within {START_WITHIN_S} s") from None
                await asyncio.sleep(0.1)
            else:
                return agent, url
