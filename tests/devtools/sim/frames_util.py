"""Hand-built Ethernet frames for the delay line's unit tests."""

from __future__ import annotations

import ipaddress
import random
import struct

from mec_devtools.sim.network.frames import mac_bytes

BROADCAST = "ff:ff:ff:ff:ff:ff"


def udp_frame(
    src_mac: str,
    dst_mac: str,
    payload: bytes,
    *,
    src_ip: str = "198.18.0.2",
    dst_ip: str = "198.18.0.3",
    ports: tuple[int, int] = (40000, 7007),
) -> bytes:
    udp = struct.pack("!HHHH", ports[0], ports[1], 8 + len(payload), 0) + payload
    ip_header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        1,
        0,
        64,
        17,
        0,
        ipaddress.IPv4Address(src_ip).packed,
        ipaddress.IPv4Address(dst_ip).packed,
    )
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + b"\x08\x00" + ip_header + udp


def arp_frame(src_mac: str) -> bytes:
    return mac_bytes(BROADCAST) + mac_bytes(src_mac) + b"\x08\x06" + bytes(28)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 (reproducible draws, not a secret)
