"""Which MEC 013 location events a user's move makes, and their notification bodies.

A user (a device, by MEC 013 address `acr:<IPv4>`) is somewhere while it has at least one
application context: at the access point (and so the zone) its cell maps to. Attaching puts it
there, a cell change moves it, leaving the last context takes it away. From the position
before and after (None: nowhere):

- **UserLocationEventSubscription** (clause 6.3.4, for one address): crossing into another
  zone is LEAVING_AREA_EVENT of the old zone then ENTERING_AREA_EVENT of the new one; a move
  between access points of one zone is ENTERING_AREA_EVENT of the new access point (the user
  entered its area).
- **ZoneLocationEventSubscription** (clause 6.3.3, for one zone, optionally some addresses):
  ENTERING_AREA_EVENT when the user comes into the zone, LEAVING_AREA_EVENT when it goes out;
  moves inside the zone are not zonal events.

A subscription's `locationEventCriteria` lists the events it wants (absent: both).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mec_orchestrator.decisions.location.notifications import links, timestamp

ENTERING = "ENTERING_AREA_EVENT"
LEAVING = "LEAVING_AREA_EVENT"


@dataclass(frozen=True, slots=True)
class Position:
    zone: str
    access_point: str


@dataclass(frozen=True, slots=True)
class LocationEvent:
    """One event of one user: what happened, in which zone, at which access point."""

    address: str
    event: str
    zone: str
    access_point: str


def user_events(
    address: str, before: Position | None, after: Position | None
) -> list[LocationEvent]:
    """The events a UserLocationEventSubscription for address sees, in order."""
    if before == after:
        return []
    events: list[LocationEvent] = []
    if before is not None and (after is None or after.zone != before.zone):
        events.append(LocationEvent(address, LEAVING, before.zone, before.access_point))
    if after is not None:
        events.append(LocationEvent(address, ENTERING, after.zone, after.access_point))
    return events


def zone_events(
    address: str, before: Position | None, after: Position | None
) -> list[LocationEvent]:
    """The events ZoneLocationEventSubscriptions see: only crossings of a zone's border."""
    return [
        e
        for e in user_events(address, before, after)
        if before is None or after is None or before.zone != after.zone
    ]


def wanted(criteria: Collection[str] | None, event: LocationEvent) -> bool:
    return not criteria or event.event in criteria


def user_location_event_notification(
    event: LocationEvent, subscription_href: str, at: datetime
) -> dict[str, Any]:
    """UserLocationEventNotification (clause 6.4.4)."""
    return {
        "userLocationEventNotification": {
            "notificationType": "UserLocationEventNotification",
            "address": event.address,
            "userLocationEvent": event.event,
            "zoneId": event.zone,
            "accessPointId": event.access_point,
            "timeStamp": timestamp(at),
            "_links": links(subscription_href),
        }
    }


def zone_location_event_notification(
    event: LocationEvent, subscription_href: str, at: datetime
) -> dict[str, Any]:
    """ZoneLocationEventNotification (clause 6.4.6)."""
    return {
        "zoneLocationEventNotification": {
            "notificationType": "ZoneLocationEventNotification",
            "address": event.address,
            "userLocationEvent": event.event,
            "zoneId": event.zone,
            "timeStamp": timestamp(at),
            "_links": links(subscription_href),
        }
    }
