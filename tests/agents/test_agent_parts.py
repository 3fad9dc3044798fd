"""The agent's parts on their own: probe packets, gap tallies, backoff, addresses, the prober."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_host_agent import probe_packet
from edge_host_agent.addresses import Address
from edge_host_agent.backoff import Backoff
from edge_host_agent.gap import GapTally, nearest_rank
from edge_host_agent.prober import Prober, ProbeSample, slots_of
from edge_host_agent.reflector import start_reflectors
from edge_host_agent.settings import AccessPointConfig

START = datetime(2026, 5, 1, tzinfo=UTC)


def test_a_probe_and_its_reflection_round_trip() -> None:
    probe = probe_packet.encode_probe(0xFFFFFFFF, 2**64 - 1, 12345)
    assert len(probe) == probe_packet.SIZE == 44
    assert probe_packet.is_probe(probe)
    assert probe_packet.decode(probe) == probe_packet.Packet(
        probe_packet.Kind.PROBE, 0xFFFFFFFF, 2**64 - 1, 12345
    )
    reply = probe_packet.reflect(probe, 7, 9)
    assert not probe_packet.is_probe(reply)
    assert probe_packet.decode(reply) == probe_packet.Packet(
        probe_packet.Kind.REPLY, 0xFFFFFFFF, 2**64 - 1, 12345, 7, 9
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MECP",
        b"XXXX" + probe_packet.encode_probe(1, 1, 1)[4:],
        probe_packet.encode_probe(1, 1, 1)[:4] + b"\x09" + probe_packet.encode_probe(1, 1, 1)[5:],
        probe_packet.encode_probe(1, 1, 1)[:5] + b"\x07" + probe_packet.encode_probe(1, 1, 1)[6:],
    ],
)
def test_anything_else_is_not_a_packet(data: bytes) -> None:
    assert probe_packet.decode(data) is None
    assert not probe_packet.is_probe(data)


def test_a_short_gap_has_exact_counts_and_nearest_rank_percentiles() -> None:
    tally = GapTally(START, reservoir_size=100)
    assert tally.empty
    for value in range(20, 0, -1):  # 20 .. 1
        tally.add_sample("ap-b", float(value))
    tally.add_lost("ap-b", 3)
    tally.add_lost("ap-a", 2)
    summary = tally.summary(START + timedelta(seconds=30))
    assert summary.started_at.ToDatetime(tzinfo=UTC) == START
    assert summary.ended_at.ToDatetime(tzinfo=UTC) == START + timedelta(seconds=30)
    a, b = summary.access_points
    assert (a.access_point_id, a.sample_count, a.lost_probe_count, a.p50_rtt_ms) == (
        "ap-a",
        0,
        2,
        0,
    )
    assert b.access_point_id == "ap-b"
    assert (b.sample_count, b.lost_probe_count) == (20, 3)
    assert (b.min_rtt_ms, b.p50_rtt_ms, b.p95_rtt_ms, b.max_rtt_ms) == (1.0, 10.0, 19.0, 20.0)
    assert not b.percentiles_estimated
    assert tally.sample_count == 20


@given(
    st.lists(st.floats(0.0, 1000.0, allow_nan=False), min_size=1, max_size=300),
    st.integers(16, 64),
)
def test_a_long_gap_keeps_bounded_memory_and_ordered_figures(
    values: list[float], reservoir: int
) -> None:
    tally = GapTally(START, reservoir_size=reservoir, seed=1)
    for value in values:
        tally.add_sample("ap", value)
    (item,) = tally.summary(START).access_points
    assert item.sample_count == len(values)
    assert item.min_rtt_ms == min(values)
    assert item.max_rtt_ms == max(values)
    assert item.min_rtt_ms <= item.p50_rtt_ms <= item.p95_rtt_ms <= item.max_rtt_ms
    assert item.percentiles_estimated == (len(values) > reservoir)
    if len(values) <= reservoir:
        assert item.p50_rtt_ms == nearest_rank(sorted(values), 50.0)


def test_a_reservoir_estimates_the_percentiles_of_a_long_gap() -> None:
    rng = random.Random(7)  # noqa: S311
    values = [rng.uniform(0.0, 100.0) for _ in range(50_000)]
    tally = GapTally(START, reservoir_size=4096, seed=3)
    for value in values:
        tally.add_sample("ap", value)
    (item,) = tally.summary(START).access_points
    assert item.percentiles_estimated
    assert item.p50_rtt_ms == pytest.approx(50.0, abs=3.0)
    assert item.p95_rtt_ms == pytest.approx(95.0, abs=1.5)


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.1, 0.8, multiplier=2.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.8, 0.8])
    assert backoff.attempt == 6
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.1)
    delays = [backoff.next_delay() for _ in range(5000)]  # a long outage does not overflow
    assert delays[-1] == pytest.approx(0.8)


@given(st.integers(0, 40), st.floats(0.0, 1.0))
def test_backoff_jitter_stays_within_its_bounds(attempts: int, jitter: float) -> None:
    backoff = Backoff(0.5, 30.0, multiplier=3.0, jitter=jitter, rng=random.Random(attempts))  # noqa: S311
    for attempt in range(attempts + 1):
        delay = backoff.next_delay()
        base = min(30.0, 0.5 * 3.0**attempt)
        assert base * (1 - jitter) - 1e-9 <= delay <= min(30.0, base * (1 + jitter)) + 1e-9


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="initial_s <= maximum_s"):
        Backoff(2.0, 1.0)


@pytest.mark.parametrize(
    ("count", "rate_hz", "slots"),
    [(125, 20.0, 25), (1, 20.0, 1), (10, 20.0, 10), (125, 1000.0, 1), (3, 0.1, 3)],
)
def test_access_points_are_spread_over_the_period_at_least_2_ms_apart(
    count: int, rate_hz: float, slots: int
) -> None:
    assert slots_of(count, round(1e9 / rate_hz)) == slots


@pytest.mark.parametrize(
    ("text", "address", "shown"),
    [
        ("127.0.0.1:80", Address("127.0.0.1", 80), "127.0.0.1:80"),
        ("[fd00::1]:8620", Address("fd00::1", 8620), "[fd00::1]:8620"),
        ("reflector.site-1:0", Address("reflector.site-1", 0), "reflector.site-1:0"),
    ],
)
def test_addresses_parse_and_print(text: str, address: Address, shown: str) -> None:
    assert Address.parse(text) == address
    assert str(address) == shown


@pytest.mark.parametrize("text", ["nohost", ":80", "h:", "h:x", "h:70000", "fd00::1:80"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"host:port|65535|brackets"):
        Address.parse(text)


async def test_the_prober_sends_consecutive_sequences_at_its_rate_and_counts_losses() -> None:
    reflectors = await start_reflectors([Address("127.0.0.1", 0)] * 4)
    silent = AccessPointConfig(id="ap-silent", reflector="127.0.0.1:9")
    access_points = [
        AccessPointConfig(id=f"ap-{i}", reflector=str(bound))
        for i, (bound, _, _) in enumerate(reflectors)
    ]
    samples: list[ProbeSample] = []
    lost: dict[str, int] = {}
    prober = Prober(
        [*access_points, silent],
        rate_hz=50.0,
        timeout_s=0.2,
        on_sample=samples.append,
        on_lost=lambda ap, n: lost.__setitem__(ap, lost.get(ap, 0) + n),
    )
    prober.start()
    await asyncio.sleep(1.0)
    await prober.stop()
    for _, transport, _ in reflectors:
        transport.close()

    for access_point in access_points:
        sequences = [s.sequence for s in samples if s.access_point_id == access_point.id]
        assert 40 <= len(sequences) <= 55, (access_point.id, len(sequences))
        assert sequences == list(range(len(sequences)))
    assert not [s for s in samples if s.access_point_id == "ap-silent"]
    assert 30 <= lost.get("ap-silent", 0) <= 50  # probes older than 0.2 s of 1 s at 50 Hz
    assert set(lost) == {"ap-silent"}
    for sample in samples:
        assert 0 < sample.rtt_ms < 50
        assert sample.sent_unix_ns < sample.received_unix_ns
        wire_ms = (sample.received_unix_ns - sample.sent_unix_ns) / 1e6
        assert sample.rtt_ms <= wire_ms  # the reflector's holding time is taken out
        assert sample.reflector_received_unix_ns <= sample.reflector_sent_unix_ns
    assert prober.responding_since_mark() == 4
    assert prober.responding_since_mark() == 0
