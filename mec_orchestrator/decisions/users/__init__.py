"""Which instance serves each user: the per-user placement engine the operator holds.

The engine owns the latency matrix agents feed (so the instance plan reads the same numbers),
the placement index (hosts ranked per access point, user slots) and the users' state; the pieces
it is built from are exported too, so they can be tested and benchmarked on their own.
"""

from mec_orchestrator.decisions.users.decision import (
    PlacementDecision,
    PlacementOutcome,
    PlacementRules,
    judge,
)
from mec_orchestrator.decisions.users.engine import MobilityResult, PlacementEngine
from mec_orchestrator.decisions.users.index import HostFullError, PlacementIndex
from mec_orchestrator.decisions.users.min_cost import (
    DemandGroup,
    min_cost_placement,
    placement_cost,
)
from mec_orchestrator.decisions.users.rebalance import Move, RebalancePlan
from mec_orchestrator.decisions.users.standby import StandbySuggestion, warm_standby_hosts

__all__ = [
    "DemandGroup",
    "HostFullError",
    "MobilityResult",
    "Move",
    "PlacementDecision",
    "PlacementEngine",
    "PlacementIndex",
    "PlacementOutcome",
    "PlacementRules",
    "RebalancePlan",
    "StandbySuggestion",
    "judge",
    "min_cost_placement",
    "placement_cost",
    "warm_standby_hosts",
]
