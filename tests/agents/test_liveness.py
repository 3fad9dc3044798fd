"""Agents die and come back, the orchestrator restarts: lost hosts, backoff, gap summaries."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time

from mec_common.tls import AgentPki
from mec_orchestrator.adapters.agent_link import (
    AgentConnected,
    AgentLost,
    AgentServer,
    AgentState,
    GapSummaryReceived,
)
from mec_orchestrator.adapters.agent_link.metrics import sample_value
from mec_orchestrator.model.edgehost import EdgeHostStatus
from tests.agents.conftest import (
    LOST_AFTER_S,
    Processes,
    new_server,
    next_event,
    retries,
    server_settings,
    start_agent,
    wait_for,
)


async def test_a_killed_agent_is_declared_lost_after_the_timeout_and_not_before(
    orchestrator: AgentServer, processes: Processes, reflectors: list[str], pki: AgentPki
) -> None:
    events = orchestrator.registry.subscribe()
    agent = await start_agent(processes, orchestrator.port, reflectors, tls=pki.edge_host("edge-a"))
    connected = await next_event(events, AgentConnected, within=20)
    assert sample_value(orchestrator.metrics, "mec_agents_connected") == 1

    await asyncio.sleep(2 * LOST_AFTER_S)  # alive agents are not declared lost
    assert orchestrator.registry.get("edge-a").state is AgentState.CONNECTED  # type: ignore[union-attr]

    agent.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    lost = await next_event(events, AgentLost, within=5 * LOST_AFTER_S)
    waited = time.monotonic() - killed
    assert lost.host == "edge-a"
    assert lost.session_id == connected.session_id
    assert (lost.at - lost.last_heartbeat).total_seconds() > LOST_AFTER_S
    assert waited < LOST_AFTER_S + 1.5, f"declared lost {waited:.2f} s after the kill"

    record = orchestrator.registry.get("edge-a")
    assert record is not None
    assert record.state is AgentState.LOST
    assert record.lost_at == lost.at
    assert sample_value(orchestrator.metrics, "mec_agents_connected") == 0
    assert sample_value(orchestrator.metrics, "mec_agents_lost_total") == 1
    status = EdgeHostStatus.model_validate(orchestrator.edge_host_status("edge-a"))
    assert status.agent_connected is False
    assert status.conditions is not None
    assert status.conditions[0].reason == "HeartbeatTimeout"


async def test_a_restarted_agent_takes_over_its_hosts_session(
    pki: AgentPki, processes: Processes, reflectors: list[str]
) -> None:
    # A timeout longer than an agent's start-up, so the restart comes before the loss.
    server = new_server(server_settings(pki, lost_after_s=10.0))
    port = await server.start()
    try:
        events = server.registry.subscribe()
        first = await start_agent(processes, port, reflectors, tls=pki.edge_host("edge-a"))
        before = await next_event(events, AgentConnected, within=20)
        first.process.send_signal(signal.SIGKILL)
        await first.process.wait()

        await start_agent(processes, port, reflectors, tls=pki.edge_host("edge-a"))
        after = await next_event(events, AgentConnected, within=20)
        assert after.session_id != before.session_id
        assert after.replaced_session_id == before.session_id
        assert server.registry.session("edge-a", before.session_id) is None
        await wait_for(
            lambda: (r := server.registry.get("edge-a")) is not None and r.samples_ingested > 10,
            within=10,
            what="samples of the new session",
        )
        assert not [e for e in events.pending() if isinstance(e, AgentLost)]
    finally:
        await server.stop(0)


async def test_orchestrator_restart_reconnects_with_backoff_and_summarises_the_gap(
    pki: AgentPki, processes: Processes, reflectors: list[str]
) -> None:
    first = new_server(server_settings(pki))
    port = await first.start()
    events = first.registry.subscribe()
    agent = await start_agent(processes, port, reflectors, tls=pki.edge_host("edge-a"))
    await next_event(events, AgentConnected, within=20)
    await wait_for(lambda: first.registry.get("edge-a").samples_ingested > 0)  # type: ignore[union-attr]

    await first.stop(0)
    down_at = time.monotonic()
    await asyncio.sleep(3.0)
    delays = retries(agent.log_text())
    assert len(delays) >= 4, agent.log_text()
    attempts = [attempt for _, attempt in delays]
    assert attempts == list(range(1, len(delays) + 1))
    # Initial 0.1 s doubling with +-20 % jitter (so each of the first delays exceeds the one
    # before), capped at 0.8 s.
    for (delay, attempt), (next_delay, _) in itertools.pairwise(delays):
        if attempt < 4:
            assert next_delay > delay, delays
    assert 0.08 <= delays[0][0] <= 0.12
    assert all(delay <= 0.8 for delay, _ in delays)
    assert max(delay for delay, _ in delays) >= 0.64

    second = new_server(server_settings(pki, listen=f"127.0.0.1:{port}"))
    await second.start()
    try:
        events = second.registry.subscribe()
        await next_event(events, AgentConnected, within=10)
        up_at = time.monotonic()
        summary = await next_event(events, GapSummaryReceived, within=5)
        gap = summary.gap
        downtime = up_at - down_at
        assert abs(gap.duration_s - downtime) < 1.2, (gap.duration_s, downtime)
        assert {g.access_point_id for g in gap.access_points} == {"ap-0", "ap-1", "ap-2"}
        for item in gap.access_points:
            expected = 20 * gap.duration_s
            assert 0.7 * expected <= item.sample_count <= 1.2 * expected + 2, item
            assert 0 < item.min_rtt_ms <= item.p50_rtt_ms <= item.p95_rtt_ms <= item.max_rtt_ms
            assert item.p50_rtt_ms < 50
            assert not item.percentiles_estimated
            assert item.lost_probe_count == 0
        record = second.registry.get("edge-a")
        assert record is not None
        assert record.last_gap == gap
        assert sample_value(second.metrics, "mec_agent_latency_gap_summaries_total") == 1
        # Live samples resume after the summary.
        await wait_for(
            lambda: second.registry.get("edge-a").samples_ingested > 10,  # type: ignore[union-attr]
            within=5,
            what="live samples after the reconnect",
        )
    finally:
        await second.stop(0)


async def test_an_agent_started_before_the_orchestrator_summarises_what_it_measured_meanwhile(
    pki: AgentPki, processes: Processes, reflectors: list[str]
) -> None:
    server = new_server(server_settings(pki))
    port = await server.start()
    await server.stop(0)  # the port is now free and nothing listens
    agent = await start_agent(processes, port, reflectors[:1], tls=pki.edge_host("edge-a"))
    await wait_for(lambda: len(retries(agent.log_text())) >= 3, within=20, what="retries")
    await asyncio.sleep(1.0)
    restarted = new_server(server_settings(pki, listen=f"127.0.0.1:{port}"))
    events = restarted.registry.subscribe()
    await restarted.start()
    try:
        await next_event(events, AgentConnected, within=10)
        summary = await next_event(events, GapSummaryReceived, within=5)
        (item,) = summary.gap.access_points
        assert item.access_point_id == "ap-0"
        assert item.sample_count >= 10
    finally:
        await restarted.stop(0)


async def test_a_normal_start_sends_no_gap_summary(
    orchestrator: AgentServer, processes: Processes, reflectors: list[str], pki: AgentPki
) -> None:
    events = orchestrator.registry.subscribe()
    await start_agent(processes, orchestrator.port, reflectors, tls=pki.edge_host("edge-a"))
    await next_event(events, AgentConnected, within=20)
    await asyncio.sleep(1.0)
    assert not [e for e in events.pending() if isinstance(e, GapSummaryReceived)]
    assert orchestrator.registry.get("edge-a").last_gap is None  # type: ignore[union-attr]
