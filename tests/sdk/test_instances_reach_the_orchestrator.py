"""Who-is-where lives on the agents: an app registers over Mp1, its agent tells the orchestrator.

Real processes: an agent (`--mp1-listen`, mTLS) and `mec-reference-app --mp1-url ...
--instance-id anchors-a`; the orchestrator's AgentServer runs in the test's loop. The server
learns the instance with its user-context endpoint and readiness; a NEW server on the same port
(an orchestrator restarted) learns it again from the agent alone, and then that the app left.
Waits are bounded and generous (a loaded 2-core machine); nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from mec_common.tls import AgentPki
from mec_orchestrator.adapters.agent_link import (
    AgentServer,
    AgentServerSettings,
    InstancesReported,
    ReportedInstance,
)
from tests.agents.conftest import (
    Processes,
    new_server,
    next_event,
    pki,
    processes,
    server_settings,
    start_agent,
    wait_for,
)
from tests.mp1.conftest import free_port
from tests.sdk.test_reference_handover import _command

__all__ = ["pki", "processes"]  # the agent tests' fixtures, used here

WITHIN_S = 60.0
pytestmark = pytest.mark.timeout(300)


def _settings(pki: AgentPki, listen: str) -> AgentServerSettings:
    # Heartbeats often enough to notice a stopped server soon; a loss only after a long silence,
    # so a busy machine does not end sessions the test did not mean to end.
    settings: AgentServerSettings = server_settings(
        pki, listen, heartbeat_interval_s=0.5, lost_after_s=15.0
    )
    return settings


def _instances(server: AgentServer) -> dict[str, ReportedInstance] | None:
    held = server.registry.instances("edge-a")
    return None if held is None else {i.app_instance_id: i for i in held}


async def test_the_agent_reports_its_apps_and_a_new_orchestrator_learns_them_from_it(
    processes: Processes, pki: AgentPki
) -> None:
    first = new_server(_settings(pki, "127.0.0.1:0"))
    port = await first.start()
    second: AgentServer | None = None
    app: asyncio.subprocess.Process | None = None
    try:
        mp1_port = free_port()
        agent = await start_agent(
            processes,
            port,
            [],
            "--mp1-listen",
            f"127.0.0.1:{mp1_port}",
            tls=pki.edge_host("edge-a"),
        )
        # Registered, and reported its (still empty) set of instances.
        await wait_for(lambda: _instances(first) == {}, WITHIN_S, "an empty report")

        app = await asyncio.create_subprocess_exec(
            *_command(),
            "--listen=127.0.0.1:0",
            "--context-listen=127.0.0.1:0",
            f"--mp1-url=http://127.0.0.1:{mp1_port}",
            "--instance-id=anchors-a",
            stdout=asyncio.subprocess.PIPE,
        )
        assert app.stdout is not None
        line = await asyncio.wait_for(app.stdout.readline(), WITHIN_S)
        assert line, "mec-reference-app exited before listening"
        ports = json.loads(line)
        expected = ReportedInstance(
            app_instance_id="anchors-a",
            app_name="mec-reference-app",
            endpoint=f"http://{ports['http']}",
            user_context_endpoint=ports["context"],
            ready=True,
        )
        await wait_for(
            lambda: (_instances(first) or {}).get("anchors-a") == expected,
            WITHIN_S,
            "anchors-a reported ready with its context endpoint",
        )

        # The orchestrator restarts: a new server, nothing in memory, on the same port.
        await first.stop(0)
        second = new_server(_settings(pki, f"127.0.0.1:{port}"))
        events = second.registry.subscribe()
        assert second.registry.instances("edge-a") is None
        assert await second.start() == port
        reported = await next_event(events, InstancesReported, within=WITHIN_S)
        assert reported.host == "edge-a"
        assert reported.instances == (expected,), "rebuilt from the agent, the app did nothing"
        assert _instances(second) == {"anchors-a": expected}

        # The app leaves (it deregisters over Mp1): the next report no longer has it.
        app.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(app.wait(), WITHIN_S) == 0
        await wait_for(lambda: _instances(second) == {}, WITHIN_S, "anchors-a gone")
        assert agent.process.returncode is None, agent.log_text()
    finally:
        if app is not None and app.returncode is None:
            app.kill()
            await app.wait()
        await first.stop(0)
        if second is not None:
            await second.stop(0)
