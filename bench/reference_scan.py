"""The reference semantics of a placement choice, as a plain scan over every host.

The index must agree with this on every input (property-tested), and the benchmark uses it as the
baseline the index is measured against. Slow on purpose: it looks at every host.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from mec_orchestrator.decisions.names import AccessPointId, HostName


def scan_best_host(
    latency: Mapping[AccessPointId, Mapping[HostName, float]],
    capacity: Mapping[HostName, int],
    load: Mapping[HostName, int],
    access_point: AccessPointId,
    *,
    allowed: Collection[HostName] | None = None,
    holding: HostName | None = None,
) -> tuple[float, HostName] | None:
    """The lowest (latency, host name) host that is measured, allowed and has a free slot."""
    row = latency.get(access_point, {})
    best: tuple[float, HostName] | None = None
    for host, slots in capacity.items():
        value = row.get(host)
        if value is None:
            continue
        if allowed is not None and host not in allowed:
            continue
        if load.get(host, 0) >= slots and host != holding:
            continue
        candidate = (value, host)
        if best is None or candidate < best:
            best = candidate
    return best
