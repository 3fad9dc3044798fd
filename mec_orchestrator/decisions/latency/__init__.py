"""Latency between access points and edge hosts: measured (the matrix), estimated, ranked."""

from mec_orchestrator.decisions.latency.matrix import (
    LatencyEstimate,
    LatencyMatrix,
    LatencyMetric,
    LatencySettings,
    PairLatency,
    StalePair,
    nearest_rank,
)

__all__ = [
    "LatencyEstimate",
    "LatencyMatrix",
    "LatencyMetric",
    "LatencySettings",
    "PairLatency",
    "StalePair",
    "nearest_rank",
]
