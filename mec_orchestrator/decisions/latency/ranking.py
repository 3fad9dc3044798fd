"""Hosts ranked per access point: what the operator compares to know that placement may change.

Samples arrive many times a second; what matters to an instance plan is the order of hosts per
access point, whether each latency is measured, and which apps' budgets it meets. A change of
this ranking wakes the apps; a wobble that changes none of it does not.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

from mec_orchestrator.decisions.latency.estimate import LatencyLookup

HostRank = tuple[str, bool, int]
"""(host, measured, number of known one-way budgets its latency misses)."""

LatencyRanking = tuple[tuple[str, tuple[HostRank, ...]], ...]
"""Per access point id, its hosts from the lowest latency up."""


def rank_hosts(
    access_points: Iterable[str],
    hosts: Sequence[str],
    lookup: LatencyLookup,
    budgets_ms: Iterable[float],
) -> LatencyRanking:
    """Every access point's hosts ordered by latency, with measured-ness and budgets missed.

    What this cannot see is a change of a sum of RTTs that breaks a tie between hosts covering
    several access points; the operator's periodic resync covers that. Cost: one lookup per
    (access point, host).
    """
    budgets = sorted(set(budgets_ms))
    ranking: list[tuple[str, tuple[HostRank, ...]]] = []
    for access_point in sorted(set(access_points)):
        ranked: list[tuple[float, str, bool, int]] = []
        for host in hosts:
            value = lookup(access_point, host)
            if value is not None:
                missed = bisect_left(budgets, value.one_way_ms)
                ranked.append((value.rtt_ms, host, value.measured, missed))
        ranked.sort()
        ranking.append(
            (access_point, tuple((name, measured, missed) for _, name, measured, missed in ranked))
        )
    return tuple(ranking)
