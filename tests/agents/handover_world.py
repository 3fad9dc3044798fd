"""The two-host world of the handover tests: agents and reference apps on loopback.

Shared by tests/agents/test_handover.py and test_handover_crashes.py: each host is an
`edge-host-agent run` (its gRPC server, Mp1, a journal in its state directory) and a
`mec-reference-app` registered with it, on fixed loopback ports so a restarted process comes
back at the same address.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mec_orchestrator.adapters.agent_link.commands import HandoverSide
from tests.agents.conftest import Processes, Spawned
from tests.mp1.conftest import free_port, wait_until
from tests.sdk.test_reference_handover import _command

STATE_BYTES = 4096
MP1_ROOT = "/mec_app_support/v1"


@dataclass
class Host:
    name: str
    grpc_port: int
    mp1_port: int
    http_port: int
    context_port: int
    state_dir: Path
    logs: Path
    agent_flags: tuple[str, ...] = ()
    agent: Spawned | None = None
    agent_runs: list[Spawned] = field(default_factory=list)
    app: asyncio.subprocess.Process | None = None
    app_runs: int = 0

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def contexts(self) -> str:
        return f"127.0.0.1:{self.context_port}"

    @property
    def instance_id(self) -> str:
        return f"{self.name}-app"

    def side(self) -> HandoverSide:
        return HandoverSide(
            namespace="city",
            edge_app="ar",
            host=self.name,
            deployment=f"ar-{self.name}",
            app_instance_id=self.instance_id,
            user_context_endpoint=self.contexts,
            endpoint=self.http,
        )

    def agent_logs(self) -> str:
        return "".join(run.log_text() for run in self.agent_runs)


def new_host(name: str, tmp_path: Path, agent_flags: tuple[str, ...]) -> Host:
    return Host(
        name,
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        tmp_path / name,
        tmp_path,
        agent_flags,
    )


async def start_agent(processes: Processes, host: Host) -> None:
    """`edge-host-agent run` for host (the same flags and state directory every time)."""
    host.agent = await processes.start(
        "run",
        "--host",
        host.name,
        "--orchestrator",
        f"127.0.0.1:{free_port()}",  # nobody: the test drives the agents itself
        "--listen",
        host.grpc,
        "--advertise",
        host.grpc,
        "--insecure",
        "--mp1-listen",
        f"127.0.0.1:{host.mp1_port}",
        "--state-dir",
        str(host.state_dir),
        "--backoff-initial",
        "0.5",
        "--backoff-max",
        "2",
        *host.agent_flags,
    )
    host.agent_runs.append(host.agent)
    async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
        deadline = time.monotonic() + 30
        while True:
            try:
                await http.get(f"http://127.0.0.1:{host.mp1_port}{MP1_ROOT}/timing/current_time")
            except httpx.HTTPError:
                assert time.monotonic() < deadline, host.agent.log_text()
                await asyncio.sleep(0.05)
            else:
                return


async def start_app(host: Host, state_bytes: int = STATE_BYTES) -> None:
    """`mec-reference-app` for host on its fixed ports; returns once the agent saw it ready."""
    assert host.agent is not None
    ready = f"app instance {host.instance_id} is ready"
    before = host.agent_logs().count(ready)
    host.app_runs += 1
    log = host.logs / f"{host.instance_id}-{host.app_runs}.log"
    with log.open("wb") as stderr:
        host.app = await asyncio.create_subprocess_exec(
            *_command(),
            f"--listen=127.0.0.1:{host.http_port}",
            f"--context-listen=127.0.0.1:{host.context_port}",
            f"--mp1-url=http://127.0.0.1:{host.mp1_port}",
            f"--instance-id={host.instance_id}",
            f"--state-bytes={state_bytes}",
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    assert host.app.stdout is not None
    line = await asyncio.wait_for(host.app.stdout.readline(), 60)
    assert line, f"mec-reference-app exited before listening:\n{log.read_text()}"
    ports = json.loads(line)
    assert ports["http"] == f"127.0.0.1:{host.http_port}", ports
    await wait_until(f"{host.instance_id} ready", lambda: host.agent_logs().count(ready) > before)


async def kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
        await process.wait()
