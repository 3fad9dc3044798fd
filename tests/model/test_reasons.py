"""Condition and Event reasons: spelled once, valid as metav1.Condition reasons, values pinned."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest

from mec_orchestrator.model import (
    AgentConnectedReason,
    ConditionStatus,
    DegradedReason,
    EventReason,
    HandoverReason,
    LatencySloReason,
    NewCondition,
    PlacedReason,
    ReadyReason,
)
from mec_orchestrator.model.conditions import CONDITION_REASON_PATTERN

ENUMS: list[type[StrEnum]] = [
    EventReason,
    PlacedReason,
    ReadyReason,
    LatencySloReason,
    DegradedReason,
    AgentConnectedReason,
]


@pytest.mark.parametrize("reason", [m for enum in ENUMS for m in enum], ids=str)
def test_every_reason_is_a_valid_condition_reason(reason: StrEnum) -> None:
    assert re.fullmatch(CONDITION_REASON_PATTERN, reason)
    condition = NewCondition(type="Placed", status=ConditionStatus.TRUE, reason=reason)
    assert condition.to_dict()["reason"] == reason.value


def test_the_reasons_clients_already_match_on_keep_their_spelling() -> None:
    # Alerts, scripts and kubectl jsonpath match on these strings: they are part of the API.
    pinned = {
        PlacedReason.PLACED: "Placed",
        PlacedReason.NOT_INSTANTIATED: "NotInstantiated",
        PlacedReason.NO_EDGE_HOST: "NoEdgeHost",
        PlacedReason.NO_ELIGIBLE_HOST: "NoEligibleHost",
        ReadyReason.INSTANCES_READY: "InstancesReady",
        ReadyReason.INSTANCES_NOT_READY: "InstancesNotReady",
        ReadyReason.NOT_INSTANTIATED: "NotInstantiated",
        ReadyReason.STOPPED: "Stopped",
        LatencySloReason.WITHIN_BUDGET: "WithinBudget",
        LatencySloReason.ACCESS_POINTS_UNCOVERED: "AccessPointsUncovered",
        LatencySloReason.NO_LATENCY_DATA: "NoLatencyData",
        DegradedReason.AS_PLANNED: "AsPlanned",
        DegradedReason.HOSTS_LOST: "HostsLost",
        DegradedReason.NO_CAPACITY: "NoCapacity",
        HandoverReason.IN_PROGRESS: "InProgress",
        HandoverReason.NONE: "NoHandover",
        AgentConnectedReason.HEARTBEATING: "Heartbeating",
        AgentConnectedReason.HEARTBEAT_TIMEOUT: "HeartbeatTimeout",
        AgentConnectedReason.NEVER_REGISTERED: "NeverRegistered",
        EventReason.PLACED: "Placed",
        EventReason.EVACUATED: "Evacuated",
        EventReason.DELETED: "Deleted",
        EventReason.HANDOVER_STARTED: "HandoverStarted",
        EventReason.HANDOVER_COMPLETED: "HandoverCompleted",
        EventReason.HANDOVER_FAILED: "HandoverFailed",
        EventReason.EVENTS_SUPPRESSED: "EventsSuppressed",
    }
    assert {member: member.value for member in pinned} == pinned


def test_a_reason_read_back_from_the_api_compares_equal_to_its_member() -> None:
    # The operator reads reasons back as plain strings (EdgeHost status): they must match.
    assert str(AgentConnectedReason.HEARTBEAT_TIMEOUT) == "HeartbeatTimeout"
    assert AgentConnectedReason("HeartbeatTimeout") is AgentConnectedReason.HEARTBEAT_TIMEOUT
