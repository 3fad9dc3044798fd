"""When the kernel received the datagram just read: so a process's wake-up is not measured.

A probe's answer can wait in the socket for a few hundred microseconds (more on a busy machine)
before the event loop runs the protocol; stamping it then would add that wait to the RTT, and
stamping the probe late at the reflector would do the same. The kernel stamps each datagram as
it enters the host's stack; `SIOCGSTAMPNS` returns the stamp of the last datagram read from a
socket. asyncio's datagram transport reads exactly one datagram and hands it to the protocol
before reading the next, so inside `datagram_received` that stamp is the datagram's own.

Linux stamps incoming datagrams only while some socket on the host wants stamps, and switches
stamping on from a work queue after the first socket asks; until then a datagram carries no stamp
and the ioctl answers the time of the read, exactly the fallback below. The first probes of a
fresh agent can therefore include the wake-up; later ones do not.

The stamp is on CLOCK_REALTIME. Where it is missing (not Linux, stamping not yet on, a value that
is not plausible) callers fall back to reading their clock, as before.
"""

from __future__ import annotations

import asyncio
import struct
import sys
import time

SIOCGSTAMPNS = 0x8907
_TIMESPEC = struct.Struct("@ll")  # struct timespec: native long seconds, long nanoseconds
_PLAUSIBLE_NS = 1_000_000_000  # a stamp older than this is not the datagram just read

if sys.platform == "linux":
    import fcntl

    def _ioctl_stamp(fileno: int) -> int | None:
        try:
            seconds, nanos = _TIMESPEC.unpack(fcntl.ioctl(fileno, SIOCGSTAMPNS, bytes(16)))
        except OSError:
            return None
        return int(seconds) * 1_000_000_000 + int(nanos)

else:  # pragma: no cover - the agent runs on Linux; elsewhere the clock is read instead

    def _ioctl_stamp(fileno: int) -> int | None:
        return None


def _fileno(transport: asyncio.BaseTransport) -> int | None:
    sock = transport.get_extra_info("socket")
    return None if sock is None else int(sock.fileno())


def enable(transport: asyncio.BaseTransport) -> None:
    """Turn stamping on for the transport's socket (the first request does; it has no stamp)."""
    fileno = _fileno(transport)
    if fileno is not None:
        _ioctl_stamp(fileno)


def received_ns(transport: asyncio.BaseTransport | None, now_ns: int) -> int:
    """The realtime stamp of the datagram just read, or now_ns (realtime) without a good one."""
    fileno = None if transport is None else _fileno(transport)
    stamp = None if fileno is None else _ioctl_stamp(fileno)
    if stamp is None or not 0 <= now_ns - stamp < _PLAUSIBLE_NS:
        return now_ns
    return stamp


def monotonic_received_ns(transport: asyncio.BaseTransport | None) -> int:
    """received_ns on the monotonic clock (the offset between the clocks is read now)."""
    # The two clocks cannot be read at once; bracket the monotonic read between two realtime
    # reads and keep the tightest of a few tries, so a preemption between reads cannot shift
    # the stamp (a shift of a few µs made loopback RTTs come out below zero).
    best = (time.time_ns(), time.monotonic_ns(), time.time_ns())
    for _ in range(2):
        tried = (time.time_ns(), time.monotonic_ns(), time.time_ns())
        if tried[2] - tried[0] < best[2] - best[0]:
            best = tried
    before, mono, after = best
    real = (before + after) // 2
    return mono - (real - received_ns(transport, after))
