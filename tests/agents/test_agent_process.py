"""A real agent process against the in-loop server: registration, heartbeats, samples, status."""

from __future__ import annotations

import asyncio
import time

from mec_common.tls import AgentPki
from mec_orchestrator.adapters.agent_link import AgentConnected, AgentServer, AgentState
from mec_orchestrator.adapters.agent_link.metrics import sample_value
from mec_orchestrator.model.edgehost import EdgeHostStatus
from tests.agents.conftest import HEARTBEAT_S, Processes, next_event, start_agent, wait_for


async def test_agent_registers_heartbeats_and_its_samples_reach_the_latency_matrix(
    orchestrator: AgentServer, processes: Processes, reflectors: list[str], pki: AgentPki
) -> None:
    events = orchestrator.registry.subscribe()
    await start_agent(
        processes,
        orchestrator.port,
        reflectors,
        "--node",
        "node-a1",
        "--node",
        "node-a2",
        "--latitude",
        "-37.81",
        "--longitude",
        "144.96",
        "--capacity-instances",
        "12",
        tls=pki.edge_host("edge-a"),
    )
    connected = await next_event(events, AgentConnected, within=20)
    assert connected.host == "edge-a"
    assert connected.replaced_session_id is None

    record = orchestrator.registry.get("edge-a")
    assert record is not None
    assert record.state is AgentState.CONNECTED
    assert record.session_id == connected.session_id
    registration = record.registration
    assert registration.node_names == ("node-a1", "node-a2")
    assert registration.location == (-37.81, 144.96)
    assert registration.capacity.instances == 12
    assert registration.capacity.users is None
    assert dict(registration.reflectors) == {f"ap-{i}": r for i, r in enumerate(reflectors)}
    assert registration.agent_endpoint is not None
    assert registration.agent_endpoint.startswith("127.0.0.1:")

    # Heartbeats keep arriving.
    first_heartbeat = record.last_heartbeat_s
    await asyncio.sleep(5 * HEARTBEAT_S)
    later = orchestrator.registry.get("edge-a")
    assert later is not None
    assert later.last_heartbeat_s > first_heartbeat
    assert sample_value(orchestrator.metrics, "mec_agent_heartbeats_total") >= 2

    # Samples stream in: 3 access points at 20 Hz.
    started, before = time.monotonic(), later.samples_ingested
    await asyncio.sleep(2.0)
    now_record = orchestrator.registry.get("edge-a")
    assert now_record is not None
    rate = (now_record.samples_ingested - before) / (time.monotonic() - started)
    assert 40 <= rate <= 70, f"{rate:.1f} samples/s, expected about 60"
    assert (
        sample_value(orchestrator.metrics, "mec_agent_latency_samples_ingested_total")
        == now_record.samples_ingested
    )

    matrix = orchestrator.sink.matrix
    assert matrix.access_points_of("edge-a") == ["ap-0", "ap-1", "ap-2"]
    for access_point in ("ap-0", "ap-1", "ap-2"):
        estimate = matrix.estimate(access_point, "edge-a", time.monotonic())
        assert estimate is not None
        assert estimate.total_samples >= 20
        # Loopback through two Python event loops: well above zero, well below 50 ms.
        assert 0.005 < estimate.p50_ms < 50.0
        assert estimate.p50_ms <= estimate.p95_ms < 200.0
        assert 0 <= estimate.age_s < 1.0, "samples are timed on the orchestrator's clock"
        assert not estimate.stale

    status = orchestrator.edge_host_status("edge-a")
    model = EdgeHostStatus.model_validate(status)  # the CRD's keys and bounds
    assert model.agent_connected is True
    assert model.agent_version == "0.1.0"
    assert [r.access_point_id for r in model.access_point_rtt or []] == ["ap-0", "ap-1", "ap-2"]
    assert all(0 < r.p50_ms <= r.p95_ms for r in model.access_point_rtt or [])
    assert status["conditions"][0]["type"] == "AgentConnected"
    assert status["conditions"][0]["status"] == "True"


async def test_samples_come_only_from_the_access_points_that_answer(
    orchestrator: AgentServer, processes: Processes, reflectors: list[str], pki: AgentPki
) -> None:
    silent = "127.0.0.1:9"  # the discard port: nothing answers there
    await start_agent(
        processes, orchestrator.port, [reflectors[0], silent], tls=pki.edge_host("edge-a")
    )
    await wait_for(
        lambda: (r := orchestrator.registry.get("edge-a")) is not None and r.samples_ingested >= 20,
        within=20,
        what="samples from ap-0",
    )
    assert orchestrator.sink.matrix.access_points_of("edge-a") == ["ap-0"]


async def test_two_hosts_report_into_one_matrix_each_under_its_own_name(
    orchestrator: AgentServer, processes: Processes, reflectors: list[str], pki: AgentPki
) -> None:
    for host in ("edge-a", "edge-b"):
        await start_agent(
            processes, orchestrator.port, reflectors[:2], host=host, tls=pki.edge_host(host)
        )
    matrix = orchestrator.sink.matrix
    await wait_for(
        lambda: matrix.access_points_of("edge-a") and matrix.access_points_of("edge-b"),
        within=20,
        what="samples from both hosts",
    )
    assert {r.host for r in orchestrator.registry.records()} == {"edge-a", "edge-b"}
    assert orchestrator.registry.connected_count() == 2
