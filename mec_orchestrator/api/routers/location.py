"""GS MEC 013 v3.1.1 location, `/location/v2`: zones, access points, users, distance, subscriptions.

Zones and access points are the Zone resources (cluster-scoped: the namespace of the API root
only scopes RBAC, and `list zones` is checked cluster-wide); their counters and statuses come
from the operator's measurements (`decisions.location.zones`). Users are those the operator's
placement engine has attached — none until devices attach (MEC 016, a later issue), so the user
list is empty and a distance query names an unknown user (404). Subscriptions of the six types
are MecSubscriptions (api Location) in the namespace; ZoneStatusSubscriptions are notified of
Zone changes (`location_service.ZoneNotifier`), the others are kept, listed, updated and deleted
but not yet notified (user notifications come with device attachment). docs/api.md lists every
operation and the choices made where the GS is silent.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from mec_common.patterns import DNS_LABEL, DNS_SUBDOMAIN
from mec_orchestrator.adapters.callbacks import notify_subscriber
from mec_orchestrator.adapters.kube import location as kube
from mec_orchestrator.adapters.kube.auth import Access
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.adapters.kube.subscriptions import (
    create_subscription_named_by,
    delete_subscription,
    list_subscriptions,
    replace_subscription_spec,
)
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import (
    ApiContext,
    Caller,
    Context,
    Namespace,
    authorize,
    namespace,
)
from mec_orchestrator.api.location_service import (
    UserLocationNotifier,
    ZoneNotifier,
    measured_facts,
    users_now,
)
from mec_orchestrator.api.problems import (
    PROBLEM_JSON,
    ProblemDetails,
    ProblemError,
    bad_request,
    not_found,
)
from mec_orchestrator.api.schemas.common import LinkType, TimeStamp
from mec_orchestrator.api.schemas.location import (
    SUBSCRIPTION_KINDS,
    AccessPointInfo,
    AccessPointList,
    LocationInfo,
    NotificationSubscriptionList,
    SubscriptionBase,
    SubscriptionKind,
    TerminalDistance,
    UserInfo,
    UserList,
    ZoneInfo,
    ZoneList,
)
from mec_orchestrator.decisions.location import (
    AccessPointFacts,
    UserLocation,
    ZoneFacts,
    distance_m,
    etsi_test_notification,
    filter_users,
    from_timestamp,
    zone_facts,
)
from mec_orchestrator.model import GROUP
from mec_orchestrator.model.subscription import (
    MecSubscription,
    MecSubscriptionSpec,
    SubscriptionApi,
)
from mec_orchestrator.operator.users import UserDirectory

log = logging.getLogger(__name__)

ROOT = "/location/v2"
SUBSCRIPTIONS = "mecsubscriptions"
NAME_ATTEMPTS = 3
WRITE_ATTEMPTS = 5
MAX_QUERY_VALUES = 100
MAX_NAME = 253
MAX_LABEL = 63
_SUBDOMAIN = re.compile(DNS_SUBDOMAIN)
_LABEL = re.compile(DNS_LABEL)

router = APIRouter(
    prefix=ROOT,
    tags=["location"],
    responses={
        429: {
            "description": "Too Many Requests: the Kubernetes API server asks to retry later",
            "model": ProblemDetails,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
    },
)

QueryList = Annotated[list[str] | None, Query(max_length=MAX_QUERY_VALUES)]


# -- helpers -------------------------------------------------------------------------------------


def attach(context: ApiContext) -> ZoneNotifier:
    """Start notifying ZoneStatusSubscriptions of the Zone changes the operator sees."""
    return ZoneNotifier(context)


def attach_users(context: ApiContext, users: UserDirectory) -> UserLocationNotifier:
    """Start notifying user and zonal location event subscriptions of the users' moves."""
    return UserLocationNotifier(context, users)


def _base(request: Request, public_uri: str) -> str:
    return etsi.base(request, public_uri, ROOT)


def _answer(root: str, content: Any, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse({root: content}, status_code=status, headers=headers or None)


def _kube(namespace: str | None) -> AbstractAsyncContextManager[None]:
    """API server errors as ProblemDetails; a 409 passes (the callers retry or answer it)."""
    return etsi.kube_problems(
        "the subscription",
        missing=None if namespace is None else f"namespace {namespace} (or the subscription)",
        conflicts=False,
    )


async def _zones_allowed(ctx: Context, who: Caller, ns: Namespace) -> None:
    """Zones are cluster-scoped: `list zones` is asked without a namespace (ns is validated)."""
    del ns
    await authorize(ctx, who, Access("list", GROUP, "zones", None))


async def _users_allowed(ctx: Context, who: Caller, ns: Namespace) -> None:
    """Users belong to the namespace's EdgeApps: `list zones` and `list edgeapps` in ns."""
    await authorize(ctx, who, Access("list", GROUP, "zones", None))
    await authorize(ctx, who, Access("list", GROUP, "edgeapps", ns))


def _subscription_namespace(request: Request, ctx: Context) -> str | None:
    """The namespace subscriptions live in; None when the root names no possible namespace.

    A name that is no namespace name names no namespace: its subscriptions are none (an empty
    list) and any one of them is not found (404) — several of the file's subscription
    operations document no 400.
    """
    try:
        return namespace(request, ctx)
    except ProblemError as error:
        if error.status in {400, 404}:  # deps.namespace: no namespace can have that name
            return None
        raise


SubscriptionNamespace = Annotated[str | None, Depends(_subscription_namespace)]


def _may(verb: str) -> Callable[..., Awaitable[None]]:
    """A dependency: the caller may `verb` MecSubscriptions in the namespace (RBAC)."""

    async def check(ctx: Context, who: Caller, ns: SubscriptionNamespace) -> None:
        if ns is not None:  # none: nothing there to see or touch (the handler says so)
            await authorize(ctx, who, Access(verb, GROUP, SUBSCRIPTIONS, ns))

    return check


def _existing(request: Request, ns: str | None) -> str:
    if ns is None:
        raise not_found(f"namespace {request.path_params.get('namespace')!r}")
    return ns


def _zone_info(zone: ZoneFacts, base: str) -> ZoneInfo:
    return ZoneInfo(
        zone_id=zone.id,
        number_of_access_points=zone.number_of_access_points,
        number_of_unserviceable_access_points=zone.number_of_unserviceable_access_points,
        number_of_users=zone.number_of_users,
        resource_url=f"{base}/queries/zones/{quote(zone.id, safe='')}",
    )


def _access_point_info(ap: AccessPointFacts, base: str) -> AccessPointInfo:
    zone_url = f"{base}/queries/zones/{quote(ap.zone, safe='')}"
    return AccessPointInfo(
        access_point_id=ap.id,
        connection_type=ap.connection_type,
        operation_status=ap.operation_status,
        number_of_users=ap.users,
        resource_url=f"{zone_url}/accessPoints/{quote(ap.id, safe='')}",
        location_info=LocationInfo(latitude=[ap.location[0]], longitude=[ap.location[1]]),
    )


async def _zone(ctx: ApiContext, zone_id: str) -> ZoneFacts:
    if len(zone_id) > MAX_NAME or not _SUBDOMAIN.match(zone_id):
        raise not_found(f"zone {zone_id!r}")
    async with _kube(None):
        zone = await kube.get_zone(ctx.api(), zone_id)
    if zone is None:
        raise not_found(f"zone {zone_id!r}")
    return zone_facts(zone, measured_facts(ctx.state))


# -- queries -------------------------------------------------------------------------------------


@router.get("/queries/zones", dependencies=[Depends(_zones_allowed)])
async def zones_get(
    request: Request, ctx: Context, zone_id: Annotated[QueryList, Query(alias="zoneId")] = None
) -> JSONResponse:
    """ZoneList: every Zone, or those named by zoneId."""
    base = _base(request, ctx.settings.public_uri)
    async with _kube(None):
        found = await kube.list_zones(ctx.api())
    facts = measured_facts(ctx.state)
    wanted = set(zone_id or [])
    zones = [
        _zone_info(zone_facts(z, facts), base)
        for z in found
        if not wanted or (z.metadata.name or "") in wanted
    ]
    body = ZoneList(zone=zones, resource_url=f"{base}/queries/zones")
    return _answer("zoneList", body.etsi())


ZoneIdPath = Annotated[str, Path(alias="zoneId", min_length=1, max_length=1024)]
AccessPointIdPath = Annotated[str, Path(alias="accessPointId", min_length=1, max_length=1024)]
SubscriptionIdPath = Annotated[str, Path(alias="subscriptionId", min_length=1, max_length=1024)]


@router.get("/queries/zones/{zoneId}", dependencies=[Depends(_zones_allowed)])
async def zone_get(request: Request, ctx: Context, zone_id: ZoneIdPath) -> JSONResponse:
    zone = await _zone(ctx, zone_id)
    return _answer("zoneInfo", _zone_info(zone, _base(request, ctx.settings.public_uri)).etsi())


@router.get("/queries/zones/{zoneId}/accessPoints", dependencies=[Depends(_zones_allowed)])
async def access_points_get(
    request: Request,
    ctx: Context,
    zone_id: ZoneIdPath,
    access_point_id: Annotated[QueryList, Query(alias="accessPointId")] = None,
) -> JSONResponse:
    """AccessPointList of the zone, or of the access points named by accessPointId."""
    zone = await _zone(ctx, zone_id)
    base = _base(request, ctx.settings.public_uri)
    wanted = set(access_point_id or [])
    body = AccessPointList(
        zone_id=zone.id,
        access_point=[
            _access_point_info(ap, base)
            for ap in zone.access_points
            if not wanted or ap.id in wanted
        ],
        resource_url=f"{base}/queries/zones/{quote(zone.id, safe='')}/accessPoints",
    )
    return _answer("accessPointList", body.etsi())


@router.get(
    "/queries/zones/{zoneId}/accessPoints/{accessPointId}",
    dependencies=[Depends(_zones_allowed)],
)
async def access_point_get(
    request: Request, ctx: Context, zone_id: ZoneIdPath, access_point_id: AccessPointIdPath
) -> JSONResponse:
    zone = await _zone(ctx, zone_id)
    ap = zone.access_point(access_point_id)
    if ap is None:
        raise not_found(f"access point {access_point_id!r} in zone {zone.id!r}")
    body = _access_point_info(ap, _base(request, ctx.settings.public_uri))
    return _answer("accessPointInfo", body.etsi())


def _user_info(user: UserLocation, base: str, at: datetime) -> UserInfo:
    return UserInfo(
        address=user.address,
        access_point_id=user.access_point,
        zone_id=user.zone,
        resource_url=f"{base}/queries/users?address={quote(user.address, safe='')}",
        timestamp=TimeStamp.of(at),
        location_info=LocationInfo(latitude=[user.location[0]], longitude=[user.location[1]]),
    )


@router.get("/queries/users", dependencies=[Depends(_users_allowed)])
async def users_get(
    request: Request,
    ctx: Context,
    ns: Namespace,
    *,
    zone_id: Annotated[QueryList, Query(alias="zoneId")] = None,
    access_point_id: Annotated[QueryList, Query(alias="accessPointId")] = None,
    address: QueryList = None,
) -> JSONResponse:
    """UserList: the namespace's users the operator has attached, filtered by the queries."""
    base = _base(request, ctx.settings.public_uri)
    users = filter_users(
        users_now(ctx.state, ns),
        zones=zone_id or (),
        access_points=access_point_id or (),
        addresses=address or (),
    )
    now = etsi.now()
    body = UserList(
        user=[_user_info(u, base, now) for u in users], resource_url=f"{base}/queries/users"
    )
    return _answer("userList", body.etsi())


@router.get("/queries/distance", dependencies=[Depends(_users_allowed)])
async def distance_get(
    ctx: Context,
    ns: Namespace,
    address: QueryList = None,
    latitude: Annotated[float | None, Query(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Query(ge=-180, le=180)] = None,
) -> JSONResponse:
    """TerminalDistance between a user and a location (latitude, longitude) or two users.

    The location is the file's `location` object, sent the way OpenAPI sends an object query
    parameter by default (form, exploded): `latitude=...&longitude=...`.
    """
    addresses = address or []
    if not addresses or len(addresses) > 2:
        raise bad_request("query.address: give one address with a location, or two addresses")
    has_location = latitude is not None or longitude is not None
    if has_location and (latitude is None or longitude is None):
        raise bad_request("query.location: give both latitude and longitude")
    if len(addresses) == 2 and has_location:
        raise bad_request(
            "query.location: not with a second address (two users, or one and a place)"
        )
    if len(addresses) == 1 and not has_location:
        raise bad_request("query.address: a second address, or a location, is required")
    known = {u.address: u for u in users_now(ctx.state, ns)}
    for one in addresses:
        if one not in known:
            raise not_found(f"user {one!r} in namespace {ns}")
    here = known[addresses[0]].location
    if latitude is not None and longitude is not None:
        there = (latitude, longitude)
    else:
        there = known[addresses[-1]].location
    body = TerminalDistance(
        distance=distance_m(here, there),
        timestamp=TimeStamp.of(etsi.now()),
    )
    return _answer("terminalDistance", body.etsi())


# -- subscriptions -------------------------------------------------------------------------------


def _validated(kind: SubscriptionKind, raw: Any) -> tuple[SubscriptionBase, dict[str, Any]]:
    """The subscription the body holds and its root element as sent; 400 naming the field."""
    try:
        request = kind.request.model_validate(raw)
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        raise RequestValidationError(errors) from None
    chosen = request.chosen()
    sent = raw[chosen.root()]
    assert isinstance(sent, dict)  # noqa: S101 - validated as an object just now
    if chosen.expiry_deadline is not None:
        deadline = from_timestamp(
            chosen.expiry_deadline.seconds, chosen.expiry_deadline.nano_seconds
        )
        if deadline <= etsi.now():
            raise bad_request(f"body.{chosen.root()}.expiryDeadline: the time has already passed")
    return chosen, sent


def _spec(chosen: SubscriptionBase, sent: dict[str, Any], href: str) -> MecSubscriptionSpec:
    """The MecSubscription spec: the body as sent (its callback the chosen alternative)."""
    body = {k: v for k, v in sent.items() if k not in ("_links", "websockNotifConfig")}
    body["_links"] = {"self": {"href": href}}
    deadline = chosen.expiry_deadline
    if deadline is not None:  # as the file spells a TimeStamp (`nanoseconds` is accepted too)
        body["expiryDeadline"] = deadline.etsi()
    return MecSubscriptionSpec(
        api=SubscriptionApi.LOCATION,
        subscription_type=chosen.TYPE,
        callback_reference=chosen.callback_reference,
        filter=chosen.matched_on() or None,
        expiry_deadline=from_timestamp(deadline.seconds, deadline.nano_seconds)
        if deadline
        else None,
        body=body,
    )


def _href(base: str, kind: SubscriptionKind, name: str) -> str:
    return f"{base}/subscriptions/{kind.path}/{name}"


def _representation(subscription: MecSubscription, href: str) -> dict[str, Any]:
    """The subscription as served: its body as sent, with `_links.self` as this client sees it."""
    body = dict(subscription.spec.body or {})
    body["_links"] = {"self": {"href": href}}
    return body


def _root(subscription_type: str) -> str:
    return subscription_type[:1].lower() + subscription_type[1:]


async def _find(
    api: ApiClient, namespace: str, kind: SubscriptionKind, subscription_id: str
) -> MecSubscription:
    """The subscription of this resource, or 404."""
    async with _kube(namespace):
        found = await etsi.find_subscription(
            api, namespace, subscription_id, SubscriptionApi.LOCATION, valid=_is_label
        )
    if found is None or kind.by_type(found.spec.subscription_type) is None:
        raise not_found(f"subscription {subscription_id!r} in {ROOT}/subscriptions/{kind.path}")
    return found


def _is_label(value: str) -> bool:
    return len(value) <= MAX_LABEL and _LABEL.match(value) is not None


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


async def _same_correlator(
    api: ApiClient, namespace: str, chosen: SubscriptionBase
) -> MecSubscription | None:
    """A subscription made earlier with the same type, clientCorrelator and callback (a retry)."""
    if chosen.client_correlator is None:
        return None
    async with _kube(namespace):
        existing = await list_subscriptions(
            api, namespace, subscription_api=SubscriptionApi.LOCATION
        )
    for subscription in existing:
        spec = subscription.spec
        if (
            spec.subscription_type == chosen.TYPE
            and spec.callback_reference == chosen.callback_reference
            and (spec.body or {}).get("clientCorrelator") == chosen.client_correlator
        ):
            return subscription
    return None


def _subscription_routes(kind: SubscriptionKind) -> None:  # noqa: PLR0915
    """GET (list) and POST on /subscriptions/{kind}, GET, PUT and DELETE on its ids."""
    collection = f"/subscriptions/{kind.path}"
    item = collection + "/{subscriptionId}"
    schema = {
        "content": {
            "application/json": {"schema": etsi.inline_schema(kind.request.model_json_schema())}
        }
    }
    names = " or ".join(t.TYPE for t in kind.types)

    async def list_(request: Request, ctx: Context, ns: SubscriptionNamespace) -> JSONResponse:
        wanted = list(kind.types)
        query_type = request.query_params.get("subscription_type")
        if query_type is not None and kind.query_values:
            wanted = kind.by_query(query_type)  # a value naming no type matches nothing
        zone_id = request.query_params.get("zoneId") if kind.path == "zones" else None
        address = request.query_params.get("address") if kind.path == "users" else None
        base = _base(request, ctx.settings.public_uri)
        found = []
        if ns is not None:
            async with _kube(ns):
                found = await list_subscriptions(
                    ctx.api(), ns, subscription_api=SubscriptionApi.LOCATION
                )
        now = etsi.now()
        types = {t.TYPE for t in wanted}
        links = etsi.subscription_links(
            found,
            lambda name: _href(base, kind, name),
            lambda s: (
                s.spec.subscription_type in types
                and not s.spec.is_expired(now)
                and (zone_id is None or (s.spec.filter or {}).get("zoneId") == zone_id)
                and (address is None or (s.spec.filter or {}).get("address") == address)
            ),
        )
        body = NotificationSubscriptionList(
            subscription=links, resource_url=LinkType(href=f"{base}{collection}")
        )
        return _answer("notificationSubscriptionList", body.etsi())

    async def create(
        request: Request,
        ctx: Context,
        in_ns: SubscriptionNamespace,
        who: Caller,
        body: Annotated[Any, Body()],
    ) -> JSONResponse:
        ns = _existing(request, in_ns)
        chosen, sent = _validated(kind, body)
        if kind.path == "zones":  # zone events tell of zones: the caller must be able to see them
            await authorize(ctx, who, Access("list", GROUP, "zones", None))
        api = ctx.api()
        base = _base(request, ctx.settings.public_uri)
        created = await _same_correlator(api, ns, chosen)
        if created is None:
            async with _kube(ns):
                created = await create_subscription_named_by(
                    api,
                    ns,
                    lambda name: _spec(chosen, sent, _href(base, kind, name)),
                    attempts=NAME_ATTEMPTS,
                )
            if chosen.request_test_notification:
                _test_notification(ctx, created, _href(base, kind, created.metadata.name or ""))
        href = _href(base, kind, created.metadata.name or "")
        return _answer(
            _root(created.spec.subscription_type),
            _representation(created, href),
            201,
            location=href,
        )

    async def read(
        request: Request, ctx: Context, in_ns: SubscriptionNamespace, sid: SubscriptionIdPath
    ) -> JSONResponse:
        ns = _existing(request, in_ns)
        found = await _find(ctx.api(), ns, kind, sid)
        href = _href(_base(request, ctx.settings.public_uri), kind, sid)
        return _answer(_root(found.spec.subscription_type), _representation(found, href))

    async def update(
        request: Request,
        ctx: Context,
        *,
        in_ns: SubscriptionNamespace,
        who: Caller,
        sid: SubscriptionIdPath,
        body: Annotated[Any, Body()],
    ) -> JSONResponse:
        ns = _existing(request, in_ns)
        chosen, sent = _validated(kind, body)
        if kind.path == "zones":
            await authorize(ctx, who, Access("list", GROUP, "zones", None))
        api = ctx.api()
        base = _base(request, ctx.settings.public_uri)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            current = await _find(api, ns, kind, sid)
            if current.spec.subscription_type != chosen.TYPE:
                raise bad_request(
                    f"body.{chosen.root()}: subscription {sid} is a "
                    f"{current.spec.subscription_type}; its type cannot change (delete it and "
                    f"create a {chosen.TYPE})"
                )
            stored_href = (current.spec.body or {}).get("_links", {}).get("self", {}).get("href")
            spec = _spec(chosen, sent, stored_href or _href(base, kind, sid))
            try:
                async with _kube(ns):
                    replaced = await replace_subscription_spec(api, current, spec)
            except ApiError as error:
                if error.status == 409 and attempt < WRITE_ATTEMPTS:
                    continue  # changed since read: read it again
                if error.status == 409:
                    raise ProblemError(
                        409, "Conflict", f"subscription {sid} keeps changing: try again"
                    ) from None
                raise
            href = _href(base, kind, sid)
            return _answer(_root(replaced.spec.subscription_type), _representation(replaced, href))
        raise AssertionError("unreachable")  # pragma: no cover

    async def remove(
        request: Request, ctx: Context, in_ns: SubscriptionNamespace, sid: SubscriptionIdPath
    ) -> Response:
        ns = _existing(request, in_ns)
        api = ctx.api()
        await _find(api, ns, kind, sid)
        async with _kube(ns):
            if not await delete_subscription(api, ns, sid):
                raise not_found(f"subscription {sid!r}")
        return Response(status_code=204)

    router.add_api_route(
        collection,
        list_,
        methods=["GET"],
        dependencies=[Depends(_may("list"))],
        summary=f"The active {names}s of the namespace",
        name=f"{kind.path}_subscriptions_list",
    )
    router.add_api_route(
        collection,
        create,
        methods=["POST"],
        status_code=201,
        dependencies=[Depends(_may("create"))],
        openapi_extra={"requestBody": {"required": True, **schema}},
        summary=f"Create a {names}",
        name=f"{kind.path}_subscriptions_create",
    )
    router.add_api_route(
        item,
        read,
        methods=["GET"],
        dependencies=[Depends(_may("get"))],
        summary=f"Read a {names}",
        name=f"{kind.path}_subscription_get",
    )
    router.add_api_route(
        item,
        update,
        methods=["PUT"],
        dependencies=[Depends(_may("update"))],
        openapi_extra={"requestBody": {"required": True, **schema}},
        summary=f"Replace a {names}",
        name=f"{kind.path}_subscription_put",
    )
    router.add_api_route(
        item,
        remove,
        methods=["DELETE"],
        status_code=204,
        dependencies=[Depends(_may("delete"))],
        summary=f"Delete a {names}",
        name=f"{kind.path}_subscription_delete",
    )


for _kind in SUBSCRIPTION_KINDS:
    _subscription_routes(_kind)
