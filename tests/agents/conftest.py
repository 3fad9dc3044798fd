"""Fixtures for the agent tests: certificates, real agent and reflector processes, a live server.

Agents and reflectors run as real processes (`python -m edge_host_agent ...`) on 127.0.0.1; the
orchestrator's agent server runs in the test's event loop, so a test can look straight into its
registry and latency matrix. Timeouts are short (heartbeat 0.2 s, lost after 1 s) so liveness
tests take seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from prometheus_client import CollectorRegistry

from mec_common.tls import AgentPki, TlsFiles, write_agent_pki
from mec_orchestrator.adapters.agent_link import AgentMetrics, AgentServer, AgentServerSettings

T = TypeVar("T")

HOSTS = ("edge-a", "edge-b")
HEARTBEAT_S = 0.2
LOST_AFTER_S = 1.0


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> AgentPki:
    return write_agent_pki(tmp_path_factory.mktemp("pki"), HOSTS)


@pytest.fixture(scope="session")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> AgentPki:
    """Certificates with the same names from another CA."""
    return write_agent_pki(tmp_path_factory.mktemp("foreign-pki"), HOSTS)


async def wait_for(check: Callable[[], T], within: float = 10.0, what: str = "condition") -> T:
    """Poll check() until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    value = check()
    while not value:
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met within {within} s (last: {value!r})")
        await asyncio.sleep(0.05)
        value = check()
    return value


async def next_event(events: Any, kind: type[T], within: float = 10.0) -> T:
    """The next event of the given type from a registry subscription (others are skipped)."""
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"no {kind.__name__} within {within} s")
        try:
            event = await asyncio.wait_for(events.get(), remaining)
        except TimeoutError:
            pytest.fail(f"no {kind.__name__} within {within} s")
        if isinstance(event, kind):
            return event


def server_settings(pki: AgentPki | None, listen: str = "127.0.0.1:0", **extra: Any) -> Any:
    tls = (
        {"insecure": True}
        if pki is None
        else {
            "ca_cert": pki.orchestrator.ca_cert,
            "cert": pki.orchestrator.cert,
            "key": pki.orchestrator.key,
        }
    )
    timing = {"heartbeat_interval_s": HEARTBEAT_S, "lost_after_s": LOST_AFTER_S, **extra}
    return AgentServerSettings(listen=listen, shutdown_grace_s=0, **tls, **timing)


def new_server(settings: AgentServerSettings, **kwargs: Any) -> AgentServer:
    return AgentServer(settings, metrics=AgentMetrics(CollectorRegistry()), **kwargs)


@pytest.fixture
async def orchestrator(pki: AgentPki) -> AsyncIterator[AgentServer]:
    server = new_server(server_settings(pki))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0)


@dataclass
class Spawned:
    """A process this test started, with its stderr in a file."""

    process: asyncio.subprocess.Process
    log: Path
    args: tuple[str, ...]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Processes:
    """Starts `python -m edge_host_agent ...` processes and ends each of them at teardown."""

    directory: Path
    started: list[Spawned] = field(default_factory=list)

    async def start(self, *args: str, stdout: int | None = None) -> Spawned:
        log = self.directory / f"proc-{len(self.started)}-{args[0]}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRPC_VERBOSITY": "ERROR"}
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "edge_host_agent",
                *args,
                stdout=stdout,
                stderr=stderr,
                env=env,
            )
        spawned = Spawned(process, log, args)
        self.started.append(spawned)
        return spawned

    async def close(self) -> None:
        for spawned in self.started:
            if spawned.process.returncode is None:
                spawned.process.send_signal(signal.SIGKILL)
                await spawned.process.wait()


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        await started.close()


async def start_reflector(processes: Processes, count: int = 1) -> list[str]:
    """A reflector process answering on count ephemeral ports; their host:port addresses."""
    spawned = await processes.start(
        "reflector",
        *[arg for _ in range(count) for arg in ("--listen", "127.0.0.1:0")],
        stdout=asyncio.subprocess.PIPE,
    )
    assert spawned.process.stdout is not None
    line = await asyncio.wait_for(spawned.process.stdout.readline(), 20)
    addresses: list[str] = json.loads(line)["listening"]
    assert len(addresses) == count
    return addresses


@pytest.fixture
async def reflectors(processes: Processes) -> list[str]:
    return await start_reflector(processes, 3)


def tls_args(files: TlsFiles) -> list[str]:
    return ["--ca-cert", str(files.ca_cert), "--cert", str(files.cert), "--key", str(files.key)]


async def start_agent(
    processes: Processes,
    port: int,
    reflectors: list[str],
    *extra: str,
    host: str = "edge-a",
    tls: TlsFiles | None = None,
    rate_hz: float = 20.0,
) -> Spawned:
    """An agent process for host, reporting to 127.0.0.1:port and probing the reflectors."""
    security = ["--insecure"] if tls is None else tls_args(tls)
    access_points = [
        arg
        for i, address in enumerate(reflectors)
        for arg in ("--access-point", f"ap-{i}={address}")
    ]
    return await processes.start(
        "run",
        "--host",
        host,
        "--orchestrator",
        f"127.0.0.1:{port}",
        "--listen",
        "127.0.0.1:0",
        "--probe-rate",
        str(rate_hz),
        "--backoff-initial",
        "0.1",
        "--backoff-max",
        "0.8",
        *security,
        *access_points,
        *extra,
    )


RETRY = re.compile(r"retrying in ([0-9.]+) s \(attempt (\d+)\)")


def retries(log_text: str) -> list[tuple[float, int]]:
    """(delay, attempt) of every reconnect an agent logged."""
    return [(float(m[1]), int(m[2])) for m in RETRY.finditer(log_text)]


def secure_channel(port: int, files: TlsFiles | None, ca: Path | None = None) -> Any:
    """A client channel to 127.0.0.1:port with files' identity (None: no client certificate)."""
    root = ca or (files.ca_cert if files else None)
    assert root is not None
    if files is None:
        credentials = grpc.ssl_channel_credentials(root.read_bytes())
    else:
        credentials = grpc.ssl_channel_credentials(
            root.read_bytes(), files.key.read_bytes(), files.cert.read_bytes()
        )
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials)


async def rpc_code(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    """The status code and details an RPC fails with (fails the test if it succeeds)."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    pytest.fail("the call succeeded")
