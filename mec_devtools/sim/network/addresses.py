"""Names and addresses of an emulated network, so that parallel and crashed runs never collide.

Every run gets a tag (the caller's prefix plus random hex). Namespaces are called
``mecnet-<tag>-<node>``; the one veth end that lives in the root namespace is tagged through its
link alias. Addresses come from 198.18.0.0/15, the RFC 2544 benchmarking range, which no real
network on the machine should use: each run takes one free /24 of it (198.18.0.0/24 first), the
root namespace's end of the management port is ``.1`` and nodes get ``.2`` upwards. MAC addresses
are locally administered and spell the IPv4 address, which makes frame dumps easy to read.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass

NAMESPACE_PREFIX = "mecnet-"
ALIAS_PREFIX = "mecnet:"
BENCHMARK_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
SWITCH_NODE = "sw"
ROOT_NODE = "root"
RESERVED_NODE_NAMES = frozenset({SWITCH_NODE, ROOT_NODE})
MAX_HOSTS = 253  # nodes .2 to .254; .1 is the root namespace

_PREFIX_RE = re.compile(r"^[a-z0-9]{1,16}$")
_NODE_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,31}$")


def check_prefix(prefix: str) -> str:
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"name prefix must match {_PREFIX_RE.pattern}, got {prefix!r}")
    return prefix


def check_node_name(name: str) -> str:
    if not _NODE_RE.fullmatch(name) or name in RESERVED_NODE_NAMES:
        raise ValueError(
            f"node name must match {_NODE_RE.pattern} and not be one of "
            f"{sorted(RESERVED_NODE_NAMES)}, got {name!r}"
        )
    return name


def new_tag(prefix: str) -> str:
    """A run tag: the prefix, a dash and six random hex digits."""
    return f"{check_prefix(prefix)}-{secrets.token_hex(3)}"


def namespace_name(tag: str, node: str) -> str:
    return f"{NAMESPACE_PREFIX}{tag}-{node}"


def tag_of_namespace(namespace: str) -> str | None:
    """The run tag inside a namespace name made by `namespace_name`, or None if it is not one."""
    if not namespace.startswith(NAMESPACE_PREFIX):
        return None
    parts = namespace[len(NAMESPACE_PREFIX) :].split("-")
    if len(parts) < 3 or not _PREFIX_RE.fullmatch(parts[0]):
        return None
    return f"{parts[0]}-{parts[1]}"


def root_link_name() -> str:
    """Name of the management veth end in the root namespace (15 characters at most)."""
    return f"mn-{secrets.token_hex(4)}"


def root_link_alias(tag: str) -> str:
    return f"{ALIAS_PREFIX}{tag}"


def subnets() -> list[ipaddress.IPv4Network]:
    """The /24 subnets a run may take, in the order they are tried."""
    return list(BENCHMARK_RANGE.subnets(new_prefix=24))


def pick_subnet(in_use: set[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first /24 of the benchmarking range that overlaps nothing already in use."""
    for candidate in subnets():
        if not any(candidate.overlaps(used) for used in in_use):
            return candidate
    raise RuntimeError("every /24 of 198.18.0.0/15 is in use")


def host_address(subnet: ipaddress.IPv4Network, host: int) -> ipaddress.IPv4Address:
    if not 1 <= host <= MAX_HOSTS + 1:
        raise ValueError(f"host number out of range: {host}")
    return subnet.network_address + host


def mac_for(address: ipaddress.IPv4Address) -> str:
    """A locally administered unicast MAC that spells the IPv4 address: 02:00:c6:12:00:02."""
    return "02:00:" + ":".join(f"{octet:02x}" for octet in address.packed)


@dataclass(frozen=True)
class Node:
    """One endpoint of the emulated network.

    ``namespace`` is None for the root namespace (where the orchestrator runs); ``port`` is the
    switch port (veth end in the switch namespace) the node is attached to.
    """

    name: str
    namespace: str | None
    address: ipaddress.IPv4Address
    mac: str
    port: str
    interface: str

    @property
    def ip(self) -> str:
        return str(self.address)
