"""The Mp1 resources (MEC 011 v3.1.1, root `/mec_app_support/v1`) as a FastAPI app.

Bodies are served unwrapped (`AppInfo`, not `{"AppInfo": ...}`), as the GS text shows them.
What is served is listed in docs/agents.md ("Mp1"); traffic rules, DNS rules and service
availability subscriptions are not (404).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from edge_host_agent.mp1 import problems
from edge_host_agent.mp1.models import (
    AppInfo,
    AppReadyConfirmation,
    AppTerminationConfirmation,
    AppTerminationSubscriptionRequest,
)
from edge_host_agent.mp1.problems import ProblemError
from edge_host_agent.mp1.registry import (
    AppInstance,
    AppInstanceRegistry,
    RegistryConflictError,
    TerminationSubscription,
    UnknownAppInstanceError,
    UnknownSubscriptionError,
)

ROOT = "/mec_app_support/v1"
SUBSCRIPTION_TYPE = "AppTerminationNotificationSubscription"


def api_base(request: Request) -> str:
    """The Mp1 root as the client reached it (links in answers use it)."""
    return str(request.base_url).rstrip("/") + ROOT


def subscription_href(base: str, subscription: TerminationSubscription) -> str:
    return (
        f"{base}/applications/{subscription.app_instance_id}"
        f"/subscriptions/{subscription.subscription_id}"
    )


def subscription_body(base: str, subscription: TerminationSubscription) -> dict[str, Any]:
    return {
        "subscriptionType": SUBSCRIPTION_TYPE,
        "callbackReference": subscription.callback_reference,
        "appInstanceId": subscription.app_instance_id,
        "_links": {"self": {"href": subscription_href(base, subscription)}},
    }


def build_app(registry: AppInstanceRegistry) -> FastAPI:
    """The Mp1 API over registry."""
    app = FastAPI(
        title="Mp1 application support (ETSI GS MEC 011)",
        version="3.1.1",
        openapi_url=f"{ROOT}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    problems.install(app)
    app.include_router(registrations_router(registry), prefix=ROOT)
    app.include_router(applications_router(registry), prefix=ROOT)
    app.include_router(timing_router(), prefix=ROOT)
    return app


def known(registry: AppInstanceRegistry, app_instance_id: str) -> AppInstance:
    """The registered instance, or a 404 ProblemDetails."""
    try:
        return registry.get(app_instance_id)
    except UnknownAppInstanceError:
        raise ProblemError(404, f"app instance {app_instance_id} is not registered") from None


def registrations_router(registry: AppInstanceRegistry) -> APIRouter:
    """/registrations: AppInfo of the host's app instances."""
    router = APIRouter()

    def instance(app_instance_id: str) -> AppInstance:
        return known(registry, app_instance_id)

    @router.post("/registrations", status_code=201)
    async def register(request: Request, body: AppInfo) -> JSONResponse:
        try:
            registered = registry.register(body)
        except RegistryConflictError as error:
            raise ProblemError(400, str(error)) from None
        location = f"{api_base(request)}/registrations/{registered.app_instance_id}"
        return JSONResponse(registered.app_info(), status_code=201, headers={"Location": location})

    @router.get("/registrations/{appInstanceId}")
    async def get_registration(appInstanceId: str) -> JSONResponse:  # noqa: N803 - ETSI name
        return JSONResponse(instance(appInstanceId).app_info())

    @router.put("/registrations/{appInstanceId}", status_code=204)
    async def update_registration(appInstanceId: str, body: AppInfo) -> Response:  # noqa: N803
        instance(appInstanceId)
        try:
            registry.update(appInstanceId, body)
        except RegistryConflictError as error:
            raise ProblemError(400, str(error)) from None
        return Response(status_code=204)

    @router.delete("/registrations/{appInstanceId}", status_code=204)
    async def deregister(appInstanceId: str) -> Response:  # noqa: N803
        instance(appInstanceId)
        registry.deregister(appInstanceId)
        return Response(status_code=204)

    return router


def applications_router(registry: AppInstanceRegistry) -> APIRouter:
    """/applications/{appInstanceId}: readiness, termination, termination subscriptions."""
    router = APIRouter()

    def instance(app_instance_id: str) -> AppInstance:
        return known(registry, app_instance_id)

    def subscription(app_instance_id: str, subscription_id: str) -> TerminationSubscription:
        instance(app_instance_id)
        try:
            return registry.subscription(app_instance_id, subscription_id)
        except UnknownSubscriptionError:
            raise ProblemError(
                404,
                f"app instance {app_instance_id} has no subscription {subscription_id}",
            ) from None

    @router.post("/applications/{appInstanceId}/confirm_ready", status_code=204)
    async def confirm_ready(appInstanceId: str, body: AppReadyConfirmation) -> Response:  # noqa: N803
        instance(appInstanceId)
        registry.confirm_ready(appInstanceId)
        return Response(status_code=204)

    @router.post("/applications/{appInstanceId}/confirm_termination", status_code=204)
    async def confirm_termination(
        appInstanceId: str,  # noqa: N803
        body: AppTerminationConfirmation,
    ) -> Response:
        instance(appInstanceId)
        try:
            registry.confirm_termination(appInstanceId, body.operation_action)
        except RegistryConflictError as error:
            raise ProblemError(409, str(error)) from None
        return Response(status_code=204)

    @router.get("/applications/{appInstanceId}/subscriptions")
    async def list_subscriptions(request: Request, appInstanceId: str) -> JSONResponse:  # noqa: N803
        base = api_base(request)
        subscriptions = instance(appInstanceId).subscriptions.values()
        return JSONResponse(
            {
                "_links": {
                    "self": {"href": f"{base}/applications/{appInstanceId}/subscriptions"},
                    "subscriptions": [
                        {"href": subscription_href(base, s), "subscriptionType": SUBSCRIPTION_TYPE}
                        for s in subscriptions
                    ],
                }
            }
        )

    @router.post("/applications/{appInstanceId}/subscriptions", status_code=201)
    async def subscribe(
        request: Request,
        appInstanceId: str,  # noqa: N803
        body: AppTerminationSubscriptionRequest,
    ) -> JSONResponse:
        instance(appInstanceId)
        if body.app_instance_id != appInstanceId:
            raise ProblemError(
                400,
                f"body.appInstanceId: {body.app_instance_id} is not the instance of the path "
                f"({appInstanceId})",
            )
        created = registry.subscribe_termination(appInstanceId, body.callback_reference)
        base = api_base(request)
        return JSONResponse(
            subscription_body(base, created),
            status_code=201,
            headers={"Location": subscription_href(base, created)},
        )

    @router.get("/applications/{appInstanceId}/subscriptions/{subscriptionId}")
    async def get_subscription(
        request: Request,
        appInstanceId: str,  # noqa: N803
        subscriptionId: str,  # noqa: N803
    ) -> JSONResponse:
        found = subscription(appInstanceId, subscriptionId)
        return JSONResponse(subscription_body(api_base(request), found))

    @router.delete("/applications/{appInstanceId}/subscriptions/{subscriptionId}", status_code=204)
    async def unsubscribe(appInstanceId: str, subscriptionId: str) -> Response:  # noqa: N803
        subscription(appInstanceId, subscriptionId)
        registry.unsubscribe(appInstanceId, subscriptionId)
        return Response(status_code=204)

    return router


def timing_router() -> APIRouter:
    """/timing: the host's clock as the agent sees it."""
    router = APIRouter()

    @router.get("/timing/current_time")
    async def current_time() -> JSONResponse:
        now = time.time_ns()
        return JSONResponse(
            {
                "seconds": now // 1_000_000_000,
                "nanoSeconds": now % 1_000_000_000,
                # The agent does not know whether the host's clock is locked to UTC.
                "timeSourceStatus": "NONTRACEABLE",
            }
        )

    @router.get("/timing/timing_caps")
    async def timing_caps() -> JSONResponse:
        # The agent knows of no NTP server or PTP master of the host, and gives no time stamp
        # (the file's TimeStamp shape, arrays of numbers, is not the GS's structure).
        return JSONResponse({"timeStamp": [], "ntpServers": [], "ptpMasters": []})

    return router
