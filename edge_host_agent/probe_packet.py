"""The UDP latency probe and its reflection, TWAMP-light style, in one fixed 44-byte layout.

The agent sends a probe carrying its session, a sequence number and its own send time; the
reflector at the access point turns it into a reply by stamping when the probe arrived and when
the reply left (its own clock) and sends it back. The agent then knows the round trip without the
reflector's holding time, using only differences of each side's own clock:

    rtt = (agent received - agent sent) - (reflector sent - reflector received)

Probes are as long as replies, so a reflector never amplifies traffic, and a reflector answers
only probes (never replies), so two reflectors cannot be made to bounce packets between them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"MECP"
VERSION = 1

# magic, version, kind, flags (0), session, sequence, sender time, reflector rx, reflector tx
_LAYOUT = struct.Struct("!4sBBHIQQQQ")
SIZE = _LAYOUT.size


class Kind(IntEnum):
    PROBE = 1
    REPLY = 2


@dataclass(frozen=True, slots=True)
class Packet:
    """A decoded probe or reply; reflector times are 0 in a probe."""

    kind: Kind
    session: int
    sequence: int
    sender_time_ns: int
    reflector_received_ns: int = 0
    reflector_sent_ns: int = 0


def encode_probe(session: int, sequence: int, sender_time_ns: int) -> bytes:
    return _LAYOUT.pack(MAGIC, VERSION, Kind.PROBE, 0, session, sequence, sender_time_ns, 0, 0)


def decode(data: bytes) -> Packet | None:
    """The packet in data, or None if data is not a probe or reply of this version."""
    if len(data) != SIZE:
        return None
    magic, version, kind, _, session, sequence, sent, received, replied = _LAYOUT.unpack(data)
    if magic != MAGIC or version != VERSION or kind not in (Kind.PROBE, Kind.REPLY):
        return None
    return Packet(Kind(kind), session, sequence, sent, received, replied)


def reflect(probe: bytes, received_ns: int, sent_ns: int) -> bytes:
    """The reply to a probe (already checked by `is_probe`), stamped with the reflector's times."""
    return probe[:5] + bytes((Kind.REPLY,)) + probe[6:28] + struct.pack("!QQ", received_ns, sent_ns)


def is_probe(data: bytes) -> bool:
    return len(data) == SIZE and data[:4] == MAGIC and data[4] == VERSION and data[5] == Kind.PROBE
