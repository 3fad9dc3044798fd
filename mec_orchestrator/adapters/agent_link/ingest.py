"""Where agents' RTT samples go: the placement package's latency matrix, through one protocol.

The operator's `PlacementEngine` is such a sink (it keeps its placement index in step with the
matrix); a bare `LatencyMatrix` becomes one with `MatrixSink`. Sample times are put on the sink's
clock without comparing clocks across machines: a sample's age is the agent's own difference
between sending the batch and receiving the probe's answer, subtracted from the orchestrator's
clock when the batch arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mec_orchestrator.adapters.agent_link.validation import SampleRow
from mec_orchestrator.decisions.latency import LatencyMatrix
from mec_orchestrator.decisions.names import AccessPointId, HostName


class LatencySink(Protocol):
    """Takes RTT samples; `PlacementEngine` is one."""

    @property
    def matrix(self) -> LatencyMatrix: ...

    def record_latency(
        self, access_point: AccessPointId, host: HostName, rtt_ms: float, at_s: float
    ) -> None: ...


class MatrixSink:
    """A bare latency matrix as a LatencySink."""

    def __init__(self, matrix: LatencyMatrix | None = None) -> None:
        self._matrix = matrix if matrix is not None else LatencyMatrix()

    @property
    def matrix(self) -> LatencyMatrix:
        return self._matrix

    def record_latency(
        self, access_point: AccessPointId, host: HostName, rtt_ms: float, at_s: float
    ) -> None:
        self._matrix.record(access_point, host, rtt_ms, at_s)


def ingest(
    sink: LatencySink,
    host: HostName,
    rows: Sequence[SampleRow],
    batch_sent_unix_nanos: int,
    now_s: float,
) -> None:
    """Record checked samples of one batch that arrived at now_s (the sink's clock)."""
    record = sink.record_latency
    for access_point, rtt_ms, received_unix_nanos in rows:
        age_ns = batch_sent_unix_nanos - received_unix_nanos
        record(access_point, host, rtt_ms, now_s - age_ns * 1e-9 if age_ns > 0 else now_s)
