"""A handover as one agent holds it: its side, its state, what it needs to finish it alone.

Pure data with the rules of the states: PREPARED → TRANSFERRING → TRANSFERRED → COMMITTED, or
ABORTED from any state before COMMITTED. COMMITTED and ABORTED are final and exclusive: the
target's commit is the point where the user's context changes owner, so a target that aborted
never commits and a source releases only after its target committed. A record carries the
endpoints of both instances and of the target agent, so an agent that restarted (its journal
replayed) can finish or undo a handover without the orchestrator.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    SOURCE = "source"
    TARGET = "target"


class State(StrEnum):
    PREPARED = "PREPARED"
    TRANSFERRING = "TRANSFERRING"
    TRANSFERRED = "TRANSFERRED"
    COMMITTED = "COMMITTED"
    ABORTED = "ABORTED"


ENDED = frozenset({State.COMMITTED, State.ABORTED})

_NEXT: dict[State, frozenset[State]] = {
    State.PREPARED: frozenset({State.TRANSFERRING, State.TRANSFERRED, State.COMMITTED}),
    State.TRANSFERRING: frozenset({State.TRANSFERRED, State.COMMITTED}),
    State.TRANSFERRED: frozenset({State.COMMITTED}),
    State.COMMITTED: frozenset(),
    State.ABORTED: frozenset(),
}


class TransitionError(ValueError):
    """A step the handover's state does not allow (the message says from and to)."""


@dataclass(frozen=True, slots=True)
class InstanceSide:
    """One instance of the handover (the proto's AppInstanceRef, as kept)."""

    host: str
    app_instance_id: str
    user_context_endpoint: str
    endpoint: str


@dataclass(frozen=True, slots=True)
class HandoverRecord:
    handover_id: str
    role: Role
    user_id: str
    source: InstanceSide
    target: InstanceSide
    target_agent_endpoint: str
    context_transfer: int
    deadline_s: float
    """Unix time after which the agent ends the handover on its own."""
    state: State = State.PREPARED
    session_record: bytes = b""
    reason: str = ""
    stats: dict[str, float] = field(default_factory=dict)
    """What the transfer measured (bytes, rounds, fenced seconds, version)."""

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def moved_to(self, state: State, reason: str = "") -> HandoverRecord:
        """The record in state (refused unless the rules allow it; the same state is a no-op)."""
        if state == self.state:
            return self
        allowed = state is State.ABORTED and not self.ended
        if not allowed and state not in _NEXT[self.state]:
            raise TransitionError(f"handover {self.handover_id}: {self.state} -> {state}")
        return replace(self, state=state, reason=reason or self.reason)

    def with_stats(self, **stats: float) -> HandoverRecord:
        return replace(self, stats={**self.stats, **stats})

    def to_json(self) -> str:
        body: dict[str, Any] = asdict(self)
        body["session_record"] = base64.b64encode(self.session_record).decode()
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> HandoverRecord:
        body = json.loads(line)
        return cls(
            handover_id=body["handover_id"],
            role=Role(body["role"]),
            user_id=body["user_id"],
            source=InstanceSide(**body["source"]),
            target=InstanceSide(**body["target"]),
            target_agent_endpoint=body["target_agent_endpoint"],
            context_transfer=int(body["context_transfer"]),
            deadline_s=float(body["deadline_s"]),
            state=State(body["state"]),
            session_record=base64.b64decode(body.get("session_record") or ""),
            reason=body.get("reason", ""),
            stats={k: float(v) for k, v in (body.get("stats") or {}).items()},
        )
