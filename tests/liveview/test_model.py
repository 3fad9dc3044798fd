"""The live view's model: snapshots, deltas, and the board's bounded history."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mec_orchestrator.decisions.handover import HandoverEvent, HandoverEventKind, InstanceRef
from mec_orchestrator.decisions.liveview import (
    App,
    Batch,
    Device,
    Drop,
    Handover,
    HandoverState,
    Host,
    Instance,
    LiveBoard,
    LiveFacts,
    Put,
    Site,
    Snapshot,
    Table,
    apply,
    diff,
)
from mec_orchestrator.decisions.liveview.board import AppFacts

NAMES = st.sampled_from(["a", "b", "c", "d", "e"])
COORD = st.one_of(st.none(), st.floats(-90, 90, allow_nan=False))

sites = st.builds(Site, NAMES, NAMES, COORD, COORD)
hosts = st.builds(Host, NAMES, COORD, COORD, st.booleans(), st.booleans())
instances = st.builds(Instance, NAMES, NAMES, NAMES, st.booleans())
devices = st.builds(Device, NAMES, NAMES, NAMES, NAMES, st.one_of(st.none(), NAMES))
counts = st.integers(0, 5)
apps = st.builds(
    App, NAMES, NAMES, st.floats(1, 50), st.one_of(st.none(), st.booleans()),
    counts, counts, counts, counts, counts, counts,
)  # fmt: skip
handovers = st.builds(
    Handover, NAMES, NAMES, NAMES, NAMES, NAMES, NAMES, st.sampled_from(HandoverState),
    st.floats(0, 1e9), st.one_of(st.none(), st.floats(0, 1e9)),
    st.one_of(st.none(), st.floats(0, 1000)), NAMES,
)  # fmt: skip


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    return Snapshot.of(
        draw(st.integers(0, 1000)),
        {
            Table.SITES: draw(st.lists(sites, max_size=4)),
            Table.HOSTS: draw(st.lists(hosts, max_size=4)),
            Table.INSTANCES: draw(st.lists(instances, max_size=4)),
            Table.DEVICES: draw(st.lists(devices, max_size=6)),
            Table.APPS: draw(st.lists(apps, max_size=3)),
            Table.HANDOVERS: draw(st.lists(handovers, max_size=4)),
        },
    )


@given(snapshots(), snapshots())
def test_applying_the_deltas_to_a_snapshot_gives_the_next(a: Snapshot, b: Snapshot) -> None:
    assert apply(a, Batch(b.seq, diff(a, b))) == b


@given(snapshots())
def test_a_snapshot_differs_from_itself_by_nothing(a: Snapshot) -> None:
    assert diff(a, a) == ()


@given(snapshots(), snapshots())
def test_deltas_touch_only_what_changed(a: Snapshot, b: Snapshot) -> None:
    for delta in diff(a, b):
        if isinstance(delta, Drop):
            assert delta.key in a.table(delta.table)
            assert delta.key not in b.table(delta.table)
        else:
            assert a.table(delta.table).get(delta.item.key) != delta.item


@given(snapshots())
def test_the_json_of_a_snapshot_lists_every_item(a: Snapshot) -> None:
    body = a.json()
    assert body["seq"] == a.seq
    for table in Table:
        assert len(body[table.value]) == len(a.table(table))


def test_an_item_in_the_wrong_table_is_refused() -> None:
    host = Host("edge-a", 1.0, 2.0, True, False)
    with pytest.raises(TypeError, match="Host does not belong in table sites"):
        Snapshot.of(1, {Table.SITES: [host]})
    with pytest.raises(TypeError, match="Host put in table devices"):
        apply(Snapshot(), Batch(1, (Put(Table.DEVICES, host),)))


# -- the board ---------------------------------------------------------------------------


def step(
    kind: HandoverEventKind,
    handover_id: str,
    *,
    app: str = "ar",
    source: str = "edge-a",
    target: str = "edge-b",
    at_s: float = 100.0,
    interruption_s: float | None = None,
) -> HandoverEvent:
    return HandoverEvent(
        kind=kind,
        handover_id=handover_id,
        context_id=f"user-{handover_id}",
        namespace="city",
        app=app,
        app_d_id="ar-d",
        device_address=None,
        source=InstanceRef(source, f"city.{app}-{source}", ""),
        target=InstanceRef(target, f"city.{app}-{target}", ""),
        context_transfer="MecAssisted",
        at_s=at_s,
        interruption_s=interruption_s,
    )


FACTS = LiveFacts(
    sites=[Site("ap1", "cbd", -37.8, 144.9)],
    hosts=[Host("edge-a", -37.81, 144.95, True, False), Host("edge-b", -37.8, 145.0, True, False)],
    instances=[Instance("city", "ar", "edge-a", True), Instance("city", "ar", "edge-b", False)],
    devices=[
        Device("u1", "city", "ar", "edge-a", "ap1"),
        Device("u2", "city", "ar", "edge-b", None),
    ],
    apps=[AppFacts("city", "ar", 5.0, True)],
    moving={("city", "ar"): 1},
)


def test_the_board_counts_users_instances_and_handovers_per_app() -> None:
    board = LiveBoard("e1")
    board.handover_step(step(HandoverEventKind.TRIGGERED, "h1", at_s=10.0))
    board.handover_step(step(HandoverEventKind.COMPLETED, "h1", at_s=10.5, interruption_s=0.0123))
    board.handover_step(step(HandoverEventKind.TRIGGERED, "h2"))
    board.handover_step(step(HandoverEventKind.FAILED, "h2"))
    board.handover_step(step(HandoverEventKind.FAILED, "h2"))  # told twice: counted once
    batch = board.publish(FACTS)
    assert batch is not None
    assert batch.seq == 1
    (app,) = board.snapshot.apps.values()
    assert app == App("city", "ar", 5.0, True, 2, 2, 1, 1, 1, 1)
    h1 = board.snapshot.handovers["h1"]
    assert isinstance(h1, Handover)
    assert (h1.state, h1.started_s, h1.ended_s, h1.interruption_ms) == (
        HandoverState.COMPLETED, 10.0, 10.5, 12.3,
    )  # fmt: skip
    assert board.publish(FACTS) is None  # nothing changed: no batch


def test_an_end_heard_without_its_start_is_drawn_and_counted() -> None:
    board = LiveBoard("e1")
    board.handover_step(step(HandoverEventKind.COMPLETED, "h9", at_s=7.0))
    board.publish(FACTS)
    mark = board.snapshot.handovers["h9"]
    assert isinstance(mark, Handover)
    assert (mark.state, mark.started_s, mark.ended_s) == (HandoverState.COMPLETED, 7.0, 7.0)
    assert [a.handovers for a in board.snapshot.apps.values() if isinstance(a, App)] == [1]


def test_counters_of_an_app_that_is_gone_are_forgotten() -> None:
    board = LiveBoard("e1")
    board.handover_step(step(HandoverEventKind.COMPLETED, "h1"))
    board.publish(FACTS)
    board.publish(LiveFacts())
    board.publish(FACTS)
    assert [a.handovers for a in board.snapshot.apps.values() if isinstance(a, App)] == [0]


def test_at_most_max_devices_are_drawn_but_users_are_all_counted() -> None:
    board = LiveBoard("e1", max_devices=1)
    board.publish(FACTS)
    assert list(board.snapshot.devices) == ["u1"]
    assert [a.users for a in board.snapshot.apps.values() if isinstance(a, App)] == [2]


kinds = st.sampled_from(HandoverEventKind)
steps = st.tuples(kinds, st.sampled_from([f"h{i}" for i in range(12)]), NAMES)
readings = st.lists(
    st.tuples(st.lists(steps, max_size=4), st.lists(devices, max_size=5), st.booleans()),
    min_size=1,
    max_size=25,
)


@settings(max_examples=200)
@given(readings, st.integers(1, 5), st.integers(1, 6))
def test_the_batches_of_a_board_rebuild_each_snapshot_within_bounds(
    script: list[tuple[list[tuple[HandoverEventKind, str, str]], list[Device], bool]],
    max_handovers: int,
    max_batches: int,
) -> None:
    board = LiveBoard("e1", max_handovers=max_handovers, max_batches=max_batches)
    picture = board.snapshot
    pictures = {0: picture}
    for told, shown, with_app in script:
        for kind, handover_id, host in told:
            board.handover_step(step(kind, handover_id, target=host))
        facts = LiveFacts(devices=shown, apps=[AppFacts("city", "ar", 5.0)] if with_app else [])
        batch = board.publish(facts)
        if batch is not None:
            picture = apply(picture, batch)
            pictures[batch.seq] = picture
        assert picture == board.snapshot  # the deltas lead where the board is
        assert len(board.snapshot.handovers) <= max_handovers
        assert len(board.log) <= max_batches
    # A client that saw snapshot n gets exactly the batches after it, or a fresh snapshot.
    for seq, seen in pictures.items():
        missed = board.since(seq)
        if missed is None:
            assert seq < board.log[0].seq - 1
            continue
        caught_up = seen
        for batch in missed:
            caught_up = apply(caught_up, batch)
        assert caught_up == board.snapshot


def test_ids_of_another_epoch_or_the_future_need_a_snapshot() -> None:
    board = LiveBoard("abc1")
    board.publish(FACTS)
    assert board.event_id(1) == "abc1.1"
    assert board.seq_of("abc1.1") == 1
    assert board.seq_of("ffff.1") is None
    assert board.since(1) == ()
    assert board.since(0) == board.log
    assert board.since(7) is None  # a number this board never reached (another process's)


def test_bounds_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LiveBoard("e", max_batches=0)
