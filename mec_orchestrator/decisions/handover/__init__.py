"""Handovers: moving a user from one app instance to another (pure parts: events, states)."""

from mec_orchestrator.decisions.handover.events import (
    HandoverEvent,
    HandoverEventKind,
    InstanceRef,
)

__all__ = ["HandoverEvent", "HandoverEventKind", "InstanceRef"]
