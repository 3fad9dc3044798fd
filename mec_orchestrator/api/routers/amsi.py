"""GS MEC 021 v2.2.1 application mobility service, `/amsi/v1`: registrations, subscriptions.

Also the adjacent instances of an app instance.

An app instance registers its application mobility service and the devices it serves
(`app_mobility_services`); when it says a device's user context has moved
(contextTransferState USER_CONTEXT_TRANSFER_COMPLETED, with PUT) the users' directory is told
(`amsi_service.report_transfers`). Registrations are kept in this process's memory (they carry
no callback: no MecSubscription fits them), authorised as the virtual resource
`appmobilityservices.mec.dev`. Subscriptions (MobilityProcedureSubscription,
AdjacentAppInfoSubscription) are MecSubscriptions (api AppMobility) in the namespace, notified
of the moves the users' directory makes (`amsi_service.MobilityNotifier`). The adjacent
instances of an app instance are the other instances of its EdgeApp that can serve users now.
docs/api.md lists every operation and the choices made where the GS is silent.
"""

from __future__ import annotations

import re
import uuid
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from mec_common.patterns import DNS_LABEL
from mec_orchestrator.adapters.callbacks import notify_subscriber
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.adapters.kube.subscriptions import (
    create_subscription_named_by,
    delete_subscription,
    list_subscriptions,
    replace_subscription_spec,
)
from mec_orchestrator.api import etsi
from mec_orchestrator.api.amsi_service import (
    MobilityNotifier,
    Registration,
    Registrations,
    report_transfers,
    serving_instances,
)
from mec_orchestrator.api.deps import ApiContext, Context, Namespace, allowed
from mec_orchestrator.api.problems import ProblemError, bad_request, not_found
from mec_orchestrator.api.schemas.amsi import (
    QUERY_TYPES,
    SUBSCRIPTION,
    SUBSCRIPTION_TYPES,
    AdjacentAppInfoSubscription,
    AmsSubscription,
    ContextTransferState,
    MobilityProcedureSubscription,
    RegistrationInfo,
    unwrapped,
)
from mec_orchestrator.api.schemas.common import LinkType
from mec_orchestrator.decisions.handover.mec021 import (
    AppInstance,
    adjacent,
    adjacent_app_instance_info,
    etsi_test_notification,
    mobility_criteria,
)
from mec_orchestrator.decisions.location import from_timestamp
from mec_orchestrator.decisions.packages.query import Filter, Op
from mec_orchestrator.model.subscription import (
    MecSubscription,
    MecSubscriptionSpec,
    SubscriptionApi,
)
from mec_orchestrator.operator.users import UserDirectory

ROOT = "/amsi/v1"
REGISTRATIONS = "appmobilityservices"
SUBSCRIPTIONS = "mecsubscriptions"
NAME_ATTEMPTS = 3
WRITE_ATTEMPTS = 5
MAX_LABEL = 63
_LABEL = re.compile(DNS_LABEL)

REGISTRATION_ATTRIBUTES = (
    "appMobilityServiceId",
    "serviceConsumerId",
    "deviceInformation",
    "expiryTime",
)
ADJACENT_ATTRIBUTES = (
    "appInstanceId",
    "appDId",
    "appInstanceCommLink",
    "mecHostInformation",
    "registeredInstanceId",
)

router = APIRouter(prefix=ROOT, tags=["amsi"])

IdPath = Annotated[str, Path(alias="appMobilityServiceId", min_length=1, max_length=256)]
SubscriptionIdPath = Annotated[str, Path(alias="subscriptionId", min_length=1, max_length=256)]


# -- wiring --------------------------------------------------------------------------------------


def attach(app: FastAPI, users: UserDirectory | None) -> MobilityNotifier | None:
    """Keep the registrations for app's handlers; notify users' moves when there are users."""
    app.state.amsi_registrations = Registrations()
    context: ApiContext = app.state.context
    return None if users is None else MobilityNotifier(context, users)


def _registrations(request: Request) -> Registrations:
    found: Registrations = request.app.state.amsi_registrations
    return found


def _base(request: Request, ctx: ApiContext) -> str:
    return etsi.base(request, ctx.settings.public_uri, ROOT)


def _kube(namespace: str) -> AbstractAsyncContextManager[None]:
    return etsi.kube_problems(
        "the subscription", missing=f"namespace {namespace} (or the subscription)", conflicts=False
    )


def _invalid(error: ValidationError, skip: frozenset[str] = frozenset()) -> RequestValidationError:
    """Pydantic's errors as the request's, each located in the body (a union's tag left out)."""
    errors = []
    for one in error.errors():
        location = tuple(one["loc"])
        if location and location[0] in skip:
            location = location[1:]
        errors.append({**one, "loc": ("body", *location)})
    return RequestValidationError(errors)


# -- app_mobility_services -----------------------------------------------------------------------


def _registration_href(base: str, registration_id: str) -> str:
    return f"{base}/app_mobility_services/{registration_id}"


def _checked(ctx: ApiContext, ns: str, info: RegistrationInfo) -> None:
    """400 naming the field when the registering instance belongs to another namespace."""
    instance = info.service_consumer_id.app_instance_id
    if instance is None or ctx.users is None:
        return
    owner = ctx.users.instance_owner(instance)
    if owner is not None and owner[0] != ns:
        raise bad_request(
            f"body.serviceConsumerId.appInstanceId: instance {instance} belongs to namespace "
            f"{owner[0]}, not {ns}"
        )


def _found(registrations: Registrations, ns: str, registration_id: str) -> Registration:
    found = registrations.get(ns, registration_id)
    if found is None:
        raise not_found(f"application mobility service {registration_id!r} in namespace {ns}")
    return found


@router.get("/app_mobility_services", dependencies=[Depends(allowed("list", REGISTRATIONS))])
async def registrations_get(
    request: Request,
    ns: Namespace,
    *,
    filter_text: etsi.FilterText = None,
    all_fields: etsi.QueryText = None,
    fields: etsi.QueryText = None,
    exclude_fields: etsi.QueryText = None,
    exclude_default: etsi.QueryText = None,
) -> JSONResponse:
    """The namespace's registrations (RegistrationInfo), filtered and selected (GS MEC 009)."""
    selected = etsi.selected(
        filter_text=filter_text,
        known=REGISTRATION_ATTRIBUTES,
        all_fields=all_fields,
        fields=fields,
        exclude_fields=exclude_fields,
        exclude_default=exclude_default,
        optional=("deviceInformation",),
        default_excluded=(),
    )
    return selected.answer(r.body() for r in _registrations(request).list(ns))


@router.post(
    "/app_mobility_services",
    status_code=201,
    dependencies=[Depends(allowed("create", REGISTRATIONS))],
)
async def registration_post(
    request: Request, ctx: Context, ns: Namespace, body: RegistrationInfo
) -> JSONResponse:
    """Register an application mobility service: 201 RegistrationInfo with its id, Location."""
    if body.app_mobility_service_id is not None:
        raise bad_request("body.appMobilityServiceId: shall be absent in a POST (it is given)")
    for index, device in enumerate(body.device_information or ()):
        if device.context_transfer_state is ContextTransferState.USER_CONTEXT_TRANSFER_COMPLETED:
            raise bad_request(
                f"body.deviceInformation[{index}].contextTransferState: the initial "
                "registration sets NOT_TRANSFERRED (0)"
            )
    _checked(ctx, ns, body)
    created = _registrations(request).create(ns, body)
    href = _registration_href(_base(request, ctx), created.id)
    return JSONResponse(created.body(), status_code=201, headers={"Location": href})


@router.get(
    "/app_mobility_services/{appMobilityServiceId}",
    dependencies=[Depends(allowed("get", REGISTRATIONS))],
)
async def registration_get(request: Request, ns: Namespace, rid: IdPath) -> JSONResponse:
    return JSONResponse(_found(_registrations(request), ns, rid).body())


@router.put(
    "/app_mobility_services/{appMobilityServiceId}",
    dependencies=[Depends(allowed("update", REGISTRATIONS))],
)
async def registration_put(
    request: Request, ctx: Context, ns: Namespace, rid: IdPath, body: RegistrationInfo
) -> JSONResponse:
    """Replace a registration; devices whose context transfer completed are reported."""
    if body.app_mobility_service_id not in (None, rid):
        raise bad_request(
            f"body.appMobilityServiceId: {body.app_mobility_service_id!r} is not {rid!r}, the "
            "registration of this URI"
        )
    registrations = _registrations(request)
    current = _found(registrations, ns, rid)
    _checked(ctx, ns, body)
    replaced = registrations.replace(current, body)
    before = (
        current.info
        if current.app_instance_id == body.service_consumer_id.app_instance_id
        else None
    )
    report_transfers(ctx.users, before, body)
    return JSONResponse(replaced.body())


@router.delete(
    "/app_mobility_services/{appMobilityServiceId}",
    status_code=204,
    dependencies=[Depends(allowed("delete", REGISTRATIONS))],
)
async def registration_delete(request: Request, ns: Namespace, rid: IdPath) -> Response:
    if not _registrations(request).delete(ns, rid):
        raise not_found(f"application mobility service {rid!r} in namespace {ns}")
    return Response(status_code=204)


@router.post(
    "/app_mobility_services/{appMobilityServiceId}/deregister_task",
    status_code=204,
    dependencies=[Depends(allowed("delete", REGISTRATIONS))],
)
async def registration_deregister(request: Request, ns: Namespace, rid: IdPath) -> Response:
    """The registration's timer expired on the consumer's side: deregister it (204)."""
    if not _registrations(request).delete(ns, rid):
        raise not_found(f"application mobility service {rid!r} in namespace {ns}")
    return Response(status_code=204)


# -- queries -------------------------------------------------------------------------------------


def _serving(ctx: ApiContext, ns: str) -> list[AppInstance]:
    """Every instance of the namespace's EdgeApps that can serve users now."""
    users = ctx.users
    if users is None:
        return []
    return [
        instance
        for app in users.apps(ns)
        for instance in serving_instances(users, ns, app.metadata.name or "")
    ]


@router.get(
    "/queries/adjacent_app_instances",
    dependencies=[Depends(allowed("list", REGISTRATIONS))],
)
async def adjacent_get(
    request: Request,
    ctx: Context,
    ns: Namespace,
    *,
    filter_text: etsi.FilterText = None,
    all_fields: etsi.QueryText = None,
    fields: etsi.QueryText = None,
    exclude_fields: etsi.QueryText = None,
    exclude_default: etsi.QueryText = None,
) -> JSONResponse:
    """AdjacentAppInstanceInfo of the instances adjacent to the one the filter names.

    `(eq,appInstanceId,X)` names the instance: its adjacent ones are the other serving
    instances of its EdgeApp; without it, every serving instance of the namespace. The
    filter's other terms select among them (GS MEC 009).
    """
    selected = etsi.selected(
        filter_text=filter_text,
        known=ADJACENT_ATTRIBUTES,
        all_fields=all_fields,
        fields=fields,
        exclude_fields=exclude_fields,
        exclude_default=exclude_default,
        optional=("mecHostInformation",),
        default_excluded=(),
    )
    matcher = selected.matcher
    reference = None
    if matcher is not None:
        named = [t for t in matcher.terms if t.op is Op.EQ and t.path == ("appInstanceId",)]
        if len(named) > 1 or (named and len(named[0].values) != 1):
            raise bad_request("query.filter: name one app instance, (eq,appInstanceId,<id>)")
        if named:
            reference = named[0].values[0]
            rest = tuple(t for t in matcher.terms if t is not named[0])
            selected = etsi.Selected(Filter(rest) if rest else None, selected.selection)
    registered = None
    if reference is None:
        instances = _serving(ctx, ns)
    else:
        owner = None if ctx.users is None else ctx.users.instance_owner(reference)
        if owner is None or owner[0] != ns:
            raise not_found(f"app instance {reference!r} in namespace {ns}")
        instances = adjacent(_serving_of(ctx, ns, owner[1]), reference)
        if reference in _registrations(request).registered_instances(ns):
            registered = reference
    return selected.answer(adjacent_app_instance_info(i, registered) for i in instances)


def _serving_of(ctx: ApiContext, ns: str, app: str) -> list[AppInstance]:
    return [] if ctx.users is None else serving_instances(ctx.users, ns, app)


# -- subscriptions -------------------------------------------------------------------------------


def _subscription_href(base: str, name: str) -> str:
    return f"{base}/subscriptions/{name}"


def _is_label(value: str) -> bool:
    return len(value) <= MAX_LABEL and _LABEL.match(value) is not None


def _validated(raw: Any) -> MobilityProcedureSubscription | AdjacentAppInfoSubscription:
    """The subscription the body holds (bare or wrapped); 400 naming the field."""
    inner = unwrapped(raw)
    try:
        chosen: AmsSubscription = SUBSCRIPTION.validate_python(inner)
    except ValidationError as error:
        raise _invalid(error, frozenset(t.TYPE for t in SUBSCRIPTION_TYPES)) from None
    if chosen.expiry_deadline is not None:
        deadline = from_timestamp(
            chosen.expiry_deadline.seconds, chosen.expiry_deadline.nano_seconds
        )
        if deadline <= etsi.now():
            raise bad_request("body.expiryDeadline: the time has already passed")
    return chosen


def _spec(
    chosen: MobilityProcedureSubscription | AdjacentAppInfoSubscription, href: str
) -> MecSubscriptionSpec:
    """The MecSubscription spec: the subscription as answered (the callback chosen)."""
    body = chosen.etsi()
    body.pop("websockNotifConfig", None)
    body["_links"] = {"self": {"href": href}}
    if isinstance(chosen, MobilityProcedureSubscription):
        body["filterCriteria"] = mobility_criteria(body.get("filterCriteria") or {})
    deadline = chosen.expiry_deadline
    return MecSubscriptionSpec(
        api=SubscriptionApi.APP_MOBILITY,
        subscription_type=chosen.TYPE,
        callback_reference=chosen.callback_reference,
        filter=body["filterCriteria"] or None,
        expiry_deadline=from_timestamp(deadline.seconds, deadline.nano_seconds)
        if deadline
        else None,
        body=body,
    )


def _representation(subscription: MecSubscription, href: str) -> dict[str, Any]:
    body = dict(subscription.spec.body or {})
    body["_links"] = {"self": {"href": href}}
    return body


async def _find(api: ApiClient, ns: str, subscription_id: str) -> MecSubscription:
    async with _kube(ns):
        found = await etsi.find_subscription(
            api, ns, subscription_id, SubscriptionApi.APP_MOBILITY, valid=_is_label
        )
    if found is None:
        raise not_found(f"subscription {subscription_id!r} in {ROOT}/subscriptions")
    return found


def _test_notification(ctx: ApiContext, subscription: MecSubscription, href: str) -> None:
    if ctx.notifier is None:
        return
    notify_subscriber(
        ctx.notifier,
        subscription,
        etsi_test_notification(href),
        notification_id=f"test-{uuid.uuid4().hex}",
        what="test notification",
    )


# The two types, told apart by subscriptionType (pydantic's discriminator mapping names its own
# `$defs`, which the inlined schema no longer has: the oneOf says the same).
_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    k: v
                    for k, v in etsi.inline_schema(SUBSCRIPTION.json_schema()).items()
                    if k != "discriminator"
                }
            }
        },
    }
}


@router.get("/subscriptions", dependencies=[Depends(allowed("list", SUBSCRIPTIONS))])
async def subscriptions_get(
    request: Request, ctx: Context, ns: Namespace, subscriptiontype: etsi.QueryText = None
) -> JSONResponse:
    """SubscriptionLinkList of the namespace's active subscriptions.

    `subscriptiontype`: mobility_proc or adj_app_info; another value matches none.
    """
    wanted = {t.TYPE for t in SUBSCRIPTION_TYPES}
    if subscriptiontype is not None:
        wanted = {QUERY_TYPES[subscriptiontype]} if subscriptiontype in QUERY_TYPES else set()
    base = _base(request, ctx)
    async with _kube(ns):
        found = await list_subscriptions(
            ctx.api(), ns, subscription_api=SubscriptionApi.APP_MOBILITY
        )
    now = etsi.now()
    links = etsi.subscription_links(
        found,
        lambda name: _subscription_href(base, name),
        lambda s: s.spec.subscription_type in wanted and not s.spec.is_expired(now),
    )
    body: dict[str, Any] = {"self": LinkType(href=f"{base}/subscriptions").etsi()}
    if links:
        body["subscription"] = [link.etsi() for link in links]
    return JSONResponse({"_links": body})


@router.post(
    "/subscriptions",
    status_code=201,
    dependencies=[Depends(allowed("create", SUBSCRIPTIONS))],
    openapi_extra=_SCHEMA,
)
async def subscription_post(
    request: Request, ctx: Context, ns: Namespace, body: Annotated[Any, Body()]
) -> JSONResponse:
    """Create a MobilityProcedureSubscription or AdjacentAppInfoSubscription: 201, Location."""
    chosen = _validated(body)
    api = ctx.api()
    base = _base(request, ctx)
    async with _kube(ns):
        created = await create_subscription_named_by(
            api,
            ns,
            lambda name: _spec(chosen, _subscription_href(base, name)),
            attempts=NAME_ATTEMPTS,
        )
    href = _subscription_href(base, created.metadata.name or "")
    if chosen.request_test_notification:
        _test_notification(ctx, created, href)
    return JSONResponse(_representation(created, href), status_code=201, headers={"Location": href})


@router.get(
    "/subscriptions/{subscriptionId}", dependencies=[Depends(allowed("get", SUBSCRIPTIONS))]
)
async def subscription_get(
    request: Request, ctx: Context, ns: Namespace, sid: SubscriptionIdPath
) -> JSONResponse:
    found = await _find(ctx.api(), ns, sid)
    return JSONResponse(_representation(found, _subscription_href(_base(request, ctx), sid)))


@router.put(
    "/subscriptions/{subscriptionId}",
    dependencies=[Depends(allowed("update", SUBSCRIPTIONS))],
    openapi_extra=_SCHEMA,
)
async def subscription_put(
    request: Request,
    ctx: Context,
    ns: Namespace,
    sid: SubscriptionIdPath,
    body: Annotated[Any, Body()],
) -> JSONResponse:
    """Replace a subscription whole (its type cannot change)."""
    chosen = _validated(body)
    api = ctx.api()
    href = _subscription_href(_base(request, ctx), sid)
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        current = await _find(api, ns, sid)
        if current.spec.subscription_type != chosen.TYPE:
            raise bad_request(
                f"body.subscriptionType: subscription {sid} is a "
                f"{current.spec.subscription_type}; its type cannot change (delete it and "
                f"create a {chosen.TYPE})"
            )
        stored = (current.spec.body or {}).get("_links", {}).get("self", {}).get("href")
        try:
            async with _kube(ns):
                replaced = await replace_subscription_spec(
                    api, current, _spec(chosen, stored or href)
                )
        except ApiError as error:
            if error.status == 409 and attempt < WRITE_ATTEMPTS:
                continue  # changed since read: read it again
            if error.status == 409:
                raise ProblemError(
                    409, "Conflict", f"subscription {sid} keeps changing: try again"
                ) from None
            raise
        return JSONResponse(_representation(replaced, href))
    raise AssertionError("unreachable")  # pragma: no cover


@router.delete(
    "/subscriptions/{subscriptionId}",
    status_code=204,
    dependencies=[Depends(allowed("delete", SUBSCRIPTIONS))],
)
async def subscription_delete(ctx: Context, ns: Namespace, sid: SubscriptionIdPath) -> Response:
    api = ctx.api()
    await _find(api, ns, sid)
    async with _kube(ns):
        if not await delete_subscription(api, ns, sid):
            raise not_found(f"subscription {sid!r}")
    return Response(status_code=204)
