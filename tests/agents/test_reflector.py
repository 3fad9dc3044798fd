"""The probe reflector process: it stamps and returns probes, and answers nothing else."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from typing import Any

import pytest

from edge_host_agent import probe_packet
from edge_host_agent.addresses import Address
from tests.agents.conftest import Processes, start_reflector


class Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received.put_nowait(data)


async def exchange(address: str, payload: bytes, wait: float = 2.0) -> bytes | None:
    """Send one datagram to address; the answer, or None if none comes within wait seconds."""
    target = Address.parse(address)
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        Client, remote_addr=(target.host, target.port)
    )
    try:
        transport.sendto(payload)
        return await asyncio.wait_for(client.received.get(), wait)
    except TimeoutError:
        return None
    finally:
        transport.close()


async def test_the_reflector_stamps_arrival_and_departure_and_echoes_the_rest(
    processes: Processes,
) -> None:
    (address,) = await start_reflector(processes, 1)
    before = time.time_ns()
    probe = probe_packet.encode_probe(session=0xDEADBEEF, sequence=42, sender_time_ns=123456789)
    answer = await exchange(address, probe)
    after = time.time_ns()
    assert answer is not None
    reply = probe_packet.decode(answer)
    assert reply is not None
    assert reply.kind is probe_packet.Kind.REPLY
    assert (reply.session, reply.sequence, reply.sender_time_ns) == (0xDEADBEEF, 42, 123456789)
    # Stamped with the reflector's wall clock, between our send and our receive, in order.
    assert before <= reply.reflector_received_ns <= reply.reflector_sent_ns <= after
    assert reply.reflector_sent_ns - reply.reflector_received_ns < 5_000_000
    assert len(answer) == len(probe) == probe_packet.SIZE  # no amplification


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"hello",
        b"X" * probe_packet.SIZE,
        probe_packet.reflect(probe_packet.encode_probe(1, 1, 1), 5, 6),  # a reply, not a probe
        probe_packet.encode_probe(1, 1, 1) + b"\0",  # wrong length
    ],
)
async def test_the_reflector_ignores_anything_but_a_probe(
    processes: Processes, payload: bytes
) -> None:
    (address,) = await start_reflector(processes, 1)
    assert await exchange(address, payload, wait=0.5) is None
    assert await exchange(address, probe_packet.encode_probe(1, 2, 3)) is not None


async def test_one_reflector_process_serves_many_ports(processes: Processes) -> None:
    addresses = await start_reflector(processes, 5)
    assert len({Address.parse(a).port for a in addresses}) == 5
    answers = await asyncio.gather(
        *(exchange(a, probe_packet.encode_probe(7, i, i)) for i, a in enumerate(addresses))
    )
    decoded = [probe_packet.decode(a) for a in answers if a is not None]
    assert [p.sequence for p in decoded if p is not None] == [0, 1, 2, 3, 4]


def free_udp_ports(count: int) -> int:
    """The first of count consecutive UDP ports free on 127.0.0.1 (below the ephemeral range)."""
    for first in range(random.randrange(20000, 30000), 32000, count):  # noqa: S311
        sockets: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return first
    pytest.fail("no free port range")


async def test_the_reflector_listens_on_a_port_range(processes: Processes) -> None:
    first = free_udp_ports(3)
    spawned = await processes.start(
        "reflector",
        "--address",
        "127.0.0.1",
        "--ports",
        f"{first}-{first + 2}",
        stdout=asyncio.subprocess.PIPE,
    )
    assert spawned.process.stdout is not None
    line = await asyncio.wait_for(spawned.process.stdout.readline(), 20)
    expected = [f"127.0.0.1:{p}" for p in range(first, first + 3)]
    assert line.decode().strip() == '{"listening": ["' + '", "'.join(expected) + '"]}'
    assert await exchange(expected[2], probe_packet.encode_probe(1, 1, 1)) is not None
