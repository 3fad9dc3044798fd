"""GS MEC 013 notification bodies and time stamps, as JSON-ready dictionaries.

Bodies carry the lower-camel root element the MEC 013 file defines for its callbacks
(`{"zoneStatusNotification": {...}}`). `_links` has `subscription` (the GS's link to the
subscription the notification belongs to) and also `self` pointing at the same subscription:
the file's `_links` type requires `self`, and a notification has no URI of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mec_orchestrator.decisions.location.zone_status import ZoneStatusEvent

NANOS = 1_000_000_000


def timestamp(at: datetime) -> dict[str, int]:
    """MEC 013 TimeStamp of an aware datetime: Unix seconds and nanoseconds."""
    if at.tzinfo is None:
        raise ValueError("the time must be timezone-aware")
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    seconds = delta.days * 86_400 + delta.seconds
    return {"seconds": seconds, "nanoSeconds": delta.microseconds * 1000}


def from_timestamp(seconds: int, nano_seconds: int) -> datetime:
    """The aware datetime of a MEC 013 TimeStamp (to the microsecond)."""
    if not 0 <= nano_seconds < NANOS:
        raise ValueError(f"nanoSeconds must be from 0 to {NANOS - 1}")
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=nano_seconds // 1000)


def links(subscription_href: str) -> dict[str, dict[str, str]]:
    return {"subscription": {"href": subscription_href}, "self": {"href": subscription_href}}


def zone_status_notification(
    event: ZoneStatusEvent, subscription_href: str, at: datetime
) -> dict[str, Any]:
    """The ZoneStatusNotification (clause 6.4.7) of one event."""
    body: dict[str, Any] = {
        "notificationType": "ZoneStatusNotification",
        "zoneId": event.zone_id,
        "timeStamp": timestamp(at),
        "_links": links(subscription_href),
    }
    if event.access_point_id is not None:
        body["accessPointId"] = event.access_point_id
    if event.operation_status is not None:
        body["operationStatus"] = event.operation_status.value
    if event.user_num_event is not None:
        body["userNumEvent"] = int(event.user_num_event)
    return {"zoneStatusNotification": body}


def etsi_test_notification(subscription_href: str) -> dict[str, Any]:
    """The TestNotification (clause 6.4.3, GS MEC 009 clause 6.12a) of a subscription."""
    return {
        "testNotification": {
            "notificationType": "TestNotification",
            "_links": links(subscription_href),
        }
    }
