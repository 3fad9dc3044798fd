"""The demo's stand-in for agents' measurements: RTT from distance over a metro backhaul.

RTT = 1 ms (radio and processing) + 3 ms per km of straight-line distance (traffic crosses
aggregation sites rather than a straight fibre) + any degradation injected for a host. It is
written into EdgeHost status exactly as the orchestrator's agent server writes agents' summaries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mec_orchestrator.decisions.latency.estimate import distance_km

FLOOR_MS = 1.0
MS_PER_KM = 3.0


def rtt_ms(ap: tuple[float, float], host: tuple[float, float], extra_ms: float = 0.0) -> float:
    return round(FLOOR_MS + MS_PER_KM * distance_km(ap[0], ap[1], host[0], host[1]) + extra_ms, 3)


def host_status(
    host: tuple[float, float], access_points: dict[str, tuple[float, float]], extra_ms: float = 0.0
) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = []
    for ap_id, location in sorted(access_points.items()):
        rtt = rtt_ms(location, host, extra_ms)
        entries.append(
            {"accessPointId": ap_id, "p50Ms": rtt, "p95Ms": round(rtt * 1.1, 3), "lastSeen": now}
        )
    return {"agentConnected": True, "lastHeartbeatTime": now, "accessPointRtt": entries}
