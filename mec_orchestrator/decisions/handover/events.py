"""What the outside world is told of a handover: one event per step that matters to it.

Every move of a user between instances — a switch for an app that keeps no context, or a
handover that carries the context — is told as TRIGGERED (the move starts: MEC 021
INTERHOST_MOVEOUT_TRIGGERED), then exactly one of COMPLETED or FAILED. Observers (the MEC 021
API's notifications, Events, metrics) get these from the users' directory; they are plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HandoverEventKind(StrEnum):
    TRIGGERED = "INTERHOST_MOVEOUT_TRIGGERED"
    COMPLETED = "INTERHOST_MOVEOUT_COMPLETED"
    FAILED = "INTERHOST_MOVEOUT_FAILED"


@dataclass(frozen=True, slots=True)
class InstanceRef:
    """One side of a move: the host and the instance (its Mp1 appInstanceId and endpoint)."""

    host: str
    app_instance_id: str
    endpoint: str


@dataclass(frozen=True, slots=True)
class HandoverEvent:
    """One step of one move of one user."""

    kind: HandoverEventKind
    handover_id: str
    context_id: str
    """The user (its MEC 016 context id)."""
    namespace: str
    app: str
    """The EdgeApp's name."""
    app_d_id: str
    device_address: str | None
    """The device's IPv4 address (MEC 021 associateId UE_IPv4_ADDRESS)."""
    source: InstanceRef
    target: InstanceRef
    context_transfer: str
    """The app's contextTransfer: None, MecAssisted or AppSelfControlled."""
    at_s: float
    """When (Unix seconds)."""
    reason: str = ""
    """Why it failed (FAILED), or what decided the move (TRIGGERED)."""
    context_bytes: int = 0
    """How much context moved (COMPLETED, MecAssisted)."""
    interruption_s: float | None = None
    """How long the user was fenced (COMPLETED, when measured)."""
