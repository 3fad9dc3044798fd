"""What every ETSI router shares: API server errors as ProblemDetails, links, times, selectors.

The three routers (MEC 010-2 `app_pkgm` and `app_lcm`, MEC 013 `location`) each grew their own
copies of these; they live here once so the APIs answer alike:

- `kube_problems`: the one mapping of the Kubernetes API server's errors (ApiError) to
  ProblemDetails — 404 (a missing namespace or object), 409 (changed concurrently), 400 (the
  server refused the object), 429 with the server's Retry-After, and 503 for its 5xx where a
  router asks for it;
- `base`: the API root as the client reached it, so links work behind a proxy and under
  `/namespaces/{ns}`;
- `now`, `TimeStamp.of` (in `schemas.common`), `accepted` (202 with a Location);
- the attribute filter and selector plumbing around the pure parsing of
  `decisions/packages/query.py` (MEC 013 has no attribute filter: location does not use it);
- the subscription plumbing: find one of an API, list links to them, submit a notification.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from mec_common.patterns import DNS_SUBDOMAIN
from mec_orchestrator.adapters.kube import subscriptions as kube_subscriptions
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.api.problems import ProblemError, bad_request, conflict, not_found
from mec_orchestrator.api.schemas.common import SubscriptionLink
from mec_orchestrator.decisions.packages.query import (
    Filter,
    QueryError,
    Selection,
    parse_filter,
    parse_selection,
)
from mec_orchestrator.model.subscription import MecSubscription, SubscriptionApi

log = logging.getLogger(__name__)

MAX_NAME = 253
_SUBDOMAIN = re.compile(DNS_SUBDOMAIN)

QueryText = Annotated[str | None, Query(max_length=4096)]
FilterText = Annotated[str | None, Query(alias="filter", max_length=4096)]


# -- the API server's errors ---------------------------------------------------------------------


@asynccontextmanager
async def kube_problems(
    what: str,
    *,
    missing: str | None,
    conflicts: bool = True,
    server_errors: bool = False,
) -> AsyncIterator[None]:
    """API server errors met inside as ProblemDetails about `what` (e.g. "the package").

    missing: what a 404 says does not exist (None: the ApiError passes, the caller knows);
    conflicts: a 409 is answered as a conflict (False: the ApiError passes, for callers that
    retry); server_errors: a 5xx is answered 503 with Retry-After (else it passes: a 500).
    """
    try:
        yield
    except ApiError as error:
        status = error.status or 0
        if status == 404 and missing is not None:
            raise not_found(missing) from None
        if status == 409 and conflicts:
            raise conflict(
                f"{what} changed while this request was served: read it again and retry"
            ) from None
        if status in (400, 422):
            raise bad_request(f"the API server refused {what}: {message(error)}") from None
        if status == 429:  # its rate limiter, or its storage (re)initializing
            headers: Mapping[str, str] = error.headers or {}
            raise ProblemError(
                429,
                "Too Many Requests",
                f"the Kubernetes API server asks to retry later: {message(error)}",
                {"Retry-After": str(headers.get("Retry-After", "1"))},
            ) from None
        if status >= 500 and server_errors:
            raise ProblemError(
                503,
                "Service Unavailable",
                f"the Kubernetes API server is busy ({message(error)}): try again shortly",
                {"Retry-After": "1"},
            ) from None
        raise


def message(error: ApiError) -> str:
    """The API server's own explanation of an error (its Status message), else the reason."""
    try:
        return str(json.loads(error.body or b"{}").get("message", error.reason))
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


# -- links, times, answers -----------------------------------------------------------------------


def origin(request: Request, public_uri: str) -> str:
    """scheme://host[:port] of the API: the configured public URI, else as the client asked."""
    return public_uri.rstrip("/") or f"{request.url.scheme}://{request.url.netloc}"


def base(request: Request, public_uri: str, root: str) -> str:
    """The API root as the client reached it (with /namespaces/{ns} if it used that)."""
    path = request.url.path
    prefix = path[: path.index(root)] if root in path else ""
    return f"{origin(request, public_uri)}{prefix}{root}"


def now() -> datetime:
    return datetime.now(UTC)


def accepted(location: str) -> JSONResponse:
    """202: the file's body schema is an empty object (the GS text: no content)."""
    return JSONResponse({}, status_code=202, headers={"Location": location})


def is_object_name(text: str) -> bool:
    """Could name a Kubernetes object (others name nothing: 404 without asking the server)."""
    return len(text) <= MAX_NAME and _SUBDOMAIN.match(text) is not None


# -- attribute filters and selectors (GS MEC 009 6.18-6.19) --------------------------------------


@dataclass(frozen=True)
class Selected:
    """A query's attribute filter (None: all match) and attribute selector."""

    matcher: Filter | None
    selection: Selection

    def answer(self, infos: Iterable[Mapping[str, Any]]) -> JSONResponse:
        """The JSON array of the representations that match, each with its attributes selected."""
        return JSONResponse(
            [
                self.selection.apply(i)
                for i in infos
                if self.matcher is None or self.matcher.matches(i)
            ]
        )


def selected(
    *,
    filter_text: str | None,
    known: Collection[str],
    all_fields: str | None,
    fields: str | None,
    exclude_fields: str | None,
    exclude_default: str | None,
    optional: Collection[str],
    default_excluded: Collection[str],
    exclude_default_when_absent: bool = False,
) -> Selected:
    """The filter and selector of a query; 400 naming the parameter when one is refused."""
    try:
        matcher = parse_filter(filter_text, known) if filter_text is not None else None
        selection = parse_selection(
            all_fields=all_fields,
            fields=fields,
            exclude_fields=exclude_fields,
            exclude_default=exclude_default,
            optional=optional,
            default_excluded=default_excluded,
            exclude_default_when_absent=exclude_default_when_absent,
        )
    except QueryError as error:
        raise bad_request(str(error)) from None
    return Selected(matcher, selection)


def one_of(name: str, first: str | None, second: str | None) -> str | None:
    """The value of a parameter the file spells two ways (`fields`, `fields1`); 400 if both."""
    if first is not None and second is not None:
        raise bad_request(f"query.{name}: given twice (as {name} and {name}1)")
    return first if first is not None else second


# -- subscriptions (MecSubscriptions) ------------------------------------------------------------


async def find_subscription(
    api: ApiClient,
    namespace: str,
    subscription_id: str,
    which: SubscriptionApi,
    *,
    valid: Callable[[str], bool] = is_object_name,
) -> MecSubscription | None:
    """The subscription of API `which` with that id, or None (an id `valid` refuses is none).

    Raises the API server's errors (ApiError): the router answers them in its own words.
    """
    if not valid(subscription_id):
        return None
    found = await kube_subscriptions.get_subscription(api, namespace, subscription_id)
    return found if found is not None and found.spec.api is which else None


def subscription_links(
    found: Iterable[MecSubscription],
    href: Callable[[str], str],
    keep: Callable[[MecSubscription], bool] = lambda _: True,
) -> list[SubscriptionLink]:
    """A SubscriptionLink (href(name), subscriptionType) for each subscription kept."""
    return [
        SubscriptionLink(
            href=href(s.metadata.name or ""), subscription_type=s.spec.subscription_type
        )
        for s in found
        if keep(s)
    ]


def inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its `$defs` references replaced by the definitions (none recurse).

    A request body schema goes into the OpenAPI document as is (`openapi_extra`), where a
    `#/$defs/...` reference would point at the document's root.
    """
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                merged = {**definitions[ref.removeprefix("#/$defs/")], **node}
                del merged["$ref"]
                return resolve(merged)
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
