"""The EdgeHost status an agent's reports amount to, as the dict the operator patches in.

Pure: the operator calls it every few seconds per host with the registry's record, the latency
matrix's estimates and the time, and merges the result into `.status` (the full-rate data stays
in the orchestrator's memory). The dict is built through the EdgeHost status model, so its keys
and bounds are the CRD's (`agentConnected`, `lastHeartbeatTime`, `accessPointRtt[].p50Ms`, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from mec_orchestrator.adapters.agent_link.registry import AgentRecord, AgentState
from mec_orchestrator.decisions.latency import LatencyEstimate, LatencyMatrix
from mec_orchestrator.model.conditions import (
    Condition,
    ConditionStatus,
    EdgeHostConditionType,
    NewCondition,
    set_condition,
)
from mec_orchestrator.model.edgehost import AccessPointRtt, EdgeHostStatus
from mec_orchestrator.model.reasons import AgentConnectedReason

MAX_RTT_ENTRIES = 1024
MAX_RTT_MS = 60000.0


def _ms(value: float) -> float:
    return min(round(value, 3), MAX_RTT_MS)


def access_point_rtt(latencies: Iterable[LatencyEstimate], now: datetime) -> list[AccessPointRtt]:
    """One entry per access point, sorted by id; lastSeen = now - the estimate's age."""
    entries = sorted(latencies, key=lambda e: e.access_point)[:MAX_RTT_ENTRIES]
    return [
        AccessPointRtt(
            access_point_id=e.access_point,
            p50_ms=_ms(e.p50_ms),
            p95_ms=_ms(e.p95_ms),
            last_seen=now - timedelta(seconds=max(e.age_s, 0.0)),
        )
        for e in entries
    ]


def _agent_condition(agent: AgentRecord | None) -> NewCondition:
    kind = EdgeHostConditionType.AGENT_CONNECTED
    if agent is None:
        return NewCondition(
            type=kind,
            status=ConditionStatus.FALSE,
            reason=AgentConnectedReason.NEVER_REGISTERED,
            message="no agent has registered for this host since the orchestrator started",
        )
    if agent.state is AgentState.LOST:
        return NewCondition(
            type=kind,
            status=ConditionStatus.FALSE,
            reason=AgentConnectedReason.HEARTBEAT_TIMEOUT,
            message=f"no heartbeat since {agent.last_heartbeat.isoformat(timespec='seconds')}",
        )
    version = agent.registration.agent_version
    return NewCondition(
        type=kind,
        status=ConditionStatus.TRUE,
        reason=AgentConnectedReason.HEARTBEATING,
        message=f"agent {version} registered" if version else "agent registered",
    )


def edge_host_status(
    agent: AgentRecord | None,
    latencies: Iterable[LatencyEstimate],
    now: datetime,
    conditions: Sequence[Condition] = (),
) -> dict[str, Any]:
    """The agent-reported part of an EdgeHost's status (camelCase keys, JSON values).

    agent is the registry's record for the host (None if its agent never registered),
    latencies the matrix's estimates for the host's pairs at now, conditions the status's
    current conditions (the AgentConnected condition is set in them, keeping its transition
    time while its status does not change).
    """
    status = EdgeHostStatus(
        agent_connected=agent is not None and agent.state is AgentState.CONNECTED,
        last_heartbeat_time=None if agent is None else agent.last_heartbeat,
        agent_version=None if agent is None else (agent.registration.agent_version or None),
        access_point_rtt=access_point_rtt(latencies, now),
        conditions=set_condition(conditions, _agent_condition(agent), now),
    )
    return status.to_dict()


def host_latencies(matrix: LatencyMatrix, host: str, now_s: float) -> list[LatencyEstimate]:
    """The matrix's estimates of every access point measured from host, at now_s."""
    estimates = (matrix.estimate(ap, host, now_s) for ap in matrix.access_points_of(host))
    return [e for e in estimates if e is not None]
