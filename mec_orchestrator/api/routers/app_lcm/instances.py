"""App instances (`/app_instances`): create one from an onboarded AppD, query, read, delete.

Creating an app instance creates an EdgeApp (NOT_INSTANTIATED) named after the request's
appInstanceName; deleting one deletes the EdgeApp, only when it is NOT_INSTANTIATED.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from mec_orchestrator.adapters.kube import edgeapps as kube_apps
from mec_orchestrator.adapters.kube import packages as kube_packages
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import Context, Namespace, allowed
from mec_orchestrator.api.etsi import FilterText, QueryText
from mec_orchestrator.api.problems import (
    ProblemError,
    conflict,
    not_found,
)
from mec_orchestrator.api.routers.app_lcm.representations import (
    DESCRIPTION_ANNOTATION,
    NAME_ANNOTATION,
    instance_info,
    instantiation_state,
)
from mec_orchestrator.api.routers.app_lcm.shared import (
    CONFLICT_ATTEMPTS,
    EDGEAPPS,
    INSTANCE,
    INSTANCES,
    WIDEST_BUDGET_MS,
    InstanceId,
    app_package,
    is_deleted,
    kube_errors,
    notify_subscribers,
    read_app,
    root_url,
    why_unusable,
)
from mec_orchestrator.api.schemas.app_lcm import (
    APP_INSTANCE_ATTRIBUTES,
    APP_INSTANCE_DEFAULT_EXCLUDED,
    APP_INSTANCE_OPTIONAL,
    CreateAppInstanceRequest,
)
from mec_orchestrator.decisions.lcm.notifications import SubscriptionType
from mec_orchestrator.model import (
    AppPackage,
    EdgeApp,
    InstantiationState,
)

router = APIRouter()


def name_prefix(text: str) -> str:
    """A generateName prefix from a human name: lower-case DNS label characters, a letter first.

    At most 31 characters, so that `<app>-<host>` instance names stay readable and short.
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if not slug[:1].isalpha():
        slug = f"app-{slug}"
    return slug[:30].rstrip("-") + "-"


async def _onboarded_package(api: ApiClient, namespace: str, app_d_id: str) -> AppPackage:
    async with kube_errors(namespace, f"the packages of appDId {app_d_id}"):
        found = await kube_apps.find_app_packages(api, namespace, app_d_id)
    if not found:
        raise not_found(f"an application package with appDId {app_d_id} in namespace {namespace}")
    packages = [AppPackage.model_validate(raw) for raw in found]
    usable = [p for p in packages if why_unusable(p) is None]
    if not usable:
        raise conflict("; ".join(str(why_unusable(p)) for p in packages))
    if len(usable) > 1:
        names = ", ".join(p.metadata.name or "" for p in usable)
        raise conflict(f"appDId {app_d_id} is onboarded in several packages ({names})")
    return usable[0]


def can_delete(app: EdgeApp) -> None:
    state = instantiation_state(app)
    if state is not InstantiationState.NOT_INSTANTIATED:
        raise conflict(f"app instance {app.metadata.name} is {state.etsi}: terminate it first")


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
    async with kube_errors(ns, "the app instance"):
        created = EdgeApp.model_validate(await kube_apps.create_edgeapp(api, ns, edgeapp))
    info = instance_info(created, package, root_url(request, ctx.settings.public_uri))
    await notify_subscribers(ctx, request, ns, created, SubscriptionType.CREATION)
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
    filter_: FilterText = None,
    all_fields: QueryText = None,
    fields: QueryText = None,
    exclude_fields: QueryText = None,
    exclude_default: QueryText = None,
) -> JSONResponse:
    query = etsi.selected(
        filter_text=filter_,
        known=APP_INSTANCE_ATTRIBUTES,
        all_fields=all_fields,
        fields=fields,
        exclude_fields=exclude_fields,
        exclude_default=exclude_default,
        optional=APP_INSTANCE_OPTIONAL,
        default_excluded=APP_INSTANCE_DEFAULT_EXCLUDED,
        exclude_default_when_absent=True,
    )
    api = ctx.api()
    async with kube_errors(ns, "the app instances"):
        apps = await kube_apps.list_edgeapps(api, ns)
        packages = {
            raw["metadata"]["name"]: AppPackage.model_validate(raw)
            for raw in await kube_packages.list_app_packages(api, ns)
        }
    base = root_url(request, ctx.settings.public_uri)
    infos = []
    for raw in apps:
        if is_deleted(raw):
            continue
        app = EdgeApp.model_validate(raw)
        ref = app.spec.app_package_ref
        infos.append(instance_info(app, packages.get(ref.name) if ref else None, base).etsi())
    return query.answer(infos)


@router.get(
    INSTANCE,
    dependencies=[Depends(allowed("get", EDGEAPPS))],
    summary="Read an application instance",
)
async def read_instance(
    instance_id: InstanceId, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    api = ctx.api()
    app = await read_app(api, ns, instance_id)
    package = await app_package(api, ns, app)
    return JSONResponse(
        instance_info(app, package, root_url(request, ctx.settings.public_uri)).etsi()
    )


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
    app = await read_app(api, ns, instance_id)
    for _ in range(CONFLICT_ATTEMPTS):
        can_delete(app)
        try:
            async with kube_errors(ns, f"app instance {instance_id}"):
                await kube_apps.delete_edgeapp(api, ns, instance_id, app.metadata.resource_version)
        except ProblemError as problem:
            if problem.status != 409:
                raise
            app = await read_app(api, ns, instance_id)
        else:
            await notify_subscribers(ctx, request, ns, app, SubscriptionType.DELETION)
            return Response(status_code=204)
    raise conflict(f"app instance {instance_id} kept changing while this request was served")
