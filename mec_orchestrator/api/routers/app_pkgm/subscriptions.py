"""AppPkgm subscriptions (`/subscriptions`): create, list, read and delete MecSubscriptions.

A subscription is a MecSubscription (`spec.api: AppPkgm`), named by the API server (`sub-...`);
`shared.notify_subscribers` sends them the events they want.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse

from mec_orchestrator.adapters.kube import subscriptions as kube_subscriptions
from mec_orchestrator.adapters.kube.auth import Access
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import (
    Caller,
    Context,
    Namespace,
    allowed,
    authorize,
    namespace,
)
from mec_orchestrator.api.problems import ProblemError
from mec_orchestrator.api.routers.app_pkgm.shared import (
    SUBSCRIPTION,
    SUBSCRIPTION_RESOURCE,
    SUBSCRIPTIONS,
    kube_errors,
    root_url,
)
from mec_orchestrator.api.schemas.app_pkgm import (
    AppPkgSubscription,
    AppPkgSubscriptionInfo,
    AppPkgSubscriptionLinkList,
    AppPkgSubscriptionLinks,
)
from mec_orchestrator.api.schemas.common import LinkType, SubscriptionLinks
from mec_orchestrator.decisions.packages.names import (
    is_package_name,
)
from mec_orchestrator.model import (
    GROUP,
)
from mec_orchestrator.model.subscription import (
    MecSubscription,
    MecSubscriptionSpec,
    SubscriptionApi,
)

router = APIRouter()


SubscriptionIdPath = Annotated[
    str, Path(alias="subscriptionId", min_length=1, max_length=253, description="Its id.")
]


def _subscription_info(subscription: MecSubscription, base: str) -> AppPkgSubscriptionInfo:
    name = subscription.metadata.name or ""
    return AppPkgSubscriptionInfo(
        id=name,
        subscription_type=subscription.spec.subscription_type,
        callback_uri=subscription.spec.callback_reference,
        links=AppPkgSubscriptionLinks(self_=LinkType(href=f"{base}{SUBSCRIPTIONS}/{name}")),
    )


async def _subscription(api: ApiClient, namespace: str, key: str) -> MecSubscription:
    async with kube_errors(namespace):
        found = await etsi.find_subscription(
            api, namespace, key, SubscriptionApi.APP_PKGM, valid=is_package_name
        )
    if found is None:
        raise ProblemError(
            404, "Not Found", f"no AppPkgm subscription {key!r} in namespace {namespace}"
        )
    return found


@router.post(
    SUBSCRIPTIONS,
    status_code=201,
    dependencies=[Depends(allowed("create", SUBSCRIPTION_RESOURCE))],
    summary="Subscribe to notifications of onboarding, operational state changes, deletion",
)
async def create_subscription(
    body: AppPkgSubscription, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    api = ctx.api()
    sent = body.etsi()
    spec = MecSubscriptionSpec(
        api=SubscriptionApi.APP_PKGM,
        subscription_type=body.subscription_type,
        callback_reference=body.callback_uri,
        filter={"appPkgFilter": sent["appPkgFilter"]} if "appPkgFilter" in sent else None,
        body=sent,
    )
    async with kube_errors(ns):
        created = await kube_subscriptions.create_subscription(api, ns, spec)
    info = _subscription_info(created, root_url(request, ctx.settings.public_uri))
    return JSONResponse(info.etsi(), status_code=201, headers={"Location": info.links.self_.href})


@router.get(
    SUBSCRIPTIONS,
    dependencies=[Depends(allowed("list", SUBSCRIPTION_RESOURCE))],
    summary="List the AppPkgm subscriptions of the namespace",
)
async def list_subscriptions(request: Request, ctx: Context, ns: Namespace) -> JSONResponse:
    api = ctx.api()
    async with kube_errors(ns):
        found = await kube_subscriptions.list_subscriptions(
            api, ns, subscription_api=SubscriptionApi.APP_PKGM
        )
    base = root_url(request, ctx.settings.public_uri)
    links = etsi.subscription_links(found, lambda name: f"{base}{SUBSCRIPTIONS}/{name}")
    listed = AppPkgSubscriptionLinkList(
        links=SubscriptionLinks(
            self_=LinkType(href=f"{base}{SUBSCRIPTIONS}"), subscriptions=links or None
        )
    )
    return JSONResponse(listed.etsi())


@router.get(
    SUBSCRIPTION,
    dependencies=[Depends(allowed("get", SUBSCRIPTION_RESOURCE))],
    summary="Read an AppPkgm subscription",
)
async def read_subscription(
    key: SubscriptionIdPath, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    found = await _subscription(ctx.api(), ns, key)
    return JSONResponse(
        _subscription_info(found, root_url(request, ctx.settings.public_uri)).etsi()
    )


@router.delete(
    SUBSCRIPTION,
    status_code=204,
    summary="Terminate an AppPkgm subscription",
)
async def delete_subscription(
    key: SubscriptionIdPath, request: Request, ctx: Context, who: Caller
) -> Response:
    # The file documents no 400 for this operation: a namespace that cannot exist is a 404,
    # so the namespace is checked here rather than by the `allowed` dependency.
    ns = namespace(request, ctx)  # a name no namespace can have: 404
    await authorize(ctx, who, Access("delete", GROUP, SUBSCRIPTION_RESOURCE, ns))
    api = ctx.api()
    found = await _subscription(api, ns, key)
    async with kube_errors(ns):
        await kube_subscriptions.delete_subscription(api, ns, found.metadata.name or key)
    return Response(status_code=204)
