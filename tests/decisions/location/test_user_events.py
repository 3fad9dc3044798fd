"""MEC 013 user-location and zonal-presence events of a user's move (pure), by example and as
properties over every pair of positions."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.location.user_events import (
    ENTERING,
    LEAVING,
    Position,
    user_events,
    user_location_event_notification,
    wanted,
    zone_events,
)

A1, A2, B1 = Position("a", "a1"), Position("a", "a2"), Position("b", "b1")
positions = st.one_of(
    st.none(),
    st.builds(Position, st.sampled_from(["a", "b"]), st.sampled_from(["p1", "p2"])),
)


def test_examples() -> None:
    assert [(e.event, e.access_point) for e in user_events("u", None, A1)] == [(ENTERING, "a1")]
    assert [(e.event, e.access_point) for e in user_events("u", A1, A2)] == [(ENTERING, "a2")]
    assert [(e.event, e.zone) for e in user_events("u", A1, B1)] == [
        (LEAVING, "a"),
        (ENTERING, "b"),
    ]
    assert [(e.event, e.zone) for e in user_events("u", A2, None)] == [(LEAVING, "a")]
    assert zone_events("u", A1, A2) == []  # inside one zone: no zonal event
    assert [(e.event, e.zone) for e in zone_events("u", A1, B1)] == [
        (LEAVING, "a"),
        (ENTERING, "b"),
    ]


@given(positions, positions)
def test_events_follow_the_positions(before: Position | None, after: Position | None) -> None:
    events = user_events("u", before, after)
    assert (events == []) == (before == after)
    kinds = [e.event for e in events]
    assert kinds in ([], [ENTERING], [LEAVING], [LEAVING, ENTERING])
    if after is not None and events:
        assert (events[-1].zone, events[-1].access_point) == (after.zone, after.access_point)
    if before is not None and kinds[:1] == [LEAVING]:
        assert events[0].zone == before.zone
    zonal = zone_events("u", before, after)
    assert all(e in events for e in zonal)
    if before is not None and after is not None and before.zone == after.zone:
        assert zonal == []


def test_criteria_and_body() -> None:
    (event,) = user_events("acr:10.0.0.1", None, A1)
    assert wanted(None, event)
    assert wanted([ENTERING], event)
    assert not wanted([LEAVING], event)
    body = user_location_event_notification(event, "http://x/s/1", datetime(2026, 1, 1, tzinfo=UTC))
    inner = body["userLocationEventNotification"]
    assert (inner["address"], inner["zoneId"], inner["accessPointId"]) == (
        "acr:10.0.0.1",
        "a",
        "a1",
    )
    assert inner["_links"]["subscription"] == {"href": "http://x/s/1"}
