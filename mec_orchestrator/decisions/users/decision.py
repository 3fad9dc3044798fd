"""What a placement decision says: where the user goes and whether the latency budget holds.

A breach of the budget is a result, not an error: the user still gets the best available host,
and the decision says the budget is not met so the operator can set conditions and count
violations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from mec_orchestrator.decisions.names import AccessPointId, HostName, UserId


class PlacementOutcome(StrEnum):
    WITHIN_BUDGET = "WithinBudget"
    OVER_BUDGET = "OverBudget"
    LATENCY_UNKNOWN = "LatencyUnknown"  # on a host with no trusted measurement from here
    NO_FEASIBLE_HOST = "NoFeasibleHost"  # no measured, allowed host with a free slot


@dataclass(frozen=True, slots=True)
class PlacementRules:
    """An app's placement constraints: latency budget (MEC 010-2 appLatency) and allow-list."""

    latency_budget_ms: float | None = None
    allowed_hosts: frozenset[HostName] | None = None
    excluded_hosts: frozenset[HostName] = frozenset()
    """Hosts that take no new user of the app now (its instance there is full); a user they
    already serve stays. Kept apart from allowed_hosts so that one allow-list object can be
    shared by every user of an app while the full hosts change."""

    def __post_init__(self) -> None:
        budget = self.latency_budget_ms
        if budget is not None and not (math.isfinite(budget) and budget >= 0.0):
            raise ValueError(f"latency budget must be finite and non-negative, got {budget}")

    def allows(self, host: HostName) -> bool:
        return self.allowed_hosts is None or host in self.allowed_hosts


@dataclass(frozen=True, slots=True)
class PlacementDecision:
    """Where a user is served from an access point, at what latency, judged against the budget."""

    user: UserId | None
    access_point: AccessPointId
    host: HostName | None
    latency_ms: float | None
    budget_ms: float | None
    outcome: PlacementOutcome

    @property
    def placed(self) -> bool:
        return self.host is not None

    @property
    def within_budget(self) -> bool:
        return self.outcome is PlacementOutcome.WITHIN_BUDGET


def judge(
    user: UserId | None,
    access_point: AccessPointId,
    host: HostName | None,
    latency_ms: float | None,
    budget_ms: float | None,
) -> PlacementDecision:
    """The decision for a user on host (or none) at latency_ms against budget_ms."""
    if host is None:
        outcome = PlacementOutcome.NO_FEASIBLE_HOST
    elif latency_ms is None:
        outcome = PlacementOutcome.LATENCY_UNKNOWN
    elif budget_ms is not None and latency_ms > budget_ms:
        outcome = PlacementOutcome.OVER_BUDGET
    else:
        outcome = PlacementOutcome.WITHIN_BUDGET
    return PlacementDecision(user, access_point, host, latency_ms, budget_ms, outcome)
