"""Mp1 for an app: register with the edge-host agent, confirm ready and termination, hear requests.

```python
from mec_app_sdk.mp1 import Mp1Client, app_info

async with Mp1Client() as mp1:  # MEC_MP1_URL, MEC_APP_INSTANCE_ID from the environment
    await mp1.register(app_info("ar-anchors", endpoint_uri="http://10.0.0.5:8080",
                                user_context_endpoint="10.0.0.5:50070"))
    await mp1.confirm_ready()
    await mp1.subscribe_termination("http://10.0.0.5:8081/mp1/termination")
    ...  # on an AppTerminationNotification (parse_termination_notification): wind down, then
    await mp1.confirm_termination()
    await mp1.deregister()
```

Settings come from the environment the app instance gets (`Mp1Settings`): `MEC_MP1_URL` (the
agent's Mp1 address, with or without the `/mec_app_support/v1` root), `MEC_APP_INSTANCE_ID`
(the id the platform gave the instance; without it the agent assigns one at registration),
`MEC_MP1_TIMEOUT_S`. Every refusal raises an `Mp1Error` carrying the ProblemDetails' detail
(`Mp1BadRequestError`, `Mp1NotFoundError`, `Mp1ConflictError`); an agent that cannot be
reached raises `Mp1UnavailableError`. The user-context gRPC endpoint is registered as
`appProfile.userContextEndpoint` (host:port), which the agent reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = "/mec_app_support/v1"


class Mp1Settings(BaseSettings):
    """`MEC_MP1_URL`, `MEC_APP_INSTANCE_ID`, `MEC_MP1_TIMEOUT_S`."""

    model_config = SettingsConfigDict(env_prefix="MEC_", extra="ignore", frozen=True)

    mp1_url: str = Field(description="the agent's Mp1, e.g. http://127.0.0.1:8090")
    app_instance_id: str | None = None
    mp1_timeout_s: float = Field(10.0, gt=0, le=300)

    @property
    def api_root(self) -> str:
        url = self.mp1_url.rstrip("/")
        return url if url.endswith(ROOT) else url + ROOT


class Mp1Error(Exception):
    """Mp1 refused a call: the HTTP status and the ProblemDetails (detail, title)."""

    def __init__(self, status: int, detail: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.problem = problem or {}


class Mp1BadRequestError(Mp1Error):
    """400: the detail names the field."""


class Mp1NotFoundError(Mp1Error):
    """404: the app instance (or subscription) is not registered."""


class Mp1ConflictError(Mp1Error):
    """409: e.g. confirming a termination no one asked for."""


class Mp1UnavailableError(Mp1Error):
    """The agent could not be reached (status 0)."""


class NotRegisteredError(RuntimeError):
    """A call that needs the app instance id before register() gave one."""


_ERRORS: dict[int, type[Mp1Error]] = {
    400: Mp1BadRequestError,
    404: Mp1NotFoundError,
    409: Mp1ConflictError,
}


@dataclass(frozen=True)
class Registration:
    """The agent's answer to register: the instance id, its resource and the AppInfo."""

    app_instance_id: str
    location: str
    app_info: dict[str, Any]


@dataclass(frozen=True)
class TerminationSubscription:
    subscription_id: str
    href: str
    callback_reference: str


@dataclass(frozen=True)
class TerminationNotification:
    """An AppTerminationNotification as the app's callback receives it."""

    operation_action: str
    max_graceful_timeout_s: int
    subscription_href: str
    confirm_termination_href: str | None


def parse_termination_notification(body: dict[str, Any]) -> TerminationNotification:
    """Read an AppTerminationNotification; ValueError naming the field if it is not one."""
    if body.get("notificationType") != "AppTerminationNotification":
        raise ValueError("notificationType: not AppTerminationNotification")
    action, grace, links = (
        body.get("operationAction"),
        body.get("maxGracefulTimeout"),
        body.get("_links"),
    )
    if action not in ("TERMINATING", "STOPPING"):
        raise ValueError(f"operationAction: {action!r} is not TERMINATING or STOPPING")
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 1:
        raise ValueError(f"maxGracefulTimeout: {grace!r} is not a positive integer")
    links = links if isinstance(links, dict) else {}
    subscription = links.get("subscription")
    href = subscription.get("href") if isinstance(subscription, dict) else None
    if not isinstance(href, str):
        raise ValueError("_links.subscription.href: missing")  # noqa: TRY004 - a bad body
    confirm = links.get("confirmTermination")
    confirm_href = confirm.get("href") if isinstance(confirm, dict) else None
    return TerminationNotification(
        action, grace, href, confirm_href if isinstance(confirm_href, str) else None
    )


def app_info(
    app_name: str,
    *,
    app_instance_id: str | None = None,
    endpoint_uri: str | None = None,
    user_context_endpoint: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An AppInfo body: the app's name, its user-facing URI and its UserContextService host:port.

    `extra` adds other AppInfo fields by their ETSI names (appProvider, appDId, ...).
    """
    info: dict[str, Any] = {"appName": app_name, **extra}
    if app_instance_id is not None:
        info["appInstanceId"] = app_instance_id
    if endpoint_uri is not None:
        info["endpoint"] = {"uris": [endpoint_uri]}
    if user_context_endpoint is not None:
        info["appProfile"] = {
            **info.get("appProfile", {}),
            "userContextEndpoint": user_context_endpoint,
        }
    return info


class Mp1Client:
    """An async Mp1 client for one app instance (use `async with`, or `aclose`)."""

    def __init__(
        self,
        settings: Mp1Settings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or Mp1Settings()  # from the environment
        self.app_instance_id = self.settings.app_instance_id
        self._http = httpx.AsyncClient(
            base_url=self.settings.api_root,
            timeout=self.settings.mp1_timeout_s,
            transport=transport,
            trust_env=False,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _instance(self) -> str:
        if self.app_instance_id is None:
            raise NotRegisteredError(
                "no app instance id: register first or set MEC_APP_INSTANCE_ID"
            )
        return self.app_instance_id

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise Mp1UnavailableError(
                0, f"{method} {path}: {type(error).__name__}: {error}"
            ) from error
        if response.is_success:
            return response
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        detail = str(problem.get("detail") or response.reason_phrase or "no detail")
        raise _ERRORS.get(response.status_code, Mp1Error)(response.status_code, detail, problem)

    async def register(self, info: dict[str, Any]) -> Registration:
        """POST /registrations; the instance id is the settings' one unless info names one."""
        body = dict(info)
        if "appInstanceId" not in body and self.app_instance_id is not None:
            body["appInstanceId"] = self.app_instance_id
        response = await self._call("POST", "/registrations", body)
        answer: dict[str, Any] = response.json()
        self.app_instance_id = str(answer["appInstanceId"])
        return Registration(self.app_instance_id, response.headers.get("Location", ""), answer)

    async def registration(self) -> dict[str, Any]:
        """GET /registrations/{id}: the AppInfo the agent holds."""
        answer: dict[str, Any] = (
            await self._call("GET", f"/registrations/{self._instance()}")
        ).json()
        return answer

    async def update(self, info: dict[str, Any]) -> None:
        await self._call("PUT", f"/registrations/{self._instance()}", info)

    async def confirm_ready(self) -> None:
        path = f"/applications/{self._instance()}/confirm_ready"
        await self._call("POST", path, {"indication": "READY"})

    async def confirm_termination(
        self, operation_action: Literal["TERMINATING", "STOPPING"] = "TERMINATING"
    ) -> None:
        path = f"/applications/{self._instance()}/confirm_termination"
        await self._call("POST", path, {"operationAction": operation_action})

    async def subscribe_termination(self, callback_uri: str) -> TerminationSubscription:
        """Have AppTerminationNotifications POSTed to callback_uri."""
        instance = self._instance()
        body = {
            "subscriptionType": "AppTerminationNotificationSubscription",
            "callbackReference": callback_uri,
            "appInstanceId": instance,
        }
        answer = (await self._call("POST", f"/applications/{instance}/subscriptions", body)).json()
        href = str(answer["_links"]["self"]["href"])
        return TerminationSubscription(href.rsplit("/", 1)[-1], href, callback_uri)

    async def unsubscribe(self, subscription: TerminationSubscription) -> None:
        path = f"/applications/{self._instance()}/subscriptions/{subscription.subscription_id}"
        await self._call("DELETE", path)

    async def deregister(self) -> None:
        await self._call("DELETE", f"/registrations/{self._instance()}")

    async def current_time(self) -> dict[str, Any]:
        answer: dict[str, Any] = (await self._call("GET", "/timing/current_time")).json()
        return answer
