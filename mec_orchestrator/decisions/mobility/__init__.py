"""When a user moves to another host: pluggable policies, compared on the same traces."""

from mec_orchestrator.decisions.mobility.policies import (
    AlwaysNearest,
    HeadroomPolicy,
    MobilityPolicy,
    MobilitySituation,
    MobilityVerdict,
    MoveReason,
    NeverMigrate,
    ThresholdPolicy,
)

__all__ = [
    "AlwaysNearest",
    "HeadroomPolicy",
    "MobilityPolicy",
    "MobilitySituation",
    "MobilityVerdict",
    "MoveReason",
    "NeverMigrate",
    "ThresholdPolicy",
]
