"""Operation occurrences (`/app_lcm_op_occs`): query, read, and a client's retry, fail, cancel.

The operator is the only writer of an occurrence's status: retry, fail and cancel are recorded
as a request in its spec (if its state, with any pending request applied, allows it) and the
operator applies them; fail waits until it has, so its answer shows the FAILED operation.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse

from mec_orchestrator.adapters.kube import edgeapps as kube_apps
from mec_orchestrator.adapters.kube import lcm_ops as kube_ops
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import Context, Namespace, allowed
from mec_orchestrator.api.etsi import FilterText, QueryText
from mec_orchestrator.api.problems import (
    ProblemError,
    conflict,
    not_found,
)
from mec_orchestrator.api.routers.app_lcm.lifecycle import (
    operation_patch,
)
from mec_orchestrator.api.routers.app_lcm.representations import (
    op_occ_info,
)
from mec_orchestrator.api.routers.app_lcm.shared import (
    CONFLICT_ATTEMPTS,
    EDGEAPPS,
    OP_OCC,
    OP_OCCS,
    OPOCCS,
    is_deleted,
    kube_errors,
    root_url,
)
from mec_orchestrator.api.schemas.app_lcm import (
    APP_LCM_OP_OCC_ATTRIBUTES,
    APP_LCM_OP_OCC_DEFAULT_EXCLUDED,
    APP_LCM_OP_OCC_OPTIONAL,
    CancelModeRequest,
)
from mec_orchestrator.decisions.lcm import effective_status, refusal
from mec_orchestrator.model import (
    AppLcmOpOcc,
    CancelMode,
    LcmRequest,
    LcmRequestAction,
)
from mec_orchestrator.operator.lcm_ops import LcmSettings

router = APIRouter()


OpOccId = Annotated[
    str,
    Path(alias="appLcmOpOccId", min_length=1, max_length=253, description="An AppLcmOpOcc name."),
]


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
    filter_: FilterText = None,
    filter1: QueryText = None,
    all_fields: QueryText = None,
    fields: QueryText = None,
    fields1: QueryText = None,
    exclude_fields: QueryText = None,
    exclude_fields1: QueryText = None,
    exclude_default: QueryText = None,
    exclude_default1: QueryText = None,
) -> JSONResponse:
    query = etsi.selected(
        filter_text=etsi.one_of("filter", filter_, filter1),
        known=APP_LCM_OP_OCC_ATTRIBUTES,
        all_fields=all_fields,
        fields=etsi.one_of("fields", fields, fields1),
        exclude_fields=etsi.one_of("exclude_fields", exclude_fields, exclude_fields1),
        exclude_default=etsi.one_of("exclude_default", exclude_default, exclude_default1),
        optional=APP_LCM_OP_OCC_OPTIONAL,
        default_excluded=APP_LCM_OP_OCC_DEFAULT_EXCLUDED,
        exclude_default_when_absent=True,
    )
    api = ctx.api()
    async with kube_errors(ns, "the operation occurrences"):
        occs = await kube_ops.list_op_occs(api, ns)
    base, now = root_url(request, ctx.settings.public_uri), etsi.now()
    infos = [op_occ_info(occ, base, now).etsi() for occ in occs]
    return query.answer(infos)


async def _op_occ(api: ApiClient, namespace: str, name: str) -> AppLcmOpOcc:
    if not etsi.is_object_name(name):
        raise not_found(f"operation occurrence {name!r} in namespace {namespace}")
    async with kube_errors(namespace, f"operation occurrence {name}"):
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
    info = op_occ_info(occ, root_url(request, ctx.settings.public_uri), etsi.now())
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
        why = refusal(effective_status(occ, etsi.now()), request)
        if why is not None:
            raise conflict(f"operation {occ_id}: {why}")
        try:
            async with kube_errors(namespace, f"operation occurrence {occ_id}"):
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
    async with kube_errors(ns, f"app instance {name}"):
        app = await kube_apps.get_edgeapp(api, ns, name)
    if app is None or is_deleted(app):
        raise conflict(f"app instance {name} of operation {occ_id} is gone: fail it instead")
    occ, _ = await _request(api, ns, occ_id, LcmRequestAction.RETRY)
    async with kube_errors(ns, f"app instance {name}"):
        await kube_apps.patch_edgeapp(api, ns, name, operation_patch(occ), None)
    return etsi.accepted(f"{root_url(request, ctx.settings.public_uri)}{OP_OCCS}/{occ_id}")


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
            info = op_occ_info(occ, root_url(request, ctx.settings.public_uri), etsi.now())
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
    return etsi.accepted(f"{root_url(request, ctx.settings.public_uri)}{OP_OCCS}/{occ_id}")
