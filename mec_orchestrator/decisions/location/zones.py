"""What GS MEC 013 says of zones and access points, from the Zone objects and the measurements.

A Zone resource is a MEC 013 zone (its name is the zoneId); its `spec.accessPoints` are the
zone's access points. The counters MEC 013 asks for are derived here, from facts the caller
gathers (no client, no clock):

- **operationStatus** of an access point (`operation_status`): a status the Zone's
  `status.accessPoints[].operationStatus` declares (Serviceable or Unserviceable, written by
  whoever observes the radio side) wins. Otherwise it follows the latency measurements: an
  access point no available edge host has measured (a trusted agent sample or an EdgeHost
  summary — never a distance estimate) is `Unknown`; one measured within the loosest one-way
  budget of any EdgeApp (RTT/2 <= the largest `latency.maxMs`) is `Serviceable`, as is any
  measured one while no EdgeApp declares a budget; one measured but outside every budget is
  `Unserviceable`: no app could be served from it within its latency.
- **numberOfUsers**: the distinct users (by address) the operator has attached to the access
  point; a zone's is the sum over its access points.
- **numberOfUnserviceableAccessPoints**: the access points whose status is `Unserviceable`
  (`Unknown` ones are not counted).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from mec_orchestrator.model import Zone
from mec_orchestrator.model.zone import ConnectionType, OperationStatus

Location = tuple[float, float]
"""(latitude, longitude) in decimal degrees."""


@dataclass(frozen=True, slots=True)
class MeasuredFacts:
    """What the operator measured and placed, as the zone information needs it.

    best_rtt_ms: per access point id, the lowest measured RTT from an available edge host.
    budgets_ms: the one-way latency budgets of the EdgeApps known.
    users_per_access_point: per access point id, the distinct users attached to it.
    """

    best_rtt_ms: Mapping[str, float]
    budgets_ms: Collection[float] = ()
    users_per_access_point: Mapping[str, int] | None = None

    def users(self, access_point: str) -> int:
        return (self.users_per_access_point or {}).get(access_point, 0)


NO_FACTS = MeasuredFacts(best_rtt_ms={})


@dataclass(frozen=True, slots=True)
class AccessPointFacts:
    """One access point as MEC 013 AccessPointInfo describes it (without its URL)."""

    id: str
    zone: str
    connection_type: ConnectionType
    location: Location
    operation_status: OperationStatus
    users: int


@dataclass(frozen=True, slots=True)
class ZoneFacts:
    """One zone as MEC 013 ZoneInfo describes it (without its URL), with its access points."""

    id: str
    access_points: tuple[AccessPointFacts, ...]

    @property
    def number_of_access_points(self) -> int:
        return len(self.access_points)

    @property
    def number_of_unserviceable_access_points(self) -> int:
        return sum(
            ap.operation_status is OperationStatus.UNSERVICEABLE for ap in self.access_points
        )

    @property
    def number_of_users(self) -> int:
        return sum(ap.users for ap in self.access_points)

    def access_point(self, access_point_id: str) -> AccessPointFacts | None:
        return next((ap for ap in self.access_points if ap.id == access_point_id), None)


def operation_status(
    declared: OperationStatus | None, best_rtt_ms: float | None, budgets_ms: Collection[float]
) -> OperationStatus:
    """The access point's status: declared, else from its best measured RTT (module docstring)."""
    if declared is not None and declared is not OperationStatus.UNKNOWN:
        return declared
    if best_rtt_ms is None:
        return OperationStatus.UNKNOWN
    if not budgets_ms or best_rtt_ms / 2.0 <= max(budgets_ms):
        return OperationStatus.SERVICEABLE
    return OperationStatus.UNSERVICEABLE


def declared_statuses(zone: Zone) -> dict[str, OperationStatus]:
    """The operation status the Zone's status declares per access point (Unknown left out)."""
    entries = (zone.status.access_points if zone.status else None) or []
    return {
        entry.id: entry.operation_status
        for entry in entries
        if entry.operation_status is not OperationStatus.UNKNOWN
    }


def zone_facts(zone: Zone, facts: MeasuredFacts = NO_FACTS) -> ZoneFacts:
    """The zone and its access points, in the Zone's order, with their derived status."""
    name = zone.metadata.name or ""
    declared = declared_statuses(zone)
    return ZoneFacts(
        id=name,
        access_points=tuple(
            AccessPointFacts(
                id=ap.id,
                zone=name,
                connection_type=ap.connection_type,
                location=(ap.location.latitude, ap.location.longitude),
                operation_status=operation_status(
                    declared.get(ap.id), facts.best_rtt_ms.get(ap.id), facts.budgets_ms
                ),
                users=facts.users(ap.id),
            )
            for ap in zone.spec.access_points
        ),
    )
