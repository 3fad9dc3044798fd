"""Status conditions in the `metav1.Condition` shape, and the pure functions that update them.

Every resource reports its state as conditions (`Placed`, `Ready`, `LatencySLOMet`, ...), the way
Kubernetes and Kueue do. The update rule is apimachinery's `meta.SetStatusCondition`, written as
a pure function so it can be property-tested: `lastTransitionTime` moves only when the status
changes; reason, message and observedGeneration always follow the newest report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from mec_orchestrator.model.base import ApiModel, Time, duplicates

CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

ConditionType = Annotated[str, Field(max_length=316, pattern=CONDITION_TYPE_PATTERN)]
ConditionReason = Annotated[
    str, Field(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
]
ConditionMessage = Annotated[str, Field(max_length=32768)]


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class EdgeAppConditionType(StrEnum):
    """The condition types an EdgeApp reports."""

    PLACED = "Placed"
    READY = "Ready"
    LATENCY_SLO_MET = "LatencySLOMet"
    HANDOVER_IN_PROGRESS = "HandoverInProgress"
    DEGRADED = "Degraded"


class EdgeHostConditionType(StrEnum):
    """The condition types an EdgeHost reports."""

    AGENT_CONNECTED = "AgentConnected"
    READY = "Ready"


class ZoneConditionType(StrEnum):
    """The condition types a Zone reports."""

    MEASURED = "Measured"


class AppPackageConditionType(StrEnum):
    """The condition types an AppPackage reports."""

    ONBOARDED = "Onboarded"


class Condition(ApiModel):
    """One observation of one aspect of an object's state (`metav1.Condition`)."""

    type: ConditionType
    status: ConditionStatus
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    last_transition_time: Time
    reason: ConditionReason
    message: ConditionMessage


def _one_per_type(conditions: list[Condition]) -> list[Condition]:
    repeated = duplicates(c.type for c in conditions)
    if repeated:
        raise ValueError(f"condition types must be unique, repeated: {', '.join(repeated)}")
    return conditions


Conditions = Annotated[list[Condition], Field(max_length=32), AfterValidator(_one_per_type)]
"""A status's conditions: at most one per type (a list-map keyed by type in the CRDs)."""


class NewCondition(ApiModel):
    """A condition as a controller reports it: everything but the transition time."""

    type: ConditionType
    status: ConditionStatus
    reason: ConditionReason
    message: ConditionMessage = ""
    observed_generation: Annotated[int, Field(ge=0)] | None = None


def set_condition(
    conditions: Sequence[Condition], new: NewCondition, now: datetime
) -> list[Condition]:
    """The conditions with `new` applied (apimachinery's `meta.SetStatusCondition`, pure).

    A condition of a new type is appended with `lastTransitionTime = now`. An existing one takes
    the new status, reason, message and observedGeneration in place; its `lastTransitionTime`
    becomes `now` only if the status changed. Other conditions and the order are kept; the input
    is not modified. `now` is truncated to whole seconds, the precision the API server stores.
    """
    now = now.replace(microsecond=0)
    result: list[Condition] = []
    found = False
    for existing in conditions:
        if existing.type != new.type:
            result.append(existing)
            continue
        found = True
        unchanged = existing.status == new.status
        result.append(_applied(new, existing.last_transition_time if unchanged else now))
    if not found:
        result.append(_applied(new, now))
    return result


def _applied(new: NewCondition, last_transition_time: datetime) -> Condition:
    return Condition(
        type=new.type,
        status=new.status,
        observed_generation=new.observed_generation,
        last_transition_time=last_transition_time,
        reason=new.reason,
        message=new.message,
    )


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of that type, or None."""
    return next((c for c in conditions if c.type == type_), None)


def is_condition_true(conditions: Sequence[Condition], type_: str) -> bool:
    """True when a condition of that type exists and its status is True."""
    found = find_condition(conditions, type_)
    return found is not None and found.status is ConditionStatus.TRUE


def remove_condition(conditions: Sequence[Condition], type_: str) -> list[Condition]:
    """The conditions without the one of that type (unchanged if there is none)."""
    return [c for c in conditions if c.type != type_]
