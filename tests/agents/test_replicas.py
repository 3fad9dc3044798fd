"""Agents and operator replicas: only the active replica takes agents, and agents follow it.

Two agent servers stand for two operator replicas; which one is active is the test's to say
(in the operator, kopf peering says it). A real agent process is given both addresses.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable

import grpc
from mec.agent.v1 import registry_pb2, registry_pb2_grpc

from mec_common.tls import AgentPki
from mec_orchestrator.adapters.agent_link import AgentLost, AgentReleased, AgentServer
from tests.agents.conftest import (
    Processes,
    new_server,
    next_event,
    rpc_code,
    secure_channel,
    server_settings,
    start_agent,
    wait_for,
)


class Replicas:
    """Two agent servers and the name of the active one."""

    def __init__(self, pki: AgentPki) -> None:
        self.active = "b"
        self.servers: dict[str, AgentServer] = {}
        for name in ("a", "b"):
            self.servers[name] = new_server(
                server_settings(pki, lost_after_s=5.0), accepting=self._accepting(name)
            )

    def _accepting(self, name: str) -> Callable[[], Awaitable[bool]]:
        async def accepting() -> bool:
            return self.active == name

        return accepting

    def has_agent(self, name: str) -> bool:
        record = self.servers[name].registry.get("edge-a")
        return record is not None and record.connected and record.samples_ingested > 0


async def test_a_standby_refuses_agents_and_an_agent_follows_the_active_replica(
    pki: AgentPki, processes: Processes, reflectors: list[str]
) -> None:
    replicas = Replicas(pki)
    ports = {name: await server.start() for name, server in replicas.servers.items()}
    a, b = replicas.servers["a"], replicas.servers["b"]
    try:
        b_events = b.registry.subscribe()
        agent = await start_agent(
            processes,
            ports["a"],
            reflectors,
            "--orchestrator",
            f"127.0.0.1:{ports['a']},127.0.0.1:{ports['b']}",
            tls=pki.edge_host("edge-a"),
        )
        # It tries a first, is refused (a is a standby), and registers with b.
        await wait_for(lambda: replicas.has_agent("b"), within=20, what="the agent on b")
        assert a.registry.get("edge-a") is None
        assert a.metrics.registry.get_sample_value(
            "mec_agent_requests_refused_total", {"method": "Register", "code": "UNAVAILABLE"}
        )
        assert "standby" in agent.log_text()

        async with secure_channel(ports["a"], pki.edge_host("edge-a")) as channel:
            code, details = await rpc_code(
                registry_pb2_grpc.AgentRegistryServiceStub(channel).Register(
                    registry_pb2.RegisterRequest(host_name="edge-a"), timeout=5
                )
            )
        assert code == grpc.StatusCode.UNAVAILABLE
        assert "standby" in details

        # b turns standby and a active: b releases its agents (the operator does this when it
        # finds itself standby), and the agent registers with a, without ever being lost.
        replicas.active = "a"
        released = b.registry.release_all()
        assert [event.host for event in released] == ["edge-a"]
        await wait_for(lambda: replicas.has_agent("a"), within=20, what="the agent on a")
        assert b.registry.get("edge-a") is None
        assert isinstance(await next_event(b_events, AgentReleased), AgentReleased)
        assert not [e for e in b_events.pending() if isinstance(e, AgentLost)]

        # The active replica dies: the agent goes on to the other one once it is active.
        await a.stop(0)
        replicas.active = "b"
        await wait_for(lambda: replicas.has_agent("b"), within=20, what="the agent back on b")
        agent.process.send_signal(signal.SIGTERM)
    finally:
        for server in replicas.servers.values():
            await server.stop(0)
