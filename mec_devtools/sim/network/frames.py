"""What the delay line knows about a frame: a short summary and digests that identify it.

Ground truth has to be matched against what tests and benchmarks sent. The digest of the UDP or
TCP payload (`payload_digest`) is what a sender computes for itself from the bytes it sent, so it
finds its own datagrams among everything the switch forwarded (ARP, the reply direction, other
flows) without looking at headers; the frame digest covers the whole Ethernet frame.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import struct
from dataclasses import dataclass

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_VLAN = 0x8100
PROTO_TCP = 6
PROTO_UDP = 17
DIGEST_BYTES = 8


def payload_digest(payload: bytes) -> str:
    """The identifier of a UDP/TCP payload in ground-truth records (16 hex digits)."""
    return hashlib.blake2b(payload, digest_size=DIGEST_BYTES).hexdigest()


def digest_int(data: bytes) -> int:
    """The same digest as an int: records keep ints (half the memory) and print them as hex."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=DIGEST_BYTES).digest(), "big")


def digest_text(value: int) -> str:
    return f"{value:0{2 * DIGEST_BYTES}x}"


@functools.lru_cache(maxsize=4096)
def _ip_text(packed: bytes) -> str:
    """One shared string per address instead of a new one per frame."""
    return str(ipaddress.IPv4Address(packed))


def mac_bytes(mac: str) -> bytes:
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {mac!r}")
    try:
        return bytes(int(part, 16) for part in parts)
    except ValueError as error:
        raise ValueError(f"not a MAC address: {mac!r}") from error


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def is_multicast(mac: bytes) -> bool:
    """Broadcast and multicast destinations have the group bit set in their first octet."""
    return bool(mac[0] & 1)


@dataclass(frozen=True, slots=True)
class FrameSummary:
    """Headers of interest; fields a frame does not have are None."""

    ethertype: int
    src_ip: str | None = None
    dst_ip: str | None = None
    protocol: int | None = None
    src_port: int | None = None
    dst_port: int | None = None
    payload_hash: int | None = None

    @property
    def payload_digest(self) -> str | None:
        return None if self.payload_hash is None else digest_text(self.payload_hash)


def summarize(frame: bytes) -> FrameSummary:
    """Parse Ethernet (one optional VLAN tag), IPv4 and the UDP/TCP header of a frame."""
    if len(frame) < 14:
        return FrameSummary(ethertype=-1)
    (ethertype,) = struct.unpack_from("!H", frame, 12)
    offset = 14
    if ethertype == ETHERTYPE_VLAN and len(frame) >= 18:
        (ethertype,) = struct.unpack_from("!H", frame, 16)
        offset = 18
    if ethertype != ETHERTYPE_IPV4 or len(frame) < offset + 20:
        return FrameSummary(ethertype=ethertype)
    header_len = (frame[offset] & 0x0F) * 4
    (total_len, fragment) = struct.unpack_from("!H2xH", frame, offset + 2)
    protocol = frame[offset + 9]
    src = _ip_text(frame[offset + 12 : offset + 16])
    dst = _ip_text(frame[offset + 16 : offset + 20])
    end = min(len(frame), offset + total_len)
    l4 = offset + header_len
    if fragment & 0x1FFF or protocol not in (PROTO_UDP, PROTO_TCP) or end < l4 + 8:
        return FrameSummary(ethertype, src, dst, protocol)
    src_port, dst_port = struct.unpack_from("!HH", frame, l4)
    if protocol == PROTO_UDP:
        data_start = l4 + 8
    else:
        data_start = l4 + (frame[l4 + 12] >> 4) * 4 if end >= l4 + 13 else end
    payload = frame[data_start:end]
    digest = digest_int(payload) if payload else None
    return FrameSummary(ethertype, src, dst, protocol, src_port, dst_port, digest)
