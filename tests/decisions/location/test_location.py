"""MEC 013 location decisions: zone facts, operation status, distance, users, zone status events,
notification bodies and time stamps (examples and properties).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.location import (
    AccessPointState,
    MeasuredFacts,
    UserNumEvent,
    ZoneSnapshot,
    ZoneStatusEvent,
    ZoneStatusFilter,
    distance_m,
    filter_users,
    from_timestamp,
    operation_status,
    snapshot,
    split_user_key,
    status_changes,
    timestamp,
    user_locations,
    users_per_access_point,
    zone_facts,
    zone_status_events,
    zone_status_notification,
)
from mec_orchestrator.model import Zone
from mec_orchestrator.model.zone import ConnectionType, OperationStatus
from tests.decisions.users.shared_settings import thorough

STATUSES = list(OperationStatus)
AP_IDS = [f"ap-{i}" for i in range(6)]

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
locations = st.tuples(latitudes, longitudes)


def _zone(name: str, *access_points: str, declared: dict[str, str] | None = None) -> Zone:
    body = {
        "metadata": {"name": name},
        "spec": {
            "accessPoints": [
                {
                    "id": ap,
                    "location": {"latitude": -37.8 + i / 100, "longitude": 144.9},
                    "connectionType": "5G NR" if i == 0 else "LTE",
                    "probeReflector": f"{ap}.example:8620",
                }
                for i, ap in enumerate(access_points)
            ]
        },
    }
    if declared:
        body["status"] = {
            "accessPoints": [{"id": ap, "operationStatus": s} for ap, s in declared.items()]
        }
    return Zone.model_validate(body)


# -- zones and access points ---------------------------------------------------------------------


def test_zone_facts_follow_the_zone_the_measurements_and_the_users() -> None:
    zone = _zone("zone-1", "ap-a", "ap-b", "ap-c", "ap-d", declared={"ap-d": "Unserviceable"})
    facts = MeasuredFacts(
        best_rtt_ms={"ap-a": 4.0, "ap-b": 40.0, "ap-d": 1.0},
        budgets_ms=(5.0, 10.0),
        users_per_access_point={"ap-a": 2, "ap-c": 1},
    )
    info = zone_facts(zone, facts)
    assert info.id == "zone-1"
    assert [ap.id for ap in info.access_points] == ["ap-a", "ap-b", "ap-c", "ap-d"]
    by_id = {ap.id: ap for ap in info.access_points}
    assert by_id["ap-a"].operation_status is OperationStatus.SERVICEABLE  # 2 ms one way <= 10
    assert by_id["ap-b"].operation_status is OperationStatus.UNSERVICEABLE  # 20 ms > every budget
    assert by_id["ap-c"].operation_status is OperationStatus.UNKNOWN  # never measured
    assert by_id["ap-d"].operation_status is OperationStatus.UNSERVICEABLE  # declared wins
    assert by_id["ap-a"].connection_type is ConnectionType.NR_5G
    assert (info.number_of_access_points, info.number_of_unserviceable_access_points) == (4, 2)
    assert info.number_of_users == 3
    assert info.access_point("ap-c") is by_id["ap-c"]
    assert info.access_point("nope") is None


@given(
    declared=st.sampled_from([None, *STATUSES]),
    rtt=st.none() | st.floats(min_value=0, max_value=1000),
    budgets=st.lists(st.floats(min_value=0.1, max_value=500), max_size=4),
)
def test_operation_status_rule(
    declared: OperationStatus | None, rtt: float | None, budgets: list[float]
) -> None:
    status = operation_status(declared, rtt, budgets)
    if declared in (OperationStatus.SERVICEABLE, OperationStatus.UNSERVICEABLE):
        assert status is declared
    elif rtt is None:
        assert status is OperationStatus.UNKNOWN
    else:
        within = not budgets or any(rtt / 2 <= b for b in budgets)
        assert status is (OperationStatus.SERVICEABLE if within else OperationStatus.UNSERVICEABLE)


# -- distance and users --------------------------------------------------------------------------


@thorough(300)
@given(a=locations, b=locations)
def test_distance_is_symmetric_non_negative_and_zero_to_itself(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    assert distance_m(a, b) == distance_m(b, a)
    assert distance_m(a, a) == 0
    assert 0 <= distance_m(a, b) <= 20_016_000  # at most half the circumference


@thorough(200)
@given(a=locations, b=locations, c=locations)
def test_distance_obeys_the_triangle_inequality(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]
) -> None:
    assert distance_m(a, c) <= distance_m(a, b) + distance_m(b, c) + 2  # whole metres


def test_distance_examples() -> None:
    assert distance_m((0.0, 0.0), (0.0, 1.0)) == pytest.approx(111_195, abs=1)
    assert distance_m((90.0, 0.0), (-90.0, 0.0)) == pytest.approx(
        20_015_114, abs=2
    )  # pi x mean radius


def test_users_are_the_engine_users_on_known_access_points() -> None:
    keys = ["ns/app1/acr:1", "ns/app2/acr:1", "ns/app1/acr:2", "other/app/acr:3", "bad-key"]
    aps = {"ap-a": ("zone-1", (1.0, 2.0)), "ap-b": ("zone-2", (3.0, 4.0))}
    attached = {"ns/app1/acr:1": "ap-a", "ns/app2/acr:1": "ap-b", "ns/app1/acr:2": "ap-x"}
    attached["other/app/acr:3"] = "ap-b"
    users = user_locations(keys, attached.get, aps, "ns")
    assert [(u.address, u.access_point, u.zone) for u in users] == [("acr:1", "ap-a", "zone-1")]
    everyone = user_locations(keys, attached.get, aps)
    assert [u.address for u in everyone] == ["acr:1", "acr:3"]
    assert users_per_access_point(everyone) == {"ap-a": 1, "ap-b": 1}
    assert filter_users(everyone, zones=["zone-2"]) == [everyone[1]]
    assert filter_users(everyone, access_points=["ap-a"], addresses=["acr:3"]) == []
    assert filter_users(everyone) == everyone
    assert split_user_key("a/b/c/d") == ("a", "b", "c/d")
    assert split_user_key("a//c") is None


# -- zone status events --------------------------------------------------------------------------

access_point_states = st.builds(
    AccessPointState, st.sampled_from(STATUSES), st.integers(min_value=0, max_value=20)
)
snapshots = st.builds(
    lambda aps: ZoneSnapshot("zone-1", tuple(sorted(aps.items()))),
    st.dictionaries(st.sampled_from(AP_IDS), access_point_states, max_size=6),
)
maybe_snapshots = st.none() | snapshots
filters = st.builds(
    ZoneStatusFilter,
    zone_id=st.sampled_from(["zone-1", "zone-2"]),
    operation_status=st.none() | st.frozensets(st.sampled_from(STATUSES)),
    upper_users_zone=st.none() | st.integers(min_value=0, max_value=40),
    lower_users_zone=st.none() | st.integers(min_value=0, max_value=40),
    upper_users_access_point=st.none() | st.integers(min_value=0, max_value=20),
    lower_users_access_point=st.none() | st.integers(min_value=0, max_value=20),
)


@thorough(400)
@given(wanted=filters, before=maybe_snapshots, after=maybe_snapshots)
def test_a_filter_matches_exactly_the_events_it_names(
    wanted: ZoneStatusFilter, before: ZoneSnapshot | None, after: ZoneSnapshot | None
) -> None:
    events = zone_status_events(wanted, before, after)
    if wanted.zone_id != "zone-1" or (before is None and after is None):
        assert events == []
        return
    old = before.by_id() if before else {}
    new = after.by_id() if after else {}
    # Operation status: exactly the changed access points whose new status the filter names.
    expected_status = []
    for ap in sorted(set(old) | set(new)):
        now = new[ap].operation_status if ap in new else OperationStatus.UNSERVICEABLE
        changed = ap not in old or ap not in new or old[ap].operation_status is not now
        if changed and (not wanted.operation_status or now in wanted.operation_status):
            expected_status.append(ZoneStatusEvent("zone-1", ap, now))
    assert [e for e in events if e.operation_status is not None] == expected_status
    # User counts: an event exactly when a threshold the filter sets is crossed.
    user_events = [e for e in events if e.user_num_event is not None]
    assert all(e.operation_status is None for e in user_events)
    zone_before = sum(s.users for s in old.values())
    zone_after = sum(s.users for s in new.values())
    up = wanted.upper_users_zone
    over = up is not None and zone_before <= up < zone_after
    assert (
        ZoneStatusEvent("zone-1", None, None, UserNumEvent.OVER_ZONE_UPPER_THD) in events
    ) == over
    low = wanted.lower_users_zone
    under = low is not None and zone_before >= low > zone_after
    assert (
        ZoneStatusEvent("zone-1", None, None, UserNumEvent.UNDER_ZONE_LOWER_THD) in events
    ) == under
    for e in user_events:
        if e.access_point_id is None:
            continue
        was = old[e.access_point_id].users if e.access_point_id in old else 0
        now_users = new[e.access_point_id].users if e.access_point_id in new else 0
        if e.user_num_event is UserNumEvent.OVER_AP_UPPER_THD:
            assert wanted.upper_users_access_point is not None
            assert was <= wanted.upper_users_access_point < now_users
        else:
            assert wanted.lower_users_access_point is not None
            assert was >= wanted.lower_users_access_point > now_users


@given(snap=maybe_snapshots)
def test_no_change_no_status_event(snap: ZoneSnapshot | None) -> None:
    assert status_changes(snap, snap) == []
    assert zone_status_events(ZoneStatusFilter("zone-1", upper_users_zone=0), snap, snap) == []


def test_adding_removing_and_declaring_access_points() -> None:
    facts = MeasuredFacts(best_rtt_ms={"ap-a": 2.0})
    one = snapshot(zone_facts(_zone("zone-1", "ap-a"), facts))
    two = snapshot(zone_facts(_zone("zone-1", "ap-a", "ap-b"), facts))
    down = snapshot(
        zone_facts(_zone("zone-1", "ap-a", "ap-b", declared={"ap-a": "Unserviceable"}), facts)
    )
    every = ZoneStatusFilter("zone-1")
    assert zone_status_events(every, one, two) == [
        ZoneStatusEvent("zone-1", "ap-b", OperationStatus.UNKNOWN)
    ]
    assert zone_status_events(every, two, one) == [
        ZoneStatusEvent("zone-1", "ap-b", OperationStatus.UNSERVICEABLE)
    ]
    assert zone_status_events(every, two, down) == [
        ZoneStatusEvent("zone-1", "ap-a", OperationStatus.UNSERVICEABLE)
    ]
    only_serviceable = ZoneStatusFilter("zone-1", frozenset({OperationStatus.SERVICEABLE}))
    assert zone_status_events(only_serviceable, one, two) == []
    assert zone_status_events(only_serviceable, None, one) == [
        ZoneStatusEvent("zone-1", "ap-a", OperationStatus.SERVICEABLE)
    ]
    assert zone_status_events(ZoneStatusFilter("zone-2"), one, two) == []


# -- bodies and time stamps ----------------------------------------------------------------------


@given(
    at=st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
def test_timestamps_round_trip(at: datetime) -> None:
    stamp = timestamp(at)
    assert 0 <= stamp["nanoSeconds"] < 1_000_000_000
    assert from_timestamp(stamp["seconds"], stamp["nanoSeconds"]) == at


def test_timestamps_refuse_what_is_not_one() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        timestamp(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="nanoSeconds"):
        from_timestamp(1, 1_000_000_000)
    later = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(microseconds=5)
    assert timestamp(later)["nanoSeconds"] == 5000


def test_zone_status_notification_body() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = zone_status_notification(
        ZoneStatusEvent("zone-1", "ap-a", OperationStatus.SERVICEABLE), "http://h/s/1", at
    )
    assert body == {
        "zoneStatusNotification": {
            "notificationType": "ZoneStatusNotification",
            "zoneId": "zone-1",
            "accessPointId": "ap-a",
            "operationStatus": "Serviceable",
            "timeStamp": {"seconds": 1735787045, "nanoSeconds": 0},
            "_links": {"subscription": {"href": "http://h/s/1"}, "self": {"href": "http://h/s/1"}},
        }
    }
    users = zone_status_notification(
        ZoneStatusEvent("zone-1", user_num_event=UserNumEvent.OVER_ZONE_UPPER_THD), "u", at
    )
    assert users["zoneStatusNotification"]["userNumEvent"] == 1
    assert "accessPointId" not in users["zoneStatusNotification"]
