"""The live view's feed over a real operator state and users' directory (agents in memory)."""

from __future__ import annotations

import asyncio

from mec_orchestrator.decisions.liveview import (
    App,
    Batch,
    Device,
    Handover,
    HandoverState,
    Instance,
    Put,
    Site,
    Table,
    apply,
)
from mec_orchestrator.operator.live_feed import LiveFeed, LiveSubscription, read_facts
from tests.liveview.live_server import DEVICES, world
from tests.operator.test_users import deployment


async def test_the_facts_are_the_state_s_hosts_sites_instances_users_and_apps() -> None:
    s = await world()
    facts = read_facts(s.state)
    assert [h.name for h in facts.hosts] == ["edge-a", "edge-b", "edge-c"]
    assert (facts.hosts[0].lat, facts.hosts[0].lon) == (-37.81, 144.95)
    assert [site.id for site in facts.sites] == ["ap1", "ap2", "ap3", "ap4"]
    assert {(i.host, i.ready) for i in facts.instances} == {
        ("edge-a", True), ("edge-b", True), ("edge-c", True),
    }  # fmt: skip
    assert {(d.host, d.access_point) for d in facts.devices} == {("edge-a", "ap1")}
    assert len(facts.devices) == len(DEVICES)
    (app,) = facts.apps
    assert (app.namespace, app.name, app.slo_ms) == ("city", "ar", 5.0)


async def test_a_handover_reaches_a_subscriber_with_all_it_changed() -> None:
    s = await world()
    feed = LiveFeed(s.state, min_interval_s=0.05, poll_s=10)
    await feed.start()
    try:
        seen = feed.board.snapshot
        client = feed.subscribe()
        (result,) = await s.users.device_moved(DEVICES[0], "ap2")
        assert result.target == "edge-c"
        while not any(  # its start may have been published on its own
            isinstance(h, Handover) and h.state is not HandoverState.STARTED
            for h in seen.handovers.values()
        ):
            batch = await asyncio.wait_for(client.next(), 2)
            assert batch is not None
            seen = apply(seen, batch)
        moved = seen.devices[result.context_id]
        assert isinstance(moved, Device)
        assert (moved.host, moved.access_point) == ("edge-c", "ap2")
        (mark,) = seen.handovers.values()
        assert isinstance(mark, Handover)
        assert (mark.source, mark.target, mark.state) == (
            "edge-a",
            "edge-c",
            HandoverState.COMPLETED,
        )
        assert mark.interruption_ms == 2.0  # the agents' fenced time
        (app,) = seen.apps.values()
        assert isinstance(app, App)
        assert (app.handovers, app.failures, app.users) == (1, 0, 3)
        assert feed.publish() is None  # everything the move changed has been published
    finally:
        await feed.stop()


async def test_an_instance_that_stops_being_ready_is_published() -> None:
    s = await world()
    feed = LiveFeed(s.state, min_interval_s=0.01, poll_s=10)
    await feed.start()
    try:
        client = feed.subscribe()
        s.state.view.update_instance("d-edge-b", deployment("edge-b", ready=False))
        s.state.kick("city", "ar")  # as the Deployment handler does
        batch = await asyncio.wait_for(client.next(), 2)
        assert batch is not None
        puts = {(d.table, d.item.key) for d in batch.deltas if isinstance(d, Put)}
        assert (Table.INSTANCES, "city/ar@edge-b") in puts
        assert feed.board.snapshot.instances["city/ar@edge-b"] == Instance(
            "city", "ar", "edge-b", ready=False
        )
    finally:
        await feed.stop()


async def test_a_client_too_far_behind_is_dropped_not_buffered() -> None:
    s = await world()
    feed = LiveFeed(s.state, min_interval_s=0.01, poll_s=10, max_client_deltas=3)
    await feed.start()
    try:
        slow = feed.subscribe()
        for ap in ("ap2", "ap1", "ap2"):  # never read: the third batch overflows its buffer
            await s.users.device_moved(DEVICES[0], ap)
            feed.publish()
        assert slow.dropped
        assert feed.clients == 0
        assert feed.dropped_clients == 1
        assert await slow.next() is None  # its stream ends; the browser reconnects
    finally:
        await feed.stop()


async def test_stopping_the_feed_ends_every_stream_and_unsubscribes() -> None:
    s = await world()
    feed = LiveFeed(s.state, min_interval_s=0.01, poll_s=10)
    await feed.start()
    client = feed.subscribe()
    await feed.stop()
    assert await asyncio.wait_for(client.next(), 1) is None
    changes = len(s.state._change_observers)
    assert changes == 0  # the feed no longer listens to the state


async def test_a_subscription_keeps_at_most_its_bound() -> None:
    sub = LiveSubscription(max_deltas=2)
    one = Batch(1, (Put(Table.SITES, _site("a")),))
    assert sub.offer(one)
    assert sub.offer(Batch(2, (Put(Table.SITES, _site("b")),)))
    assert not sub.offer(Batch(3, (Put(Table.SITES, _site("c")),)))
    assert await sub.next() is None  # dropped: what it held is gone too


def _site(name: str) -> Site:
    return Site(name, "z", None, None)
