"""The AppPackage resource: an onboarded GS MEC 010-2 application package.

It holds the AppD essentials and the software (a pod template) so that EdgeApps can refer to it
instead of carrying their own template, and the package states MEC 010-2 defines: onboarding,
operational (the one users set, through spec) and usage. The REST API's `/app_pkgm/v1` is served
from these objects.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from mec_orchestrator.model.base import ApiModel, EtsiEnum, Identifier, ObjectMeta, duplicates
from mec_orchestrator.model.common import LatencyBudget, PodTemplate
from mec_orchestrator.model.conditions import Conditions

MEC_VERSION = r"^[0-9]+\.[0-9]+\.[0-9]+$"


class OnboardingState(EtsiEnum):
    """MEC 010-2 onboarding state (`etsi`: `CREATED`, `UPLOADING`, ...)."""

    CREATED = "Created"
    UPLOADING = "Uploading"
    PROCESSING = "Processing"
    ONBOARDED = "Onboarded"


class PackageOperationalState(EtsiEnum):
    """MEC 010-2 operational state of a package (`etsi`: `ENABLED`, `DISABLED`)."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"


class UsageState(EtsiEnum):
    """MEC 010-2 usage state of a package (`etsi`: `IN_USE`, `NOT_IN_USE`)."""

    IN_USE = "InUse"
    NOT_IN_USE = "NotInUse"


class UserContextTransferCapability(ApiModel):
    """MEC 010-2 UserContextTransferCapability: whether the app has, and can move, user state."""

    stateful_application: bool
    user_context_transfer_support: bool | None = None

    @field_validator("user_context_transfer_support")
    @classmethod
    def _only_if_stateful(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value is not None and info.data.get("stateful_application") is False:
            raise ValueError("must be absent when statefulApplication is false (MEC 010-2)")
        return value


class AppPackageSpec(ApiModel):
    """The AppD essentials and the software of the package."""

    app_d_id: Identifier
    app_name: Annotated[str, Field(min_length=1, max_length=128)]
    app_provider: Annotated[str, Field(min_length=1, max_length=128)]
    app_soft_version: Annotated[str, Field(min_length=1, max_length=64)]
    app_d_version: Annotated[str, Field(min_length=1, max_length=64)]
    mec_version: Annotated[
        list[Annotated[str, Field(max_length=32, pattern=MEC_VERSION)]],
        Field(min_length=1, max_length=16),
    ]
    app_info_name: Annotated[str, Field(max_length=256)] | None = None
    app_description: Annotated[str, Field(max_length=4096)] | None = None
    latency: LatencyBudget | None = None
    user_context_transfer_capability: UserContextTransferCapability | None = None
    template: PodTemplate
    operational_state: PackageOperationalState = PackageOperationalState.ENABLED

    @field_validator("mec_version")
    @classmethod
    def _unique_versions(cls, value: list[str]) -> list[str]:
        repeated = duplicates(value)
        if repeated:
            raise ValueError(f"versions must be unique, repeated: {', '.join(repeated)}")
        return value


class AppPackageStatus(ApiModel):
    """The MEC 010-2 package states as observed by the orchestrator."""

    onboarding_state: OnboardingState | None = None
    operational_state: PackageOperationalState | None = None
    usage_state: UsageState | None = None
    conditions: Conditions | None = None
    observed_generation: Annotated[int, Field(ge=0)] | None = None


class AppPackage(ApiModel):
    """An onboarded application package (kind AppPackage, namespaced)."""

    KIND: ClassVar[str] = "AppPackage"
    PLURAL: ClassVar[str] = "apppackages"
    NAMESPACED: ClassVar[bool] = True

    api_version: Literal["mec.dev/v1alpha1"] = "mec.dev/v1alpha1"
    kind: Literal["AppPackage"] = "AppPackage"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AppPackageSpec
    status: AppPackageStatus | None = None
