"""Probes every access point's reflector over UDP at a fixed rate and turns answers into samples.

One connected UDP socket per access point; one scheduler task for all of them, which spreads the
access points evenly over the probe period (in slots at least 2 ms apart) so probes do not leave
in one burst and queue behind each other. Send and receive times come from the monotonic clock
(RTT is a difference of two of them) and are reported on the wall clock through one fixed offset
taken at start, so a clock step during a run cannot distort an RTT. The send time is read just
before each send; the receive time is the kernel's stamp of the answer (see timestamps), so the
time until the event loop ran is not part of the RTT. A probe unanswered within the timeout is
lost; a late answer to it is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from edge_host_agent import probe_packet, timestamps
from edge_host_agent.settings import AccessPointConfig

log = logging.getLogger(__name__)

MIN_SLOT_NS = 2_000_000
REOPEN_EVERY_NS = 5_000_000_000


@dataclass(frozen=True, slots=True)
class ProbeSample:
    """One answered probe."""

    access_point_id: str
    sequence: int
    rtt_ms: float
    sent_unix_ns: int
    received_unix_ns: int
    reflector_received_unix_ns: int
    reflector_sent_unix_ns: int


SampleHandler = Callable[[ProbeSample], None]
LossHandler = Callable[[str, int], None]


class AccessPointProbe(asyncio.DatagramProtocol):
    """The socket, sequence numbers and outstanding probes of one access point."""

    def __init__(
        self,
        config: AccessPointConfig,
        *,
        session: int,
        timeout_ns: int,
        wall_offset_ns: int,
        on_sample: SampleHandler,
        on_lost: LossHandler,
    ) -> None:
        self.access_point_id = config.id
        self.reflector = config.reflector_address
        self._session = session
        self._timeout_ns = timeout_ns
        self._wall_offset_ns = wall_offset_ns
        self._on_sample = on_sample
        self._on_lost = on_lost
        self._transport: asyncio.DatagramTransport | None = None
        self._next_sequence = 0
        self._outstanding: dict[int, int] = {}  # sequence -> monotonic send time, oldest first
        self.sent = 0
        self.answered = 0
        self.lost = 0
        self.answered_since_mark = False

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(
            lambda: self, remote_addr=(self.reflector.host, self.reflector.port)
        )

    @property
    def is_open(self) -> bool:
        return self._transport is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        timestamps.enable(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def error_received(self, exc: Exception) -> None:
        # A refused port (ICMP unreachable) shows up here; the probe simply goes unanswered.
        log.debug("access point %s: %s", self.access_point_id, exc)

    def send(self, now_ns: int) -> None:
        self._expire(now_ns)
        if self._transport is None:
            return
        sequence = self._next_sequence
        self._next_sequence += 1
        self.sent += 1
        sent_ns = time.monotonic_ns()  # now_ns is the slot's; others of the slot went first
        self._outstanding[sequence] = sent_ns
        self._transport.sendto(probe_packet.encode_probe(self._session, sequence, sent_ns))

    def _expire(self, now_ns: int) -> None:
        outstanding = self._outstanding
        expired = 0
        for sent_ns in outstanding.values():
            if now_ns - sent_ns < self._timeout_ns:
                break
            expired += 1
        if expired:
            for sequence in list(outstanding)[:expired]:
                del outstanding[sequence]
            self.lost += expired
            self._on_lost(self.access_point_id, expired)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        received_ns = timestamps.monotonic_received_ns(self._transport)
        packet = probe_packet.decode(data)
        if (
            packet is None
            or packet.kind is not probe_packet.Kind.REPLY
            or packet.session != self._session
        ):
            return
        sent_ns = self._outstanding.pop(packet.sequence, None)
        if sent_ns is None or sent_ns != packet.sender_time_ns:
            return  # a late, duplicated or forged answer
        if received_ns < sent_ns:  # not this datagram's stamp: read the clock instead
            received_ns = time.monotonic_ns()
        held_ns = max(packet.reflector_sent_ns - packet.reflector_received_ns, 0)
        rtt_ns = max(received_ns - sent_ns - held_ns, 0)
        self.answered += 1
        self.answered_since_mark = True
        offset = self._wall_offset_ns
        self._on_sample(
            ProbeSample(
                access_point_id=self.access_point_id,
                sequence=packet.sequence,
                rtt_ms=rtt_ns / 1e6,
                sent_unix_ns=sent_ns + offset,
                received_unix_ns=received_ns + offset,
                reflector_received_unix_ns=packet.reflector_received_ns,
                reflector_sent_unix_ns=packet.reflector_sent_ns,
            )
        )

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def slots_of(count: int, period_ns: int) -> int:
    """How many send slots a period is split into: one per access point, at least 2 ms apart."""
    return max(1, min(count, period_ns // MIN_SLOT_NS))


class Prober:
    """Probes a set of access points at rate_hz each until stopped."""

    def __init__(
        self,
        access_points: Sequence[AccessPointConfig],
        rate_hz: float,
        timeout_s: float,
        on_sample: SampleHandler,
        on_lost: LossHandler,
    ) -> None:
        session = secrets.randbits(32)
        offset = time.time_ns() - time.monotonic_ns()
        self.probes = [
            AccessPointProbe(
                ap,
                session=session,
                timeout_ns=int(timeout_s * 1e9),
                wall_offset_ns=offset,
                on_sample=on_sample,
                on_lost=on_lost,
            )
            for ap in access_points
        ]
        self.period_ns = round(1e9 / rate_hz)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="prober")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for probe in self.probes:
            probe.close()

    def responding_since_mark(self) -> int:
        """How many access points answered since the previous call."""
        count = 0
        for probe in self.probes:
            count += probe.answered_since_mark
            probe.answered_since_mark = False
        return count

    async def _open_missing(self) -> None:
        for probe in self.probes:
            if not probe.is_open:
                try:
                    await probe.open()
                except OSError as error:
                    log.warning(
                        "access point %s: cannot reach reflector %s: %s",
                        probe.access_point_id,
                        probe.reflector,
                        error,
                    )

    async def _run(self) -> None:
        await self._open_missing()
        if not self.probes:
            return
        slots = slots_of(len(self.probes), self.period_ns)
        groups = [self.probes[i::slots] for i in range(slots)]
        start_ns = opened_ns = time.monotonic_ns()
        tick = 0
        while True:
            slot = tick % slots
            now_ns = time.monotonic_ns()
            if now_ns - opened_ns > REOPEN_EVERY_NS and not all(p.is_open for p in self.probes):
                await self._open_missing()
                now_ns = opened_ns = time.monotonic_ns()
            for probe in groups[slot]:
                probe.send(now_ns)
            tick += 1
            due_ns = start_ns + tick * self.period_ns // slots
            delay_ns = due_ns - time.monotonic_ns()
            if delay_ns < -self.period_ns:  # fell behind by a whole period: skip, do not burst
                start_ns, tick = time.monotonic_ns(), 0
                delay_ns = 0
            await asyncio.sleep(max(delay_ns, 0) / 1e9)
