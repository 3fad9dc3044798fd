"""AppLcm subscriptions (`/subscriptions`): create, list, read and delete MecSubscriptions.

A subscription is a MecSubscription (`spec.api: AppLcm`) whose stored body carries its own URI
(`_links.self`), so notifications name it as the client reached it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from mec_orchestrator.adapters.kube import subscriptions as kube_subscriptions
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import Context, Namespace, allowed
from mec_orchestrator.api.problems import (
    bad_request,
    not_found,
)
from mec_orchestrator.api.routers.app_lcm.shared import (
    CONFLICT_ATTEMPTS,
    MSUBS,
    SUBSCRIPTION,
    SUBSCRIPTIONS,
    kube_errors,
    root_url,
)
from mec_orchestrator.api.schemas.app_lcm import (
    SUBSCRIPTION_REQUESTS,
    WRAPPERS,
    AppInstanceSubscriptionLinkList,
    LcmSubscriptionRequest,
)
from mec_orchestrator.api.schemas.common import LinkType, SubscriptionLinks
from mec_orchestrator.decisions.lcm.notifications import SubscriptionType
from mec_orchestrator.model.subscription import (
    MecSubscription,
    MecSubscriptionSpec,
    SubscriptionApi,
)

router = APIRouter()


SubscriptionId = Annotated[
    str, Path(alias="subscriptionId", min_length=1, max_length=253, description="Its id.")
]


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
    async with kube_errors(namespace, f"subscription {sid}"):
        found = await etsi.find_subscription(api, namespace, sid, SubscriptionApi.APP_LCM)
    if found is None:
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
    base = root_url(request, ctx.settings.public_uri)

    def spec(name: str) -> MecSubscriptionSpec:
        return MecSubscriptionSpec(
            api=SubscriptionApi.APP_LCM,
            subscription_type=chosen.TYPE,
            callback_reference=chosen.callback_uri,
            filter=chosen.criteria() or None,
            body={**chosen.etsi(), "_links": {"self": {"href": f"{base}{SUBSCRIPTIONS}/{name}"}}},
        )

    async with kube_errors(ns, "the subscription"):
        created = await kube_subscriptions.create_subscription_named_by(
            api, ns, spec, attempts=CONFLICT_ATTEMPTS
        )
    href = f"{base}{SUBSCRIPTIONS}/{created.metadata.name}"
    return JSONResponse(
        _subscription_info(created, href), status_code=201, headers={"Location": href}
    )


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
    async with kube_errors(ns, "the subscriptions"):
        found = await kube_subscriptions.list_subscriptions(
            ctx.api(), ns, subscription_api=SubscriptionApi.APP_LCM
        )
    base = root_url(request, ctx.settings.public_uri)
    links = etsi.subscription_links(
        found,
        lambda name: f"{base}{SUBSCRIPTIONS}/{name}",
        lambda s: subscriptiontype is None or s.spec.subscription_type == subscriptiontype.value,
    )
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
    href = f"{root_url(request, ctx.settings.public_uri)}{SUBSCRIPTIONS}/{sid}"
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
    async with kube_errors(ns, f"subscription {sid}"):
        await kube_subscriptions.delete_subscription(api, ns, sid)
    return Response(status_code=204)
