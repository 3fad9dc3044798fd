"""The agent registry on a hand-driven clock: sessions, heartbeats, lost hosts, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mec_orchestrator.adapters.agent_link import (
    AgentConnected,
    AgentLost,
    AgentRegistry,
    AgentState,
    GapReport,
    GapSummaryReceived,
    HostCapacity,
    Registration,
)


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0
        self.start = datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.now_s

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.now_s)


def registration(host: str = "edge-a") -> Registration:
    return Registration(
        host=host,
        node_names=(f"{host}-n1",),
        capacity=HostCapacity(instances=4),
        location=None,
        agent_version="1",
        agent_endpoint=None,
        reflectors={"ap-0": "h:1"},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(clock: Clock) -> AgentRegistry:
    return AgentRegistry(1.0, 3.0, clock=clock.monotonic, wall_clock=clock.wall)


def test_registering_starts_a_session_and_tells_subscribers(
    registry: AgentRegistry, clock: Clock
) -> None:
    events = registry.subscribe()
    record = registry.register(registration())
    assert record.state is AgentState.CONNECTED
    assert record.registered_at == record.last_heartbeat == clock.wall()
    assert events.pending() == [AgentConnected("edge-a", record.session_id, clock.wall(), None)]
    assert registry.session("edge-a", record.session_id) == record
    assert registry.connected_count() == 1


def test_a_new_registration_replaces_the_hosts_session(registry: AgentRegistry) -> None:
    events = registry.subscribe()
    first = registry.register(registration())
    second = registry.register(registration())
    assert second.session_id != first.session_id
    assert events.pending()[1] == AgentConnected(
        "edge-a", second.session_id, second.registered_at, first.session_id
    )
    assert registry.session("edge-a", first.session_id) is None
    assert not registry.heartbeat("edge-a", first.session_id)
    assert registry.heartbeat("edge-a", second.session_id)
    assert len(registry) == 1


def test_heartbeats_keep_a_host_alive_and_silence_loses_it(
    registry: AgentRegistry, clock: Clock
) -> None:
    events = registry.subscribe()
    session = registry.register(registration()).session_id
    events.pending()
    for _ in range(10):
        clock.now_s += 2.5
        assert registry.heartbeat("edge-a", session)
        assert registry.expire() == []
    last = registry.get("edge-a")
    assert last is not None
    assert last.last_heartbeat == clock.wall()

    clock.now_s += 3.0  # exactly the timeout: not yet
    assert registry.expire() == []
    clock.now_s += 0.01
    (lost,) = registry.expire()
    assert lost == AgentLost("edge-a", session, last.last_heartbeat, clock.wall())
    assert events.pending() == [lost]
    assert registry.expire() == []  # once
    record = registry.get("edge-a")
    assert record is not None
    assert record.state is AgentState.LOST
    assert record.lost_at == clock.wall()
    assert registry.connected_count() == 0
    # The lost session is over: heartbeats ask to register again, a registration starts anew.
    assert not registry.heartbeat("edge-a", session)
    again = registry.register(registration())
    assert events.pending() == [AgentConnected("edge-a", again.session_id, clock.wall(), None)]


def test_only_silent_hosts_are_lost(registry: AgentRegistry, clock: Clock) -> None:
    a = registry.register(registration("edge-a")).session_id
    registry.register(registration("edge-b"))
    clock.now_s += 2.0
    registry.heartbeat("edge-a", a)
    clock.now_s += 2.0
    assert [event.host for event in registry.expire()] == ["edge-b"]


def test_subscriptions_get_events_from_when_they_start_until_closed(
    registry: AgentRegistry,
) -> None:
    registry.register(registration("edge-a"))
    with registry.subscribe() as first:
        second = registry.subscribe()
        registry.register(registration("edge-b"))
        gap = GapReport(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), ())
        session = registry.get("edge-b").session_id  # type: ignore[union-attr]
        registry.record_gap("edge-b", session, gap)
    registry.register(registration("edge-c"))
    assert [type(e) for e in first.pending()] == [AgentConnected, GapSummaryReceived]
    assert [getattr(e, "host", None) for e in second.pending()] == ["edge-b", "edge-b", "edge-c"]
    assert registry.get("edge-b").last_gap == gap  # type: ignore[union-attr]


async def test_a_subscription_is_an_async_iterator(registry: AgentRegistry) -> None:
    events = registry.subscribe()
    registry.register(registration())
    async for event in events:
        assert isinstance(event, AgentConnected)
        break


def test_sample_counts_accumulate_per_host(registry: AgentRegistry) -> None:
    registry.register(registration())
    registry.count_samples("edge-a", 5)
    registry.count_samples("edge-a", 7)
    assert registry.get("edge-a").samples_ingested == 12  # type: ignore[union-attr]


@pytest.mark.parametrize(("interval", "lost_after"), [(0.0, 1.0), (2.0, 2.0), (3.0, 1.0)])
def test_the_timeout_must_exceed_the_heartbeat_interval(interval: float, lost_after: float) -> None:
    with pytest.raises(ValueError, match="heartbeat_interval_s < lost_after_s"):
        AgentRegistry(interval, lost_after)
