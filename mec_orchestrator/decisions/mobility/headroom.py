"""HeadroomPolicy: move users to keep the app's latency budget, not to chase the nearest host.

A move costs an interruption (docs/handover.md) and a handover's work; a lower latency that
is already within the budget buys the app nothing it asked for. So this policy moves a user
only when the budget is breached, or is about to be: the current host's latency is within
`guard_ms` of the budget while the best host leaves at least that much headroom (a move made
before the breach is made while the user is still served within budget). Every move must
gain more than `min_gain_ms`, so measurements that wander by less cannot move a user back and
forth. An app without a budget has nothing to keep: it gets the threshold policy.

The two parameters are tuned on one trace and judged on others (bench/policies.py,
docs/policies.md). It is the lazy, threshold-structured rule that Wang et al. (IEEE/ACM ToN
2019, "Dynamic service migration in mobile edge computing based on Markov decision process")
prove optimal for a distance-based cost, with the state taken in latency rather than hops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mec_orchestrator.decisions.mobility.policies import (
    MobilitySituation,
    MobilityVerdict,
    MoveReason,
    ThresholdPolicy,
    forced_verdict,
)


@dataclass(frozen=True, slots=True)
class HeadroomPolicy:
    """Move on a breach of the budget, or within guard_ms of it; each move gains > min_gain_ms.

    Latencies and budget are round trips (ms), as the engine compares them.
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
