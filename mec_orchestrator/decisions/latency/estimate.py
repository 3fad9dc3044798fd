"""Latency a placement may use: the measured value where there is one, else a distance estimate.

A new cluster has no measurement for most (access point, host) pairs; a rough estimate from
distance keeps it usable, and every decision that rests on one says so (`Latency.measured`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mec_orchestrator.decisions.names import AccessPointId, HostName

RADIO_FLOOR_RTT_MS = 1.0
"""Radio and processing, both ways: what even a co-located host costs."""

FIBRE_RTT_MS_PER_KM = 0.02
"""About 10 µs per km each way in fibre."""

EARTH_RADIUS_KM = 6371.0088

Location = tuple[float, float]
"""(latitude, longitude) in degrees."""


@dataclass(frozen=True, slots=True)
class Latency:
    """Round-trip time between an access point and a host, and whether it was measured."""

    rtt_ms: float
    measured: bool

    @property
    def one_way_ms(self) -> float:
        return self.rtt_ms / 2.0


LatencyLookup = Callable[[str, str], Latency | None]
"""(access point id, host name) -> latency, or None when nothing is known."""

MeasuredLookup = Callable[[AccessPointId, HostName], float | None]
"""(access point id, host name) -> a trusted measured RTT in ms, or None."""


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def estimated_rtt_ms(here: Location, there: Location) -> float:
    """The RTT a pair never measured is assumed to have: radio floor plus fibre distance."""
    return RADIO_FLOOR_RTT_MS + FIBRE_RTT_MS_PER_KM * distance_km(*here, *there)


def latency_lookup(
    measured: MeasuredLookup,
    access_point_locations: Mapping[AccessPointId, Location | None],
    host_locations: Mapping[HostName, Location | None],
) -> LatencyLookup:
    """Measured where known, else estimated from the two locations, else unknown (None)."""

    def lookup(access_point: str, host: str) -> Latency | None:
        value = measured(access_point, host)
        if value is not None:
            return Latency(value, measured=True)
        here, there = access_point_locations.get(access_point), host_locations.get(host)
        if here is None or there is None:
            return None
        return Latency(estimated_rtt_ms(here, there), measured=False)

    return lookup
