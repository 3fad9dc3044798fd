"""Latency per (access point, edge host) pair from RTT samples: EWMA, windowed percentiles, age.

Agents stream RTT samples; placement needs one number per pair it can rank by, and must know when
that number is too old to trust. Time is always passed in by the caller (seconds on one monotonic
clock), so this stays pure code that tests can drive sample by sample.
"""

from __future__ import annotations

import heapq
import math
from array import array
from bisect import bisect_left, insort
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mec_orchestrator.decisions.names import AccessPointId, HostName

Pair = tuple[AccessPointId, HostName]


class LatencyMetric(StrEnum):
    """Which statistic of a pair placement ranks hosts by."""

    EWMA = "ewma"
    P50 = "p50"
    P95 = "p95"


@dataclass(frozen=True, slots=True)
class LatencySettings:
    """How samples are summarised: EWMA weight of a new sample, window length, trust horizon."""

    ewma_alpha: float = 0.2
    window_size: int = 64
    stale_after_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 < self.ewma_alpha <= 1.0:
            raise ValueError(f"ewma_alpha must be in (0, 1], got {self.ewma_alpha}")
        if self.window_size < 1:
            raise ValueError(f"window_size must be at least 1, got {self.window_size}")
        if not (math.isfinite(self.stale_after_s) and self.stale_after_s > 0):
            raise ValueError(f"stale_after_s must be positive, got {self.stale_after_s}")


@dataclass(frozen=True, slots=True)
class LatencyEstimate:
    """What is known about one pair at a given time."""

    access_point: AccessPointId
    host: HostName
    ewma_ms: float
    p50_ms: float
    p95_ms: float
    window_samples: int
    total_samples: int
    last_sample_s: float
    age_s: float
    stale: bool


@dataclass(frozen=True, slots=True, order=True)
class StalePair:
    """A pair whose last sample is older than the trust horizon: reported, not used."""

    access_point: AccessPointId
    host: HostName
    last_sample_s: float
    age_s: float


def nearest_rank(sorted_values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile (0 < percent <= 100) of values sorted ascending."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0.0 < percent <= 100.0:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    rank = math.ceil(percent * len(sorted_values) / 100.0)
    return sorted_values[max(rank, 1) - 1]


def _check_sample(rtt_ms: float, at_s: float) -> None:
    if not (math.isfinite(rtt_ms) and rtt_ms >= 0.0):
        raise ValueError(f"an RTT sample must be a finite non-negative number, got {rtt_ms}")
    if not math.isfinite(at_s):
        raise ValueError(f"a sample time must be finite, got {at_s}")


class PairLatency:
    """Running statistics of one pair: EWMA, the last window_size samples, last sample time.

    The window is a ring buffer plus a sorted copy (both compact float arrays), so a sample costs
    O(window) memory moves and a percentile is a lookup.
    """

    __slots__ = (
        "_alpha",
        "_next",
        "_ring",
        "_size",
        "_sorted",
        "ewma_ms",
        "last_sample_s",
        "total",
    )

    def __init__(self, ewma_alpha: float, window_size: int) -> None:
        self._alpha = ewma_alpha
        self._size = window_size
        self._ring: array[float] = array("d")
        self._sorted: array[float] = array("d")
        self._next = 0
        self.ewma_ms = 0.0
        self.last_sample_s = -math.inf
        self.total = 0

    def add(self, rtt_ms: float, at_s: float) -> None:
        _check_sample(rtt_ms, at_s)
        if self.total == 0:
            self.ewma_ms = rtt_ms
        else:
            self.ewma_ms += self._alpha * (rtt_ms - self.ewma_ms)
        ring = self._ring
        if len(ring) < self._size:
            ring.append(rtt_ms)
            self._next = len(ring) % self._size
        else:
            oldest = ring[self._next]
            ring[self._next] = rtt_ms
            del self._sorted[bisect_left(self._sorted, oldest)]
            self._next = (self._next + 1) % self._size
        insort(self._sorted, rtt_ms)
        self.last_sample_s = max(self.last_sample_s, at_s)
        self.total += 1

    def percentile(self, percent: float) -> float:
        return nearest_rank(self._sorted, percent)

    def value(self, metric: LatencyMetric) -> float:
        if metric is LatencyMetric.EWMA:
            return self.ewma_ms
        return self.percentile(50.0 if metric is LatencyMetric.P50 else 95.0)

    def window(self) -> list[float]:
        """The samples in the window, oldest first."""
        ring = list(self._ring)
        if len(ring) < self._size:
            return ring
        return ring[self._next :] + ring[: self._next]

    def __len__(self) -> int:
        return len(self._ring)


class LatencyMatrix:
    """Statistics for every measured (access point, host) pair, and which pairs are trusted.

    A pair is trusted from its first sample until `expire` is called at a time more than
    `stale_after_s` after its last sample; a new sample makes it trusted again.
    """

    def __init__(self, settings: LatencySettings | None = None) -> None:
        self.settings = settings or LatencySettings()
        self._pairs: dict[Pair, PairLatency] = {}
        self._access_points_of: dict[HostName, set[AccessPointId]] = {}
        self._trusted: set[Pair] = set()
        # One entry per trusted pair, keyed by the last sample time it had when pushed.
        self._deadlines: list[tuple[float, AccessPointId, HostName]] = []

    def record(
        self, access_point: AccessPointId, host: HostName, rtt_ms: float, at_s: float
    ) -> PairLatency:
        """Add one RTT sample (milliseconds, taken at at_s); returns the pair's statistics."""
        _check_sample(rtt_ms, at_s)
        key = (access_point, host)
        stats = self._pairs.get(key)
        if stats is None:
            stats = PairLatency(self.settings.ewma_alpha, self.settings.window_size)
            self._pairs[key] = stats
            self._access_points_of.setdefault(host, set()).add(access_point)
        stats.add(rtt_ms, at_s)
        if key not in self._trusted:
            self._trusted.add(key)
            heapq.heappush(self._deadlines, (stats.last_sample_s, access_point, host))
        return stats

    def is_stale(self, last_sample_s: float, now_s: float) -> bool:
        return now_s - last_sample_s > self.settings.stale_after_s

    def expire(self, now_s: float) -> list[Pair]:
        """Pairs that went stale by now_s since the last call, sorted; they are now untrusted."""
        deadlines = self._deadlines
        if not deadlines or not self.is_stale(deadlines[0][0], now_s):
            return []
        expired: list[Pair] = []
        while deadlines and self.is_stale(deadlines[0][0], now_s):
            _, access_point, host = heapq.heappop(deadlines)
            key = (access_point, host)
            stats = self._pairs.get(key)
            if stats is None or key not in self._trusted:
                continue
            if self.is_stale(stats.last_sample_s, now_s):
                self._trusted.discard(key)
                expired.append(key)
            else:
                heapq.heappush(deadlines, (stats.last_sample_s, access_point, host))
        expired.sort()
        return expired

    def is_trusted(self, access_point: AccessPointId, host: HostName) -> bool:
        """Trusted as of the last `expire` call (call it first to apply the horizon at now)."""
        return (access_point, host) in self._trusted

    def stats(self, access_point: AccessPointId, host: HostName) -> PairLatency | None:
        return self._pairs.get((access_point, host))

    def value(
        self, access_point: AccessPointId, host: HostName, metric: LatencyMetric
    ) -> float | None:
        stats = self._pairs.get((access_point, host))
        return None if stats is None else stats.value(metric)

    def estimate(
        self, access_point: AccessPointId, host: HostName, now_s: float
    ) -> LatencyEstimate | None:
        stats = self._pairs.get((access_point, host))
        if stats is None:
            return None
        return LatencyEstimate(
            access_point=access_point,
            host=host,
            ewma_ms=stats.ewma_ms,
            p50_ms=stats.percentile(50.0),
            p95_ms=stats.percentile(95.0),
            window_samples=len(stats),
            total_samples=stats.total,
            last_sample_s=stats.last_sample_s,
            age_s=now_s - stats.last_sample_s,
            stale=self.is_stale(stats.last_sample_s, now_s),
        )

    def stale_pairs(self, now_s: float) -> list[StalePair]:
        """Every measured pair that is stale at now_s, sorted (a full scan: for reports)."""
        return sorted(
            StalePair(ap, host, stats.last_sample_s, now_s - stats.last_sample_s)
            for (ap, host), stats in self._pairs.items()
            if self.is_stale(stats.last_sample_s, now_s)
        )

    def access_points_of(self, host: HostName) -> list[AccessPointId]:
        return sorted(self._access_points_of.get(host, ()))

    def forget_host(self, host: HostName) -> None:
        """Drop every pair of host (its deadline entries are skipped lazily)."""
        for access_point in self._access_points_of.pop(host, set()):
            key = (access_point, host)
            del self._pairs[key]
            self._trusted.discard(key)

    def pairs(self) -> Iterator[Pair]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)
