"""A user's record in the reference app, and how one update changes it. No I/O.

The record is JSON: the last sequence number applied, how many updates were applied, and the
anchors the updates set (an update's payload `{"anchor": name, ...}` sets that anchor; any other
payload is kept as `last`). It is padded with spaces to `state_bytes` (JSON allows trailing
whitespace) so a context weighs what a real app's would.

Sequence numbers grow per user: an update whose `seq` is not above the last one applied is a
duplicate (a device retrying after a lost answer, or after being redirected) and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_ANCHORS = 64
"""The most anchors a record keeps (the oldest set goes first)."""


@dataclass
class AnchorRecord:
    last_seq: int = 0
    applied: int = 0
    anchors: dict[str, Any] = field(default_factory=dict)
    last: Any = None

    def encode(self, state_bytes: int) -> bytes:
        body = {
            "lastSeq": self.last_seq,
            "applied": self.applied,
            "anchors": self.anchors,
            "last": self.last,
        }
        raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return raw + b" " * max(0, state_bytes - len(raw))

    @classmethod
    def decode(cls, data: bytes) -> AnchorRecord:
        body = json.loads(data)
        return cls(int(body["lastSeq"]), int(body["applied"]), dict(body["anchors"]), body["last"])


def apply_update(current: bytes | None, seq: int, payload: Any, state_bytes: int) -> bytes | None:
    """The record after the update, or None when seq is a duplicate."""
    record = AnchorRecord() if current is None else AnchorRecord.decode(current)
    if seq <= record.last_seq:
        return None
    record.last_seq = seq
    record.applied += 1
    if isinstance(payload, dict) and isinstance(payload.get("anchor"), str):
        record.anchors.pop(payload["anchor"], None)
        record.anchors[payload["anchor"]] = payload
        while len(record.anchors) > MAX_ANCHORS:
            del record.anchors[next(iter(record.anchors))]
    else:
        record.last = payload
    return record.encode(state_bytes)
