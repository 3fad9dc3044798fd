"""GS MEC 013 location, decided without I/O.

Zone and access point information from Zones and measurements, users and distances, which zone
status subscriptions a change matches, and the notification bodies.
"""

from mec_orchestrator.decisions.location.notifications import (
    etsi_test_notification,
    from_timestamp,
    timestamp,
    zone_status_notification,
)
from mec_orchestrator.decisions.location.users import (
    UserLocation,
    distance_m,
    filter_users,
    split_user_key,
    user_locations,
    users_per_access_point,
)
from mec_orchestrator.decisions.location.zone_status import (
    AccessPointState,
    UserNumEvent,
    ZoneSnapshot,
    ZoneStatusEvent,
    ZoneStatusFilter,
    snapshot,
    status_changes,
    statuses,
    zone_status_events,
)
from mec_orchestrator.decisions.location.zones import (
    NO_FACTS,
    AccessPointFacts,
    Location,
    MeasuredFacts,
    ZoneFacts,
    operation_status,
    zone_facts,
)

__all__ = [
    "NO_FACTS",
    "AccessPointFacts",
    "AccessPointState",
    "Location",
    "MeasuredFacts",
    "UserLocation",
    "UserNumEvent",
    "ZoneFacts",
    "ZoneSnapshot",
    "ZoneStatusEvent",
    "ZoneStatusFilter",
    "distance_m",
    "etsi_test_notification",
    "filter_users",
    "from_timestamp",
    "operation_status",
    "snapshot",
    "split_user_key",
    "status_changes",
    "statuses",
    "timestamp",
    "user_locations",
    "users_per_access_point",
    "zone_facts",
    "zone_status_events",
    "zone_status_notification",
]
