"""The EdgeApp resource: an edge application, its latency budget, mobility and placement policy.

An EdgeApp is the user's declaration (GS MEC 010-2 AppD essentials plus where and how to run);
its status is the orchestrator's account of where it runs. The rules the CRD's CEL expressions
enforce are enforced here too, so that code which builds an EdgeApp fails as `kubectl apply`
would, with the same field named.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mec_orchestrator.model.base import (
    ApiModel,
    DnsLabel,
    DnsSubdomain,
    EtsiEnum,
    Identifier,
    ObjectMeta,
    duplicates,
)
from mec_orchestrator.model.common import LatencyBudget, PodTemplate
from mec_orchestrator.model.conditions import Conditions


class MobilityLevel(EtsiEnum):
    """MEC 021 application mobility service level (`etsi`: `APP_MOBILITY_NOT_ALLOWED`, ...)."""

    NOT_ALLOWED = "NotAllowed"
    WITH_CONFIRMATION = "WithConfirmation"
    WITHOUT_CONFIRMATION = "WithoutConfirmation"

    @property
    def etsi(self) -> str:
        return f"APP_MOBILITY_{self.name}"

    @classmethod
    def from_etsi(cls, name: str) -> MobilityLevel:
        return cls[name.removeprefix("APP_MOBILITY_")]

    @property
    def etsi_code(self) -> int:
        """The MEC 021 `appMobilityServiceLevel` integer: 1, 2 or 3."""
        return list(MobilityLevel).index(self) + 1


class ContextTransfer(StrEnum):
    """Who moves a user's context to the new instance on handover."""

    NONE = "None"
    MEC_ASSISTED = "MecAssisted"
    APP_SELF_CONTROLLED = "AppSelfControlled"


class InstantiationState(EtsiEnum):
    """MEC 010-2 instantiation state of an app instance (`etsi`: `NOT_INSTANTIATED`, ...)."""

    NOT_INSTANTIATED = "NotInstantiated"
    INSTANTIATED = "Instantiated"


class OperationalState(EtsiEnum):
    """MEC 010-2 operational state of an instantiated app (`etsi`: `STARTED`, `STOPPED`)."""

    STARTED = "Started"
    STOPPED = "Stopped"


class AppPackageRef(ApiModel):
    """A reference to an onboarded AppPackage in the same namespace."""

    name: DnsSubdomain


class Mobility(ApiModel):
    """When and how a user's serving instance may change as the user moves."""

    level: MobilityLevel = MobilityLevel.WITHOUT_CONFIRMATION
    context_transfer: ContextTransfer = ContextTransfer.NONE
    hysteresis_ms: Annotated[float, Field(ge=0, le=1000)] = 2
    min_dwell_seconds: Annotated[int, Field(ge=0, le=86400)] = 10

    @field_validator("context_transfer")
    @classmethod
    def _no_transfer_without_mobility(
        cls, value: ContextTransfer, info: ValidationInfo
    ) -> ContextTransfer:
        not_allowed = info.data.get("level") is MobilityLevel.NOT_ALLOWED
        if not_allowed and value is not ContextTransfer.NONE:
            raise ValueError("must be None when level is NotAllowed: users never change instance")
        return value


class Placement(ApiModel):
    """Where instances may run and how many."""

    hosts: Annotated[list[DnsLabel], Field(max_length=256)] | None = None
    max_instances: Annotated[int, Field(ge=1, le=1000)] | None = None
    warm_standby: Annotated[int, Field(ge=0, le=100)] = 0
    max_users_per_instance: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    idle_seconds: Annotated[int, Field(ge=0, le=86400)] = 300

    @field_validator("hosts")
    @classmethod
    def _unique_hosts(cls, value: list[str] | None) -> list[str] | None:
        repeated = duplicates(value or [])
        if repeated:
            raise ValueError(f"edge host names must be unique, repeated: {', '.join(repeated)}")
        return value

    @field_validator("warm_standby")
    @classmethod
    def _room_for_standby(cls, value: int, info: ValidationInfo) -> int:
        limit = info.data.get("max_instances")
        if limit is not None and value >= limit:
            raise ValueError("must be less than maxInstances (a standby needs a serving instance)")
        return value


class EdgeAppSpec(ApiModel):
    """What the user declares."""

    app_d_id: Identifier
    app_name: Annotated[str, Field(min_length=1, max_length=128)]
    app_provider: Annotated[str, Field(min_length=1, max_length=128)]
    app_soft_version: Annotated[str, Field(min_length=1, max_length=64)]
    template: PodTemplate | None = None
    app_package_ref: AppPackageRef | None = None
    latency: LatencyBudget
    mobility: Mobility = Field(default_factory=Mobility)
    placement: Placement = Field(default_factory=Placement)
    lifecycle: InstantiationState = InstantiationState.INSTANTIATED
    operational_state: OperationalState = OperationalState.STARTED

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.template is None) == (self.app_package_ref is None):
            raise ValueError("exactly one of spec.template or spec.appPackageRef must be set")
        return self


class Instance(ApiModel):
    """One instance of the app: a Deployment (and Service) on one edge host."""

    host: DnsLabel
    deployment: DnsSubdomain
    ready: bool = False
    users: Annotated[int, Field(ge=0)] = 0
    endpoint: Annotated[str, Field(max_length=512)] | None = None


class EdgeAppStatus(ApiModel):
    """What the orchestrator observes."""

    instantiation_state: InstantiationState | None = None
    operational_state: OperationalState | None = None
    instances: Annotated[list[Instance], Field(max_length=1000)] | None = None
    users: Annotated[int, Field(ge=0)] | None = None
    hosts_summary: Annotated[str, Field(max_length=256)] | None = None
    ready_instances: Annotated[int, Field(ge=0)] | None = None
    ready_summary: Annotated[str, Field(max_length=32)] | None = None
    conditions: Conditions | None = None
    observed_generation: Annotated[int, Field(ge=0)] | None = None

    @field_validator("instances")
    @classmethod
    def _one_per_host(cls, value: list[Instance] | None) -> list[Instance] | None:
        repeated = duplicates(i.host for i in value or [])
        if repeated:
            raise ValueError(f"at most one instance per edge host, repeated: {', '.join(repeated)}")
        return value

    def summarized(self) -> EdgeAppStatus:
        """The status with users, hostsSummary, readyInstances, readySummary from instances."""
        return self.model_copy(update=summarize_instances(self.instances or []))


def summarize_instances(instances: list[Instance]) -> dict[str, object]:
    """The summary fields (by Python name) that the printer columns show, from the instances."""
    hosts = ",".join(sorted(i.host for i in instances))
    if len(hosts) > 256:
        hosts = hosts[:253] + "..."
    ready = sum(1 for i in instances if i.ready)
    return {
        "users": sum(i.users for i in instances),
        "hosts_summary": hosts,
        "ready_instances": ready,
        "ready_summary": f"{ready}/{len(instances)}",
    }


class EdgeApp(ApiModel):
    """An edge application (kind EdgeApp, namespaced, short name `ea`)."""

    KIND: ClassVar[str] = "EdgeApp"
    PLURAL: ClassVar[str] = "edgeapps"
    NAMESPACED: ClassVar[bool] = True

    api_version: Literal["mec.dev/v1alpha1"] = "mec.dev/v1alpha1"
    kind: Literal["EdgeApp"] = "EdgeApp"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: EdgeAppSpec
    status: EdgeAppStatus | None = None
