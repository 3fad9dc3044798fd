"""The record analysis: worked examples and properties over generated record streams."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mec_devtools.ue.analysis import Ack, analyse, interruptions, percentile
from mec_devtools.ue.records import RecordWriter, read_records

MS = 1_000_000
INTERVAL = 20 * MS


class Stream:
    """Builds a record stream the way the device writes one."""

    def __init__(self, interval_ns: int = INTERVAL) -> None:
        self.t = 1_000_000_000_000
        self.records: list[dict[str, Any]] = [
            {"kind": "start", "t_ns": self.t, "rate": 1e9 / interval_ns, "interval_ns": interval_ns}
        ]

    def at(self, advance_ns: int) -> int:
        self.t += advance_ns
        return self.t

    def send(self, seq: int, target: str, advance_ns: int = 0, attempt: int = 1) -> None:
        self.records.append(
            {
                "kind": "send",
                "t_ns": self.at(advance_ns),
                "seq": seq,
                "target": target,
                "attempt": attempt,
            }
        )

    def answer(self, seq: int, target: str, outcome: str, advance_ns: int = MS) -> None:
        record: dict[str, Any] = {
            "kind": "answer",
            "t_ns": self.at(advance_ns),
            "seq": seq,
            "target": target,
        }
        if outcome == "applied":
            record.update(status=200, applied=True, duplicate=False)
        elif outcome == "duplicate":
            record.update(status=200, applied=False, duplicate=True)
        elif outcome == "moved":
            record.update(status=409, servedHere=False, redirect=None)
        else:
            record.update(status=500)
        self.records.append(record)

    def error(self, seq: int, target: str, advance_ns: int = MS) -> None:
        self.records.append(
            {"kind": "error", "t_ns": self.at(advance_ns), "seq": seq, "target": target}
        )

    def switch(self, source: str, target: str, reason: str = "notification") -> None:
        self.records.append(
            {"kind": "switch", "t_ns": self.at(0), "from": source, "to": target, "reason": reason}
        )


def test_a_clean_move_is_one_interruption_and_nothing_lost() -> None:
    s = Stream()
    for seq in range(1, 11):
        s.send(seq, "A", INTERVAL - MS)
        s.answer(seq, "A", "applied")
    s.switch("A", "B")
    s.send(11, "B", 200 * MS)  # the move holds the stream 200 ms
    s.answer(11, "B", "applied", 2 * MS)
    for seq in range(12, 16):
        s.send(seq, "B", INTERVAL - MS)
        s.answer(seq, "B", "applied")
    result = analyse(s.records)
    assert (result.sent, result.acknowledged, result.applied) == (15, 15, 15)
    assert result.lost == result.duplicated == result.late == ()
    assert result.targets == ("A", "B")
    (gap,) = result.interruptions
    assert (gap.seq_before, gap.seq_after) == (10, 11)
    assert (gap.target_before, gap.target_after) == ("A", "B")
    assert gap.moved
    assert gap.duration_ns == 202 * MS
    assert [(w.source, w.target) for w in result.switches] == [("A", "B")]
    assert result.latency_ns[11] == 2 * MS
    assert result.percentiles_ns[100.0] == 2 * MS
    assert analyse(s.records, late_ns=MS).late == (11,)


def test_retries_redirects_and_duplicates() -> None:
    s = Stream()
    s.send(1, "A")
    s.answer(1, "A", "applied")
    s.send(2, "A", INTERVAL)
    s.error(2, "A", 3 * MS)  # the answer was lost, but A applied it
    s.send(2, "A", MS, attempt=2)
    s.answer(2, "A", "duplicate")
    s.send(3, "A", INTERVAL)
    s.answer(3, "A", "moved")
    s.send(3, "B", MS, attempt=2)
    s.answer(3, "B", "applied")
    s.send(4, "B", INTERVAL)
    s.answer(4, "B", "applied")
    s.send(4, "C", MS, attempt=2)  # sent again elsewhere and applied again: a duplicate
    s.answer(4, "C", "applied")
    s.send(5, "C", INTERVAL)  # stopped before an answer
    result = analyse(s.records)
    assert result.sent == 5
    assert result.sends == 8
    assert result.acknowledged == 4
    assert result.applied == 3  # seq 2 was only ever acknowledged as a duplicate
    assert result.lost == (5,)
    assert result.lost_before_stop == ()
    assert result.duplicated == (4,)
    assert result.latency_ns[2] == 5 * MS
    assert result.latency_ns[3] == 3 * MS


def test_the_interval_comes_from_the_start_record_or_the_caller() -> None:
    s = Stream(interval_ns=10 * MS)
    assert analyse(s.records).interval_ns == 10 * MS
    assert analyse(s.records, interval_ns=MS).interval_ns == MS
    with pytest.raises(ValueError, match="interval"):
        analyse(s.records[1:])


def test_percentiles_are_nearest_rank() -> None:
    values = list(range(100, 0, -1))
    assert [percentile(values, q) for q in (1, 50, 90, 99, 100)] == [1, 50, 90, 99, 100]
    assert percentile([7], 50) == 7
    assert percentile([1, 2], 50) == 1
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q is"):
        percentile([1], 0)


def test_interruptions_are_gaps_longer_than_the_threshold() -> None:
    acks = [
        Ack(t, i, "A" if t < 500 else "B", True)
        for i, t in enumerate([0, 10, 20, 100, 600, 610], 1)
    ]
    gaps = interruptions(acks, 50)
    assert [(g.start_ns, g.end_ns, g.moved) for g in gaps] == [(20, 100, False), (100, 600, True)]
    assert interruptions(acks, 500) == ()


# -- properties over generated streams -----------------------------------------------------

OUTCOMES = ("applied", "duplicate", "moved", "server", "error", "none")


@dataclass
class Attempt:
    target: str
    outcome: str
    wait_ns: int
    took_ns: int


attempts = st.builds(
    Attempt,
    target=st.sampled_from(["A", "B", "C"]),
    outcome=st.sampled_from(OUTCOMES),
    wait_ns=st.integers(0, 200 * MS),
    took_ns=st.integers(0, 100 * MS),
)
streams = st.lists(st.lists(attempts, max_size=4), max_size=40)


def build(plan: list[list[Attempt]]) -> list[dict[str, Any]]:
    s = Stream()
    for seq, tries in enumerate(plan, 1):
        for n, attempt in enumerate(tries, 1):
            s.send(seq, attempt.target, attempt.wait_ns, attempt=n)
            if attempt.outcome == "error":
                s.error(seq, attempt.target, attempt.took_ns)
            elif attempt.outcome != "none":
                s.answer(seq, attempt.target, attempt.outcome, attempt.took_ns)
    return s.records


@settings(max_examples=300, deadline=None)
@given(plan=streams, k=st.floats(1.0, 10.0), late=st.integers(0, 300 * MS))
def test_accounting_invariants(plan: list[list[Attempt]], k: float, late: int) -> None:
    result = analyse(build(plan), k=k, late_ns=late)
    sent = {seq for seq, tries in enumerate(plan, 1) if tries}
    acked = {
        seq
        for seq, tries in enumerate(plan, 1)
        if any(a.outcome in ("applied", "duplicate") for a in tries)
    }
    applied_twice = {
        seq for seq, tries in enumerate(plan, 1) if sum(a.outcome == "applied" for a in tries) > 1
    }
    assert result.sent == len(sent)
    assert result.sends == sum(len(tries) for tries in plan)
    assert result.acknowledged + len(result.lost) == result.sent
    assert set(result.lost) == sent - acked
    assert set(result.latency_ns) == acked
    assert result.applied <= result.acknowledged
    assert set(result.duplicated) == applied_twice
    assert set(result.late) <= acked
    assert all(result.latency_ns[s] > late for s in result.late)
    assert all(v >= 0 for v in result.latency_ns.values())
    if result.latency_ns:
        p = [result.percentiles_ns[q] for q in (50.0, 90.0, 99.0, 100.0)]
        assert p == sorted(p)
        assert p[-1] == max(result.latency_ns.values())
    spans = [(i.start_ns, i.end_ns) for i in result.interruptions]
    assert all(i.duration_ns > k * INTERVAL for i in result.interruptions)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert set(result.lost_before_stop) <= set(result.lost)
    assert len(result.lost) - len(result.lost_before_stop) <= 1


@settings(max_examples=100, deadline=None)
@given(plan=streams)
def test_a_stream_cut_anywhere_still_analyses(plan: list[list[Attempt]]) -> None:
    records = build(plan)
    for cut in range(1, len(records) + 1, max(1, len(records) // 7)):
        head = analyse(records[:cut])
        assert head.sent <= analyse(records).sent
        assert head.acknowledged + len(head.lost) == head.sent


def test_a_record_file_cut_mid_line_is_read_up_to_the_cut(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path / "r.jsonl")
    writer.write("start", interval_ns=INTERVAL, rate=50.0)
    writer.write("send", seq=1, target="A", attempt=1, absent=None)
    writer.close()
    with (tmp_path / "r.jsonl").open("a") as cut:
        cut.write('{"kind": "answer", "seq": 1, "sta')
    records = read_records(tmp_path / "r.jsonl")
    assert [r["kind"] for r in records] == ["start", "send"]
    assert "absent" not in records[1]
    assert analyse(records).lost == (1,)
