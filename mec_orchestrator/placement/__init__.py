"""Pure decisions: latency matrix, nearest-host choice, mobility policy, handover plans. No I/O.

The operator holds one `PlacementEngine`; the pieces it is built from are exported too, so they
can be tested, benchmarked and compared on their own.
"""

from mec_orchestrator.placement.decision import (
    PlacementDecision,
    PlacementOutcome,
    PlacementRules,
    judge,
)
from mec_orchestrator.placement.engine import MobilityResult, PlacementEngine
from mec_orchestrator.placement.index import HostFullError, PlacementIndex
from mec_orchestrator.placement.latency import (
    LatencyEstimate,
    LatencyMatrix,
    LatencyMetric,
    LatencySettings,
    PairLatency,
    StalePair,
    nearest_rank,
)
from mec_orchestrator.placement.min_cost import DemandGroup, min_cost_placement, placement_cost
from mec_orchestrator.placement.mobility import (
    AlwaysNearest,
    MobilityPolicy,
    MobilitySituation,
    MobilityVerdict,
    MoveReason,
    NeverMigrate,
    ThresholdPolicy,
)
from mec_orchestrator.placement.naive import scan_best_host
from mec_orchestrator.placement.names import AccessPointId, HostName, UserId
from mec_orchestrator.placement.rebalance import Move, RebalancePlan
from mec_orchestrator.placement.standby import StandbySuggestion, warm_standby_hosts

__all__ = [
    "AccessPointId",
    "AlwaysNearest",
    "DemandGroup",
    "HostFullError",
    "HostName",
    "LatencyEstimate",
    "LatencyMatrix",
    "LatencyMetric",
    "LatencySettings",
    "MobilityPolicy",
    "MobilityResult",
    "MobilitySituation",
    "MobilityVerdict",
    "Move",
    "MoveReason",
    "NeverMigrate",
    "PairLatency",
    "PlacementDecision",
    "PlacementEngine",
    "PlacementIndex",
    "PlacementOutcome",
    "PlacementRules",
    "RebalancePlan",
    "StalePair",
    "StandbySuggestion",
    "ThresholdPolicy",
    "UserId",
    "judge",
    "min_cost_placement",
    "nearest_rank",
    "placement_cost",
    "scan_best_host",
    "warm_standby_hosts",
]
