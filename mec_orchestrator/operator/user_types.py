"""What the users' directory and its handovers share: requests, errors, results, small rules.

Plain data and pure helpers, apart from the directory (`operator/users.py`) and the handover
steps (`operator/handovers.py`) so both can use them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mec_orchestrator.decisions.mobility.policies import (
    MobilityPolicy,
    NeverMigrate,
    ThresholdPolicy,
)
from mec_orchestrator.model import EdgeApp
from mec_orchestrator.model.edgeapp import MobilityLevel


class UserErrorKind(StrEnum):
    UNKNOWN_APP = "UnknownApp"
    UNKNOWN_CONTEXT = "UnknownContext"
    NO_LOCATION = "NoLocation"
    NO_INSTANCE = "NoInstance"
    AGENT_FAILED = "AgentFailed"


class UserError(Exception):
    """A user operation that cannot be done; kind says which, the message says why."""

    def __init__(self, kind: UserErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class AttachRequest:
    """A device application asks for a context of an app (MEC 016 AppContext, as checked)."""

    namespace: str
    owner: str
    associate_dev_app_id: str
    callback_reference: str | None
    app_location_updates: bool
    device_address: str | None
    app_d_id: str | None
    app_name: str | None
    app_provider: str | None
    app_soft_version: str | None


@dataclass(frozen=True, slots=True)
class ServingInstance:
    """An app instance that can take users: ready, registered over Mp1, its agent reachable."""

    host: str
    app_instance_id: str
    reference_uri: str
    agent_endpoint: str
    user_context_endpoint: str = ""
    """host:port of its UserContextService ("" when the app keeps no user context)."""
    deployment: str = ""


@dataclass(frozen=True, slots=True)
class PreparedHandover:
    """A handover both agents prepared (maybe pre-copied), not transferred to the end yet."""

    handover_id: str
    target: ServingInstance
    source_agent: str
    started: float


class MoveOutcome(StrEnum):
    MOVED = "moved"
    STAYED = "stayed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class MoveResult:
    context_id: str
    outcome: MoveOutcome
    source: str
    target: str | None
    reason: str


def instance_id_of(namespace: str, deployment: str) -> str:
    """The appInstanceId an instance registers with over Mp1 (the operator sets it in its env)."""
    return f"{namespace}.{deployment}"


def app_matches(app: EdgeApp, request: AttachRequest) -> bool:
    """The app a request names: by appDId if given, else by name (and provider, version)."""
    spec = app.spec
    if request.app_d_id is not None:
        return spec.app_d_id == request.app_d_id
    return (
        request.app_name == spec.app_name
        and request.app_provider in (None, spec.app_provider)
        and request.app_soft_version in (None, spec.app_soft_version)
    )


def mobility_policy(app: EdgeApp) -> MobilityPolicy:
    """The app's policy; its hysteresis is one way, the engine compares round trips."""
    mobility = app.spec.mobility
    if mobility.level is MobilityLevel.NOT_ALLOWED:
        return NeverMigrate()
    return ThresholdPolicy(
        hysteresis_ms=2.0 * mobility.hysteresis_ms, min_dwell_s=float(mobility.min_dwell_seconds)
    )
