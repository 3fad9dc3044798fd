"""Health checking and reflection on both gRPC servers; the agent's not-yet-built services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from mec.agent.v1 import (
    context_transfer_pb2,
    context_transfer_pb2_grpc,
    handover_pb2,
    handover_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)

from mec_common.tls import AgentPki
from mec_orchestrator.adapters.agent_link import AgentConnected, AgentServer
from tests.agents.conftest import (
    Processes,
    next_event,
    rpc_code,
    secure_channel,
    start_agent,
)

SERVING = health_pb2.HealthCheckResponse.SERVING


async def health_of(channel: Any, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(response.status)


async def listed_services(channel: Any) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for response in stub.ServerReflectionInfo(ask(), timeout=5):
        return {s.name for s in response.list_services_response.service}
    return set()


async def described_file(channel: Any, symbol: str) -> bytes:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)

    async for response in stub.ServerReflectionInfo(ask(), timeout=5):
        return bytes(response.file_descriptor_response.file_descriptor_proto[0])
    return b""


async def test_the_orchestrator_server_answers_health_checks_and_reflection(
    orchestrator: AgentServer, pki: AgentPki
) -> None:
    async with secure_channel(orchestrator.port, pki.edge_host("edge-a")) as channel:
        for service in (
            "",
            "mec.agent.v1.AgentRegistryService",
            "mec.agent.v1.LatencyReportService",
        ):
            assert await health_of(channel, service) == SERVING
        code, _ = await rpc_code(
            health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="mec.agent.v1.NoSuchService")
            )
        )
        assert code is grpc.StatusCode.NOT_FOUND
        assert await listed_services(channel) == {
            "mec.agent.v1.AgentRegistryService",
            "mec.agent.v1.LatencyReportService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        }
        descriptor = await described_file(channel, "mec.agent.v1.LatencyReportService")
        assert b"mec/agent/v1/latency.proto" in descriptor
        assert b"ReportLatencyRequest" in descriptor


async def test_the_orchestrator_reports_not_serving_while_it_shuts_down(
    orchestrator: AgentServer, pki: AgentPki
) -> None:
    async with secure_channel(orchestrator.port, pki.edge_host("edge-a")) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
        first = await watch.read()
        assert first.status == SERVING
        stopping = asyncio.create_task(orchestrator.stop(grace=1.0))
        second = await watch.read()
        await stopping
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_the_agent_server_answers_health_reflection_and_refuses_unknown_handovers(
    orchestrator: AgentServer, processes: Processes, reflectors: list[str], pki: AgentPki
) -> None:
    events = orchestrator.registry.subscribe()
    await start_agent(processes, orchestrator.port, reflectors, tls=pki.edge_host("edge-a"))
    await next_event(events, AgentConnected, within=20)
    record = orchestrator.registry.get("edge-a")
    assert record is not None
    assert record.registration.agent_endpoint is not None
    port = int(record.registration.agent_endpoint.rsplit(":", 1)[1])

    # The orchestrator calls agents with its own certificate.
    async with secure_channel(port, pki.orchestrator) as channel:
        for service in (
            "",
            "mec.agent.v1.SessionService",
            "mec.agent.v1.HandoverService",
            "mec.agent.v1.ContextTransferService",
        ):
            assert await health_of(channel, service) == SERVING
        assert await listed_services(channel) == {
            "mec.agent.v1.SessionService",
            "mec.agent.v1.HandoverService",
            "mec.agent.v1.ContextTransferService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        }
        handover = handover_pb2_grpc.HandoverServiceStub(channel)
        code, details = await rpc_code(
            handover.PrepareHandover(handover_pb2.PrepareHandoverRequest(handover_id="h-1"))
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT  # a malformed command names its field
        assert "user_id" in details
        aborted = await handover.AbortHandover(
            handover_pb2.AbortHandoverRequest(handover_id="h-1"), timeout=5
        )
        assert aborted.state == handover_pb2.HANDOVER_STATE_ABORTED  # nothing to undo: done
        code, _ = await rpc_code(
            handover.GetHandover(handover_pb2.GetHandoverRequest(handover_id="h-1"))
        )
        assert code is grpc.StatusCode.NOT_FOUND

        transfers = context_transfer_pb2_grpc.ContextTransferServiceStub(channel)

        async def parts() -> AsyncIterator[context_transfer_pb2.SendContextRequest]:
            yield context_transfer_pb2.SendContextRequest(
                header=context_transfer_pb2.ContextTransferHeader(handover_id="h-1")
            )

        code, details = await rpc_code(transfers.SendContext(parts()))
        assert code is grpc.StatusCode.NOT_FOUND  # no such handover prepared here
        assert "h-1" in details

        # An agent that serves no Mp1 knows no instance: it admits nobody, and says why.
        sessions = session_pb2_grpc.SessionServiceStub(channel)
        code, details = await rpc_code(
            sessions.AdmitUser(
                session_pb2.AdmitUserRequest(app_instance_id="city.ar-edge-a", user_id="u1")
            )
        )
        assert code is grpc.StatusCode.FAILED_PRECONDITION
        assert "Mp1" in details
        code, details = await rpc_code(
            sessions.AdmitUser(session_pb2.AdmitUserRequest(app_instance_id="", user_id="u1"))
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT
        assert "app_instance_id" in details

    # Without a client certificate the agent does not talk.
    async with secure_channel(port, None, ca=pki.ca_cert) as anonymous:
        code, _ = await rpc_code(
            health_pb2_grpc.HealthStub(anonymous).Check(health_pb2.HealthCheckRequest(), timeout=5)
        )
        assert code is grpc.StatusCode.UNAVAILABLE
