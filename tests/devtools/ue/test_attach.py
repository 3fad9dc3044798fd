"""A UE node behind one access point, then another, in a real emulated network (root, netns).

The UE's round trip to a host follows the access point it is attached behind: what the ping
measures and what the switch's ground truth says both move with `attach`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator

import pytest

from mec_devtools.sim.network import Network, Node, cleanup_leftovers, leftover_names
from mec_devtools.sim.network.netns import missing_capabilities
from mec_devtools.sim.ue_attach import attach
from tests.devtools.sim.probes import MS, ping, start_echo, warm_up

PREFIX = "pue"
TOLERANCE_MS = 1.0

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def net() -> Iterator[Network]:
    problems = missing_capabilities()
    if problems:
        pytest.fail("network emulation tests cannot run: " + "; ".join(problems))
    cleanup_leftovers(PREFIX)  # earlier crashed runs of this module, never live ones
    network = Network(name_prefix=PREFIX, seed=99)
    with network:
        yield network
    assert leftover_names(network.tag) == []


def test_the_ue_takes_the_delays_of_its_access_point(net: Network) -> None:
    ap1, ap2, host, ue = (net.add_node(n) for n in ("ap1", "ap2", "host", "ue"))
    net.set_delay(ap1, host, 2.0)
    net.set_delay(ap2, host, 8.0)
    net.set_delay(ap1, net.root, 3.0)
    net.set_delay(ap2, net.root, 5.0, jitter_ms=0.5)
    echo = start_echo(net, host)
    try:
        set_by_first = attach(net, ue, ap1, [host, ap1, ap2], radio_one_way_ms=1.0)
        assert set_by_first == {
            "host": 3.0,
            "ap1": 1.0,
            "ap2": net.link(ap1, ap2)["delay_ms"] + 1.0,
            "root": 4.0,
        }
        assert net.link(ue, host)["delay_ms"] == 3.0
        assert net.link(host, ue)["delay_ms"] == 3.0
        behind_ap1 = measured_rtt_ms(net, ue, host)
        assert abs(behind_ap1 - 6.0) <= TOLERANCE_MS, behind_ap1

        attach(net, ue, ap2, [host, ap1, ap2], radio_one_way_ms=1.0)
        assert net.link(ue, host)["delay_ms"] == 9.0
        assert net.link(ue, net.root) == {"delay_ms": 6.0, "jitter_ms": 0.5, "loss": 0.0}
        behind_ap2 = measured_rtt_ms(net, ue, host)
        assert abs(behind_ap2 - 18.0) <= TOLERANCE_MS, behind_ap2
        # The delay line itself held each frame for the new setting (ground truth).
        truth = [
            r
            for r in net.ground_truth()
            if {r.ingress, r.egress} == {"ue", "host"} and r.outcome == "sent"
        ]
        latest = [r for r in truth if r.nominal_ns == 9 * MS]
        assert latest, "no frame took the delay behind ap2"
        delays = [(r.leave_ns or 0) - r.enter_ns for r in latest]
        assert abs(statistics.median(delays) / MS - 9.0) <= TOLERANCE_MS
    finally:
        echo.terminate()
        echo.wait(10)


def measured_rtt_ms(net: Network, ue: Node, host: Node) -> float:
    warm_up(net, ue, host)
    result = ping(net, ue, host, count=20, interval_s=0.02)
    assert result.received >= 18, result
    return statistics.median(result.rtts_ms())


def test_attach_refuses_nonsense(net: Network) -> None:
    ap, ue = net.add_node("ap"), net.add_node("ue")
    with pytest.raises(ValueError, match="own access point"):
        attach(net, ue, ue, [ap])
    with pytest.raises(ValueError, match="radio_one_way_ms"):
        attach(net, ue, ap, [], radio_one_way_ms=-1)
    assert attach(net, ue, ap, [ue]) == {"root": 1.0}
