"""GS MEC 010-2 v3.1.1 application lifecycle management, `/app_lcm/v1`, served from EdgeApps.

An app instance is an EdgeApp, its appInstanceId the EdgeApp's (generated) name: one created here
is what `kubectl get ea` shows, and one declared with kubectl is served here too. Instantiate,
operate and terminate change the EdgeApp's spec (`lifecycle`, `operationalState`,
`placement.hosts`) and record an AppLcmOpOcc (`kubectl get lcmop`), which the operator
(`operator/lcm_ops.py`) moves to COMPLETED when the EdgeApp's conditions show the change, or to
FAILED_TEMP after a timeout; after its creation the operator is the only writer of its status, so
retry, fail and cancel are recorded as requests in its spec and applied by the operator.

Status codes follow the file; a state conflict (instantiate an instantiated instance, delete one
that is not NOT_INSTANTIATED, retry a COMPLETED operation) is a 409 as GS MEC 010-2's text and the
file's own `409` response component describe it, although the v3.1.1 file's operations do not
list it. docs/api.md lists every operation and the choices made where the GS is silent.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from mec_common.patterns import DNS_SUBDOMAIN
from mec_orchestrator.adapters.kube import edgeapps as kube_apps
from mec_orchestrator.adapters.kube import lcm_ops as kube_ops
from mec_orchestrator.adapters.kube import location as kube_location
from mec_orchestrator.adapters.kube import packages as kube_packages
from mec_orchestrator.adapters.kube import subscriptions as kube_subscriptions
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.api.deps import ApiContext, Context, Namespace, allowed
from mec_orchestrator.api.problems import (
    ProblemDetails,
    ProblemError,
    bad_request,
    conflict,
    not_found,
)
from mec_orchestrator.api.schemas.app_lcm import (
    APP_INSTANCE_ATTRIBUTES,
    APP_INSTANCE_DEFAULT_EXCLUDED,
    APP_INSTANCE_OPTIONAL,
    APP_LCM_OP_OCC_ATTRIBUTES,
    APP_LCM_OP_OCC_DEFAULT_EXCLUDED,
    APP_LCM_OP_OCC_OPTIONAL,
    SUBSCRIPTION_REQUESTS,
    WRAPPERS,
    AppInstanceInfo,
    AppInstanceLinks,
    AppInstanceSubscriptionLinkList,
    AppLcmOpOccInfo,
    AppLcmOpOccLinks,
    CancelModeInfo,
    CancelModeRequest,
    CommunicationInterface,
    CreateAppInstanceRequest,
    InstantiateAppRequest,
    InstantiatedAppState,
    IpAddress,
    LcmSubscriptionRequest,
    McioInfo,
    OperateAppRequest,
    SubscriptionLink,
    SubscriptionLinks,
    TerminateAppRequest,
    TimeStamp,
)
from mec_orchestrator.api.schemas.app_pkgm import LinkType
from mec_orchestrator.decisions.lcm import effective_status, initial_status, refusal
from mec_orchestrator.decisions.lcm.notifications import Event, SubscriptionType, instance_facts
from mec_orchestrator.decisions.packages import states
from mec_orchestrator.decisions.packages.query import QueryError, parse_filter, parse_selection
from mec_orchestrator.model import (
    AppLcmOpOcc,
    AppLcmOpOccSpec,
    AppPackage,
    CancelMode,
    EdgeApp,
    InstantiationState,
    LcmOperation,
    LcmOperationState,
    LcmRequest,
    LcmRequestAction,
    ObjectMeta,
    OnboardingState,
    OperationalState,
    PackageOperationalState,
)
from mec_orchestrator.model.lcm_op_occ import APP_INSTANCE_LABEL
from mec_orchestrator.model.subscription import (
    MecSubscription,
    MecSubscriptionSpec,
    SubscriptionApi,
)
from mec_orchestrator.operator.lcm_ops import LcmSettings, notify

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
_SUBDOMAIN = re.compile(DNS_SUBDOMAIN)

NAME_ANNOTATION = "mec.dev/app-instance-name"
"""The CreateAppInstanceRequest's appInstanceName, kept on the EdgeApp."""
DESCRIPTION_ANNOTATION = "mec.dev/app-instance-description"
"""The CreateAppInstanceRequest's appInstanceDescription, kept on the EdgeApp."""
WIDEST_BUDGET_MS = 10000.0
"""The latency budget of an app whose AppD states no appLatency (the CRD's maximum)."""
CISM_ID = "kubernetes"
"""The CISM that manages every MCIO (the one Kubernetes the edge hosts are nodes of)."""

router = APIRouter(prefix=ROOT, tags=["app-lcm"])

InstanceId = Annotated[
    str, Path(alias="appInstanceId", min_length=1, max_length=253, description="An EdgeApp name.")
]
OpOccId = Annotated[
    str,
    Path(alias="appLcmOpOccId", min_length=1, max_length=253, description="An AppLcmOpOcc name."),
]
SubscriptionId = Annotated[
    str, Path(alias="subscriptionId", min_length=1, max_length=253, description="Its id.")
]
QueryText = Annotated[str | None, Query(max_length=4096)]


# -- helpers -------------------------------------------------------------------------------------


@asynccontextmanager
async def _kube(namespace: str, what: str) -> AsyncIterator[None]:
    """API server errors as ProblemDetails: a missing namespace, a concurrent change, ..."""
    try:
        yield
    except ApiError as error:
        if error.status == 404:
            raise not_found(f"{what} (or namespace {namespace})") from None
        if error.status == 409:
            raise conflict(
                f"{what} changed while this request was served: read it again and retry"
            ) from None
        if error.status in (400, 422):
            raise bad_request(f"the API server refused {what}: {_message(error)}") from None
        if error.status == 429:  # its rate limiter, or its storage (re)initializing
            headers: Mapping[str, str] = error.headers or {}
            retry = str(headers.get("Retry-After", "1"))
            raise ProblemError(
                429,
                "Too Many Requests",
                f"the Kubernetes API server asks to retry later: {_message(error)}",
                {"Retry-After": retry},
            ) from None
        raise


def _message(error: ApiError) -> str:
    try:
        return str(json.loads(error.body or b"{}").get("message", error.reason))
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


def _base(request: Request, public_uri: str) -> str:
    """The API root as the client reached it (with /namespaces/{ns} if it used that)."""
    path = request.url.path
    prefix = path[: path.index(ROOT)] if ROOT in path else ""
    origin = public_uri.rstrip("/") or f"{request.url.scheme}://{request.url.netloc}"
    return f"{origin}{prefix}{ROOT}"


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp(when: datetime) -> TimeStamp:
    return TimeStamp(seconds=int(when.timestamp()), nano_seconds=when.microsecond * 1000)


def _accepted(location: str) -> JSONResponse:
    """202: the file's body schema is an empty object (the GS text: no content)."""
    return JSONResponse({}, status_code=202, headers={"Location": location})


def name_prefix(text: str) -> str:
    """A generateName prefix from a human name: lower-case DNS label characters, a letter first.

    At most 31 characters, so that `<app>-<host>` instance names stay readable and short.
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if not slug[:1].isalpha():
        slug = f"app-{slug}"
    return slug[:30].rstrip("-") + "-"


def instantiation_state(app: EdgeApp) -> InstantiationState:
    """From the status when the operator has seen the current spec, else the spec's."""
    status = app.status
    if (
        status is not None
        and status.instantiation_state is not None
        and status.observed_generation == app.metadata.generation
    ):
        return status.instantiation_state
    return app.spec.lifecycle


def operational_state(app: EdgeApp) -> OperationalState:
    """From the status when the operator has seen the current spec, else the spec's."""
    status = app.status
    if (
        status is not None
        and status.operational_state is not None
        and status.observed_generation == app.metadata.generation
    ):
        return status.operational_state
    return app.spec.operational_state


def _ip_address(endpoint: str | None) -> IpAddress | None:
    if not endpoint or ":" not in endpoint or "://" in endpoint:
        return None
    host, _, port = endpoint.rpartition(":")
    return IpAddress(host=host, port=int(port)) if port.isdigit() and host else None


def instance_info(app: EdgeApp, package: AppPackage | None, base: str) -> AppInstanceInfo:
    """The AppInstanceInfo of an EdgeApp (docs/api.md: the values of one declared with kubectl)."""
    name = app.metadata.name or ""
    href = f"{base}{INSTANCES}/{name}"
    state = instantiation_state(app)
    instantiated = state is InstantiationState.INSTANTIATED
    annotations = app.metadata.annotations or {}
    instances = app.status.instances if app.status and app.status.instances else []
    running = operational_state(app)
    app_state = None
    if instantiated:
        mcios = [
            McioInfo(
                mcio_id=i.deployment,
                mcio_name=i.deployment,
                mcio_namespace=app.metadata.namespace or "",
                vdu_id=app.spec.app_name,
                cism_id=CISM_ID,
                mcio_type="Deployment",
                desired_instances=0 if running is OperationalState.STOPPED else 1,
                available_instances=1 if i.ready else 0,
                additional_info=f"edge host {i.host}",
            )
            for i in instances
        ]
        app_state = InstantiatedAppState(operational_state=running.etsi, mcio_info=mcios or None)
    addresses = [a for a in (_ip_address(i.endpoint) for i in instances) if a is not None]
    ref = app.spec.app_package_ref
    return AppInstanceInfo(
        id=name,
        app_instance_name=annotations.get(NAME_ANNOTATION),
        app_instance_description=annotations.get(DESCRIPTION_ANNOTATION),
        app_d_id=app.spec.app_d_id,
        app_provider=app.spec.app_provider,
        app_name=app.spec.app_name,
        app_soft_version=app.spec.app_soft_version,
        app_d_version=(package.spec.app_d_version or "") if package is not None else "",
        app_pkg_id=ref.name if ref is not None else "",
        instantiation_state=state.etsi,
        instantiated_app_state=app_state,
        communication_interface=CommunicationInterface(ip_addresses=addresses)
        if instantiated and addresses
        else None,
        links=AppInstanceLinks(
            self_=LinkType(href=href),
            instantiate=None if instantiated else LinkType(href=f"{href}/instantiate"),
            terminate=LinkType(href=f"{href}/terminate") if instantiated else None,
            operate=LinkType(href=f"{href}/operate") if instantiated else None,
        ),
    )


def op_occ_info(occ: AppLcmOpOcc, base: str, now: datetime) -> AppLcmOpOccInfo:
    """The AppLcmOpOcc representation of an occurrence (an unwritten status is PROCESSING).

    operationParams is given for INSTANTIATE only: the file types it as InstantiateAppRequest
    (the GS: the request of whichever operation), so OPERATE's and TERMINATE's requests would
    not validate; they are in the object's spec.operationParams (`kubectl get lcmop -o yaml`).
    """
    status = occ.status or initial_status(occ, now)
    error = status.error
    return AppLcmOpOccInfo(
        id=occ.metadata.name or "",
        operation_state=status.operation_state.etsi,
        state_entered_time=_timestamp(status.state_entered_time),
        start_time=_timestamp(status.start_time),
        lcm_operation=occ.spec.lcm_operation.etsi,
        operation_params=occ.spec.operation_params
        if occ.spec.lcm_operation is LcmOperation.INSTANTIATE
        else None,
        is_cancel_pending=bool(status.is_cancel_pending),
        cancel_mode=CancelModeInfo(cancel_mode=status.cancel_mode.etsi)
        if status.cancel_mode is not None
        else None,
        error=ProblemDetails(
            type=error.type or "about:blank",
            title=error.title,
            status=error.status,
            detail=error.detail,
            instance=error.instance,
        )
        if error is not None
        else None,
        links=AppLcmOpOccLinks(
            self_=LinkType(href=f"{base}{OP_OCCS}/{occ.metadata.name}"),
            app_instance=LinkType(href=f"{base}{INSTANCES}/{occ.spec.app_instance_id}"),
        ),
    )


def _is_name(text: str) -> bool:
    """Could name a Kubernetes object (others name nothing: 404 without asking the server)."""
    return len(text) <= 253 and _SUBDOMAIN.match(text) is not None


async def _app(api: ApiClient, namespace: str, name: str) -> EdgeApp:
    if not _is_name(name):
        raise not_found(f"app instance {name!r} in namespace {namespace}")
    async with _kube(namespace, f"app instance {name}"):
        raw = await kube_apps.get_edgeapp(api, namespace, name)
    if raw is None or _deleted(raw):
        raise not_found(f"app instance {name} in namespace {namespace}")
    return EdgeApp.model_validate(raw)


def _deleted(raw: Mapping[str, Any]) -> bool:
    """Being deleted (the operator's finalizer holds it a moment): gone for the API."""
    return bool(raw.get("metadata", {}).get("deletionTimestamp"))


async def _package(api: ApiClient, namespace: str, app: EdgeApp) -> AppPackage | None:
    ref = app.spec.app_package_ref
    if ref is None:
        return None
    async with _kube(namespace, f"application package {ref.name}"):
        raw = await kube_packages.read_app_package(api, namespace, ref.name)
    return AppPackage.model_validate(raw) if raw is not None else None


def _usable(package: AppPackage) -> str | None:
    """Why an app cannot be created or instantiated from the package (None: it can)."""
    name = package.metadata.name
    onboarding = states.onboarding_state(package)
    if onboarding is not OnboardingState.ONBOARDED or not package.spec.has_content:
        return f"application package {name} is not onboarded (it is {onboarding.etsi})"
    if states.operational_state(package) is PackageOperationalState.DISABLED:
        return f"application package {name} is DISABLED: enable it first"
    return None


async def _onboarded_package(api: ApiClient, namespace: str, app_d_id: str) -> AppPackage:
    async with _kube(namespace, f"the packages of appDId {app_d_id}"):
        found = await kube_apps.find_app_packages(api, namespace, app_d_id)
    if not found:
        raise not_found(f"an application package with appDId {app_d_id} in namespace {namespace}")
    packages = [AppPackage.model_validate(raw) for raw in found]
    usable = [p for p in packages if _usable(p) is None]
    if not usable:
        raise conflict("; ".join(str(_usable(p)) for p in packages))
    if len(usable) > 1:
        names = ", ".join(p.metadata.name or "" for p in usable)
        raise conflict(f"appDId {app_d_id} is onboarded in several packages ({names})")
    return usable[0]


async def _unfinished(api: ApiClient, namespace: str, app: str) -> None:
    """409 while another operation on the app instance is PROCESSING or FAILED_TEMP."""
    async with _kube(namespace, f"the operations of app instance {app}"):
        occs = await kube_ops.list_op_occs(api, namespace, app)
    for occ in occs:
        if occ.spec.app_instance_id != app:
            continue
        status = occ.status or initial_status(occ, _now())
        if not status.operation_state.final:
            raise conflict(
                f"operation {occ.metadata.name} ({occ.spec.lcm_operation.etsi}) of app instance "
                f"{app} is {status.operation_state.etsi}: "
                + (
                    "retry or fail it first"
                    if status.operation_state is LcmOperationState.FAILED_TEMP
                    else "wait for it to finish (or cancel it)"
                )
            )


async def _notify(
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
        package = await _package(ctx.state.api, namespace, app)
    except ProblemError:
        package = None
    await notify(
        ctx.state.api,
        ctx.notifier,
        namespace,
        Event(kind, instance_facts(app, package), **event),
        fallback_root=_base(request, ctx.settings.public_uri),
        now=_now(),
    )


def _operation_patch(occ: AppLcmOpOcc, latency_ms: float | None = None) -> dict[str, Any]:
    """The EdgeApp spec change an occurrence's operation makes (again, on retry)."""
    spec: dict[str, Any]
    match occ.spec.lcm_operation:
        case LcmOperation.INSTANTIATE:
            request = InstantiateAppRequest.model_validate(occ.spec.operation_params or {})
            spec = {
                "lifecycle": InstantiationState.INSTANTIATED.value,
                "operationalState": OperationalState.STARTED.value,
                "placement": {"hosts": request.edge_hosts},
            }
            if latency_ms is not None:
                spec["latency"] = {"maxMs": latency_ms}
        case LcmOperation.TERMINATE:
            spec = {"lifecycle": InstantiationState.NOT_INSTANTIATED.value}
        case LcmOperation.OPERATE:
            target = occ.spec.change_state_to or OperationalState.STARTED
            spec = {"operationalState": target.value}
    return {"spec": spec}


StateCheck = Callable[[EdgeApp], None]
"""Raises the ProblemError (409) that says why the app's state does not allow a request."""
CONFLICT_ATTEMPTS = 5


def can_instantiate(app: EdgeApp) -> None:
    if app.spec.lifecycle is InstantiationState.INSTANTIATED:
        raise conflict(
            f"app instance {app.metadata.name} is INSTANTIATED (or being instantiated) already"
        )


def can_terminate(app: EdgeApp) -> None:
    if app.spec.lifecycle is InstantiationState.NOT_INSTANTIATED:
        raise conflict(
            f"app instance {app.metadata.name} is NOT_INSTANTIATED: nothing to terminate"
        )


def can_operate(target: OperationalState) -> StateCheck:
    def check(app: EdgeApp) -> None:
        if app.spec.lifecycle is InstantiationState.NOT_INSTANTIATED:
            raise conflict(
                f"app instance {app.metadata.name} is NOT_INSTANTIATED: instantiate it first"
            )
        if app.spec.operational_state is target:
            raise conflict(f"app instance {app.metadata.name} is {target.etsi} (or being) already")

    return check


def can_delete(app: EdgeApp) -> None:
    state = instantiation_state(app)
    if state is not InstantiationState.NOT_INSTANTIATED:
        raise conflict(f"app instance {app.metadata.name} is {state.etsi}: terminate it first")


async def _patch_if(
    api: ApiClient, namespace: str, app: EdgeApp, check: StateCheck, patch: Mapping[str, Any]
) -> None:
    """Patch the EdgeApp as read, or as read again while its state still passes the check.

    A change since the read (a status write, another client) makes the API server refuse the
    patch (409); the EdgeApp is then read again and checked, so no state change is overwritten.
    """
    name = app.metadata.name or ""
    for _ in range(CONFLICT_ATTEMPTS):
        try:
            async with _kube(namespace, f"app instance {name}"):
                await kube_apps.patch_edgeapp(
                    api, namespace, name, patch, app.metadata.resource_version
                )
        except ProblemError as problem:
            if problem.status != 409:
                raise
            app = await _app(api, namespace, name)
            check(app)
        else:
            return
    raise conflict(f"app instance {name} kept changing while this request was served: retry")


async def _start_operation(
    request: Request,
    ctx: Context,
    namespace: str,
    app: EdgeApp,
    *,
    operation: LcmOperation,
    params: Mapping[str, Any],
    check: StateCheck,
    change_state_to: OperationalState | None = None,
    latency_ms: float | None = None,
) -> JSONResponse:
    """Record the occurrence (PROCESSING), change the EdgeApp, answer 202 with its Location.

    The occurrence is created without a status: PROCESSING since its creation, until the operator,
    the only writer of its status, writes one. It comes first, so no change is ever made without
    one; if the EdgeApp's state
    no longer allows the operation when it is changed (or it is gone), the occurrence is deleted
    again and the client told why (409, 404).
    """
    api = ctx.api()
    name = app.metadata.name or ""
    occ = AppLcmOpOcc(
        metadata=ObjectMeta.model_validate(
            {
                "generateName": f"{name[:40]}-{operation.value.lower()}-",
                "labels": {APP_INSTANCE_LABEL: name},
                "ownerReferences": [
                    {
                        "apiVersion": app.api_version,
                        "kind": app.kind,
                        "name": name,
                        "uid": app.metadata.uid,
                    }
                ],
            }
        ),
        spec=AppLcmOpOccSpec(
            app_instance_id=name,
            lcm_operation=operation,
            change_state_to=change_state_to,
            operation_params=dict(params),
        ),
    )
    async with _kube(namespace, "the operation occurrence"):
        created = await kube_ops.create_op_occ(api, namespace, occ)  # PROCESSING since created
    try:
        await _patch_if(api, namespace, app, check, _operation_patch(created, latency_ms))
    except ProblemError:
        async with _kube(namespace, "the operation occurrence"):
            await kube_ops.delete_op_occ(api, namespace, created.metadata.name or "")
        raise
    await _notify(
        ctx,
        request,
        namespace,
        app,
        SubscriptionType.OP_OCC_STATE,
        state=LcmOperationState.PROCESSING.etsi,
        operation=operation.etsi,
        op_occ_id=created.metadata.name,
    )
    base = _base(request, ctx.settings.public_uri)
    return _accepted(f"{base}{OP_OCCS}/{created.metadata.name}")


def _selection(
    *,
    filter_text: str | None,
    known: frozenset[str],
    all_fields: str | None,
    fields: str | None,
    exclude_fields: str | None,
    exclude_default: str | None,
    optional: frozenset[str],
    default_excluded: frozenset[str],
) -> tuple[Any, Any]:
    try:
        matcher = parse_filter(filter_text, known) if filter_text is not None else None
        selection = parse_selection(
            all_fields=all_fields,
            fields=fields,
            exclude_fields=exclude_fields,
            exclude_default=exclude_default,
            optional=optional,
            default_excluded=default_excluded,
            exclude_default_when_absent=True,
        )
    except QueryError as error:
        raise bad_request(str(error)) from None
    return matcher, selection


def _one_of(name: str, first: str | None, second: str | None) -> str | None:
    if first is not None and second is not None:
        raise bad_request(f"query.{name}: given twice (as {name} and {name}1)")
    return first if first is not None else second


# -- app instances -------------------------------------------------------------------------------


@router.post(
    INSTANCES,
    status_code=201,
    dependencies=[Depends(allowed("create", EDGEAPPS))],
    summary="Create an application instance (an EdgeApp, NOT_INSTANTIATED) from an onboarded AppD",
)
async def create_instance(
    body: CreateAppInstanceRequest, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    api = ctx.api()
    package = await _onboarded_package(api, ns, body.app_d_id)
    spec = package.spec
    annotations = {
        key: value
        for key, value in (
            (NAME_ANNOTATION, body.app_instance_name),
            (DESCRIPTION_ANNOTATION, body.app_instance_description),
        )
        if value is not None
    }
    edgeapp: dict[str, Any] = {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeApp",
        "metadata": {
            "generateName": name_prefix(body.app_instance_name or spec.app_name or "app"),
            **({"annotations": annotations} if annotations else {}),
        },
        "spec": {
            "appDId": body.app_d_id,
            "appName": spec.app_name,
            "appProvider": spec.app_provider,
            "appSoftVersion": spec.app_soft_version,
            "appPackageRef": {"name": package.metadata.name},
            "latency": {"maxMs": spec.latency.max_ms if spec.latency else WIDEST_BUDGET_MS},
            "lifecycle": InstantiationState.NOT_INSTANTIATED.value,
        },
    }
    async with _kube(ns, "the app instance"):
        created = EdgeApp.model_validate(await kube_apps.create_edgeapp(api, ns, edgeapp))
    info = instance_info(created, package, _base(request, ctx.settings.public_uri))
    await _notify(ctx, request, ns, created, SubscriptionType.CREATION)
    return JSONResponse(info.etsi(), status_code=201, headers={"Location": info.links.self_.href})


@router.get(
    INSTANCES,
    dependencies=[Depends(allowed("list", EDGEAPPS))],
    summary="Query application instances (attribute filter and selectors of GS MEC 009)",
)
async def list_instances(
    request: Request,
    ctx: Context,
    ns: Namespace,
    *,
    filter_: Annotated[str | None, Query(alias="filter", max_length=4096)] = None,
    all_fields: QueryText = None,
    fields: QueryText = None,
    exclude_fields: QueryText = None,
    exclude_default: QueryText = None,
) -> JSONResponse:
    matcher, selection = _selection(
        filter_text=filter_,
        known=APP_INSTANCE_ATTRIBUTES,
        all_fields=all_fields,
        fields=fields,
        exclude_fields=exclude_fields,
        exclude_default=exclude_default,
        optional=APP_INSTANCE_OPTIONAL,
        default_excluded=APP_INSTANCE_DEFAULT_EXCLUDED,
    )
    api = ctx.api()
    async with _kube(ns, "the app instances"):
        apps = await kube_apps.list_edgeapps(api, ns)
        packages = {
            raw["metadata"]["name"]: AppPackage.model_validate(raw)
            for raw in await kube_packages.list_app_packages(api, ns)
        }
    base = _base(request, ctx.settings.public_uri)
    infos = []
    for raw in apps:
        if _deleted(raw):
            continue
        app = EdgeApp.model_validate(raw)
        ref = app.spec.app_package_ref
        infos.append(instance_info(app, packages.get(ref.name) if ref else None, base).etsi())
    return JSONResponse(
        [selection.apply(i) for i in infos if matcher is None or matcher.matches(i)]
    )


@router.get(
    INSTANCE,
    dependencies=[Depends(allowed("get", EDGEAPPS))],
    summary="Read an application instance",
)
async def read_instance(
    instance_id: InstanceId, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    api = ctx.api()
    app = await _app(api, ns, instance_id)
    package = await _package(api, ns, app)
    return JSONResponse(instance_info(app, package, _base(request, ctx.settings.public_uri)).etsi())


@router.delete(
    INSTANCE,
    status_code=204,
    dependencies=[Depends(allowed("delete", EDGEAPPS))],
    summary="Delete a NOT_INSTANTIATED application instance",
)
async def delete_instance(
    instance_id: InstanceId, request: Request, ctx: Context, ns: Namespace
) -> Response:
    api = ctx.api()
    app = await _app(api, ns, instance_id)
    for _ in range(CONFLICT_ATTEMPTS):
        can_delete(app)
        try:
            async with _kube(ns, f"app instance {instance_id}"):
                await kube_apps.delete_edgeapp(api, ns, instance_id, app.metadata.resource_version)
        except ProblemError as problem:
            if problem.status != 409:
                raise
            app = await _app(api, ns, instance_id)
        else:
            await _notify(ctx, request, ns, app, SubscriptionType.DELETION)
            return Response(status_code=204)
    raise conflict(f"app instance {instance_id} kept changing while this request was served")


# -- lifecycle operations ------------------------------------------------------------------------


@router.post(
    INSTANCE + "/instantiate",
    status_code=202,
    dependencies=[
        Depends(allowed("update", EDGEAPPS)),
        Depends(allowed("create", OPOCCS)),
    ],
    summary="Instantiate an application instance on the selected edge hosts",
)
async def instantiate(
    instance_id: InstanceId,
    body: InstantiateAppRequest,
    request: Request,
    ctx: Context,
    ns: Namespace,
) -> JSONResponse:
    api = ctx.api()
    app = await _app(api, ns, instance_id)
    can_instantiate(app)
    await _unfinished(api, ns, instance_id)
    latency_ms = None
    if app.spec.app_package_ref is not None:
        package = await _package(api, ns, app)
        if package is None:
            raise conflict(
                f"application package {app.spec.app_package_ref.name} of app instance "
                f"{instance_id} no longer exists"
            )
        why = _usable(package)
        if why is not None:
            raise conflict(why)
        latency = package.spec.latency
        latency_ms = latency.max_ms if latency is not None else WIDEST_BUDGET_MS
    return await _start_operation(
        request,
        ctx,
        ns,
        app,
        operation=LcmOperation.INSTANTIATE,
        params=body.normalised(),
        check=can_instantiate,
        latency_ms=latency_ms,
    )


@router.post(
    INSTANCE + "/terminate",
    status_code=202,
    dependencies=[
        Depends(allowed("update", EDGEAPPS)),
        Depends(allowed("create", OPOCCS)),
    ],
    summary="Terminate an application instance (its instances are removed)",
)
async def terminate(
    instance_id: InstanceId,
    body: TerminateAppRequest,
    request: Request,
    ctx: Context,
    ns: Namespace,
) -> JSONResponse:
    api = ctx.api()
    app = await _app(api, ns, instance_id)
    can_terminate(app)
    await _unfinished(api, ns, instance_id)
    return await _start_operation(
        request,
        ctx,
        ns,
        app,
        operation=LcmOperation.TERMINATE,
        params=body.etsi(),
        check=can_terminate,
    )


@router.post(
    INSTANCE + "/operate",
    status_code=202,
    dependencies=[
        Depends(allowed("update", EDGEAPPS)),
        Depends(allowed("create", OPOCCS)),
    ],
    summary="Start or stop an instantiated application instance",
)
async def operate(
    instance_id: InstanceId,
    body: OperateAppRequest,
    request: Request,
    ctx: Context,
    ns: Namespace,
) -> JSONResponse:
    api = ctx.api()
    app = await _app(api, ns, instance_id)
    target = OperationalState.from_etsi(body.change_state_to)
    can_operate(target)(app)
    await _unfinished(api, ns, instance_id)
    return await _start_operation(
        request,
        ctx,
        ns,
        app,
        operation=LcmOperation.OPERATE,
        params=body.etsi(),
        check=can_operate(target),
        change_state_to=target,
    )


# -- operation occurrences -----------------------------------------------------------------------


@router.get(
    OP_OCCS,
    dependencies=[Depends(allowed("list", OPOCCS))],
    summary="Query lifecycle operation occurrences (attribute filter and selectors)",
)
async def list_op_occs(
    request: Request,
    ctx: Context,
    ns: Namespace,
    *,
    filter_: Annotated[str | None, Query(alias="filter", max_length=4096)] = None,
    filter1: QueryText = None,
    all_fields: QueryText = None,
    fields: QueryText = None,
    fields1: QueryText = None,
    exclude_fields: QueryText = None,
    exclude_fields1: QueryText = None,
    exclude_default: QueryText = None,
    exclude_default1: QueryText = None,
) -> JSONResponse:
    matcher, selection = _selection(
        filter_text=_one_of("filter", filter_, filter1),
        known=APP_LCM_OP_OCC_ATTRIBUTES,
        all_fields=all_fields,
        fields=_one_of("fields", fields, fields1),
        exclude_fields=_one_of("exclude_fields", exclude_fields, exclude_fields1),
        exclude_default=_one_of("exclude_default", exclude_default, exclude_default1),
        optional=APP_LCM_OP_OCC_OPTIONAL,
        default_excluded=APP_LCM_OP_OCC_DEFAULT_EXCLUDED,
    )
    api = ctx.api()
    async with _kube(ns, "the operation occurrences"):
        occs = await kube_ops.list_op_occs(api, ns)
    base, now = _base(request, ctx.settings.public_uri), _now()
    infos = [op_occ_info(occ, base, now).etsi() for occ in occs]
    return JSONResponse(
        [selection.apply(i) for i in infos if matcher is None or matcher.matches(i)]
    )


async def _op_occ(api: ApiClient, namespace: str, name: str) -> AppLcmOpOcc:
    if not _is_name(name):
        raise not_found(f"operation occurrence {name!r} in namespace {namespace}")
    async with _kube(namespace, f"operation occurrence {name}"):
        occ = await kube_ops.get_op_occ(api, namespace, name)
    if occ is None:
        raise not_found(f"operation occurrence {name} in namespace {namespace}")
    return occ


@router.get(
    OP_OCC,
    dependencies=[Depends(allowed("get", OPOCCS))],
    summary="Read a lifecycle operation occurrence",
)
async def read_op_occ(
    occ_id: OpOccId, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    occ = await _op_occ(ctx.api(), ns, occ_id)
    info = op_occ_info(occ, _base(request, ctx.settings.public_uri), _now())
    return JSONResponse(info.etsi())


async def _request(
    api: ApiClient,
    namespace: str,
    occ_id: str,
    action: LcmRequestAction,
    mode: CancelMode | None = None,
) -> tuple[AppLcmOpOcc, LcmRequest]:
    """Record the request if the state (its pending request applied) allows it; else 409."""
    for _ in range(CONFLICT_ATTEMPTS):
        occ = await _op_occ(api, namespace, occ_id)
        previous = occ.spec.request.sequence if occ.spec.request is not None else 0
        request = LcmRequest(action=action, cancel_mode=mode, sequence=previous + 1)
        why = refusal(effective_status(occ, _now()), request)
        if why is not None:
            raise conflict(f"operation {occ_id}: {why}")
        try:
            async with _kube(namespace, f"operation occurrence {occ_id}"):
                stored = await kube_ops.request_on_op_occ(
                    api, namespace, occ_id, request, occ.metadata.resource_version or ""
                )
        except ProblemError as problem:
            if problem.status != 409:
                raise
        else:
            return stored, request
    raise conflict(f"operation {occ_id} kept changing while this request was served: retry")


@router.post(
    OP_OCC + "/retry",
    status_code=202,
    dependencies=[
        Depends(allowed("update", OPOCCS)),
        Depends(allowed("update", EDGEAPPS)),
    ],
    summary="Retry a FAILED_TEMP operation (its change is made again)",
)
async def retry(occ_id: OpOccId, request: Request, ctx: Context, ns: Namespace) -> JSONResponse:
    api = ctx.api()
    name = (await _op_occ(api, ns, occ_id)).spec.app_instance_id
    async with _kube(ns, f"app instance {name}"):
        app = await kube_apps.get_edgeapp(api, ns, name)
    if app is None or _deleted(app):
        raise conflict(f"app instance {name} of operation {occ_id} is gone: fail it instead")
    occ, _ = await _request(api, ns, occ_id, LcmRequestAction.RETRY)
    async with _kube(ns, f"app instance {name}"):
        await kube_apps.patch_edgeapp(api, ns, name, _operation_patch(occ), None)
    return _accepted(f"{_base(request, ctx.settings.public_uri)}{OP_OCCS}/{occ_id}")


@router.post(
    OP_OCC + "/fail",
    dependencies=[Depends(allowed("update", OPOCCS))],
    summary="Mark a FAILED_TEMP operation as finally FAILED",
)
async def fail(occ_id: OpOccId, request: Request, ctx: Context, ns: Namespace) -> JSONResponse:
    api = ctx.api()
    _, recorded = await _request(api, ns, occ_id, LcmRequestAction.FAIL)
    # The operator applies it (the one writer of the status); the answer shows it applied.
    wait = LcmSettings().fail_wait_seconds
    deadline = time.monotonic() + wait
    while True:
        occ = await _op_occ(api, ns, occ_id)
        if occ.status is not None and (occ.status.last_request or 0) >= recorded.sequence:
            info = op_occ_info(occ, _base(request, ctx.settings.public_uri), _now())
            return JSONResponse(info.etsi())
        if time.monotonic() > deadline:
            raise ProblemError(
                503,
                "Service Unavailable",
                f"the fail of operation {occ_id} is recorded, but the orchestrator has not "
                f"applied it within {wait:g} s: read the operation again shortly",
                {"Retry-After": "2"},
            )
        await asyncio.sleep(0.2)


@router.post(
    OP_OCC + "/cancel",
    status_code=202,
    dependencies=[Depends(allowed("update", OPOCCS))],
    summary="Cancel a PROCESSING operation (GRACEFUL: once the rollout under way ends)",
)
async def cancel(
    occ_id: OpOccId,
    body: Annotated[CancelModeRequest, Body()],
    request: Request,
    ctx: Context,
    ns: Namespace,
) -> JSONResponse:
    mode = CancelMode.FORCED if body.forced else CancelMode.GRACEFUL
    await _request(ctx.api(), ns, occ_id, LcmRequestAction.CANCEL, mode)
    return _accepted(f"{_base(request, ctx.settings.public_uri)}{OP_OCCS}/{occ_id}")


# -- subscriptions -------------------------------------------------------------------------------


def _subscription_request(raw: Any) -> LcmSubscriptionRequest:
    """The request, of the type its subscriptionType names (the generator's wrapper accepted)."""
    if isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in WRAPPERS:
        raw = next(iter(raw.values()))
    if not isinstance(raw, dict):
        raise bad_request("body: a subscription request object is expected")
    kind = raw.get("subscriptionType")
    model = SUBSCRIPTION_REQUESTS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise bad_request(
            f"body.subscriptionType: {kind!r} is not one of {', '.join(SUBSCRIPTION_REQUESTS)}"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        raise RequestValidationError(errors) from None


def _subscription_info(subscription: MecSubscription, href: str) -> dict[str, Any]:
    """The SubscriptionInfo: the request as kept, its id and `_links.self` as this client sees."""
    body = {k: v for k, v in (subscription.spec.body or {}).items() if k != "_links"}
    return {
        "id": subscription.metadata.name or "",
        **body,
        "subscriptionType": subscription.spec.subscription_type,
        "callbackUri": subscription.spec.callback_reference,
        "_links": {"self": {"href": href}},
    }


async def _lcm_subscription(api: ApiClient, namespace: str, sid: str) -> MecSubscription:
    found = None
    if _is_name(sid):
        async with _kube(namespace, f"subscription {sid}"):
            found = await kube_subscriptions.get_subscription(api, namespace, sid)
    if found is None or found.spec.api is not SubscriptionApi.APP_LCM:
        raise not_found(f"AppLcm subscription {sid} in namespace {namespace}")
    return found


@router.post(
    SUBSCRIPTIONS,
    status_code=201,
    dependencies=[Depends(allowed("create", MSUBS))],
    summary="Subscribe to app instance, operation occurrence, creation or deletion notifications",
)
async def subscribe(
    body: Annotated[Any, Body()], request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    chosen = _subscription_request(body)
    api = ctx.api()
    base = _base(request, ctx.settings.public_uri)
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        name = f"sub-{secrets.token_hex(5)}"
        href = f"{base}{SUBSCRIPTIONS}/{name}"
        spec = MecSubscriptionSpec(
            api=SubscriptionApi.APP_LCM,
            subscription_type=chosen.TYPE,
            callback_reference=chosen.callback_uri,
            filter=chosen.criteria() or None,
            body={**chosen.etsi(), "_links": {"self": {"href": href}}},
        )
        try:
            async with _kube(ns, "the subscription"):
                created = await kube_location.create_named_subscription(api, ns, name, spec)
        except ProblemError as problem:
            if problem.status != 409 or attempt == CONFLICT_ATTEMPTS:
                raise
        else:
            return JSONResponse(
                _subscription_info(created, href), status_code=201, headers={"Location": href}
            )
    raise conflict("no free subscription id was found: retry")  # pragma: no cover


@router.get(
    SUBSCRIPTIONS,
    dependencies=[Depends(allowed("list", MSUBS))],
    summary="The namespace's AppLcm subscriptions (of one type with subscriptiontype)",
)
async def list_lcm_subscriptions(
    request: Request,
    ctx: Context,
    ns: Namespace,
    subscriptiontype: Annotated[SubscriptionType | None, Query()] = None,
) -> JSONResponse:
    async with _kube(ns, "the subscriptions"):
        found = await kube_subscriptions.list_subscriptions(
            ctx.api(), ns, subscription_api=SubscriptionApi.APP_LCM
        )
    base = _base(request, ctx.settings.public_uri)
    links = [
        SubscriptionLink(
            href=f"{base}{SUBSCRIPTIONS}/{s.metadata.name}",
            subscription_type=s.spec.subscription_type,
        )
        for s in found
        if subscriptiontype is None or s.spec.subscription_type == subscriptiontype.value
    ]
    answer = AppInstanceSubscriptionLinkList(
        links=SubscriptionLinks(self_=LinkType(href=f"{base}{SUBSCRIPTIONS}"), subscriptions=links)
    )
    return JSONResponse(answer.etsi())


@router.get(
    SUBSCRIPTION,
    dependencies=[Depends(allowed("get", MSUBS))],
    summary="Read an AppLcm subscription",
)
async def read_lcm_subscription(
    sid: SubscriptionId, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    found = await _lcm_subscription(ctx.api(), ns, sid)
    href = f"{_base(request, ctx.settings.public_uri)}{SUBSCRIPTIONS}/{sid}"
    return JSONResponse(_subscription_info(found, href))


@router.delete(
    SUBSCRIPTION,
    status_code=204,
    dependencies=[Depends(allowed("delete", MSUBS))],
    summary="Delete an AppLcm subscription",
)
async def delete_lcm_subscription(sid: SubscriptionId, ctx: Context, ns: Namespace) -> Response:
    api = ctx.api()
    await _lcm_subscription(api, ns, sid)
    async with _kube(ns, f"subscription {sid}"):
        await kube_subscriptions.delete_subscription(api, ns, sid)
    return Response(status_code=204)
