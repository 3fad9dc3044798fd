"""GS MEC 010-2 v3.1.1 application package management data types (clause 6.2, the file's schemas).

Requests (`CreateAppPkg`, `AppPkgInfoModifications`) refuse unknown attributes and name the
field that is wrong; the generator's wrapper (`{"CreateAppPkg": {...}}`) is accepted too.
Responses are built from AppPackages by the router and dumped with `etsi()`: ETSI names, no
absent attributes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from mec_orchestrator.api.problems import ProblemDetails
from mec_orchestrator.api.schemas.common import (
    EtsiModel,
    EtsiRequest,
    LinkType,
    SubscriptionLinks,
)
from mec_orchestrator.decisions.packages.archive import normalise_algorithm
from mec_orchestrator.model.subscription import check_callback_reference

HASH_LENGTHS = {"SHA-256": 64, "SHA-512": 128}
_HEX = re.compile(r"^[0-9a-f]+$")

OperationalStateName = Literal["ENABLED", "DISABLED"]


class Checksum(EtsiModel):
    """Checksum (6.2.5.6): algorithm (SHA-256 or SHA-512) and hexadecimal hash."""

    algorithm: str
    hash: str


class RequestChecksum(Checksum):
    """A checksum a client declares: the algorithm named as NFV-SOL 004 does, hash matching."""

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        algorithm = normalise_algorithm(value)
        if algorithm is None:
            raise ValueError(f"{value!r} is not supported: SHA-256 or SHA-512")
        return algorithm

    @field_validator("hash")
    @classmethod
    def _hexadecimal(cls, value: str) -> str:
        value = value.strip().lower()
        if not _HEX.match(value):
            raise ValueError("must be hexadecimal digits")
        return value

    @model_validator(mode="after")
    def _length(self) -> Self:
        expected = HASH_LENGTHS[self.algorithm]
        if len(self.hash) != expected:
            raise ValueError(
                f"hash: a {self.algorithm} hash has {expected} hexadecimal digits, "
                f"not {len(self.hash)}"
            )
        return self


def _absolute_uri(value: str) -> str:
    parts = urlsplit(value)
    if not parts.scheme or not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", parts.scheme):
        raise ValueError("must be an absolute URI (scheme:...)")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain white space")
    return value


class CreateAppPkg(EtsiRequest):
    """CreateAppPkg (6.2.3.2): what a client declares to create a package resource."""

    app_pkg_name: Annotated[str, Field(min_length=1, max_length=128)] = Field(alias="appPkgName")
    app_pkg_version: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        alias="appPkgVersion"
    )
    app_provider: Annotated[str, Field(max_length=128)] | None = Field(None, alias="appProvider")
    checksum: RequestChecksum
    user_defined_data: dict[str, Any] | None = Field(None, alias="userDefinedData")
    app_pkg_path: Annotated[str, Field(min_length=1, max_length=2048)] = Field(alias="appPkgPath")

    @field_validator("app_pkg_path")
    @classmethod
    def _uri(cls, value: str) -> str:
        return _absolute_uri(value)


class AppPkgInfoModifications(EtsiRequest):
    """AppPkgInfoModifications (6.2.3.8): the new operational state."""

    operational_state: OperationalStateName = Field(alias="operationalState")


class AppPkgLinks(EtsiModel):
    """_links of AppPkgInfo: the package, its AppD and its content."""

    self_: LinkType = Field(alias="self")
    app_d: LinkType = Field(alias="appD")
    app_pkg_content: LinkType = Field(alias="appPkgContent")


class AppPkgInfo(EtsiModel):
    """AppPkgInfo (6.2.3.3): an application package as the API shows it."""

    id: str
    app_d_id: str = Field(alias="appDId")
    app_provider: str | None = Field(None, alias="appProvider")
    app_name: str = Field(alias="appName")
    app_software_version: str = Field(alias="appSoftwareVersion")
    app_d_version: str = Field(alias="appDVersion")
    checksum: Checksum
    software_images: list[dict[str, Any]] = Field(alias="softwareImages")
    additional_artifacts: list[dict[str, Any]] | None = Field(None, alias="additionalArtifacts")
    onboarding_state: str = Field(alias="onboardingState")
    """CREATED, UPLOADING, PROCESSING or ONBOARDED."""
    operational_state: str = Field(alias="operationalState")
    """ENABLED or DISABLED."""
    usage_state: str = Field(alias="usageState")
    """IN_USE or NOT_IN_USE."""
    mec_info: list[str] = Field(alias="mecInfo")
    user_defined_data: dict[str, Any] | None = Field(None, alias="userDefinedData")
    onboarding_failure_details: ProblemDetails | None = Field(
        None, alias="onboardingFailureDetails"
    )
    links: AppPkgLinks = Field(alias="_links")


APP_PKG_INFO_ATTRIBUTES = frozenset(
    field.alias or name for name, field in AppPkgInfo.model_fields.items()
)
"""The attribute names a filter on AppPkgInfo may start with."""
OPTIONAL_COMPLEX = frozenset({"additionalArtifacts", "userDefinedData", "onboardingFailureDetails"})
"""Complex attributes of AppPkgInfo with lower cardinality 0 (`fields` keeps only those named)."""
DEFAULT_EXCLUDED = frozenset({"checksum", "softwareImages", "additionalArtifacts"})
"""The file's default exclusion set of AppPkgInfo (Query.Exclude_default)."""


# -- subscriptions ------------------------------------------------------------------------------

SubscriptionTypeName = Literal[
    "AppPackageOnBoardingSubscription",
    "AppPackageChangeSubscription",
    "AppPackageDeletionSubscription",
]


class AppPkgFilter(EtsiModel):
    """AppPkgFilter (6.2.3.10): the packages a subscription is about (every attribute set)."""

    app_pkg_info_id: str | None = Field(None, alias="appPkgInfoId")
    app_d_id: str | None = Field(None, alias="appDId")
    app_provider: str | None = Field(None, alias="appProvider")
    app_name: str | None = Field(None, alias="appName")
    app_software_version: str | None = Field(None, alias="appSoftwareVersion")
    app_d_version: str | None = Field(None, alias="appDVersion")
    operational_state: OperationalStateName | None = Field(None, alias="operationalState")
    usage_state: Literal["IN_USE", "NOT_IN_USE"] | None = Field(None, alias="usageState")


class AppPkgSubscription(EtsiRequest):
    """AppPkgSubscription (6.2.3.7): where to send which notifications."""

    callback_uri: Annotated[str, Field(min_length=1, max_length=2048)] = Field(alias="callbackUri")
    subscription_type: SubscriptionTypeName = Field(alias="subscriptionType")
    app_pkg_filter: Annotated[list[AppPkgFilter], Field(max_length=64)] | None = Field(
        None, alias="appPkgFilter"
    )

    @field_validator("callback_uri")
    @classmethod
    def _callback(cls, value: str) -> str:
        return check_callback_reference(value)

    @model_validator(mode="after")
    def _states_only_for_changes(self) -> Self:
        if self.subscription_type == "AppPackageChangeSubscription":
            return self
        for i, criteria in enumerate(self.app_pkg_filter or []):
            for name in ("operationalState", "usageState"):
                if name in criteria.etsi():
                    raise ValueError(
                        f"appPkgFilter[{i}].{name}: only with subscriptionType "
                        "AppPackageChangeSubscription (MEC 010-2 6.2.3.10)"
                    )
        return self


class AppPkgSubscriptionLinks(EtsiModel):
    self_: LinkType = Field(alias="self")


class AppPkgSubscriptionInfo(EtsiModel):
    """AppPkgSubscriptionInfo (6.2.3.4): a subscription as the API shows it."""

    id: str
    subscription_type: str = Field(alias="subscriptionType")
    callback_uri: str = Field(alias="callbackUri")
    links: AppPkgSubscriptionLinks = Field(alias="_links")


class AppPkgSubscriptionLinkList(EtsiModel):
    """AppPkgSubscriptionLinkList (6.2.3.5): the subscriptions of the requestor."""

    links: SubscriptionLinks = Field(alias="_links")
