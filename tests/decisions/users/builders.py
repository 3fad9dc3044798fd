"""Small engines for the placement tests, built from plain latency and capacity tables."""

from __future__ import annotations

from mec_orchestrator.decisions.latency import LatencySettings
from mec_orchestrator.decisions.users import PlacementEngine


def engine_with(latency: dict[tuple[str, str], float], capacity: dict[str, int]) -> PlacementEngine:
    engine = PlacementEngine(LatencySettings(ewma_alpha=1.0, stale_after_s=60.0))
    for host, slots in capacity.items():
        engine.add_host(host, slots)
    for (ap, host), value in latency.items():
        engine.record_latency(ap, host, value, 0.0)
    return engine
