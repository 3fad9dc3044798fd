"""Mobility policies: whether a user whose situation changed should move to another host.

Moving costs a handover (context transfer, an interruption), so a move must pay for itself.
Policies share one interface so they can be replayed against the same trace and compared:
`NeverMigrate`, `AlwaysNearest` and `ThresholdPolicy` (the default: SLO breach or gain above the
hysteresis after a minimum dwell), and `HeadroomPolicy` (moves only to keep the latency budget;
compared with the others on SUMO traces in docs/policies.md).

Every policy honours the hard constraints: a user without a host, or on a host the app no longer
allows, is moved to the best feasible host whatever the policy (a verdict to move with no target
means the user must leave its host and there is no feasible one: it ends up unplaced).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from mec_orchestrator.decisions.names import HostName


class MoveReason(StrEnum):
    # Moves
    NO_CURRENT_HOST = "NoCurrentHost"
    CURRENT_NOT_ALLOWED = "CurrentNotAllowed"
    CURRENT_UNMEASURED = "CurrentUnmeasured"
    BUDGET_BREACH = "BudgetBreach"
    GAIN_ABOVE_HYSTERESIS = "GainAboveHysteresis"
    NEAREST = "Nearest"
    NEAR_BUDGET = "NearBudget"  # within the guard band below the budget (HeadroomPolicy)
    # Stays
    ALREADY_BEST = "AlreadyBest"
    NO_ALTERNATIVE = "NoAlternative"
    WITHIN_HYSTERESIS = "WithinHysteresis"
    DWELL_NOT_REACHED = "DwellNotReached"
    NEVER_MIGRATES = "NeverMigrates"
    HEADROOM_LEFT = "HeadroomLeft"  # comfortably within the budget (HeadroomPolicy)


@dataclass(frozen=True, slots=True)
class MobilitySituation:
    """What a policy sees about one user at one moment.

    `current_latency_ms` is the latency of the current host from the user's access point now
    (None when that pair has no trusted measurement); `best_*` is the best feasible host, counting
    the user's own slot on the current host (so best may be the current host); `dwell_s` is the
    time since the user arrived on the current host.
    """

    current_host: HostName | None
    current_allowed: bool
    current_latency_ms: float | None
    best_host: HostName | None
    best_latency_ms: float | None
    budget_ms: float | None
    dwell_s: float


@dataclass(frozen=True, slots=True)
class MobilityVerdict:
    move: bool
    target: HostName | None
    reason: MoveReason


class MobilityPolicy(Protocol):
    """Decides, from a situation, whether the user moves.

    A verdict's target is the situation's best host (move) or current host (stay); a move with
    target None means the user must leave its host and there is nowhere to go.
    """

    @property
    def name(self) -> str: ...

    def decide(self, situation: MobilitySituation) -> MobilityVerdict: ...


def _stay(situation: MobilitySituation, reason: MoveReason) -> MobilityVerdict:
    return MobilityVerdict(False, situation.current_host, reason)


def _go(situation: MobilitySituation, reason: MoveReason) -> MobilityVerdict:
    return MobilityVerdict(True, situation.best_host, reason)


def forced_verdict(situation: MobilitySituation) -> MobilityVerdict | None:
    """The verdict every policy must give when a hard constraint decides, else None."""
    if situation.current_host is None:
        if situation.best_host is None:
            return _stay(situation, MoveReason.NO_ALTERNATIVE)
        return _go(situation, MoveReason.NO_CURRENT_HOST)
    if not situation.current_allowed:
        # The allow-list is a hard constraint: leave the host, even with nowhere to go.
        return _go(situation, MoveReason.CURRENT_NOT_ALLOWED)
    if situation.best_host is None:
        return _stay(situation, MoveReason.NO_ALTERNATIVE)
    if situation.best_host == situation.current_host:
        return _stay(situation, MoveReason.ALREADY_BEST)
    return None


@dataclass(frozen=True, slots=True)
class NeverMigrate:
    """Place once, then stay put (unless the host goes away or is no longer allowed)."""

    @property
    def name(self) -> str:
        return "never-migrate"

    def decide(self, situation: MobilitySituation) -> MobilityVerdict:
        return forced_verdict(situation) or _stay(situation, MoveReason.NEVER_MIGRATES)


@dataclass(frozen=True, slots=True)
class AlwaysNearest:
    """Always follow the best feasible host, whatever the gain."""

    @property
    def name(self) -> str:
        return "always-nearest"

    def decide(self, situation: MobilitySituation) -> MobilityVerdict:
        forced = forced_verdict(situation)
        if forced is not None:
            return forced
        if situation.current_latency_ms is None:
            return _go(situation, MoveReason.CURRENT_UNMEASURED)
        return _go(situation, MoveReason.NEAREST)


@dataclass(frozen=True, slots=True)
class ThresholdPolicy:
    """Move on a gain above the hysteresis, at once on a budget breach, else after the dwell.

    Every move it makes (bar the forced ones and an unmeasured current host) gains more than
    hysteresis_ms, so latencies that wander by less than the hysteresis can never make a user
    go back and forth. A breach the hysteresis does not let it fix stays reported as a breach.
    """

    hysteresis_ms: float = 2.0
    min_dwell_s: float = 30.0

    def __post_init__(self) -> None:
        for label, value in (
            ("hysteresis_ms", self.hysteresis_ms),
            ("min_dwell_s", self.min_dwell_s),
        ):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{label} must be finite and non-negative, got {value}")

    @property
    def name(self) -> str:
        return f"threshold(h={self.hysteresis_ms:g}ms,dwell={self.min_dwell_s:g}s)"

    def decide(self, situation: MobilitySituation) -> MobilityVerdict:
        forced = forced_verdict(situation)
        if forced is not None:
            return forced
        current, best = situation.current_latency_ms, situation.best_latency_ms
        if current is None:
            return _go(situation, MoveReason.CURRENT_UNMEASURED)
        if best is None or current - best <= self.hysteresis_ms:
            return _stay(situation, MoveReason.WITHIN_HYSTERESIS)
        budget = situation.budget_ms
        if budget is not None and current > budget:
            return _go(situation, MoveReason.BUDGET_BREACH)
        if situation.dwell_s < self.min_dwell_s:
            return _stay(situation, MoveReason.DWELL_NOT_REACHED)
        return _go(situation, MoveReason.GAIN_ABOVE_HYSTERESIS)


@dataclass(frozen=True, slots=True)
class HeadroomPolicy:
    """Move users to keep the app's latency budget, not to chase the nearest host.

    A move costs an interruption (docs/handover.md) and a handover's work; a lower latency that
    is already within the budget buys the app nothing it asked for. So a user moves only when
    the budget is breached, or is about to be: the current host's latency is within `guard_ms`
    of the budget while the best host leaves at least that much headroom (a move made before
    the breach is made while the user is still served within budget). Every move must gain
    more than `min_gain_ms`, so measurements that wander by less cannot move a user back and
    forth. An app without a budget has nothing to keep: it gets the threshold policy.
    Latencies and budget are round trips (ms), as the engine compares them.

    It is the lazy, threshold-structured rule that Wang et al. (IEEE/ACM ToN 2019, "Dynamic
    service migration in mobile edge computing based on Markov decision process") prove
    optimal for a distance-based cost, with the state taken in latency rather than hops; its
    two parameters are tuned on one trace and judged on others (bench/policies.py).
    """

    guard_ms: float = 0.0
    min_gain_ms: float = 0.0
    without_budget: ThresholdPolicy = field(default_factory=ThresholdPolicy)

    def __post_init__(self) -> None:
        for label, value in (("guard_ms", self.guard_ms), ("min_gain_ms", self.min_gain_ms)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{label} must be finite and non-negative, got {value}")

    @property
    def name(self) -> str:
        return f"headroom(guard={self.guard_ms:g}ms,gain={self.min_gain_ms:g}ms)"

    def decide(self, situation: MobilitySituation) -> MobilityVerdict:
        forced = forced_verdict(situation)
        if forced is not None:
            return forced
        if situation.budget_ms is None:
            return self.without_budget.decide(situation)
        move, reason = self._judge(situation, situation.budget_ms)
        target = situation.best_host if move else situation.current_host
        return MobilityVerdict(move, target, reason)

    def _judge(self, situation: MobilitySituation, budget: float) -> tuple[bool, MoveReason]:
        current, best = situation.current_latency_ms, situation.best_latency_ms
        if current is None:
            return True, MoveReason.CURRENT_UNMEASURED
        if best is None or current - best <= self.min_gain_ms:
            return False, MoveReason.WITHIN_HYSTERESIS
        if current > budget:
            return True, MoveReason.BUDGET_BREACH
        edge = budget - self.guard_ms
        if current > edge and best <= edge:
            return True, MoveReason.NEAR_BUDGET
        return False, MoveReason.HEADROOM_LEFT
