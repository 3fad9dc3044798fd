"""The FastAPI application: probes, metrics and the ETSI routers, each under two roots.

Every ETSI router is mounted at the bare ETSI root (`/app_pkgm/v1`, ... — the default namespace)
and under `/namespaces/{namespace}` (FastAPI's "bigger applications" layout: one router per API,
included with a prefix). /healthz, /readyz and /metrics need no token, as the kubelet and
Prometheus expect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mec_orchestrator import __version__
from mec_orchestrator.adapters.callbacks import CallbackDelivery
from mec_orchestrator.adapters.kube.auth import KubernetesAuth
from mec_orchestrator.api import problems
from mec_orchestrator.api.deps import ApiContext
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.operator.cell_changes import CellChangeIntake
from mec_orchestrator.operator.live_feed import LiveFeed
from mec_orchestrator.operator.state import OperatorState
from mec_orchestrator.operator.users import UserDirectory

NAMESPACED_ROOT = "/namespaces/{namespace}"


def etsi_routers() -> list[APIRouter]:
    """One router per ETSI API, in the order docs/api.md lists them."""
    from mec_orchestrator.api.routers import amsi, app_lcm, app_pkgm, dev_app, location

    return [app_pkgm.router, app_lcm.router, location.router, dev_app.router, amsi.router]


def create_app(
    state: OperatorState,
    settings: ApiSettings,
    notifier: CallbackDelivery | None = None,
    users: UserDirectory | None = None,
    cell_changes: CellChangeIntake | None = None,
    *,
    live: LiveFeed | None = None,
) -> FastAPI:
    """The API over the operator's state; notifier delivers notifications to subscribers.

    users: the devices' directory (MEC 016); cell_changes: where the RNIS's notifications go;
    live: the live view's feed (its page and streams are served under /live/).
    """
    app = FastAPI(
        title="MEC orchestrator",
        version=__version__,
        description="ETSI MEC 010-2 (app packages, app lifecycle) and MEC 013 (location), "
        "served from the Kubernetes resources.",
        docs_url="/docs",
        redoc_url=None,
    )
    auth = None if settings.auth is AuthMode.NONE else KubernetesAuth(lambda: state.api)
    app.state.context = ApiContext(
        state=state, settings=settings, auth=auth, notifier=notifier, users=users
    )
    problems.install(app)
    _limit_body(app, settings)

    @app.get("/healthz", include_in_schema=False, response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        ready = state.ready
        return PlainTextResponse(
            "ready" if ready else "starting", status_code=200 if ready else 503
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if settings.enabled:
        errors = problems.documented_errors()
        for router in etsi_routers():
            app.include_router(router, responses=errors)
            app.include_router(router, prefix=NAMESPACED_ROOT, responses=errors)
        from mec_orchestrator.api.routers import amsi, location

        location.attach(app.state.context)  # MEC 013 zone notifications: Zone changes, watched
        if users is not None:
            location.attach_users(app.state.context, users)  # MEC 013 users' location events
        amsi.attach(app, users)  # MEC 021 registrations; notifications of users' moves
    if cell_changes is not None:
        from mec_orchestrator.api.routers import rnis_callbacks

        app.include_router(rnis_callbacks.router_for(cell_changes))
    if live is not None:
        from mec_orchestrator.api.routers import live as live_view

        answered = {400, 404, 503}  # the live view checks no token: no 401 or 403
        errors = {k: v for k, v in problems.documented_errors().items() if k in answered}
        app.include_router(live_view.router_for(live), responses=errors)
    _document_400_not_422(app)
    return app


def _document_400_not_422(app: FastAPI) -> None:
    """The OpenAPI document says what the API answers: a bad request is a 400 ProblemDetails.

    FastAPI documents its default 422 for every operation with parameters; this API answers 400
    (problems.install), so the generated document is corrected once, when first asked for.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for item in document.get("paths", {}).values():
                for operation in item.values():
                    if isinstance(operation, dict):
                        operation.get("responses", {}).pop("422", None)
            schemas = document.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _limit_body(app: FastAPI, settings: ApiSettings) -> None:
    """Refuse bodies over the limit with 413, by their Content-Length or as they stream in."""

    @app.middleware("http")
    async def limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        limit = (
            settings.max_package_bytes
            if request.url.path.endswith("/package_content")
            else settings.max_body_bytes
        )
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return problems.problem_response(
                request,
                413 if declared.isdigit() else 400,
                "Payload Too Large" if declared.isdigit() else "Bad Request",
                f"the body may be at most {limit} bytes"
                if declared.isdigit()
                else "Content-Length is not a number",
            )
        return await call_next(request)
