"""What every resource group of the AppPkgm API needs: paths, reads, status writes, notices.

The paths and RBAC resources, the API server's errors in this API's words (`kube_errors`), the
API root as the client reached it (`root_url`), the AppPkgInfo of a package, finding a package
by id or appDId, writing its onboarding status, and notifying the AppPkgm subscriptions.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Path, Request

from mec_orchestrator.adapters.callbacks import notify_subscriber
from mec_orchestrator.adapters.kube import packages as kube
from mec_orchestrator.adapters.kube import subscriptions as kube_subscriptions
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import (
    ApiContext,
)
from mec_orchestrator.api.problems import ProblemDetails, ProblemError
from mec_orchestrator.api.schemas.app_pkgm import (
    AppPkgInfo,
    AppPkgLinks,
    Checksum,
)
from mec_orchestrator.api.schemas.common import LinkType
from mec_orchestrator.decisions.packages import states
from mec_orchestrator.decisions.packages.notifications import NotificationType, notification, wants
from mec_orchestrator.model import (
    AppPackage,
    AppPackageConditionType,
    AppPackageStatus,
    ConditionStatus,
    NewCondition,
    OnboardingState,
    find_condition,
    set_condition,
)
from mec_orchestrator.model.apppackage import (
    OnboardedReason,
)
from mec_orchestrator.model.subscription import (
    SubscriptionApi,
)

log = logging.getLogger(__name__)
ROOT = "/app_pkgm/v1"
PACKAGES = "/onboarded_app_packages"
PACKAGE = PACKAGES + "/{appDId}"
CONTENT = PACKAGE + "/package_content"
APPD = PACKAGE + "/appd"
SUBSCRIPTIONS = "/subscriptions"
SUBSCRIPTION = SUBSCRIPTIONS + "/{subscriptionId}"
RESOURCE = "apppackages"
SUBSCRIPTION_RESOURCE = "mecsubscriptions"
FAILURE_STATUS: dict[str, int] = {OnboardedReason.DUPLICATE_APPD_ID: 409}
"""Refused content is a 400; an appDId another package has is a conflict with that package."""
AppDIdPath = Annotated[
    str,
    Path(
        alias="appDId",
        min_length=1,
        max_length=253,
        description="The package's appDId once onboarded, or its id (either is accepted).",
    ),
]


def kube_errors(namespace: str) -> AbstractAsyncContextManager[None]:
    """API server errors as ProblemDetails (its 5xx as 503: it is busy or starting)."""
    return etsi.kube_problems(
        "the package", missing=f"namespace {namespace} (or the package)", server_errors=True
    )


def root_url(request: Request, public_uri: str) -> str:
    return etsi.base(request, public_uri, ROOT)


def package_key(package: AppPackage) -> str:
    """How the package is addressed in links: its appDId once onboarded, else its id."""
    onboarded = states.onboarding_state(package) is OnboardingState.ONBOARDED
    return package.spec.app_d_id if onboarded and package.spec.app_d_id else package_name(package)


def package_name(package: AppPackage) -> str:
    return package.metadata.name or ""


def _failure(package: AppPackage) -> ProblemDetails | None:
    conditions = package.status.conditions if package.status is not None else None
    condition = find_condition(conditions or [], AppPackageConditionType.ONBOARDED)
    if (
        condition is None
        or condition.status is not ConditionStatus.FALSE
        or condition.reason == OnboardedReason.AWAITING_CONTENT
    ):
        return None
    status = FAILURE_STATUS.get(condition.reason, 400)
    return ProblemDetails(
        title="Onboarding failed", status=status, detail=f"{condition.reason}: {condition.message}"
    )


def package_info(package: AppPackage, users: Sequence[str], base: str) -> AppPkgInfo:
    """The AppPkgInfo of a package (see docs/api.md for the values before onboarding)."""
    spec, status = package.spec, package.status or AppPackageStatus()
    source = spec.source
    onboarded = states.onboarding_state(package) is OnboardingState.ONBOARDED
    href = f"{base}{PACKAGES}/{quote(package_key(package), safe='')}"
    images = [
        {k: v for k, v in image.to_dict().items() if k != "image"} | {"imagePath": image.image}
        for image in status.software_images or []
    ]
    if not images and spec.template is not None and source is None:
        images = [
            {"id": c.name, "name": c.name, "imagePath": c.image}
            for c in spec.template.spec.containers
        ]
    artifacts = [a.to_dict() for a in status.additional_artifacts or []]
    return AppPkgInfo(
        id=package_name(package),
        app_d_id=spec.app_d_id if onboarded and spec.app_d_id else package_name(package),
        app_provider=spec.app_provider or (source.app_provider if source else None),
        app_name=spec.app_name or (source.app_pkg_name if source else ""),
        app_software_version=spec.app_soft_version or (source.app_pkg_version if source else ""),
        app_d_version=spec.app_d_version or "",
        checksum=Checksum(
            algorithm=source.checksum.algorithm if source else "",
            hash=source.checksum.hash if source else "",
        ),
        software_images=images or [{}],
        additional_artifacts=artifacts if onboarded and source else None,
        onboarding_state=states.onboarding_state(package).etsi,
        operational_state=states.operational_state(package).etsi,
        usage_state=states.usage_state(users).etsi,
        mec_info=list(spec.mec_version or [""]),
        user_defined_data=source.user_defined_data if source else None,
        onboarding_failure_details=_failure(package),
        links=AppPkgLinks(
            self_=LinkType(href=href),
            app_d=LinkType(href=f"{href}/appd"),
            app_pkg_content=LinkType(href=f"{href}/package_content"),
        ),
    )


async def find_package(
    api: ApiClient, namespace: str, key: str
) -> tuple[dict[str, Any], AppPackage]:
    async with kube_errors(namespace):
        raw = await kube.find_app_package(api, namespace, key)
    if raw is None:
        raise ProblemError(
            404,
            "Not Found",
            f"no application package with id or appDId {key!r} in namespace {namespace}",
        )
    return raw, AppPackage.model_validate(raw)


async def users_of(api: ApiClient, namespace: str, name: str) -> list[str]:
    async with kube_errors(namespace):
        return await kube.package_users(api, namespace, name)


def onboarded_condition(
    package: AppPackage, status: ConditionStatus, reason: OnboardedReason, message: str
) -> list[dict[str, Any]]:
    conditions = package.status.conditions if package.status is not None else None
    updated = set_condition(
        conditions or [],
        NewCondition(
            type=AppPackageConditionType.ONBOARDED,
            status=status,
            reason=reason,
            message=message,
            observed_generation=package.metadata.generation,
        ),
        etsi.now(),
    )
    return [c.to_dict() for c in updated]


async def write_status(
    api: ApiClient,
    package: AppPackage,
    fields: dict[str, Any],
    *,
    precondition: bool = False,
) -> AppPackage:
    namespace, name = package.metadata.namespace or "", package_name(package)
    version = package.metadata.resource_version if precondition else None
    async with kube_errors(namespace):
        stored = await kube.write_app_package_status(api, namespace, name, fields, version)
    return AppPackage.model_validate(stored)


async def record_onboarding(
    api: ApiClient,
    package: AppPackage,
    *,
    state: OnboardingState,
    condition: ConditionStatus,
    reason: OnboardedReason,
    message: str,
    precondition: bool = False,
) -> AppPackage:
    fields = {
        "onboardingState": state.value,
        "conditions": onboarded_condition(package, condition, reason, message),
    }
    return await write_status(api, package, fields, precondition=precondition)


async def notify_subscribers(
    ctx: ApiContext,
    request: Request,
    namespace: str,
    info: dict[str, Any],
    event: NotificationType,
) -> None:
    """Send the event's AppPkgNotification to every subscription of the namespace that wants it.

    Delivery is asynchronous (the callback delivery queues and retries); a failure to list the
    subscriptions is logged, never answered to the client whose call caused the event.
    """
    notifier = ctx.notifier
    if notifier is None:
        return
    try:
        found = await kube_subscriptions.list_subscriptions(
            ctx.state.api, namespace, subscription_api=SubscriptionApi.APP_PKGM
        )
    except (ApiError, OSError) as error:
        log.warning("%s of %s not notified: listing subscriptions: %s", event, info["id"], error)
        return
    now = etsi.now()
    event_id = str(uuid.uuid4())
    root = f"{etsi.origin(request, ctx.settings.public_uri)}/namespaces/{namespace}{ROOT}"
    for subscription in found:
        spec, name = subscription.spec, subscription.metadata.name or ""
        criteria = (spec.filter or {}).get("appPkgFilter")
        filters = criteria if isinstance(criteria, list) else None
        if spec.is_expired(now) or not wants(spec.subscription_type, filters, event, info):
            continue
        body = notification(
            notification_id=event_id,
            notification_type=event,
            subscription_id=name,
            subscription_href=f"{root}{SUBSCRIPTIONS}/{name}",
            info=info,
            at=now,
        )
        notify_subscriber(notifier, subscription, body, notification_id=event_id, what=event)
