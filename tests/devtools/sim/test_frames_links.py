"""Frame summaries, digests and link parameters: what ground truth and delay draws rest on."""

from __future__ import annotations

import pytest

from mec_devtools.sim.network.frames import (
    PROTO_UDP,
    mac_bytes,
    mac_text,
    payload_digest,
    summarize,
)
from mec_devtools.sim.network.links import NS_PER_MS, LinkParams
from tests.devtools.sim.frames_util import arp_frame, seeded, udp_frame

A = "02:00:c6:12:00:02"
B = "02:00:c6:12:00:03"


def test_udp_frame_is_summarised_with_the_digest_its_sender_computes() -> None:
    payload = b"probe-17" + bytes(40)
    summary = summarize(udp_frame(A, B, payload, ports=(41000, 7007)))
    assert summary.ethertype == 0x0800
    assert (summary.src_ip, summary.dst_ip) == ("198.18.0.2", "198.18.0.3")
    assert summary.protocol == PROTO_UDP
    assert (summary.src_port, summary.dst_port) == (41000, 7007)
    assert summary.payload_digest == payload_digest(payload)
    assert summary.payload_digest != payload_digest(payload + b"x")


def test_non_ip_and_runt_frames_have_no_ip_fields() -> None:
    arp = summarize(arp_frame(A))
    assert arp.ethertype == 0x0806
    assert arp.src_ip is None
    assert arp.payload_digest is None
    assert summarize(b"\x00" * 10).ethertype == -1


def test_mac_round_trip_and_rejects() -> None:
    assert mac_text(mac_bytes(A)) == A
    for bad in ("02:00:c6:12:00", "zz:00:c6:12:00:02", "0200c6120002", ""):
        with pytest.raises(ValueError, match="MAC"):
            mac_bytes(bad)


def test_link_params_from_ms_and_back() -> None:
    params = LinkParams.from_ms(5.25, 0.5, 0.1)
    assert params.delay_ns == 5_250_000
    assert params.jitter_ns == 500_000
    assert params.as_ms() == {"delay_ms": 5.25, "jitter_ms": 0.5, "loss": 0.1}


@pytest.mark.parametrize(
    ("delay", "jitter", "loss"),
    [
        (-1.0, 0.0, 0.0),
        (1.0, -0.1, 0.0),
        (1.0, 0.0, 1.5),
        (float("nan"), 0.0, 0.0),
        (1.0, 0.0, float("nan")),
        (1e9, 0.0, 0.0),
        (float("inf"), 0.0, 0.0),
    ],
)
def test_link_params_reject_values_out_of_range(delay: float, jitter: float, loss: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        LinkParams.from_ms(delay, jitter, loss)


def test_jitter_stays_within_its_band_and_spreads_over_it() -> None:
    params = LinkParams.from_ms(10.0, 2.0)
    rng = seeded(7)
    draws = [params.draw_delay_ns(rng) / NS_PER_MS for _ in range(5000)]
    assert min(draws) >= 8.0
    assert max(draws) <= 12.0
    assert min(draws) < 8.1
    assert max(draws) > 11.9
    assert 9.9 < sum(draws) / len(draws) < 10.1


def test_jitter_larger_than_delay_never_goes_negative() -> None:
    params = LinkParams.from_ms(1.0, 5.0)
    rng = seeded(3)
    draws = [params.draw_delay_ns(rng) for _ in range(2000)]
    assert min(draws) == 0
    assert max(draws) > 5 * NS_PER_MS


def test_loss_draws_match_the_probability() -> None:
    rng = seeded(11)
    assert not any(LinkParams.from_ms(1.0).draw_lost(rng) for _ in range(1000))
    assert all(LinkParams.from_ms(1.0, loss=1.0).draw_lost(rng) for _ in range(1000))
    lost = sum(LinkParams.from_ms(1.0, loss=0.3).draw_lost(rng) for _ in range(10_000))
    assert 2800 < lost < 3200
