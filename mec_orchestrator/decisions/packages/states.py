"""The MEC 010-2 states of a package as the API reports them, and what each state allows. Pure.

- Onboarding state: the status's, written by the REST API's onboarding as it goes (CREATED ->
  UPLOADING -> PROCESSING -> ONBOARDED; back to CREATED, with the Onboarded condition False
  saying why, when content is refused). A package declared with kubectl (no spec.source) carries
  its AppD and is ONBOARDED without a status.
- Operational state: DISABLED until the package is onboarded, then spec.operationalState (what
  PATCH sets; onboarding sets ENABLED, as NFV-SOL 005 does for a freshly onboarded package).
- Usage state: IN_USE while an EdgeApp of the namespace refers to the package.

An upload may start on a CREATED package, or on one whose upload has been UPLOADING or
PROCESSING for longer than `STALE_UPLOAD` (the process that received it stopped half-way).
A package may be deleted only when DISABLED and NOT_IN_USE; enabled or disabled only when
ONBOARDED.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from mec_orchestrator.model.apppackage import (
    AppPackage,
    OnboardingState,
    PackageOperationalState,
    UsageState,
)
from mec_orchestrator.model.conditions import AppPackageConditionType, find_condition

STALE_UPLOAD = timedelta(minutes=5)


def onboarding_state(package: AppPackage) -> OnboardingState:
    status = package.status
    if status is not None and status.onboarding_state is not None:
        return status.onboarding_state
    if package.spec.source is None and package.spec.has_content:
        return OnboardingState.ONBOARDED
    return OnboardingState.CREATED


def operational_state(package: AppPackage) -> PackageOperationalState:
    if onboarding_state(package) is not OnboardingState.ONBOARDED:
        return PackageOperationalState.DISABLED
    return package.spec.operational_state


def usage_state(users: Sequence[str]) -> UsageState:
    return UsageState.IN_USE if users else UsageState.NOT_IN_USE


def upload_refusal(package: AppPackage, now: datetime) -> str | None:
    """Why content may not be uploaded to the package now (None: it may)."""
    name = package.metadata.name
    if package.spec.source is None:
        return (
            f"package {name} was declared with its AppD (no spec.source): it has no content "
            "to upload"
        )
    state = onboarding_state(package)
    if state is OnboardingState.CREATED:
        return None
    if state is OnboardingState.ONBOARDED:
        return f"package {name} is ONBOARDED already: create another package for other content"
    conditions = package.status.conditions if package.status is not None else None
    condition = find_condition(conditions or [], AppPackageConditionType.ONBOARDED)
    since = condition.last_transition_time if condition is not None else None
    if since is not None and now - since > STALE_UPLOAD:
        return None
    return f"package {name} is {state.etsi}: another upload is in progress"


def modification_refusal(package: AppPackage) -> str | None:
    """Why the operational state may not be changed now (None: it may)."""
    state = onboarding_state(package)
    if state is not OnboardingState.ONBOARDED:
        return (
            f"package {package.metadata.name} is {state.etsi}: only an ONBOARDED package can be "
            "enabled or disabled"
        )
    return None


def deletion_refusal(package: AppPackage, users: Sequence[str]) -> str | None:
    """Why the package may not be deleted now (None: it may)."""
    name = package.metadata.name
    if operational_state(package) is PackageOperationalState.ENABLED:
        return f"package {name} is ENABLED: disable it first (PATCH with operationalState DISABLED)"
    if users:
        return f"package {name} is IN_USE by EdgeApps {', '.join(users)}: delete them first"
    return None
