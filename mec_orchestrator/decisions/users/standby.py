"""Warm-standby suggestions: the hosts a user is likely to need next, so an instance is ready.

A handover is only as fast as the target instance is ready. The likely next hosts of a user are
the hosts it would be placed on from the access points neighbouring its current one (the
neighbourhood is an input: from the radio plan, MEC 013 zones or observed handover statistics).
Hosts that already run the app are left out: they need nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from mec_orchestrator.decisions.names import AccessPointId, HostName
from mec_orchestrator.decisions.users.index import PlacementIndex


@dataclass(frozen=True, slots=True)
class StandbySuggestion:
    """A host to keep warm, the neighbouring access points it would serve, its best latency."""

    host: HostName
    access_points: tuple[AccessPointId, ...]
    latency_ms: float


def warm_standby_hosts(
    index: PlacementIndex,
    neighbours: Iterable[AccessPointId],
    *,
    allowed: Collection[HostName] | None = None,
    running_on: Collection[HostName] = (),
    holding: HostName | None = None,
    count: int | None = None,
) -> list[StandbySuggestion]:
    """The best feasible host of each neighbouring access point, minus hosts in running_on.

    Ranked by how many neighbours a host would serve (most first), then latency, then name;
    at most count of them. `holding` is the user's current host (its slot counts as free).
    """
    serves: dict[HostName, list[AccessPointId]] = {}
    best_latency: dict[HostName, float] = {}
    for access_point in dict.fromkeys(neighbours):
        best = index.best_host(access_point, allowed, holding)
        if best is None or best[1] in running_on:
            continue
        latency, host = best
        serves.setdefault(host, []).append(access_point)
        best_latency[host] = min(latency, best_latency.get(host, latency))
    ranked = sorted(serves, key=lambda host: (-len(serves[host]), best_latency[host], host))
    if count is not None:
        ranked = ranked[: max(count, 0)]
    return [StandbySuggestion(host, tuple(serves[host]), best_latency[host]) for host in ranked]
