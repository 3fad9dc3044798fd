"""Users as GS MEC 013 sees them, and the distance between users and locations.

The placement engine keys a user `namespace/app/user`; the MEC 013 address of the user is the
`user` part (the device's address, e.g. `acr:10.0.0.1`, as MEC 016 gives it when it attaches).
A device that uses two apps is one MEC 013 user. A user's location is that of the access point
it is attached to: the orchestrator knows no finer position, so distances are between access
points (zero between two users on the same one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from mec_orchestrator.decisions.latency.estimate import EARTH_RADIUS_KM
from mec_orchestrator.decisions.location.zones import Location


@dataclass(frozen=True, slots=True)
class UserLocation:
    """A user (by MEC 013 address), the access point and zone it is on, where that stands."""

    address: str
    access_point: str
    zone: str
    location: Location


def split_user_key(key: str) -> tuple[str, str, str] | None:
    """(namespace, app, address) of an engine user key, None when it is not one."""
    parts = key.split("/", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def user_locations(
    user_keys: Iterable[str],
    access_point_of: Callable[[str], str | None],
    access_points: Mapping[str, tuple[str, Location]],
    namespace: str | None = None,
) -> list[UserLocation]:
    """Every user (of namespace, or of all when None) on an access point some Zone has.

    access_point_of: the access point an engine user key is attached to (None: not attached).
    access_points: access point id -> (zone, location). Sorted by address; a device with
    several users (apps) appears once, on the access point of its first key in sorted order.
    """
    found: dict[str, UserLocation] = {}
    for key in sorted(user_keys):
        split = split_user_key(key)
        if split is None or (namespace is not None and split[0] != namespace):
            continue
        address = split[2]
        access_point = access_point_of(key)
        if address in found or access_point is None or access_point not in access_points:
            continue
        zone, location = access_points[access_point]
        found[address] = UserLocation(address, access_point, zone, location)
    return [found[a] for a in sorted(found)]


def users_per_access_point(users: Iterable[UserLocation]) -> dict[str, int]:
    """How many distinct users each access point has."""
    counts: dict[str, int] = {}
    for user in users:
        counts[user.access_point] = counts.get(user.access_point, 0) + 1
    return counts


def filter_users(
    users: Iterable[UserLocation],
    *,
    zones: Iterable[str] = (),
    access_points: Iterable[str] = (),
    addresses: Iterable[str] = (),
) -> list[UserLocation]:
    """The users on any of the zones, any of the access points and any of the addresses given.

    Each criterion left empty does not restrict (MEC 013 /queries/users query parameters).
    """
    wanted_zones, wanted_aps, wanted_addresses = set(zones), set(access_points), set(addresses)
    return [
        u
        for u in users
        if (not wanted_zones or u.zone in wanted_zones)
        and (not wanted_aps or u.access_point in wanted_aps)
        and (not wanted_addresses or u.address in wanted_addresses)
    ]


def distance_m(here: Location, there: Location) -> int:
    """Great-circle distance (haversine) in whole metres (MEC 013 TerminalDistance.distance)."""
    p1, p2 = math.radians(here[0]), math.radians(there[0])
    dp, dl = p2 - p1, math.radians(there[1] - here[1])
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_KM * 1000.0 * math.asin(math.sqrt(min(1.0, max(0.0, a)))))
