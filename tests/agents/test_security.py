"""Mutual TLS and identity: a host's certificate speaks for that host only; plaintext is opt-in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from mec.agent.v1 import latency_pb2, latency_pb2_grpc, registry_pb2, registry_pb2_grpc
from pydantic import ValidationError

from mec_common.tls import (
    AgentPki,
    TlsFiles,
    issue_leaf,
    load_cert,
    load_key,
    write_cert,
    write_key,
)
from mec_orchestrator.adapters.agent_link import AgentConnected, AgentServer, AgentServerSettings
from mec_orchestrator.adapters.agent_link.metrics import sample_value
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


def register_request(host: str, access_point: str = "ap-0") -> registry_pb2.RegisterRequest:
    return registry_pb2.RegisterRequest(
        host_name=host,
        access_points=[
            registry_pb2.AccessPoint(access_point_id=access_point, reflector_address="h:9")
        ],
    )


def one_sample(host: str, session: str) -> latency_pb2.ReportLatencyRequest:
    now = time.time_ns()
    request = latency_pb2.ReportLatencyRequest(host_name=host, session_id=session)
    request.batch.sent_unix_nanos = now
    request.batch.samples.add(
        access_point_id="ap-0",
        sequence=1,
        rtt_ms=1.0,
        sent_unix_nanos=now - 1_000_000,
        received_unix_nanos=now,
    )
    return request


async def stream(
    *requests: latency_pb2.ReportLatencyRequest,
) -> AsyncIterator[latency_pb2.ReportLatencyRequest]:
    for request in requests:
        yield request


async def test_a_certificate_for_host_a_cannot_register_heartbeat_or_report_for_host_b(
    orchestrator: AgentServer, pki: AgentPki
) -> None:
    async with secure_channel(orchestrator.port, pki.edge_host("edge-b")) as channel_b:
        b_session = (
            await registry_pb2_grpc.AgentRegistryServiceStub(channel_b).Register(
                register_request("edge-b")
            )
        ).session_id
    async with secure_channel(orchestrator.port, pki.edge_host("edge-a")) as channel:
        registry = registry_pb2_grpc.AgentRegistryServiceStub(channel)
        reports = latency_pb2_grpc.LatencyReportServiceStub(channel)

        code, details = await rpc_code(registry.Register(register_request("edge-b")))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert "'edge-b'" in details
        assert "'edge-a'" in details

        # Someone else's host is refused before its other fields are even read.
        malformed = register_request("edge-b")
        malformed.access_points.add(access_point_id="ap-0", reflector_address="nowhere")
        code, _ = await rpc_code(registry.Register(malformed))
        assert code is grpc.StatusCode.PERMISSION_DENIED

        code, _ = await rpc_code(
            registry.Heartbeat(
                registry_pb2.HeartbeatRequest(host_name="edge-b", session_id=b_session)
            )
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED

        code, _ = await rpc_code(reports.ReportLatency(stream(one_sample("edge-b", b_session))))
        assert code is grpc.StatusCode.PERMISSION_DENIED

        # Its own host is fine.
        own = await registry.Register(register_request("edge-a"))
        response = await reports.ReportLatency(stream(one_sample("edge-a", own.session_id)))
        assert response.accepted_sample_count == 1

    assert orchestrator.sink.matrix.access_points_of("edge-b") == []
    assert orchestrator.sink.matrix.access_points_of("edge-a") == ["ap-0"]
    refused = sample_value(
        orchestrator.metrics,
        "mec_agent_requests_refused_total",
        method="Register",
        code="PERMISSION_DENIED",
    )
    assert refused == 2


async def test_an_agent_process_with_host_a_certificate_is_refused_as_host_b(
    orchestrator: AgentServer, processes: Processes, reflectors: list[str], pki: AgentPki
) -> None:
    agent = await start_agent(
        processes, orchestrator.port, reflectors, host="edge-b", tls=pki.edge_host("edge-a")
    )
    await wait_for(lambda: "PERMISSION_DENIED" in agent.log_text(), within=20, what="refusal")
    assert orchestrator.registry.get("edge-b") is None
    assert len(orchestrator.registry) == 0
    assert agent.process.returncode is None  # it keeps trying (an operator may fix the CA)


async def _register_fails(port: int, files: TlsFiles | None, ca: Path | None = None) -> None:
    async with secure_channel(port, files, ca=ca) as channel:
        stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
        code, _ = await rpc_code(stub.Register(register_request("edge-a"), timeout=5))
    assert code is grpc.StatusCode.UNAVAILABLE


async def test_a_client_without_a_certificate_is_refused(
    orchestrator: AgentServer, pki: AgentPki
) -> None:
    await _register_fails(orchestrator.port, None, ca=pki.ca_cert)
    assert len(orchestrator.registry) == 0


async def test_a_certificate_from_another_ca_is_refused(
    orchestrator: AgentServer, pki: AgentPki, foreign_pki: AgentPki
) -> None:
    foreign = foreign_pki.edge_host("edge-a")
    # It trusts the right server, but its own certificate comes from the wrong CA.
    await _register_fails(orchestrator.port, foreign, ca=pki.ca_cert)
    assert len(orchestrator.registry) == 0


async def test_the_agent_refuses_an_orchestrator_it_does_not_trust(
    orchestrator: AgentServer, foreign_pki: AgentPki
) -> None:
    await _register_fails(orchestrator.port, foreign_pki.edge_host("edge-a"))
    assert len(orchestrator.registry) == 0


async def test_a_certificate_that_names_no_edge_host_is_refused(
    orchestrator: AgentServer, pki: AgentPki, tmp_path: Path
) -> None:
    cert, key = issue_leaf(
        load_cert(pki.ca_cert), load_key(pki.ca_key), "edge-a", dns_names=("edge-a",), client=True
    )
    files = TlsFiles(pki.ca_cert, tmp_path / "anon.crt", tmp_path / "anon.key")
    write_cert(files.cert, cert)
    write_key(files.key, key)
    async with secure_channel(orchestrator.port, files) as channel:
        stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
        code, details = await rpc_code(stub.Register(register_request("edge-a")))
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert "spiffe://mec.dev/edge-host/" in details


async def test_a_plaintext_client_is_refused_by_the_tls_server(orchestrator: AgentServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{orchestrator.port}") as channel:
        stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
        code, _ = await rpc_code(stub.Register(register_request("edge-a"), timeout=5))
    assert code is grpc.StatusCode.UNAVAILABLE
    assert len(orchestrator.registry) == 0


async def test_a_plaintext_agent_never_registers_with_the_tls_server(
    orchestrator: AgentServer, processes: Processes, reflectors: list[str]
) -> None:
    agent = await start_agent(processes, orchestrator.port, reflectors, tls=None)
    await wait_for(lambda: "UNAVAILABLE" in agent.log_text(), within=20, what="a failed attempt")
    await asyncio.sleep(0.5)
    assert len(orchestrator.registry) == 0


async def test_the_agent_wants_tls_files_or_an_explicit_insecure_flag(
    processes: Processes, reflectors: list[str]
) -> None:
    agent = await processes.start(
        "run", "--host", "edge-a", "--access-point", f"ap-0={reflectors[0]}"
    )
    assert await asyncio.wait_for(agent.process.wait(), 20) == 2
    message = agent.log_text()
    assert "mutual TLS needs ca_cert, cert, key" in message
    assert "insecure" in message


async def test_plaintext_works_when_both_sides_say_insecure(
    processes: Processes, reflectors: list[str]
) -> None:
    server = new_server(server_settings(None))
    await server.start()
    try:
        events = server.registry.subscribe()
        await start_agent(processes, server.port, reflectors, tls=None)
        connected = await next_event(events, AgentConnected, within=20)
        assert connected.host == "edge-a"
        await wait_for(lambda: server.sink.matrix.access_points_of("edge-a"), within=10)
    finally:
        await server.stop(0)


def test_the_server_wants_tls_files_or_an_explicit_insecure_setting(pki: AgentPki) -> None:
    with pytest.raises(ValidationError, match="mutual TLS needs ca_cert, cert and key"):
        AgentServerSettings()
    with pytest.raises(ValidationError, match="do not also set"):
        AgentServerSettings(insecure=True, ca_cert=pki.ca_cert)
    assert AgentServerSettings(insecure=True).tls_files() is None
    files = pki.orchestrator
    settings = AgentServerSettings(ca_cert=files.ca_cert, cert=files.cert, key=files.key)
    assert settings.tls_files() == files
