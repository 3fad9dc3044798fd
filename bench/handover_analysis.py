"""What bench.handover reads from the device's records: interruptions, lost and duplicated updates.

Pure functions over the device's answers (bench/handover_device.py writes them), so that the
counting can be checked on small made-up records (tests/bench/test_handover_bench.py).
"""

from __future__ import annotations

import bisect
import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer the device received (times: time.time_ns(), CLOCK_REALTIME)."""

    seq: int
    url: str
    sent: int
    recv: int
    status: int
    applied: bool


@dataclass(frozen=True, slots=True)
class Transition:
    """The user's updates stopped being applied at one instance and started at another."""

    old_url: str
    new_url: str
    last_old_ns: int  # the last applied answer from the old instance arrived
    first_refused_ns: int  # the first update not applied there was sent (the device noticed)
    first_new_ns: int  # the first applied answer from the new instance arrived
    refused: int  # answers between (409s, errors)

    @property
    def interruption_ms(self) -> float:
        return (self.first_new_ns - self.last_old_ns) / 1e6

    @property
    def refused_to_applied_ms(self) -> float:
        return (self.first_new_ns - self.first_refused_ns) / 1e6


def load_answers(path: Path) -> list[Answer]:
    answers = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        item: dict[str, Any] = json.loads(line)
        answers.append(
            Answer(
                int(item["seq"]),
                str(item["url"]),
                int(item["sent"]),
                int(item["recv"]),
                int(item["status"]),
                bool(item["applied"]),
            )
        )
    return answers


def transitions(answers: list[Answer]) -> list[Transition]:
    """Every change of the instance that applies the device's updates, in order."""
    found: list[Transition] = []
    last: Answer | None = None
    first_refused: int | None = None
    refused = 0
    for answer in answers:
        if not answer.applied:
            if last is not None and first_refused is None:
                first_refused = answer.sent
            refused += 1
            continue
        if last is not None and answer.url != last.url:
            found.append(
                Transition(
                    last.url,
                    answer.url,
                    last.recv,
                    first_refused if first_refused is not None else answer.sent,
                    answer.recv,
                    refused,
                )
            )
        last, first_refused, refused = answer, None, 0
    return found


def attribute(found: list[Transition], starts_ns: list[int]) -> list[Transition | None]:
    """The transition of each handover: the one whose first applied answer at the new instance
    came after this handover started and before the next one did (None: no such transition).
    """
    by_handover: list[Transition | None] = [None] * len(starts_ns)
    for transition in found:
        index = bisect.bisect_right(starts_ns, transition.first_new_ns) - 1
        if index >= 0 and by_handover[index] is None:
            by_handover[index] = transition
    return by_handover


def count_updates(answers: list[Answer]) -> dict[str, Any]:
    """Lost (answered, never applied) and duplicated (applied more than once) updates.

    Every sequence number from the first to the last one answered 200 must have been applied
    exactly once: the device only moves to the next number after a 200.
    """
    applied = Counter(a.seq for a in answers if a.applied)
    done = [a.seq for a in answers if a.status == 200]
    if not done:
        return {"updates": 0, "lost": 0, "duplicated": 0, "lost_seqs": [], "duplicated_seqs": []}
    first, last = min(done), max(done)
    lost = [s for s in range(first, last + 1) if applied[s] == 0]
    twice = sorted(s for s, n in applied.items() if n > 1)
    return {
        "updates": last - first + 1,
        "first_seq": first,
        "last_seq": last,
        "lost": len(lost),
        "duplicated": len(twice),
        "lost_seqs": lost[:20],
        "duplicated_seqs": twice[:20],
        "refused_answers": sum(1 for a in answers if a.status == 409),
        "errors": sum(1 for a in answers if a.status not in (200, 409)),
    }


def rtt_ms(answers: list[Answer], url: str, since_ns: int, until_ns: int) -> float | None:
    """Median RTT of the applied updates to url answered in [since, until)."""
    rtts = [
        (a.recv - a.sent) / 1e6
        for a in answers
        if a.applied and a.url == url and since_ns <= a.recv < until_ns
    ]
    return statistics.median(rtts) if rtts else None


def quantile(values: list[float], q: float) -> float:
    """The nearest-rank quantile (p99 of fewer than 100 values is their maximum)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3),
        "p99": round(quantile(values, 0.99), 3),
        "max": round(max(values), 3),
        "min": round(min(values), 3),
    }
