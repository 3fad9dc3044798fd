"""Malformed and oversized messages are refused with the right status and the field's name."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from mec.agent.v1 import latency_pb2, latency_pb2_grpc, registry_pb2, registry_pb2_grpc

from mec_common.tls import AgentPki
from mec_orchestrator.adapters.agent_link import AgentServer
from tests.agents.conftest import new_server, rpc_code, secure_channel, server_settings

MIB = 1024 * 1024
Request = latency_pb2.ReportLatencyRequest


def registration(**changes: Any) -> registry_pb2.RegisterRequest:
    request = registry_pb2.RegisterRequest(
        host_name="edge-a",
        node_names=["node-a"],
        agent_version="test",
        access_points=[
            registry_pb2.AccessPoint(access_point_id="ap-0", reflector_address="10.0.0.1:8620"),
            registry_pb2.AccessPoint(access_point_id="ap-1", reflector_address="[fd00::1]:8620"),
        ],
    )
    for name, value in changes.items():
        if name == "location":
            request.location.CopyFrom(value)
        elif name == "capacity":
            request.capacity.CopyFrom(value)
        elif isinstance(value, list):
            field = getattr(request, name)
            del field[:]
            field.extend(value)
        else:
            setattr(request, name, value)
    return request


def batch(session: str, *samples: dict[str, Any], host: str = "edge-a") -> Request:
    now = time.time_ns()
    request = Request(host_name=host, session_id=session)
    request.batch.sent_unix_nanos = now
    for sample in samples:
        values = {
            "access_point_id": "ap-0",
            "sequence": 1,
            "rtt_ms": 1.5,
            "sent_unix_nanos": now - 2_000_000,
            "received_unix_nanos": now - 500_000,
        }
        values.update(sample)
        request.batch.samples.add(**values)
    return request


async def requests(*items: Request) -> AsyncIterator[Request]:
    for item in items:
        yield item


@pytest.fixture
async def orchestrator(pki: AgentPki) -> AsyncIterator[AgentServer]:
    """A server that does not lose these heartbeat-less clients' sessions during a test."""
    server = new_server(server_settings(pki, heartbeat_interval_s=1.0, lost_after_s=60.0))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0)


@pytest.fixture
async def client(orchestrator: AgentServer, pki: AgentPki) -> AsyncIterator[Any]:
    async with secure_channel(orchestrator.port, pki.edge_host("edge-a")) as channel:
        yield channel


async def register(channel: Any, request: registry_pb2.RegisterRequest | None = None) -> str:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
    response = await stub.Register(request or registration())
    return str(response.session_id)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"host_name": ""}, "host_name: must not be empty"),
        ({"host_name": "Edge_A"}, "host_name: 'Edge_A' is not a DNS label"),
        ({"node_names": ["bad node"]}, "node_names[0]"),
        (
            {
                "access_points": [
                    registry_pb2.AccessPoint(access_point_id="ap-0", reflector_address="h:1"),
                    registry_pb2.AccessPoint(access_point_id="ap-0", reflector_address="h:2"),
                ]
            },
            "access_points[1].access_point_id: 'ap-0' is listed twice",
        ),
        (
            {
                "access_points": [
                    registry_pb2.AccessPoint(access_point_id="", reflector_address="h:1")
                ]
            },
            "access_points[0].access_point_id: must not be empty",
        ),
        (
            {
                "access_points": [
                    registry_pb2.AccessPoint(access_point_id="ap-0", reflector_address="nowhere")
                ]
            },
            "access_points[0].reflector_address",
        ),
        ({"location": registry_pb2.GeoLocation(latitude=91.0)}, "location.latitude"),
        ({"location": registry_pb2.GeoLocation(latitude=math.nan)}, "location.latitude"),
        ({"location": registry_pb2.GeoLocation(longitude=-181.0)}, "location.longitude"),
        ({"capacity": registry_pb2.HostCapacity(cpu="lots")}, "capacity.cpu"),
        ({"agent_endpoint": "no port"}, "agent_endpoint"),
    ],
)
async def test_malformed_registrations_are_refused_naming_the_field(
    client: Any, orchestrator: AgentServer, changes: dict[str, Any], field: str
) -> None:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(client)
    code, details = await rpc_code(stub.Register(registration(**changes)))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(field), details
    assert len(orchestrator.registry) == 0


async def test_access_points_the_orchestrator_does_not_know_are_refused(
    pki: AgentPki,
) -> None:
    server = new_server(server_settings(pki), access_point_known=lambda ap: ap != "ap-1")
    await server.start()
    try:
        async with secure_channel(server.port, pki.edge_host("edge-a")) as channel:
            stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
            code, details = await rpc_code(stub.Register(registration()))
    finally:
        await server.stop(0)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details == "access_points[1].access_point_id: unknown access point 'ap-1'"


NOW = time.time_ns()


@pytest.mark.parametrize(
    ("sample", "field"),
    [
        ({"rtt_ms": math.nan}, "batch.samples[1].rtt_ms"),
        ({"rtt_ms": -0.5}, "batch.samples[1].rtt_ms"),
        ({"rtt_ms": math.inf}, "batch.samples[1].rtt_ms"),
        ({"rtt_ms": 60001.0}, "batch.samples[1].rtt_ms"),
        ({"access_point_id": "ap-9"}, "batch.samples[1].access_point_id: access point 'ap-9' was"),
        ({"access_point_id": ""}, "batch.samples[1].access_point_id: must not be empty"),
        ({"sent_unix_nanos": 0}, "batch.samples[1].sent_unix_nanos"),
        (
            {"sent_unix_nanos": NOW, "received_unix_nanos": NOW - 1},
            "batch.samples[1].received_unix_nanos",
        ),
    ],
)
async def test_a_batch_with_a_malformed_sample_is_refused_whole(
    client: Any, orchestrator: AgentServer, sample: dict[str, Any], field: str
) -> None:
    session = await register(client)
    reports = latency_pb2_grpc.LatencyReportServiceStub(client)
    bad = batch(session, {"access_point_id": "ap-1"}, sample)  # a good sample, then the bad one
    code, details = await rpc_code(reports.ReportLatency(requests(batch(session, {}), bad)))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(field), details
    matrix = orchestrator.sink.matrix
    assert matrix.access_points_of("edge-a") == ["ap-0"]  # the first batch only
    record = orchestrator.registry.get("edge-a")
    assert record is not None
    assert record.samples_ingested == 1


def _gap(**item: Any) -> latency_pb2.GapSummary:
    started, ended = Timestamp(), Timestamp()
    started.FromSeconds(1_700_000_000)
    ended.FromSeconds(1_700_000_010)
    values: dict[str, Any] = {
        "access_point_id": "ap-0",
        "sample_count": 200,
        "min_rtt_ms": 1.0,
        "p50_rtt_ms": 2.0,
        "p95_rtt_ms": 3.0,
        "max_rtt_ms": 4.0,
    }
    values.update(item)
    return latency_pb2.GapSummary(
        started_at=started,
        ended_at=ended,
        access_points=[latency_pb2.AccessPointGapSummary(**values)],
    )


ReportFactory = Callable[[str], Request]


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        (
            lambda s: Request(host_name="edge-a", session_id=s),
            grpc.StatusCode.INVALID_ARGUMENT,
            "report: must be a batch or a gap_summary",
        ),
        (
            lambda s: Request(host_name="", session_id=s, batch=batch(s, {}).batch),
            grpc.StatusCode.INVALID_ARGUMENT,
            "host_name: must not be empty",
        ),
        (
            lambda s: batch("not-a-session", {}),
            grpc.StatusCode.FAILED_PRECONDITION,
            "session_id: not the live session of host 'edge-a'",
        ),
        (
            lambda s: Request(
                host_name="edge-a", session_id=s, batch=latency_pb2.LatencySampleBatch()
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "batch.sent_unix_nanos: must be set",
        ),
        (
            lambda s: Request(host_name="edge-a", session_id=s, gap_summary=_gap(p50_rtt_ms=3.5)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "gap_summary.access_points[0]: need min_rtt_ms <= p50_rtt_ms",
        ),
        (
            lambda s: Request(
                host_name="edge-a", session_id=s, gap_summary=_gap(access_point_id="ap-7")
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "gap_summary.access_points[0].access_point_id",
        ),
        (
            lambda s: Request(
                host_name="edge-a", session_id=s, gap_summary=_gap(max_rtt_ms=math.nan)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "gap_summary.access_points[0].max_rtt_ms",
        ),
        (
            lambda s: Request(
                host_name="edge-a",
                session_id=s,
                gap_summary=latency_pb2.GapSummary(started_at=_gap().ended_at),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "gap_summary.ended_at: must be set",
        ),
    ],
)
async def test_malformed_reports_are_refused(
    client: Any, make: ReportFactory, code: grpc.StatusCode, message: str
) -> None:
    session = await register(client)
    reports = latency_pb2_grpc.LatencyReportServiceStub(client)
    got, details = await rpc_code(reports.ReportLatency(requests(make(session))))
    assert got is code
    assert details.startswith(message), details


async def test_a_report_stream_speaks_for_one_host(
    orchestrator: AgentServer, pki: AgentPki, client: Any
) -> None:
    session = await register(client)
    reports = latency_pb2_grpc.LatencyReportServiceStub(client)
    code, details = await rpc_code(
        reports.ReportLatency(requests(batch(session, {}), batch(session, {}, host="edge-b")))
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("host_name: a report stream speaks for one host")


async def test_heartbeats_of_unknown_sessions_ask_to_register_again(client: Any) -> None:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(client)
    session = await register(client)
    ok = await stub.Heartbeat(registry_pb2.HeartbeatRequest(host_name="edge-a", session_id=session))
    assert ok.reregister is False
    stale = await stub.Heartbeat(registry_pb2.HeartbeatRequest(host_name="edge-a", session_id="x"))
    assert stale.reregister is True
    code, details = await rpc_code(
        stub.Heartbeat(registry_pb2.HeartbeatRequest(host_name="edge-a", session_id=""))
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details == "session_id: must not be empty"


async def test_messages_over_one_mebibyte_are_refused_and_those_under_it_accepted(
    client: Any, orchestrator: AgentServer
) -> None:
    registry = registry_pb2_grpc.AgentRegistryServiceStub(client)
    response = await registry.Register(registration())
    assert response.max_report_message_bytes == MIB
    session = response.session_id

    code, _ = await rpc_code(registry.Register(registration(agent_version="x" * (MIB + 1))))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED

    reports = latency_pb2_grpc.LatencyReportServiceStub(client)
    big = batch(session, *({"sequence": i} for i in range(30_000)))
    assert big.ByteSize() > MIB
    code, details = await rpc_code(reports.ReportLatency(requests(big)))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED, details

    fits = batch(session, *({"sequence": i} for i in range(20_000)))
    assert 0.6 * MIB < fits.ByteSize() < MIB
    accepted = await reports.ReportLatency(requests(fits))
    assert accepted.accepted_sample_count == 20_000
    record = orchestrator.registry.get("edge-a")
    assert record is not None
    assert record.samples_ingested == 20_000
