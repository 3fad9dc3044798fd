"""The probe reflector that runs at an access point: it answers agents' UDP latency probes.

One process can listen on many addresses (a benchmark or a lab stands for 125 access points with
one process). Each probe is stamped on arrival (the kernel's receive stamp, so the time until the
process woke up counts as held) and again just before the reply is sent, with the reflector's
wall clock, so agents can subtract the time it held the probe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, cast

from edge_host_agent import probe_packet, timestamps
from edge_host_agent.addresses import Address

log = logging.getLogger(__name__)


class ReflectorProtocol(asyncio.DatagramProtocol):
    """Answers every well-formed probe to its sender; ignores everything else."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.reflected = 0
        self.ignored = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        timestamps.enable(transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        received_ns = timestamps.received_ns(self.transport, time.time_ns())
        if self.transport is None or not probe_packet.is_probe(data):
            self.ignored += 1
            return
        self.transport.sendto(probe_packet.reflect(data, received_ns, time.time_ns()), addr)
        self.reflected += 1

    def error_received(self, exc: Exception) -> None:
        log.debug("reflector socket error: %s", exc)


async def start_reflectors(
    addresses: Sequence[Address],
) -> list[tuple[Address, asyncio.DatagramTransport, ReflectorProtocol]]:
    """Listen on every address (port 0: any free port); returns the bound addresses."""
    loop = asyncio.get_running_loop()
    started = []
    for address in addresses:
        transport, protocol = await loop.create_datagram_endpoint(
            ReflectorProtocol, local_addr=(address.host, address.port)
        )
        host, port = transport.get_extra_info("sockname")[:2]
        started.append((Address(host, port), transport, protocol))
    return started
