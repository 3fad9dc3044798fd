"""What every resource group of the AppLcm API needs: paths, RBAC resources, reads, notices.

The paths and the Kubernetes resources checked with RBAC, the API server's errors in this API's
words (`kube_errors`), the API root as the client reached it (`root_url`), reading an app
instance (an EdgeApp, gone while being deleted) and its package, and notifying the AppLcm
subscriptions of an event (through the operator's `notify`, which the operator uses too).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Path, Request

from mec_orchestrator.adapters.kube import edgeapps as kube_apps
from mec_orchestrator.adapters.kube import packages as kube_packages
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import ApiContext
from mec_orchestrator.api.problems import (
    ProblemError,
    not_found,
)
from mec_orchestrator.decisions.lcm.notifications import Event, SubscriptionType, instance_facts
from mec_orchestrator.decisions.packages import states
from mec_orchestrator.model import (
    AppLcmOpOcc,
    AppPackage,
    EdgeApp,
    OnboardingState,
    PackageOperationalState,
)
from mec_orchestrator.operator.lcm_ops import notify

ROOT = "/app_lcm/v1"
INSTANCES = "/app_instances"
INSTANCE = INSTANCES + "/{appInstanceId}"
OP_OCCS = "/app_lcm_op_occs"
OP_OCC = OP_OCCS + "/{appLcmOpOccId}"
SUBSCRIPTIONS = "/subscriptions"
SUBSCRIPTION = SUBSCRIPTIONS + "/{subscriptionId}"
EDGEAPPS = "edgeapps"
OPOCCS = AppLcmOpOcc.PLURAL
MSUBS = "mecsubscriptions"
WIDEST_BUDGET_MS = 10000.0
"""The latency budget of an app whose AppD states no appLatency (the CRD's maximum)."""
InstanceId = Annotated[
    str, Path(alias="appInstanceId", min_length=1, max_length=253, description="An EdgeApp name.")
]


def kube_errors(namespace: str, what: str) -> AbstractAsyncContextManager[None]:
    """API server errors as ProblemDetails about `what` (a 404: it, or its namespace, is gone)."""
    return etsi.kube_problems(what, missing=f"{what} (or namespace {namespace})")


def root_url(request: Request, public_uri: str) -> str:
    return etsi.base(request, public_uri, ROOT)


async def read_app(api: ApiClient, namespace: str, name: str) -> EdgeApp:
    if not etsi.is_object_name(name):
        raise not_found(f"app instance {name!r} in namespace {namespace}")
    async with kube_errors(namespace, f"app instance {name}"):
        raw = await kube_apps.get_edgeapp(api, namespace, name)
    if raw is None or is_deleted(raw):
        raise not_found(f"app instance {name} in namespace {namespace}")
    return EdgeApp.model_validate(raw)


def is_deleted(raw: Mapping[str, Any]) -> bool:
    """Being deleted (the operator's finalizer holds it a moment): gone for the API."""
    return bool(raw.get("metadata", {}).get("deletionTimestamp"))


async def app_package(api: ApiClient, namespace: str, app: EdgeApp) -> AppPackage | None:
    ref = app.spec.app_package_ref
    if ref is None:
        return None
    async with kube_errors(namespace, f"application package {ref.name}"):
        raw = await kube_packages.read_app_package(api, namespace, ref.name)
    return AppPackage.model_validate(raw) if raw is not None else None


def why_unusable(package: AppPackage) -> str | None:
    """Why an app cannot be created or instantiated from the package (None: it can)."""
    name = package.metadata.name
    onboarding = states.onboarding_state(package)
    if onboarding is not OnboardingState.ONBOARDED or not package.spec.has_content:
        return f"application package {name} is not onboarded (it is {onboarding.etsi})"
    if states.operational_state(package) is PackageOperationalState.DISABLED:
        return f"application package {name} is DISABLED: enable it first"
    return None


async def notify_subscribers(
    ctx: ApiContext,
    request: Request,
    namespace: str,
    app: EdgeApp,
    kind: SubscriptionType,
    **event: Any,
) -> None:
    """Notify the namespace's AppLcm subscriptions that want this event about the app."""
    if ctx.notifier is None:
        return
    try:
        package = await app_package(ctx.state.api, namespace, app)
    except ProblemError:
        package = None
    await notify(
        ctx.state.api,
        ctx.notifier,
        namespace,
        Event(kind, instance_facts(app, package), **event),
        fallback_root=root_url(request, ctx.settings.public_uri),
        now=etsi.now(),
    )


CONFLICT_ATTEMPTS = 5
