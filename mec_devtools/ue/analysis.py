"""What a device's records say about the service it got: losses, duplicates, latency, interruptions.

Pure functions over the records (mec_devtools.ue.records), so tests, benchmarks and the demo
judge a run the same way. Definitions, per seq (the device numbers its updates 1, 2, 3...):

- **sent**: a seq with at least one `send` record.
- **acknowledged**: a seq answered 200 with `applied: true` or `duplicate: true` (an instance
  has it). **applied**: a seq answered `applied: true` at least once.
- **lost**: a seq sent but never acknowledged by the end of the records (the device was
  stopped before any instance confirmed it; with one update in flight at a time, at most the
  last seq of a cleanly stopped device, which is why `lost_before_stop` leaves that one out).
- **duplicated**: a seq answered `applied: true` more than once (two instances, or one twice,
  each applied it: the user's state took the update twice).
- **latency** of a seq: from its first send to its first acknowledgement, retries and
  redirects included; **late**: a seq whose latency is above the threshold given.
- **interruption**: a gap between consecutive acknowledgements (in time order) longer than
  `k` times the send interval; it carries its start (the last acknowledgement before), its end
  (the first after), and the instances that answered them, so a move from A to B shows as one
  interruption with `target_before` A and `target_after` B.

Percentiles are nearest-rank (the smallest value with at least q % of the values at or below).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (50.0, 90.0, 99.0, 100.0)


@dataclass(frozen=True)
class Ack:
    """One acknowledgement: when, which seq, which instance, whether it applied."""

    t_ns: int
    seq: int
    target: str | None
    applied: bool


@dataclass(frozen=True)
class Interruption:
    start_ns: int
    end_ns: int
    seq_before: int
    seq_after: int
    target_before: str | None
    target_after: str | None

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def moved(self) -> bool:
        return self.target_before != self.target_after


@dataclass(frozen=True)
class Switch:
    t_ns: int
    source: str | None
    target: str | None
    reason: str | None


@dataclass(frozen=True)
class Analysis:
    sent: int
    sends: int
    acknowledged: int
    applied: int
    lost: tuple[int, ...]
    duplicated: tuple[int, ...]
    late: tuple[int, ...]
    latency_ns: Mapping[int, int]
    percentiles_ns: Mapping[float, int]
    interruptions: tuple[Interruption, ...]
    switches: tuple[Switch, ...]
    interval_ns: int
    targets: tuple[str | None, ...] = field(default=())
    """Instances that acknowledged updates, in the order they first did."""

    @property
    def lost_before_stop(self) -> tuple[int, ...]:
        """Lost seqs other than the last one sent (the one a stop may cut short)."""
        if not self.lost:
            return ()
        last = max(self.latency_ns.keys() | set(self.lost))
        return tuple(s for s in self.lost if s != last)


def percentile(values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of values (q in (0, 100]); values must not be empty."""
    if not values:
        raise ValueError("no values")
    if not 0 < q <= 100:
        raise ValueError(f"q is in (0, 100], not {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def interruptions(acks: Sequence[Ack], threshold_ns: float) -> tuple[Interruption, ...]:
    """Gaps longer than threshold_ns between consecutive acknowledgements (sorted by time)."""
    ordered = sorted(acks, key=lambda a: a.t_ns)
    return tuple(
        Interruption(a.t_ns, b.t_ns, a.seq, b.seq, a.target, b.target)
        for a, b in itertools.pairwise(ordered)
        if b.t_ns - a.t_ns > threshold_ns
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def interval_of(records: Iterable[Mapping[str, Any]]) -> int | None:
    """The send interval a `start` record announces, if any."""
    for record in records:
        if record.get("kind") == "start":
            return _int(record.get("interval_ns"))
    return None


def analyse(
    records: Iterable[Mapping[str, Any]],
    *,
    interval_ns: int | None = None,
    k: float = 3.0,
    late_ns: int | None = None,
) -> Analysis:
    """The counts and timings of a device's records (see the module's definitions).

    interval_ns defaults to the one the `start` record announces; late_ns None: nothing late.
    """
    items = list(records)
    interval = interval_ns if interval_ns is not None else interval_of(items)
    if interval is None or interval <= 0:
        raise ValueError("no send interval: pass interval_ns or keep the start record")
    first_send: dict[int, int] = {}
    sends = 0
    applied_count: dict[int, int] = {}
    acks: list[Ack] = []
    first_ack: dict[int, int] = {}
    switches: list[Switch] = []
    for record in items:
        kind = record.get("kind")
        t_ns = _int(record.get("t_ns"))
        seq = _int(record.get("seq"))
        if kind == "switch" and t_ns is not None:
            switches.append(
                Switch(
                    t_ns,
                    _str(record.get("from")),
                    _str(record.get("to")),
                    _str(record.get("reason")),
                )
            )
        if t_ns is None or seq is None:
            continue
        if kind == "send":
            sends += 1
            first_send.setdefault(seq, t_ns)
        elif kind == "answer" and seq in first_send and record.get("status") == 200:
            applied = record.get("applied") is True
            if not applied and record.get("duplicate") is not True:
                continue
            if applied:
                applied_count[seq] = applied_count.get(seq, 0) + 1
            acks.append(Ack(t_ns, seq, _str(record.get("target")), applied))
            first_ack.setdefault(seq, t_ns)
    latency = {seq: first_ack[seq] - first_send[seq] for seq in sorted(first_ack)}
    values = list(latency.values())
    targets: list[str | None] = []
    for ack in sorted(acks, key=lambda a: a.t_ns):
        if ack.target not in targets:
            targets.append(ack.target)
    return Analysis(
        sent=len(first_send),
        sends=sends,
        acknowledged=len(first_ack),
        applied=len(applied_count),
        lost=tuple(sorted(s for s in first_send if s not in first_ack)),
        duplicated=tuple(sorted(s for s, n in applied_count.items() if n > 1)),
        late=tuple(s for s, v in latency.items() if late_ns is not None and v > late_ns),
        latency_ns=latency,
        percentiles_ns={q: percentile(values, q) for q in PERCENTILES} if values else {},
        interruptions=interruptions(acks, k * interval),
        switches=tuple(switches),
        interval_ns=interval,
        targets=tuple(targets),
    )
