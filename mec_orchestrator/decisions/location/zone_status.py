"""Which ZoneStatusSubscriptions a change of a zone matches, and with which events.

A zone changes when its Zone object does: access points added, removed, or declared in or out of
service. The change is the pair of `ZoneSnapshot`s before and after (None: the zone is absent),
both computed with the same measurements, so an event always comes from the Zone itself.

Events (GS MEC 013 clause 6.4.7, ZoneStatusNotification):

- **operationStatus**: an access point that appears (added to the zone, or the zone created)
  reports its status; one whose status changed reports the new one; one that disappears
  (removed, or the zone deleted) reports `Unserviceable` — it no longer serves the zone. A
  subscription's `operationStatus` list names the statuses it wants; absent or empty, every
  status is wanted.
- **userNumEvent**: the number of users of the zone (or of one of its access points; absent
  counts 0) crosses a threshold of the subscription: upward past an upper threshold
  (before <= threshold < after: OVER_ZONE_UPPER_THD = 1, OVER_AP_UPPER_THD = 3), downward past
  a lower one (before >= threshold > after: UNDER_ZONE_LOWER_THD = 2, UNDER_AP_LOWER_THD = 4).

A subscription matches a change only for its own zoneId; the events come in the order: status
events by access point id, then the zone's user event, then access points' user events by id.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import IntEnum

from mec_orchestrator.decisions.location.zones import ZoneFacts
from mec_orchestrator.model.zone import OperationStatus


class UserNumEvent(IntEnum):
    """MEC 013 ZoneStatusNotification.userNumEvent."""

    OVER_ZONE_UPPER_THD = 1
    UNDER_ZONE_LOWER_THD = 2
    OVER_AP_UPPER_THD = 3
    UNDER_AP_LOWER_THD = 4


@dataclass(frozen=True, slots=True)
class AccessPointState:
    operation_status: OperationStatus
    users: int = 0


@dataclass(frozen=True, slots=True)
class ZoneSnapshot:
    """What notifications compare: each access point's status and users, sorted by id."""

    zone: str
    access_points: tuple[tuple[str, AccessPointState], ...] = ()

    def by_id(self) -> dict[str, AccessPointState]:
        return dict(self.access_points)

    @property
    def users(self) -> int:
        return sum(state.users for _, state in self.access_points)


def snapshot(zone: ZoneFacts) -> ZoneSnapshot:
    states = {ap.id: AccessPointState(ap.operation_status, ap.users) for ap in zone.access_points}
    return ZoneSnapshot(zone=zone.id, access_points=tuple(sorted(states.items())))


def _access_points(snap: ZoneSnapshot | None) -> dict[str, AccessPointState]:
    return snap.by_id() if snap is not None else {}


@dataclass(frozen=True, slots=True)
class ZoneStatusFilter:
    """What a ZoneStatusSubscription asks for (absent thresholds: no user events of that kind)."""

    zone_id: str
    operation_status: frozenset[OperationStatus] | None = None  # None or empty: every status
    upper_users_zone: int | None = None
    lower_users_zone: int | None = None
    upper_users_access_point: int | None = None
    lower_users_access_point: int | None = None

    def wants(self, status: OperationStatus) -> bool:
        return not self.operation_status or status in self.operation_status


@dataclass(frozen=True, slots=True)
class ZoneStatusEvent:
    """One ZoneStatusNotification's content (besides links and time)."""

    zone_id: str
    access_point_id: str | None = None
    operation_status: OperationStatus | None = None
    user_num_event: UserNumEvent | None = None


def status_changes(
    before: ZoneSnapshot | None, after: ZoneSnapshot | None
) -> list[tuple[str, OperationStatus]]:
    """(access point id, new status) for each access point that appeared, changed or left."""
    old, new = _access_points(before), _access_points(after)
    changes: list[tuple[str, OperationStatus]] = []
    for access_point in sorted(set(old) | set(new)):
        was, now = old.get(access_point), new.get(access_point)
        if now is None:
            changes.append((access_point, OperationStatus.UNSERVICEABLE))
        elif was is None or was.operation_status is not now.operation_status:
            changes.append((access_point, now.operation_status))
    return changes


def crossing(before: int, after: int, upper: int | None, lower: int | None) -> tuple[bool, bool]:
    """(crossed upward past upper, crossed downward past lower)."""
    up = upper is not None and before <= upper < after
    down = lower is not None and before >= lower > after
    return up, down


def zone_status_events(
    wanted: ZoneStatusFilter, before: ZoneSnapshot | None, after: ZoneSnapshot | None
) -> list[ZoneStatusEvent]:
    """The events of this change that the subscription asks for (module docstring)."""
    zone = after.zone if after is not None else before.zone if before is not None else None
    if zone is None or zone != wanted.zone_id:
        return []
    events = [
        ZoneStatusEvent(zone, access_point, status)
        for access_point, status in status_changes(before, after)
        if wanted.wants(status)
    ]
    users_before = before.users if before is not None else 0
    users_after = after.users if after is not None else 0
    up, down = crossing(users_before, users_after, wanted.upper_users_zone, wanted.lower_users_zone)
    if up:
        events.append(ZoneStatusEvent(zone, user_num_event=UserNumEvent.OVER_ZONE_UPPER_THD))
    if down:
        events.append(ZoneStatusEvent(zone, user_num_event=UserNumEvent.UNDER_ZONE_LOWER_THD))
    old, new = _access_points(before), _access_points(after)
    for access_point in sorted(set(old) | set(new)):
        was = old[access_point].users if access_point in old else 0
        now = new[access_point].users if access_point in new else 0
        up, down = crossing(
            was, now, wanted.upper_users_access_point, wanted.lower_users_access_point
        )
        if up:
            events.append(
                ZoneStatusEvent(zone, access_point, user_num_event=UserNumEvent.OVER_AP_UPPER_THD)
            )
        if down:
            events.append(
                ZoneStatusEvent(zone, access_point, user_num_event=UserNumEvent.UNDER_AP_LOWER_THD)
            )
    return events


def statuses(names: Collection[str] | None) -> frozenset[OperationStatus] | None:
    """The OperationStatus values named (ETSI spelling); None when none is named."""
    if not names:
        return None
    return frozenset(OperationStatus(name) for name in names)
