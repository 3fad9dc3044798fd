"""Kernel receive stamps: a datagram that waited in its socket is dated when it arrived."""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest

from edge_host_agent import probe_packet, timestamps
from edge_host_agent.addresses import Address
from edge_host_agent.reflector import start_reflectors


def hold_the_loop(seconds: float) -> None:
    """Keep the event loop from running, as a busy process would."""
    time.sleep(seconds)


SIOCGSTAMPNS = 0x8907


def socket_stamp_ns(sock: socket.socket) -> int | None:
    """The kernel's stamp of the last datagram read from sock (None: stamping just asked for)."""
    try:
        seconds, nanos = struct.unpack("@ll", fcntl.ioctl(sock.fileno(), SIOCGSTAMPNS, bytes(16)))
    except OSError:
        return None
    return int(seconds) * 1_000_000_000 + int(nanos)


@pytest.fixture
def kernel_stamping() -> Iterator[None]:
    """Receive stamping switched on in the kernel, and held on, for the test.

    Linux stamps incoming datagrams only while some socket wants stamps, and it switches stamping
    on from a work queue after the first socket asks: until that work has run (late on a busy
    machine), datagrams arrive unstamped and a read is dated when it happens. A socket that asked
    keeps stamping on; wait until a datagram read late carries the earlier time it arrived.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as keeper:
        keeper.bind(("127.0.0.1", 0))
        keeper.settimeout(5)
        socket_stamp_ns(keeper)  # the first request turns stamping on
        deadline = time.monotonic() + 10
        while True:
            keeper.sendto(b"w", keeper.getsockname())
            time.sleep(0.02)
            keeper.recv(8)
            read = time.time_ns()
            stamp = socket_stamp_ns(keeper)
            if stamp is not None and read - stamp >= 10_000_000:
                break
            if time.monotonic() > deadline:
                pytest.fail("the kernel did not start stamping received datagrams within 10 s")
        yield


class Stamper(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.stamps: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        timestamps.enable(transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        now = time.time_ns()
        stamp = timestamps.received_ns(self.transport, now)
        self.stamps.put_nowait((stamp, now, timestamps.monotonic_received_ns(self.transport)))


@pytest.mark.usefixtures("kernel_stamping")
async def test_a_datagram_read_late_is_dated_when_the_kernel_received_it() -> None:
    loop = asyncio.get_running_loop()
    transport, stamper = await loop.create_datagram_endpoint(Stamper, local_addr=("127.0.0.1", 0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        try:
            for _ in range(3):
                sent = time.time_ns()
                sender.sendto(b"x", transport.get_extra_info("sockname"))
                hold_the_loop(0.05)  # the datagram waits in the socket
                stamp, read, monotonic = await asyncio.wait_for(stamper.stamps.get(), 5)
                assert sent <= stamp < sent + 20_000_000, (stamp - sent) / 1e6
                assert read - stamp >= 40_000_000
                wall_offset = time.time_ns() - time.monotonic_ns()
                assert abs(monotonic + wall_offset - stamp) < 1_000_000
        finally:
            transport.close()


def test_without_a_stamp_the_clock_is_read() -> None:
    assert timestamps.received_ns(None, 1234) == 1234


@pytest.mark.usefixtures("kernel_stamping")
async def test_the_reflector_counts_the_wait_in_its_socket_as_held() -> None:
    ((address, transport, _),) = await start_reflectors([Address("127.0.0.1", 0)])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            sent = time.time_ns()
            client.sendto(probe_packet.encode_probe(1, 1, 1), (address.host, address.port))
            hold_the_loop(0.05)  # the reflector runs in this loop: the probe waits
            task = asyncio.get_running_loop().run_in_executor(None, client.recv, 100)
            reply = probe_packet.decode(await asyncio.wait_for(task, 5))
    finally:
        transport.close()
    assert reply is not None
    assert reply.reflector_received_ns - sent < 20_000_000
    assert reply.reflector_sent_ns - reply.reflector_received_ns >= 40_000_000
