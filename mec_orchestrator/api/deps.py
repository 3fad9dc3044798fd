"""Typed dependencies of every router: the context, the namespace, the caller, the permission.

ETSI paths have no tenant, so the API root carries it: `/namespaces/{namespace}/app_lcm/v1/...`
acts in that namespace, and the bare ETSI paths (`/app_lcm/v1/...`) in the configured default
one, so unmodified ETSI clients work. The caller is whoever the Kubernetes API server says the
bearer token belongs to (TokenReview); each call is authorised with SubjectAccessReview against
the resource, verb and namespace it touches, so one Role governs `kubectl` and REST alike.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from mec_common.patterns import DNS_LABEL
from mec_orchestrator.adapters.callbacks import CallbackDelivery
from mec_orchestrator.adapters.kube.auth import Access, Identity, KubernetesAuth
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.api.problems import ProblemError
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.model import GROUP
from mec_orchestrator.operator.state import OperatorState
from mec_orchestrator.operator.users import UserDirectory

DEVELOPER = Identity(user="mec:developer", groups=("system:authenticated",))
"""The caller when authentication is off (MEC_API_AUTH=none)."""

_DNS_LABEL = re.compile(DNS_LABEL)


@dataclass
class ApiContext:
    """What the handlers share: operator state, settings, authenticator, notification delivery."""

    state: OperatorState
    settings: ApiSettings
    auth: KubernetesAuth | None  # None: authentication is off
    notifier: CallbackDelivery | None = None  # None: notifications are not sent (tests only)
    users: UserDirectory | None = None  # None: no agents' server, so no device can attach

    def api(self) -> ApiClient:
        if not self.state.ready:
            raise ProblemError(
                503,
                "Service Unavailable",
                "the orchestrator is starting (or standing by): try again shortly",
                {"Retry-After": "1"},
            )
        return self.state.api


def context(request: Request) -> ApiContext:
    found: ApiContext = request.app.state.context
    return found


Context = Annotated[ApiContext, Depends(context)]


def namespace(request: Request, ctx: Context) -> str:
    """The namespace the API root names, or the default one for bare ETSI paths."""
    named = request.path_params.get("namespace")
    if named is None:
        return ctx.settings.default_namespace
    if not isinstance(named, str) or len(named) > 63 or not _DNS_LABEL.match(named):
        # No namespace can have that name: nothing is there (every ETSI operation documents 404,
        # not all document 400).
        raise ProblemError(
            404, "Not Found", f"path.namespace: {named!r} is not a namespace name (RFC 1123)"
        )
    return named


Namespace = Annotated[str, Depends(namespace)]


async def caller(request: Request, ctx: Context) -> Identity:
    """The authenticated caller (401 without a bearer token, or with one nobody accepts)."""
    if ctx.auth is None or ctx.settings.auth is AuthMode.NONE:
        return DEVELOPER
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="mec-orchestrator"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401, "Unauthorized", "a bearer token is required (Authorization: Bearer ...)", challenge
        )
    ctx.api()  # 503 before asking the API server while the operator is not up
    identity = await ctx.auth.authenticate(token.strip())
    if identity is None:
        raise ProblemError(401, "Unauthorized", "the bearer token was not accepted", challenge)
    return identity


Caller = Annotated[Identity, Depends(caller)]


async def authorize(ctx: ApiContext, who: Identity, access: Access) -> None:
    """403 unless RBAC lets who do access."""
    if ctx.auth is None or ctx.settings.auth is AuthMode.NONE:
        return
    allowed, reason = await ctx.auth.authorize(who, access)
    if not allowed:
        target = f"{access.resource}{'/' + access.subresource if access.subresource else ''}"
        where = f' in namespace "{access.namespace}"' if access.namespace else ""
        because = f": {reason}" if reason else ""
        raise ProblemError(
            403,
            "Forbidden",
            f'user "{who.user}" may not {access.verb} {target}.{access.group}{where}{because}',
        )


def allowed(
    verb: str, resource: str, subresource: str | None = None
) -> Callable[..., Awaitable[None]]:
    """A dependency: the caller may `verb` `resource` (of the mec.dev group) in the namespace."""

    async def check(ctx: Context, who: Caller, ns: Namespace) -> None:
        await authorize(ctx, who, Access(verb, GROUP, resource, ns, subresource=subresource))

    return check
