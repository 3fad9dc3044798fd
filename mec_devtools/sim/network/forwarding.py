"""The delay line's decisions, free of sockets: where a frame goes, when it leaves, and the record.

A frame that enters on one port is forwarded by destination MAC (static entries from the
topology win over learned ones; broadcast, multicast and unknown destinations are flooded to every
other port). Each copy draws loss and delay from the parameters of its (ingress, egress) pair and
waits in a heap until it is due. A copy never overtakes an earlier copy of the same pair, as on a
real path. Every copy gets a ground-truth record: when it entered (the kernel's receive timestamp
when there is one), when it was due, when the switch handed it to the kernel and when that send
returned (by then the receiving stack has taken the frame), all CLOCK_REALTIME nanoseconds.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mec_devtools.sim.network.frames import (
    FrameSummary,
    digest_int,
    digest_text,
    is_multicast,
    summarize,
)
from mec_devtools.sim.network.links import LinkParams

SENT = "sent"
LOST = "lost"
PENDING = "pending"
SEND_ERROR = "send-error"
# about 500 bytes per record in memory: 250,000 records are ~125 MB (10 min at 400 frames/s)
DEFAULT_TRUTH_LIMIT = 250_000


@dataclass(slots=True)
class Counters:
    rx_frames: int = 0
    rx_bytes: int = 0
    tx_frames: int = 0
    tx_bytes: int = 0
    lost: int = 0
    send_errors: int = 0


@dataclass(slots=True)
class Entry:
    """Ground truth of one forwarded copy of a frame."""

    seq: int
    ingress: str
    egress: str
    enter_ns: int
    nominal_ns: int
    due_ns: int
    length: int
    frame_hash: int
    summary: FrameSummary
    release_ns: int | None = None
    leave_ns: int | None = None
    outcome: str = PENDING
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "seq": self.seq,
            "ingress": self.ingress,
            "egress": self.egress,
            "enter_ns": self.enter_ns,
            "nominal_ns": self.nominal_ns,
            "due_ns": self.due_ns,
            "release_ns": self.release_ns,
            "leave_ns": self.leave_ns,
            "outcome": self.outcome,
            "error": self.error,
            "length": self.length,
            "frame_digest": digest_text(self.frame_hash),
            "ethertype": s.ethertype,
            "src_ip": s.src_ip,
            "dst_ip": s.dst_ip,
            "protocol": s.protocol,
            "src_port": s.src_port,
            "dst_port": s.dst_port,
            "payload_digest": s.payload_digest,
        }


@dataclass(slots=True)
class Port:
    name: str
    static_mac: bytes | None
    counters: Counters = field(default_factory=Counters)


class UnknownPortError(KeyError):
    def __str__(self) -> str:
        return f"unknown port {self.args[0]!r}"


class DelayLine:
    """Forwarding table, per-pair link parameters, the pending heap and the ground truth."""

    def __init__(self, *, rng: random.Random, truth_limit: int = DEFAULT_TRUTH_LIMIT) -> None:
        self._rng = rng
        self._ports: dict[str, Port] = {}
        self._static: dict[bytes, str] = {}
        self._learned: dict[bytes, str] = {}
        self._links: dict[tuple[str, str], LinkParams] = {}
        self._last_due: dict[tuple[str, str], int] = {}
        self._heap: list[tuple[int, int, Entry, bytes]] = []
        self._truth: deque[Entry] = deque(maxlen=truth_limit)
        self._seq = itertools.count()
        self.unroutable = 0

    # -- configuration -------------------------------------------------------------------
    def add_port(self, name: str, mac: bytes | None = None) -> None:
        if name in self._ports:
            raise ValueError(f"port {name!r} exists already")
        self._ports[name] = Port(name, mac)
        if mac is not None:
            self._static[mac] = name

    def port_names(self) -> list[str]:
        return list(self._ports)

    def _port(self, name: str) -> Port:
        try:
            return self._ports[name]
        except KeyError:
            raise UnknownPortError(name) from None

    def set_link(self, ingress: str, egress: str, params: LinkParams) -> None:
        self._port(ingress)
        self._port(egress)
        if ingress == egress:
            raise ValueError("a link needs two different ports")
        self._links[(ingress, egress)] = params

    def link(self, ingress: str, egress: str) -> LinkParams:
        self._port(ingress)
        self._port(egress)
        return self._links.get((ingress, egress), LinkParams())

    # -- forwarding ----------------------------------------------------------------------
    def _egress_ports(self, ingress: str, frame: bytes) -> list[str]:
        dst = frame[0:6]
        if not is_multicast(dst):
            target = self._static.get(dst) or self._learned.get(dst)
            if target is not None:
                return [] if target == ingress else [target]
        return [name for name in self._ports if name != ingress]

    def receive(self, ingress: str, frame: bytes, enter_ns: int) -> int:
        """Take a frame that entered on `ingress`; returns how many copies were scheduled."""
        port = self._port(ingress)
        port.counters.rx_frames += 1
        port.counters.rx_bytes += len(frame)
        if len(frame) < 14:
            self.unroutable += 1
            return 0
        src = frame[6:12]
        if not is_multicast(src) and src not in self._static:
            self._learned[src] = ingress
        egress = self._egress_ports(ingress, frame)
        if not egress:
            self.unroutable += 1
            return 0
        summary = summarize(frame)
        digest = digest_int(frame)
        scheduled = 0
        for out in egress:
            params = self._links.get((ingress, out), LinkParams())
            pair = (ingress, out)
            due = enter_ns + params.draw_delay_ns(self._rng)
            entry = Entry(
                seq=next(self._seq),
                ingress=ingress,
                egress=out,
                enter_ns=enter_ns,
                nominal_ns=params.delay_ns,
                due_ns=due,
                length=len(frame),
                frame_hash=digest,
                summary=summary,
            )
            self._truth.append(entry)
            if params.draw_lost(self._rng):
                entry.outcome = LOST
                self._ports[out].counters.lost += 1
                continue
            due = max(due, self._last_due.get(pair, 0))
            entry.due_ns = due
            self._last_due[pair] = due
            heapq.heappush(self._heap, (due, entry.seq, entry, frame))
            scheduled += 1
        return scheduled

    def next_due(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ns: int) -> tuple[Entry, bytes] | None:
        """The earliest pending copy if it is due at `now_ns`, removed from the heap."""
        if self._heap and self._heap[0][0] <= now_ns:
            _, _, entry, frame = heapq.heappop(self._heap)
            return entry, frame
        return None

    def sent(self, entry: Entry, release_ns: int, leave_ns: int) -> None:
        entry.release_ns = release_ns
        entry.leave_ns = leave_ns
        entry.outcome = SENT
        counters = self._ports[entry.egress].counters
        counters.tx_frames += 1
        counters.tx_bytes += entry.length

    def failed(self, entry: Entry, release_ns: int, error: str) -> None:
        entry.release_ns = release_ns
        entry.outcome = SEND_ERROR
        entry.error = error
        self._ports[entry.egress].counters.send_errors += 1

    # -- reporting -----------------------------------------------------------------------
    def truth(self, since: int = 0, limit: int | None = None) -> tuple[list[Entry], int]:
        """Records with seq >= since (at most `limit`) and the seq to ask for next."""
        if not self._truth:
            return [], since
        first = self._truth[0].seq
        start = max(0, since - first)
        stop = len(self._truth) if limit is None else min(len(self._truth), start + limit)
        records = list(itertools.islice(self._truth, start, stop))
        next_seq = records[-1].seq + 1 if records else max(since, self._truth[-1].seq + 1)
        return records, next_seq

    def clear_truth(self) -> int:
        dropped = len(self._truth)
        self._truth.clear()
        return dropped

    def stats(self) -> dict[str, Any]:
        return {
            "ports": {
                name: {slot: getattr(p.counters, slot) for slot in Counters.__slots__}
                for name, p in self._ports.items()
            },
            "pending": len(self._heap),
            "truth_records": len(self._truth),
            "unroutable": self.unroutable,
            "learned_macs": len(self._learned),
        }
