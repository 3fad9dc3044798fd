"""Run tags, namespace names and address allocation in the RFC 2544 benchmarking range."""

from __future__ import annotations

import ipaddress

import pytest

from mec_devtools.sim.network import addresses as addr


def test_first_subnet_is_198_18_0_0_and_used_ones_are_skipped() -> None:
    first = addr.pick_subnet(set())
    assert first == ipaddress.IPv4Network("198.18.0.0/24")
    assert addr.host_address(first, 1) == ipaddress.IPv4Address("198.18.0.1")
    taken = {first, ipaddress.IPv4Network("198.18.1.0/25")}
    assert addr.pick_subnet(taken) == ipaddress.IPv4Network("198.18.2.0/24")
    assert addr.pick_subnet({ipaddress.IPv4Network("198.18.0.0/16")}) == ipaddress.IPv4Network(
        "198.19.0.0/24"
    )
    with pytest.raises(RuntimeError, match="in use"):
        addr.pick_subnet({addr.BENCHMARK_RANGE})


def test_every_subnet_lies_in_the_benchmarking_range() -> None:
    subnets = addr.subnets()
    assert len(subnets) == 512
    assert all(s.subnet_of(ipaddress.IPv4Network("198.18.0.0/15")) for s in subnets)


def test_mac_spells_the_address_and_is_locally_administered_unicast() -> None:
    mac = addr.mac_for(ipaddress.IPv4Address("198.19.4.20"))
    assert mac == "02:00:c6:13:04:14"
    first = int(mac[:2], 16)
    assert first & 0b10
    assert not first & 0b01


def test_tags_and_namespace_names_round_trip() -> None:
    tag = addr.new_tag("t1")
    assert tag.startswith("t1-")
    assert tag != addr.new_tag("t1")
    assert addr.tag_of_namespace(addr.namespace_name(tag, "ap1")) == tag
    assert addr.tag_of_namespace(addr.namespace_name(tag, "sw")) == tag
    assert addr.tag_of_namespace("mecnet-broken") is None
    assert addr.tag_of_namespace("other-t1-abc-h1") is None
    assert len(addr.root_link_name()) <= 15


@pytest.mark.parametrize("prefix", ["", "T1", "a-b", "x" * 17, "t 1"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        addr.new_tag(prefix)


@pytest.mark.parametrize("name", ["", "sw", "root", "Ap1", "a-b", "x" * 40, "_a"])
def test_bad_node_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="node name"):
        addr.check_node_name(name)
