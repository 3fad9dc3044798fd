"""What the agent measured while it could not report: per access point counts and percentiles.

While the orchestrator is unreachable samples cannot be streamed, but they must not be forgotten:
the agent keeps, per access point, exact counts, minimum and maximum, and a uniform random subset
of at most `reservoir_size` RTTs (reservoir sampling), from which p50 and p95 are read. A gap of a
few minutes at 20 Hz fits the default reservoir whole, so its percentiles are exact; a longer gap
costs no more memory and says its percentiles are estimated.
"""

from __future__ import annotations

import math
import random
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from mec.agent.v1 import latency_pb2


def nearest_rank(sorted_values: list[float], percent: float) -> float:
    rank = math.ceil(percent * len(sorted_values) / 100.0)
    return sorted_values[max(rank, 1) - 1]


class AccessPointTally:
    """The running summary of one access point's samples during a gap."""

    __slots__ = ("lost", "max_ms", "min_ms", "reservoir", "samples")

    def __init__(self) -> None:
        self.samples = 0
        self.lost = 0
        self.min_ms = math.inf
        self.max_ms = 0.0
        self.reservoir: list[float] = []

    def add(self, rtt_ms: float, reservoir_size: int, rng: random.Random) -> None:
        self.samples += 1
        self.min_ms = min(self.min_ms, rtt_ms)
        self.max_ms = max(self.max_ms, rtt_ms)
        if len(self.reservoir) < reservoir_size:
            self.reservoir.append(rtt_ms)
        else:
            slot = rng.randrange(self.samples)
            if slot < reservoir_size:
                self.reservoir[slot] = rtt_ms

    def summary(self, access_point_id: str) -> latency_pb2.AccessPointGapSummary:
        summary = latency_pb2.AccessPointGapSummary(
            access_point_id=access_point_id,
            sample_count=self.samples,
            lost_probe_count=self.lost,
            percentiles_estimated=self.samples > len(self.reservoir),
        )
        if self.samples:
            ordered = sorted(self.reservoir)
            summary.min_rtt_ms = self.min_ms
            summary.max_rtt_ms = self.max_ms
            # Clamped so min <= p50 <= p95 <= max holds for an estimated reservoir too.
            summary.p50_rtt_ms = min(max(nearest_rank(ordered, 50.0), self.min_ms), self.max_ms)
            summary.p95_rtt_ms = min(
                max(nearest_rank(ordered, 95.0), summary.p50_rtt_ms), self.max_ms
            )
        return summary


class GapTally:
    """Everything measured during one gap, from `started_at` on."""

    def __init__(self, started_at: datetime, reservoir_size: int, seed: int | None = None) -> None:
        self.started_at = started_at
        self.reservoir_size = reservoir_size
        self._rng = random.Random(seed)  # noqa: S311 (sampling, not security)
        self._tallies: dict[str, AccessPointTally] = {}

    def _tally(self, access_point_id: str) -> AccessPointTally:
        tally = self._tallies.get(access_point_id)
        if tally is None:
            tally = self._tallies[access_point_id] = AccessPointTally()
        return tally

    def add_sample(self, access_point_id: str, rtt_ms: float) -> None:
        self._tally(access_point_id).add(rtt_ms, self.reservoir_size, self._rng)

    def add_lost(self, access_point_id: str, count: int) -> None:
        self._tally(access_point_id).lost += count

    @property
    def empty(self) -> bool:
        return not self._tallies

    @property
    def sample_count(self) -> int:
        return sum(t.samples for t in self._tallies.values())

    def summary(self, ended_at: datetime) -> latency_pb2.GapSummary:
        started, ended = Timestamp(), Timestamp()
        started.FromDatetime(self.started_at)
        ended.FromDatetime(max(ended_at, self.started_at))
        return latency_pb2.GapSummary(
            started_at=started,
            ended_at=ended,
            access_points=[t.summary(ap) for ap, t in sorted(self._tallies.items())],
        )
