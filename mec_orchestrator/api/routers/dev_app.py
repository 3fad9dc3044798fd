"""GS MEC 016 device application interface, `/dev_app/v1`: devices attach to app instances.

A device application lists the apps it may use (`app_list`), creates an application context
(`POST app_contexts`: the orchestrator picks the instance nearest the device's cell, by
measured latency, within the app's budget and the instance's capacity, and answers its
`referenceURI`), changes its callback (`PUT`), leaves (`DELETE`), and asks where an app could
serve it (`obtain_app_loc_availability`). The decisions and the sessions are the operator's
`UserDirectory`; this router only checks what the device sent and answers.

The device is identified by the address its request comes from (its IPv4 address in the mobile
network, as the RNIS names it): that is how its cell is found. Authorisation is RBAC on the
virtual resource `appcontexts.mec.dev` (verbs list, create, update, delete) in the namespace:
grant it to the devices' service account. A context belongs to whoever created it: another
caller gets 404 for it.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import ApiContext, Caller, Context, Namespace, allowed
from mec_orchestrator.api.problems import ProblemError, bad_request, not_found
from mec_orchestrator.api.schemas.dev_app import (
    AppCharcs,
    AppContext,
    ApplicationList,
    ApplicationLocationAvailability,
    AppListAppInfo,
    AppListEntry,
    AvailableLocation,
    LocationConstraints,
    Polygon,
    UserAppInstanceInfo,
)
from mec_orchestrator.decisions.users.sessions import DeviceSession
from mec_orchestrator.model import EdgeApp
from mec_orchestrator.operator.users import (
    AttachRequest,
    UserDirectory,
    UserError,
    UserErrorKind,
)

ROOT = "/dev_app/v1"
RESOURCE = "appcontexts"
AREA_HALF_SIDE_DEG = 0.002
"""Half the side of the square `obtain_app_loc_availability` answers around a host (~200 m)."""

router = APIRouter(prefix=ROOT, tags=["dev_app"])

ContextIdPath = Annotated[str, Path(alias="contextId", max_length=256)]
QueryList = Annotated[list[str] | None, Query(max_length=16)]

_STATUS = {
    UserErrorKind.UNKNOWN_APP: (404, "Not Found"),
    UserErrorKind.UNKNOWN_CONTEXT: (404, "Not Found"),
    UserErrorKind.NO_LOCATION: (404, "Not Found"),
    UserErrorKind.NO_INSTANCE: (503, "Service Unavailable"),
    UserErrorKind.AGENT_FAILED: (503, "Service Unavailable"),
}


def _users(ctx: ApiContext) -> UserDirectory:
    ctx.api()  # 503 while the operator starts or stands by
    if ctx.users is None:
        raise ProblemError(
            503,
            "Service Unavailable",
            "devices cannot attach: this orchestrator runs without its agents' server "
            "(MEC_OPERATOR_AGENTS_LISTEN), so it knows no app instance that serves users",
        )
    return ctx.users


def _problem(error: UserError) -> ProblemError:
    status, title = _STATUS[error.kind]
    headers = {"Retry-After": "1"} if status == 503 else None
    return ProblemError(status, title, error.message, headers)


def _validated(model: type[BaseModel], raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        raise RequestValidationError(errors) from None


def device_address(request: Request) -> str | None:
    """The device's IPv4 address: where its request comes from (None when not an IPv4)."""
    host = request.client.host if request.client else None
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address) if isinstance(address, ipaddress.IPv4Address) else None


def _app_info(app: EdgeApp, locations: list[LocationConstraints]) -> AppListAppInfo:
    spec = app.spec
    return AppListAppInfo(
        app_d_id=spec.app_d_id,
        app_name=spec.app_name,
        app_provider=spec.app_provider,
        app_soft_version=spec.app_soft_version,
        app_d_version=spec.app_soft_version,
        app_description=f"{spec.app_name} by {spec.app_provider}"[:128],
        app_location=locations or None,
        app_charcs=AppCharcs(latency=round(2 * spec.latency.max_ms)),
    )


def _host_areas(ctx: ApiContext, users: UserDirectory, app: EdgeApp) -> list[LocationConstraints]:
    """A small square around every edge host where the app can serve users now."""
    serving = users.serving_instances(app.metadata.namespace or "", app.metadata.name or "")
    areas = []
    for host in sorted(serving):
        edge_host = ctx.state.view.edge_hosts.get(host)
        if edge_host is None:
            continue
        lat, lon = edge_host.spec.location.latitude, edge_host.spec.location.longitude
        d = AREA_HALF_SIDE_DEG
        ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
        areas.append(LocationConstraints(area=Polygon(coordinates=[[*ring, ring[0]]])))
    return areas


def _answer(session: DeviceSession, sent: AppContext) -> dict[str, Any]:
    asked = sent.app_info.user_app_instance_info
    info = sent.app_info.model_copy(
        update={
            "user_app_instance_info": [
                UserAppInstanceInfo(
                    app_instance_id=session.app_instance_id,
                    reference_uri=session.reference_uri,
                    app_location=asked[0].app_location if asked else None,
                )
            ]
        }
    )
    return sent.model_copy(
        update={
            "context_id": session.context_id,
            "callback_reference": session.callback_reference,
            "app_location_updates": session.app_location_updates,
            "app_info": info,
        }
    ).etsi()


@router.get("/app_list", dependencies=[Depends(allowed("list", RESOURCE))])
async def app_list(
    ctx: Context,
    ns: Namespace,
    *,
    app_name: Annotated[QueryList, Query(alias="appname")] = None,
    app_provider: Annotated[QueryList, Query(alias="appprovider")] = None,
    app_soft_version: Annotated[QueryList, Query(alias="appsoftversion")] = None,
    service_cont: Annotated[int | None, Query(alias="servicecont", ge=0, le=1)] = None,
    vendor_id: Annotated[QueryList, Query(alias="vendorid")] = None,
) -> JSONResponse:
    """ApplicationList: the namespace's instantiated, started apps a device may ask for."""
    users = _users(ctx)
    del vendor_id  # no vendor-specific extensions are offered: the filter changes nothing
    entries = []
    for app in users.apps(ns):
        spec = app.spec
        if app_name and spec.app_name not in app_name:
            continue
        if app_provider and spec.app_provider not in app_provider:
            continue
        if app_soft_version and spec.app_soft_version not in app_soft_version:
            continue
        if service_cont == 1 and spec.mobility.context_transfer.value == "None":
            continue  # service continuity: only apps whose users' context follows them
        entries.append(AppListEntry(app_info=_app_info(app, _host_areas(ctx, users, app))))
    return JSONResponse(ApplicationList(app_list=entries).etsi())


@router.post("/app_contexts", status_code=201, dependencies=[Depends(allowed("create", RESOURCE))])
async def app_contexts_post(
    request: Request,
    ctx: Context,
    ns: Namespace,
    who: Caller,
    body: Annotated[Any, Body()],
) -> JSONResponse:
    """AppContext: the instance nearest the device serves it; its referenceURI is answered."""
    sent: AppContext = _validated(AppContext, body)
    if sent.context_id is not None:
        raise bad_request("body.contextId: assigned by the MEC system, not in a create request")
    users = _users(ctx)
    info = sent.app_info
    attach = AttachRequest(
        namespace=ns,
        owner=who.user,
        associate_dev_app_id=sent.associate_dev_app_id,
        callback_reference=sent.callback_reference,
        app_location_updates=bool(sent.app_location_updates),
        device_address=device_address(request),
        app_d_id=info.app_d_id,
        app_name=info.app_name,
        app_provider=info.app_provider,
        app_soft_version=info.app_soft_version,
    )
    try:
        session = await users.attach(attach)
    except UserError as error:
        raise _problem(error) from None
    location = f"{etsi.base(request, ctx.settings.public_uri, ROOT)}/app_contexts/"
    return JSONResponse(
        _answer(session, sent),
        status_code=201,
        headers={"Location": location + session.context_id},
    )


@router.put(
    "/app_contexts/{contextId}",
    status_code=204,
    dependencies=[Depends(allowed("update", RESOURCE))],
)
async def app_contexts_put(
    ctx: Context,
    ns: Namespace,
    who: Caller,
    context_id: ContextIdPath,
    body: Annotated[Any, Body()],
) -> Response:
    """Change the context's callbackReference (the only attribute a device may change)."""
    sent: AppContext = _validated(AppContext, body)
    users = _users(ctx)
    try:
        session = users.get(context_id, who.user)
    except UserError as error:
        raise _problem(error) from None
    if session.namespace != ns:
        raise not_found(f"application context {context_id}")
    if sent.context_id not in (None, context_id):
        raise bad_request(f"body.contextId: {sent.context_id!r} is not the context of the path")
    if sent.associate_dev_app_id != session.associate_dev_app_id:
        raise bad_request("body.associateDevAppId: may not change (only callbackReference may)")
    try:
        await users.update(context_id, who.user, sent.callback_reference)
    except UserError as error:
        raise _problem(error) from None
    return Response(status_code=204)


@router.delete(
    "/app_contexts/{contextId}",
    status_code=204,
    dependencies=[Depends(allowed("delete", RESOURCE))],
)
async def app_contexts_delete(
    ctx: Context, ns: Namespace, who: Caller, context_id: ContextIdPath
) -> Response:
    """The device application leaves: its instance stops serving it."""
    users = _users(ctx)
    try:
        session = users.get(context_id, who.user)
        if session.namespace != ns:
            raise not_found(f"application context {context_id}")
        await users.leave(context_id, who.user)
    except UserError as error:
        raise _problem(error) from None
    return Response(status_code=204)


@router.post("/obtain_app_loc_availability", dependencies=[Depends(allowed("create", RESOURCE))])
async def obtain_app_loc_availability(
    ctx: Context, ns: Namespace, body: Annotated[Any, Body()]
) -> JSONResponse:
    """Where the app could serve the device: an area around each host with a ready instance."""
    sent: ApplicationLocationAvailability = _validated(ApplicationLocationAvailability, body)
    users = _users(ctx)
    info = sent.app_info
    apps = [
        a
        for a in users.apps(ns)
        if a.spec.app_name == info.app_name
        and a.spec.app_provider == info.app_provider
        and info.app_soft_version in (None, a.spec.app_soft_version)
    ]
    if not apps:
        raise not_found(f"app {info.app_name} by {info.app_provider} in namespace {ns}")
    areas = _host_areas(ctx, users, apps[0])
    answered = sent.model_copy(
        update={
            "app_info": info.model_copy(
                update={"available_locations": [AvailableLocation(app_location=a) for a in areas]}
            )
        }
    )
    return JSONResponse(answered.etsi())
