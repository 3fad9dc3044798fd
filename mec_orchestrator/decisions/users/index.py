"""The placement index: what makes one decision a short walk rather than a scan of all hosts.

Per access point, the hosts with a trusted latency are kept sorted by (latency, host name) and
updated incrementally as measurements change; per host, a capacity counter and the set of full
hosts; per user, the host it occupies. The best feasible host for an access point is the first
entry of its list that is neither full nor outside the allow-list. The index enforces capacity:
assigning a user to a full host is refused.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Collection, Mapping
from types import MappingProxyType

from mec_orchestrator.decisions.names import AccessPointId, HostName, UserId

RankedHost = tuple[float, HostName]

# When an allow-list is this many times shorter than an access point's ranking, looking the
# allowed hosts up directly is cheaper than walking the ranking past the hosts it excludes.
_ALLOW_LIST_LOOKUP_RATIO = 8


class HostFullError(ValueError):
    """A user was to be assigned to a host without a free slot."""


class PlacementIndex:
    """Hosts ranked per access point, capacity counters and user slots."""

    def __init__(self) -> None:
        self._ranked: dict[AccessPointId, list[RankedHost]] = {}
        self._latency: dict[AccessPointId, dict[HostName, float]] = {}
        self._access_points_of: dict[HostName, set[AccessPointId]] = {}
        self._capacity: dict[HostName, int] = {}
        self._load: dict[HostName, int] = {}
        self._full: set[HostName] = set()
        self._host_of: dict[UserId, HostName] = {}
        self._users_on: dict[HostName, set[UserId]] = {}

    # Hosts and capacity

    def add_host(self, host: HostName, capacity: int) -> None:
        if host in self._capacity:
            raise ValueError(f"host {host!r} is already known")
        _check_capacity(capacity)
        self._capacity[host] = capacity
        self._load[host] = 0
        self._access_points_of[host] = set()
        self._users_on[host] = set()
        self._refresh_full(host)

    def set_capacity(self, host: HostName, capacity: int) -> None:
        """Change a host's slots; lowering it below the load evicts no one, the host is full."""
        self._require_host(host)
        _check_capacity(capacity)
        self._capacity[host] = capacity
        self._refresh_full(host)

    def remove_host(self, host: HostName) -> list[UserId]:
        """Forget a host and its latencies; returns the users it held, now unassigned."""
        self._require_host(host)
        for access_point in sorted(self._access_points_of[host]):
            self.clear_latency(access_point, host)
        evicted = sorted(self._users_on.pop(host))
        for user in evicted:
            del self._host_of[user]
        del self._capacity[host], self._load[host], self._access_points_of[host]
        self._full.discard(host)
        return evicted

    def has_host(self, host: HostName) -> bool:
        return host in self._capacity

    def hosts(self) -> list[HostName]:
        return sorted(self._capacity)

    def capacity(self, host: HostName) -> int:
        return self._capacity[host]

    def load(self, host: HostName) -> int:
        return self._load[host]

    def free_slots(self, host: HostName) -> int:
        return max(0, self._capacity[host] - self._load[host])

    def is_full(self, host: HostName) -> bool:
        return host in self._full

    # Latency

    def set_latency(self, access_point: AccessPointId, host: HostName, latency_ms: float) -> None:
        """Rank host for access_point at latency_ms (replacing any previous value)."""
        self._require_host(host)
        if not (math.isfinite(latency_ms) and latency_ms >= 0.0):
            raise ValueError(f"latency must be finite and non-negative, got {latency_ms}")
        row = self._latency.get(access_point)
        if row is None:
            row = self._latency[access_point] = {}
            self._ranked[access_point] = []
        ranked = self._ranked[access_point]
        old = row.get(host)
        if old == latency_ms:
            return
        if old is not None:
            del ranked[bisect_left(ranked, (old, host))]
        row[host] = latency_ms
        insort(ranked, (latency_ms, host))
        self._access_points_of[host].add(access_point)

    def clear_latency(self, access_point: AccessPointId, host: HostName) -> None:
        """Stop ranking host for access_point (no trusted measurement any more)."""
        row = self._latency.get(access_point)
        if row is None or host not in row:
            return
        old = row.pop(host)
        ranked = self._ranked[access_point]
        del ranked[bisect_left(ranked, (old, host))]
        self._access_points_of[host].discard(access_point)
        if not row:
            del self._latency[access_point], self._ranked[access_point]

    def latency(self, access_point: AccessPointId, host: HostName) -> float | None:
        row = self._latency.get(access_point)
        return None if row is None else row.get(host)

    def latency_row(self, access_point: AccessPointId) -> Mapping[HostName, float]:
        """Read-only view: host -> latency for every ranked host of access_point."""
        return MappingProxyType(self._latency.get(access_point, {}))

    def ranked(self, access_point: AccessPointId) -> list[RankedHost]:
        """(latency, host) of every ranked host of access_point, best first (a copy)."""
        return list(self._ranked.get(access_point, ()))

    def access_points(self) -> list[AccessPointId]:
        return sorted(self._ranked)

    # Users

    def assign(self, user: UserId, host: HostName) -> None:
        """Give user a slot on host; refused if the user already has one or the host is full."""
        self._require_host(host)
        if user in self._host_of:
            raise ValueError(f"user {user!r} is already on host {self._host_of[user]!r}")
        if host in self._full:
            raise HostFullError(f"host {host!r} has no free slot for user {user!r}")
        self._host_of[user] = host
        self._users_on[host].add(user)
        self._load[host] += 1
        self._refresh_full(host)

    def force_assign(self, user: UserId, host: HostName) -> None:
        """Give user a slot on host even when it is full (a user already served there)."""
        self._require_host(host)
        if user in self._host_of:
            raise ValueError(f"user {user!r} is already on host {self._host_of[user]!r}")
        self._host_of[user] = host
        self._users_on[host].add(user)
        self._load[host] += 1
        self._refresh_full(host)

    def release(self, user: UserId) -> HostName | None:
        """Free the user's slot; returns the host it was on (None if it had none)."""
        host = self._host_of.pop(user, None)
        if host is not None:
            self._users_on[host].discard(user)
            self._load[host] -= 1
            self._refresh_full(host)
        return host

    def host_of(self, user: UserId) -> HostName | None:
        return self._host_of.get(user)

    def users_on(self, host: HostName) -> list[UserId]:
        return sorted(self._users_on[host])

    def placements(self) -> Mapping[UserId, HostName]:
        """Read-only view: user -> host for every assigned user."""
        return MappingProxyType(self._host_of)

    # The decision

    def best_host(
        self,
        access_point: AccessPointId,
        allowed: Collection[HostName] | None = None,
        holding: HostName | None = None,
        excluded: Collection[HostName] = frozenset(),
    ) -> RankedHost | None:
        """The lowest (latency, host name) ranked host with a free slot, in allowed, not excluded.

        `holding` is the host the user already occupies: it counts as having room for them, and
        as not excluded. None when no ranked host is feasible.
        """
        ranked = self._ranked.get(access_point)
        if not ranked:
            return None
        full = self._full
        if allowed is not None and len(allowed) * _ALLOW_LIST_LOOKUP_RATIO < len(ranked):
            row = self._latency[access_point]
            best: RankedHost | None = None
            for host in allowed:
                latency = row.get(host)
                if latency is None or (host != holding and (host in full or host in excluded)):
                    continue
                candidate = (latency, host)
                if best is None or candidate < best:
                    best = candidate
            return best
        for entry in ranked:
            host = entry[1]
            if host != holding and (host in full or host in excluded):
                continue
            if allowed is not None and host not in allowed:
                continue
            return entry
        return None

    # Internals

    def _require_host(self, host: HostName) -> None:
        if host not in self._capacity:
            raise KeyError(f"unknown host {host!r}")

    def _refresh_full(self, host: HostName) -> None:
        if self._load[host] >= self._capacity[host]:
            self._full.add(host)
        else:
            self._full.discard(host)


def _check_capacity(capacity: int) -> None:
    if capacity < 0:
        raise ValueError(f"capacity must be non-negative, got {capacity}")
