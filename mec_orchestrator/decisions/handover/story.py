"""The Event a handover step tells on its EdgeApp, and how many such Events are worth sending.

Pure: the reason and message of each step, and a per-app budget (a token bucket) so that a
burst of handovers does not flood the API server with Events — the ones over budget are
counted and told once, in the next Event that fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mec_orchestrator.decisions.handover.events import HandoverEvent, HandoverEventKind
from mec_orchestrator.model.reasons import EventReason

_REASONS = {
    HandoverEventKind.TRIGGERED: EventReason.HANDOVER_STARTED,
    HandoverEventKind.COMPLETED: EventReason.HANDOVER_COMPLETED,
    HandoverEventKind.FAILED: EventReason.HANDOVER_FAILED,
}


def story(event: HandoverEvent) -> tuple[EventReason, str, bool]:
    """(reason, message, warning) of the Event telling one step of a handover."""
    who = f"user {event.context_id[:12]}"
    way = f"{event.source.host} -> {event.target.host}"
    if event.kind is HandoverEventKind.TRIGGERED:
        mode = event.context_transfer
        why = f" ({event.reason})" if event.reason else ""
        return _REASONS[event.kind], f"{who} moving {way}, context transfer {mode}{why}", False
    if event.kind is HandoverEventKind.COMPLETED:
        details = []
        if event.context_bytes:
            details.append(f"{event.context_bytes} B of context")
        if event.interruption_s is not None:
            details.append(f"fenced {event.interruption_s * 1000:.1f} ms")
        extra = f": {', '.join(details)}" if details else ""
        return _REASONS[event.kind], f"{who} moved {way}{extra}", False
    return _REASONS[event.kind], f"{who} stays on {event.source.host}: {event.reason}", True


@dataclass
class EventBudget:
    """At most `per_second` Events per app on average, bursts up to `burst`."""

    per_second: float = 2.0
    burst: float = 10.0
    _tokens: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    suppressed: dict[tuple[str, str], int] = field(default_factory=dict)

    def allow(self, app: tuple[str, str], now_s: float) -> bool:
        tokens, at = self._tokens.get(app, (self.burst, now_s))
        tokens = min(self.burst, tokens + (now_s - at) * self.per_second)
        if tokens >= 1.0:
            self._tokens[app] = (tokens - 1.0, now_s)
            return True
        self._tokens[app] = (tokens, now_s)
        self.suppressed[app] = self.suppressed.get(app, 0) + 1
        return False

    def take_suppressed(self, app: tuple[str, str]) -> int:
        return self.suppressed.pop(app, 0)
