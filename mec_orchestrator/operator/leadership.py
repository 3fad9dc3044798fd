"""Is this replica the active one? kopf's peering rule, applied to the peering object.

kopf pauses every replica but the highest-priority live one (and all of them while two live
replicas share a priority), but it does not tell code running beside its handlers. The app
daemons need no answer (kopf stops them in a paused replica); writes that run on their own
timer, such as agents' EdgeHost summaries, ask `is_active` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any


def _alive(record: Mapping[str, Any], now: datetime) -> bool:
    seen = record.get("lastseen")
    if not isinstance(seen, str):
        return True  # kopf counts a record without a time as seen now
    try:
        last = datetime.fromisoformat(seen)
    except ValueError:
        return True
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return last + timedelta(seconds=int(record.get("lifetime", 60))) > now


def is_active(
    peers: Mapping[str, Mapping[str, Any]], identity: str, priority: int, now: datetime
) -> bool:
    """True unless another live peer has a priority at least ours (kopf would pause us)."""
    return not any(
        int(record.get("priority", 0)) >= priority and _alive(record, now)
        for peer, record in peers.items()
        if peer != identity
    )
