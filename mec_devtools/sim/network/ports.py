"""One AF_PACKET socket per switch port: raw Ethernet frames in and out of a veth end.

Each received frame comes with the kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME),
so the time a frame waited in the socket buffer while the switch was busy counts as part of its
delay instead of being added on top. Frames whose timestamp is missing or implausible (a
delivery time on another clock) fall back to the time they were read. The auxiliary data tells
whether a frame still had a partial checksum, i.e. whether offload was left on at the sender.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_IGNORE_OUTGOING = 23
SO_TIMESTAMPNS = 35
TP_STATUS_CSUMNOTREADY = 0x8
RCVBUF_BYTES = 4 * 1024 * 1024
MAX_FRAME = 65_550
_ANCILLARY = socket.CMSG_SPACE(16) + socket.CMSG_SPACE(20)
_PLAUSIBLE_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Received:
    frame: bytes
    enter_ns: int
    kernel_timestamp: bool
    partial_checksum: bool


class PacketPort:
    """A raw socket bound to one interface of the switch namespace."""

    def __init__(self, name: str, ifname: str) -> None:
        self.name = name
        self.ifname = ifname
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            with contextlib.suppress(OSError):  # before Linux 4.20; filtered in receive_all
                self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            self.sock.bind((ifname, ETH_P_ALL))
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive_all(self) -> Iterator[Received]:
        """Every frame waiting in the socket, oldest first."""
        while True:
            try:
                frame, ancdata, _, address = self.sock.recvmsg(MAX_FRAME, _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            read_ns = time.time_ns()
            if address[2] == socket.PACKET_OUTGOING:
                continue
            enter_ns, kernel, partial = read_ns, False, False
            for level, kind, data in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    seconds, nanos = struct.unpack_from("qq", data)
                    stamp = seconds * 1_000_000_000 + nanos
                    if 0 <= read_ns - stamp < _PLAUSIBLE_NS:
                        enter_ns, kernel = stamp, True
                elif level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= 4:
                    (status,) = struct.unpack_from("I", data)
                    partial = bool(status & TP_STATUS_CSUMNOTREADY)
            yield Received(frame, enter_ns, kernel, partial)

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def close(self) -> None:
        self.sock.close()
