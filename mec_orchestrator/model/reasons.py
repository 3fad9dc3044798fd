"""Reasons of conditions and Events, as enums shared by the code that sets and the code that reads.

A reason is part of the API (`kubectl get ... -o jsonpath`, alerts and scripts match on it), so
each is spelled once here; the pure status code sets them and the operator, the agent link and
the tests compare against these members, never against bare strings.
"""

from __future__ import annotations

from enum import StrEnum


class EventReason(StrEnum):
    """Reasons of the Events the orchestrator records on EdgeApps."""

    PLACED = "Placed"
    EVACUATED = "Evacuated"
    DELETED = "Deleted"
