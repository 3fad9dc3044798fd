"""The EdgeHost status built from an agent's record and the latency matrix, and sample timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from mec.agent.v1 import latency_pb2

from mec_orchestrator.adapters.agent_link import (
    AgentRegistry,
    HostCapacity,
    LatencySink,
    MatrixSink,
    Registration,
    edge_host_status,
    host_latencies,
)
from mec_orchestrator.adapters.agent_link.ingest import ingest
from mec_orchestrator.adapters.agent_link.refusals import InvalidFieldError
from mec_orchestrator.adapters.agent_link.validation import sample_rows
from mec_orchestrator.decisions.latency import LatencyEstimate, LatencyMatrix
from mec_orchestrator.decisions.users import PlacementEngine
from mec_orchestrator.model.edgehost import EdgeHostStatus

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CRD = Path(__file__).resolve().parents[2] / "crds" / "edgehosts.mec.dev.yaml"


def estimate(access_point: str, p50: float, p95: float, age_s: float) -> LatencyEstimate:
    return LatencyEstimate(
        access_point=access_point,
        host="edge-a",
        ewma_ms=p50,
        p50_ms=p50,
        p95_ms=p95,
        window_samples=10,
        total_samples=10,
        last_sample_s=100.0 - age_s,
        age_s=age_s,
        stale=False,
    )


def connected_registry() -> AgentRegistry:
    registry = AgentRegistry(1.0, 3.0, wall_clock=lambda: NOW - timedelta(seconds=2))
    registry.register(
        Registration("edge-a", (), HostCapacity(), None, "0.3.1", None, {"ap-1": "h:1"})
    )
    return registry


def crd_status_properties() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(schema["properties"]["status"]["properties"])


def test_a_connected_agents_status_has_the_crds_keys_and_values() -> None:
    record = connected_registry().get("edge-a")
    status = edge_host_status(
        record,
        [estimate("ap-2", 4.56789, 9.1, 0.4), estimate("ap-1", 1.23449, 1.23451, 12.6)],
        NOW,
    )
    assert set(status) <= set(crd_status_properties())
    assert status["agentConnected"] is True
    assert status["lastHeartbeatTime"] == "2026-03-01T11:59:58Z"
    assert status["agentVersion"] == "0.3.1"
    assert status["accessPointRtt"] == [
        {
            "accessPointId": "ap-1",
            "p50Ms": 1.234,
            "p95Ms": 1.235,
            "lastSeen": "2026-03-01T11:59:47Z",
        },
        {"accessPointId": "ap-2", "p50Ms": 4.568, "p95Ms": 9.1, "lastSeen": "2026-03-01T11:59:59Z"},
    ]
    rtt_keys = crd_status_properties()["accessPointRtt"]["items"]["properties"]
    assert all(set(entry) <= set(rtt_keys) for entry in status["accessPointRtt"])
    (condition,) = status["conditions"]
    assert condition == {
        "type": "AgentConnected",
        "status": "True",
        "lastTransitionTime": "2026-03-01T12:00:00Z",
        "reason": "Heartbeating",
        "message": "agent 0.3.1 registered",
    }
    assert EdgeHostStatus.model_validate(status).to_dict() == status


def test_a_host_without_an_agent_is_not_connected() -> None:
    status = edge_host_status(None, [], NOW)
    assert status["agentConnected"] is False
    assert "lastHeartbeatTime" not in status
    assert status["accessPointRtt"] == []
    assert status["conditions"][0]["reason"] == "NeverRegistered"


def test_a_lost_agent_keeps_its_last_heartbeat_and_the_condition_keeps_its_transition() -> None:
    registry = connected_registry()
    registry.lost_after_s = 0.0  # everything is overdue
    registry.expire()
    first = EdgeHostStatus.model_validate(edge_host_status(registry.get("edge-a"), [], NOW))
    assert first.agent_connected is False
    assert first.last_heartbeat_time == NOW - timedelta(seconds=2)
    assert first.conditions is not None
    assert first.conditions[0].reason == "HeartbeatTimeout"
    later = edge_host_status(
        registry.get("edge-a"), [], NOW + timedelta(minutes=5), first.conditions
    )
    assert later["conditions"][0]["lastTransitionTime"] == "2026-03-01T12:00:00Z"


def test_rtt_entries_are_bounded_like_the_crd() -> None:
    many = [estimate(f"ap-{i:04d}", 70000.0, 80000.0, 0.0) for i in range(1100)]
    status = edge_host_status(None, many, NOW)
    assert len(status["accessPointRtt"]) == 1024
    assert status["accessPointRtt"][0] == {
        "accessPointId": "ap-0000",
        "p50Ms": 60000.0,
        "p95Ms": 60000.0,
        "lastSeen": "2026-03-01T12:00:00Z",
    }
    EdgeHostStatus.model_validate(status)


def test_host_latencies_reads_every_pair_of_the_host() -> None:
    matrix = LatencyMatrix()
    matrix.record("ap-1", "edge-a", 2.0, 10.0)
    matrix.record("ap-2", "edge-a", 3.0, 11.0)
    matrix.record("ap-1", "edge-b", 9.0, 11.0)
    estimates = host_latencies(matrix, "edge-a", 12.0)
    assert [(e.access_point, e.p50_ms, e.age_s) for e in estimates] == [
        ("ap-1", 2.0, 2.0),
        ("ap-2", 3.0, 1.0),
    ]
    assert host_latencies(matrix, "edge-c", 12.0) == []


def _batch(sent: int, *received: int) -> latency_pb2.LatencySampleBatch:
    batch = latency_pb2.LatencySampleBatch(sent_unix_nanos=sent)
    for i, at in enumerate(received):
        batch.samples.add(
            access_point_id="ap-1", rtt_ms=float(i + 1), sent_unix_nanos=1, received_unix_nanos=at
        )
    return batch


def test_samples_are_timed_by_their_age_at_the_agent_on_the_orchestrators_clock() -> None:
    sink = MatrixSink()
    sent = 50_000_000_000
    rows = sample_rows(_batch(sent, sent - 1_500_000_000, sent, sent + 10), {"ap-1": "h:1"})
    assert rows == [
        ("ap-1", 1.0, sent - 1_500_000_000),
        ("ap-1", 2.0, sent),
        ("ap-1", 3.0, sent + 10),
    ]
    ingest(sink, "edge-a", rows[:1], sent, now_s=1000.0)
    stats = sink.matrix.stats("ap-1", "edge-a")
    assert stats is not None
    assert stats.last_sample_s == pytest.approx(998.5)
    ingest(sink, "edge-a", rows[1:], sent, now_s=1000.0)  # not older than the batch: arrival time
    assert stats.last_sample_s == 1000.0
    assert stats.total == 3


def test_the_placement_engine_is_a_latency_sink() -> None:
    engine = PlacementEngine()
    engine.add_host("edge-a", capacity=10)
    sink: LatencySink = engine
    ingest(sink, "edge-a", [("ap-1", 4.0, 0)], 0, now_s=5.0)
    assert engine.index.latency("ap-1", "edge-a") == 4.0
    assert sink.matrix.value("ap-1", "edge-a", engine.metric) == 4.0


def test_a_batch_is_checked_whole_before_anything_is_recorded() -> None:
    with pytest.raises(InvalidFieldError) as refused:
        sample_rows(_batch(10, 5, 5, 5), {"ap-2": "h:1"})
    assert refused.value.field == "batch.samples[0].access_point_id"
