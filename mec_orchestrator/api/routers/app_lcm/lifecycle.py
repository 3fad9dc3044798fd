"""Instantiate, terminate and operate an app instance: a recorded operation, then the change.

Each records an AppLcmOpOcc (PROCESSING) and then changes the EdgeApp's spec, both only while
the instance's state allows it (re-checked on every conflict), and answers 202 with the
occurrence's Location; the operator completes the occurrence (`operator/lcm_ops.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from mec_orchestrator.adapters.kube import edgeapps as kube_apps
from mec_orchestrator.adapters.kube import lcm_ops as kube_ops
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import Context, Namespace, allowed
from mec_orchestrator.api.problems import (
    ProblemError,
    conflict,
)
from mec_orchestrator.api.routers.app_lcm.shared import (
    CONFLICT_ATTEMPTS,
    EDGEAPPS,
    INSTANCE,
    OP_OCCS,
    OPOCCS,
    WIDEST_BUDGET_MS,
    InstanceId,
    app_package,
    kube_errors,
    notify_subscribers,
    read_app,
    root_url,
    why_unusable,
)
from mec_orchestrator.api.schemas.app_lcm import (
    InstantiateAppRequest,
    OperateAppRequest,
    TerminateAppRequest,
)
from mec_orchestrator.decisions.lcm import initial_status
from mec_orchestrator.decisions.lcm.notifications import SubscriptionType
from mec_orchestrator.model import (
    AppLcmOpOcc,
    AppLcmOpOccSpec,
    EdgeApp,
    InstantiationState,
    LcmOperation,
    LcmOperationState,
    ObjectMeta,
    OperationalState,
)
from mec_orchestrator.model.lcm_op_occ import APP_INSTANCE_LABEL

router = APIRouter()


async def _unfinished(api: ApiClient, namespace: str, app: str) -> None:
    """409 while another operation on the app instance is PROCESSING or FAILED_TEMP."""
    async with kube_errors(namespace, f"the operations of app instance {app}"):
        occs = await kube_ops.list_op_occs(api, namespace, app)
    for occ in occs:
        if occ.spec.app_instance_id != app:
            continue
        status = occ.status or initial_status(occ, etsi.now())
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


def operation_patch(occ: AppLcmOpOcc, latency_ms: float | None = None) -> dict[str, Any]:
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


async def _ready_for(api: ApiClient, namespace: str, name: str, check: StateCheck) -> EdgeApp:
    """The app instance, if its state allows the operation and no other one is unfinished."""
    app = await read_app(api, namespace, name)
    check(app)
    await _unfinished(api, namespace, name)
    return app


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
            async with kube_errors(namespace, f"app instance {name}"):
                await kube_apps.patch_edgeapp(
                    api, namespace, name, patch, app.metadata.resource_version
                )
        except ProblemError as problem:
            if problem.status != 409:
                raise
            app = await read_app(api, namespace, name)
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
    async with kube_errors(namespace, "the operation occurrence"):
        created = await kube_ops.create_op_occ(api, namespace, occ)  # PROCESSING since created
    try:
        await _patch_if(api, namespace, app, check, operation_patch(created, latency_ms))
    except ProblemError:
        async with kube_errors(namespace, "the operation occurrence"):
            await kube_ops.delete_op_occ(api, namespace, created.metadata.name or "")
        raise
    await notify_subscribers(
        ctx,
        request,
        namespace,
        app,
        SubscriptionType.OP_OCC_STATE,
        state=LcmOperationState.PROCESSING.etsi,
        operation=operation.etsi,
        op_occ_id=created.metadata.name,
    )
    base = root_url(request, ctx.settings.public_uri)
    return etsi.accepted(f"{base}{OP_OCCS}/{created.metadata.name}")


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
    app = await _ready_for(api, ns, instance_id, can_instantiate)
    latency_ms = None
    if app.spec.app_package_ref is not None:
        package = await app_package(api, ns, app)
        if package is None:
            raise conflict(
                f"application package {app.spec.app_package_ref.name} of app instance "
                f"{instance_id} no longer exists"
            )
        why = why_unusable(package)
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
    app = await _ready_for(ctx.api(), ns, instance_id, can_terminate)
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
    target = OperationalState.from_etsi(body.change_state_to)
    app = await _ready_for(ctx.api(), ns, instance_id, can_operate(target))
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
