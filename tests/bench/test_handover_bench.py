"""The handover benchmark counts what it says: interruptions from the device's own answers,
each attributed to its handover, and lost or duplicated updates. Made-up records, no network.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.handover_analysis import (
    Answer,
    attribute,
    count_updates,
    load_answers,
    quantile,
    rtt_ms,
    transitions,
)

A, B = "http://a:8080", "http://b:8080"
MS = 1_000_000


def ok(seq: int, url: str, sent_ms: float, rtt: float = 4.0, applied: bool = True) -> Answer:
    return Answer(seq, url, int(sent_ms * MS), int((sent_ms + rtt) * MS), 200, applied)


def refused(seq: int, url: str, sent_ms: float) -> Answer:
    return Answer(seq, url, int(sent_ms * MS), int((sent_ms + 4) * MS), 409, False)


def story() -> list[Answer]:
    """Served at A, fenced (sent to B), staged at B twice, applied at B, and back to A."""
    return [
        ok(1, A, 0),
        ok(2, A, 10),
        refused(3, A, 20),  # fenced: redirect to B
        refused(3, B, 24),  # staged: retry
        refused(3, B, 30),
        ok(3, B, 36),  # first applied at B: arrives at 40
        ok(4, B, 46),
        refused(5, B, 56),
        ok(5, A, 60, rtt=5),
    ]


def test_an_interruption_runs_from_the_last_applied_answer_to_the_first_at_the_target() -> None:
    found = transitions(story())
    assert [(t.old_url, t.new_url) for t in found] == [(A, B), (B, A)]
    first = found[0]
    assert first.interruption_ms == 40 - 14  # seq 2's answer (14 ms) -> seq 3's at B (40 ms)
    assert first.refused_to_applied_ms == 40 - 20  # the first refused send -> applied at B
    assert first.refused == 3
    assert found[1].interruption_ms == 65 - 50


def test_each_transition_goes_to_the_handover_during_which_the_target_answered() -> None:
    found = transitions(story())
    starts = [int(18 * MS), int(52 * MS), int(200 * MS)]  # the third saw no move
    by_handover = attribute(found, starts)
    assert by_handover[0] is found[0]
    assert by_handover[1] is found[1]
    assert by_handover[2] is None


def test_every_update_applied_once_is_neither_lost_nor_duplicated() -> None:
    counted = count_updates(story())
    assert (counted["updates"], counted["lost"], counted["duplicated"]) == (5, 0, 0)
    assert counted["refused_answers"] == 4


def test_a_duplicate_answer_for_an_update_never_applied_is_a_lost_update() -> None:
    answers = [ok(1, A, 0), ok(2, B, 10, applied=False), ok(3, B, 20)]
    counted = count_updates(answers)
    assert counted["lost"] == 1
    assert counted["lost_seqs"] == [2]


def test_an_update_applied_at_both_instances_is_duplicated() -> None:
    answers = [ok(1, A, 0), ok(2, A, 10), ok(2, B, 20), ok(3, B, 30)]
    counted = count_updates(answers)
    assert (counted["lost"], counted["duplicated"], counted["duplicated_seqs"]) == (0, 1, [2])


def test_rtt_and_quantiles() -> None:
    assert rtt_ms(story(), A, 0, 100 * MS) == 4.0  # applied at A: 4, 4, 5 ms
    assert rtt_ms(story(), A, 1000 * MS, 2000 * MS) is None
    assert quantile([float(v) for v in range(1, 101)], 0.99) == 99.0
    assert quantile([1.0, 2.0, 3.0], 0.99) == 3.0


def test_the_device_records_are_read_back(tmp_path: Path) -> None:
    path = tmp_path / "device.jsonl"
    lines = [
        {"seq": 1, "url": A, "sent": 1, "recv": 2, "status": 200, "applied": True},
        {"seq": 2, "url": A, "sent": 3, "recv": 4, "status": 409, "applied": False, "redirect": B},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert load_answers(path) == [Answer(1, A, 1, 2, 200, True), Answer(2, A, 3, 4, 409, False)]
