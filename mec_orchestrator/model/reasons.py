"""Reasons of conditions and Events, as enums shared by the code that sets and the code that reads.

A reason is part of the API (`kubectl get ... -o jsonpath`, alerts and scripts match on it), so
each is spelled once here; the pure status code sets them and the operator, the agent link and
the tests compare against these members, never against bare strings. Every value is a valid
`metav1.Condition` reason (CamelCase, see `CONDITION_REASON_PATTERN`).
"""

from __future__ import annotations

from enum import StrEnum


class EventReason(StrEnum):
    """Reasons of the Events the orchestrator records on EdgeApps."""

    PLACED = "Placed"
    EVACUATED = "Evacuated"
    DELETED = "Deleted"
    HANDOVER_STARTED = "HandoverStarted"
    HANDOVER_COMPLETED = "HandoverCompleted"
    HANDOVER_FAILED = "HandoverFailed"
    EVENTS_SUPPRESSED = "EventsSuppressed"


class PlacedReason(StrEnum):
    """Reasons of an EdgeApp's `Placed` condition (and of its instance plan)."""

    PLACED = "Placed"
    """True: every access point with a known latency has an instance within the budget."""
    OVER_BUDGET = "OverBudget"
    """True: some access points are served best-effort by the nearest host, over the budget."""
    NOT_INSTANTIATED = "NotInstantiated"
    """False: spec.lifecycle is NotInstantiated."""
    NO_EDGE_HOST = "NoEdgeHost"
    """False: no node is labelled as an edge host."""
    NO_ELIGIBLE_HOST = "NoEligibleHost"
    """False: edge hosts exist but none may take a new instance."""
    NO_LATENCY_DATA = "NoLatencyData"
    """False: hosts are eligible but no access point has a known latency to any of them."""


class ReadyReason(StrEnum):
    """Reasons of an EdgeApp's `Ready` condition."""

    INSTANCES_READY = "InstancesReady"
    INSTANCES_NOT_READY = "InstancesNotReady"
    NOT_INSTANTIATED = "NotInstantiated"
    STOPPED = "Stopped"


class LatencySloReason(StrEnum):
    """Reasons of an EdgeApp's `LatencySLOMet` condition."""

    WITHIN_BUDGET = "WithinBudget"
    """True: every access point's serving instance is Ready and within the budget."""
    OVER_BUDGET = "OverBudget"
    """False: some access points are served by an instance over the budget."""
    ACCESS_POINTS_UNCOVERED = "AccessPointsUncovered"
    """False: some access points have no instance at all (no latency known to any host)."""
    NO_READY_INSTANCE = "NoReadyInstance"
    """False: an instance serving the access points is not Ready (yet)."""
    NO_LATENCY_DATA = "NoLatencyData"
    """Unknown: no access point with a known latency to any eligible host."""


class DegradedReason(StrEnum):
    """Reasons of an EdgeApp's `Degraded` condition: the real cause, first one first."""

    AS_PLANNED = "AsPlanned"
    HOSTS_LOST = "HostsLost"
    NO_EDGE_HOST = "NoEdgeHost"
    NO_CAPACITY = "NoCapacity"
    """Every edge host is full (its spec.capacity.instances is reached)."""
    NO_ELIGIBLE_HOST = "NoEligibleHost"
    NO_LATENCY_DATA = "NoLatencyData"
    OVER_BUDGET = "OverBudget"


class HandoverReason(StrEnum):
    """Reasons of an EdgeApp's `HandoverInProgress` condition."""

    IN_PROGRESS = "InProgress"
    """True: users of the app are being moved between its instances now."""
    NONE = "NoHandover"
    """False: no user of the app is being moved."""


class AgentConnectedReason(StrEnum):
    """Reasons of an EdgeHost's `AgentConnected` condition."""

    HEARTBEATING = "Heartbeating"
    HEARTBEAT_TIMEOUT = "HeartbeatTimeout"
    """The agent went silent: the host is unavailable until its agent is back, also for an
    operator that restarted in the meantime."""
    NEVER_REGISTERED = "NeverRegistered"
