"""The delay line's decisions without sockets: forwarding, scheduling, loss and ground truth."""

from __future__ import annotations

import pytest

from mec_devtools.sim.network.forwarding import LOST, PENDING, SENT, DelayLine
from mec_devtools.sim.network.frames import mac_bytes, payload_digest
from mec_devtools.sim.network.links import NS_PER_MS, LinkParams
from tests.devtools.sim.frames_util import arp_frame, seeded, udp_frame

MACS = {"root": "02:00:c6:12:00:01", "a": "02:00:c6:12:00:02", "b": "02:00:c6:12:00:03"}
T0 = 1_700_000_000_000_000_000


def line_with_ports(seed: int = 1) -> DelayLine:
    line = DelayLine(rng=seeded(seed))
    for name, mac in MACS.items():
        line.add_port(name, mac_bytes(mac))
    return line


def drain(line: DelayLine, now: int) -> list[tuple[str, int]]:
    out = []
    while (item := line.pop_due(now)) is not None:
        entry, _ = item
        line.sent(entry, entry.due_ns, entry.due_ns + 1)
        out.append((entry.egress, entry.due_ns))
    return out


def test_unicast_goes_to_the_static_port_only_after_its_delay() -> None:
    line = line_with_ports()
    line.set_link("a", "b", LinkParams.from_ms(5.0))
    assert line.receive("a", udp_frame(MACS["a"], MACS["b"], b"x"), T0) == 1
    assert line.pop_due(T0 + 5 * NS_PER_MS - 1) is None
    assert drain(line, T0 + 5 * NS_PER_MS) == [("b", T0 + 5 * NS_PER_MS)]


def test_broadcast_is_flooded_with_each_pair_delay() -> None:
    line = line_with_ports()
    line.set_link("a", "b", LinkParams.from_ms(2.0))
    line.set_link("a", "root", LinkParams.from_ms(7.0))
    assert line.receive("a", arp_frame(MACS["a"]), T0) == 2
    assert sorted(drain(line, T0 + 10 * NS_PER_MS)) == [
        ("b", T0 + 2 * NS_PER_MS),
        ("root", T0 + 7 * NS_PER_MS),
    ]


def test_unknown_destination_is_flooded_then_learned() -> None:
    line = DelayLine(rng=seeded(1))
    for name in ("x", "y", "z"):
        line.add_port(name)
    unknown = "02:aa:00:00:00:01"
    line.receive("x", udp_frame("02:aa:00:00:00:09", unknown, b"1"), T0)
    assert {egress for egress, _ in drain(line, T0)} == {"y", "z"}
    line.receive("z", udp_frame(unknown, "02:aa:00:00:00:09", b"2"), T0)
    assert drain(line, T0) == [("x", T0)]
    line.receive("y", udp_frame("02:aa:00:00:00:05", unknown, b"3"), T0)
    assert drain(line, T0) == [("z", T0)]


def test_frame_for_its_own_port_is_not_sent_back() -> None:
    line = line_with_ports()
    assert line.receive("a", udp_frame(MACS["b"], MACS["a"], b"x"), T0) == 0
    assert line.unroutable == 1


def test_copies_of_one_pair_never_overtake_each_other_under_jitter() -> None:
    line = line_with_ports(seed=5)
    line.set_link("a", "b", LinkParams.from_ms(10.0, jitter_ms=5.0))
    for i in range(200):
        line.receive("a", udp_frame(MACS["a"], MACS["b"], i.to_bytes(2, "big")), T0 + i * 100_000)
    records, _ = line.truth()
    dues = [r.due_ns for r in records]
    assert dues == sorted(dues)
    assert max(d - r.enter_ns for d, r in zip(dues, records, strict=True)) > 12 * NS_PER_MS


def test_runtime_change_applies_to_frames_that_enter_afterwards() -> None:
    line = line_with_ports()
    line.set_link("a", "b", LinkParams.from_ms(20.0))
    line.receive("a", udp_frame(MACS["a"], MACS["b"], b"old"), T0)
    line.set_link("a", "b", LinkParams.from_ms(1.0))
    line.receive("a", udp_frame(MACS["a"], MACS["b"], b"new"), T0 + 1)
    old, new = line.truth()[0]
    assert old.nominal_ns == 20 * NS_PER_MS
    assert new.nominal_ns == NS_PER_MS
    assert new.due_ns == old.due_ns  # held behind the earlier frame of the same pair


def test_lost_copies_are_recorded_and_never_released() -> None:
    line = line_with_ports(seed=2)
    line.set_link("a", "b", LinkParams.from_ms(1.0, loss=0.5))
    for i in range(400):
        line.receive("a", udp_frame(MACS["a"], MACS["b"], i.to_bytes(2, "big")), T0)
    released = drain(line, T0 + NS_PER_MS)
    records, _ = line.truth()
    lost = [r for r in records if r.outcome == LOST]
    assert 150 < len(lost) < 250
    assert len(released) + len(lost) == 400
    assert all(r.leave_ns is None for r in lost)
    assert line.stats()["ports"]["b"]["lost"] == len(lost)


def test_truth_records_identify_frames_and_page_by_seq() -> None:
    line = line_with_ports()
    for i in range(10):
        line.receive("a", udp_frame(MACS["a"], MACS["b"], bytes([i])), T0 + i)
    first, next_seq = line.truth(0, 4)
    assert [r.seq for r in first] == [0, 1, 2, 3]
    assert next_seq == 4
    rest, next_seq = line.truth(next_seq)
    assert [r.seq for r in rest] == list(range(4, 10))
    assert rest[0].summary.payload_digest == payload_digest(bytes([4]))
    assert rest[0].outcome == PENDING
    drain(line, T0 + 10)
    assert all(r.outcome == SENT for r in line.truth()[0])
    assert line.truth(next_seq) == ([], next_seq)
    assert line.clear_truth() == 10
    line.receive("a", udp_frame(MACS["a"], MACS["b"], b"z"), T0)
    assert [r.seq for r in line.truth(0)[0]] == [10]


def test_truth_keeps_only_the_newest_records_up_to_its_limit() -> None:
    line = DelayLine(rng=seeded(1), truth_limit=5)
    line.add_port("a", mac_bytes(MACS["a"]))
    line.add_port("b", mac_bytes(MACS["b"]))
    for i in range(12):
        line.receive("a", udp_frame(MACS["a"], MACS["b"], bytes([i])), T0)
    assert [r.seq for r in line.truth(0)[0]] == [7, 8, 9, 10, 11]


def test_links_need_known_and_distinct_ports() -> None:
    line = line_with_ports()
    with pytest.raises(KeyError, match="unknown port 'zz'"):
        line.set_link("a", "zz", LinkParams())
    with pytest.raises(ValueError, match="two different ports"):
        line.set_link("a", "a", LinkParams())
    with pytest.raises(ValueError, match="exists"):
        line.add_port("a")
    assert line.link("b", "a") == LinkParams()
