"""Who is calling, and may they: TokenReview and SubjectAccessReview, as the API server answers.

The REST API has no users of its own: a bearer token is whatever the Kubernetes API server
accepts (a ServiceAccount token, an OIDC token, ...), and every call is authorised against the
same RBAC that governs `kubectl`, so one Role decides for both doors. Answers are cached for a
few seconds (keyed by a hash of the token, never the token itself), as the API server's own
webhook authenticator does, so a burst of calls costs one review.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kubernetes_asyncio import client

from mec_common.rbac import PolicyRule

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(("authentication.k8s.io",), ("tokenreviews",), ("create",), scope="cluster"),
    PolicyRule(("authorization.k8s.io",), ("subjectaccessreviews",), ("create",), scope="cluster"),
)
"""The REST API checks callers' tokens and authorises their calls through the API server."""


TOKEN_CACHE_SECONDS = 10.0
ACCESS_CACHE_SECONDS = 5.0
CACHE_ENTRIES = 4096

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Identity:
    """An authenticated caller, as TokenReview names it."""

    user: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Access:
    """What a call touches, in RBAC's terms."""

    verb: str  # get, list, create, update, patch, delete
    group: str
    resource: str
    namespace: str | None
    name: str | None = None
    subresource: str | None = None


@dataclass
class _Cache(Generic[K, V]):
    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    entries: dict[K, tuple[float, V]] = field(default_factory=dict)

    def lookup(self, key: K) -> tuple[bool, V | None]:
        """(found and fresh, the value)."""
        found = self.entries.get(key)
        if found is None or found[0] < self.clock():
            return False, None
        return True, found[1]

    def put(self, key: K, value: V) -> None:
        if len(self.entries) >= CACHE_ENTRIES:
            now = self.clock()
            self.entries = {k: v for k, v in self.entries.items() if v[0] >= now}
            if len(self.entries) >= CACHE_ENTRIES:
                self.entries.clear()
        self.entries[key] = (self.clock() + self.ttl_s, value)


class KubernetesAuth:
    """TokenReview + SubjectAccessReview through one API client, with short caches."""

    def __init__(self, api: Callable[[], client.ApiClient]) -> None:
        """api: returns the operator's API client (it exists once the operator started)."""
        self._api = api
        self._tokens: _Cache[str, Identity | None] = _Cache(TOKEN_CACHE_SECONDS)
        self._access: _Cache[tuple[Identity, Access], tuple[bool, str]] = _Cache(
            ACCESS_CACHE_SECONDS
        )

    async def authenticate(self, token: str) -> Identity | None:
        """The identity the token stands for, or None when the API server rejects it."""
        key = hashlib.sha256(token.encode()).hexdigest()
        fresh, cached = self._tokens.lookup(key)
        if fresh:
            return cached
        review = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
        answer = await client.AuthenticationV1Api(self._api()).create_token_review(review)
        status = answer.status
        identity: Identity | None = None
        if status is not None and status.authenticated and status.user is not None:
            user = status.user
            identity = Identity(
                user=user.username or "",
                uid=user.uid or "",
                groups=tuple(user.groups or ()),
                extra=tuple(sorted((k, tuple(v)) for k, v in (user.extra or {}).items())),
            )
        self._tokens.put(key, identity)
        return identity

    async def authorize(self, identity: Identity, access: Access) -> tuple[bool, str]:
        """(allowed, the authorizer's reason) for identity doing access."""
        fresh, cached = self._access.lookup((identity, access))
        if fresh and cached is not None:
            return cached
        attributes = client.V1ResourceAttributes(
            verb=access.verb,
            group=access.group,
            resource=access.resource,
            namespace=access.namespace,
            name=access.name,
            subresource=access.subresource,
        )
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=identity.user,
                uid=identity.uid or None,
                groups=list(identity.groups),
                extra={k: list(v) for k, v in identity.extra} or None,
                resource_attributes=attributes,
            )
        )
        answer = await client.AuthorizationV1Api(self._api()).create_subject_access_review(review)
        status = answer.status
        result = (bool(status and status.allowed), (status.reason if status else "") or "")
        self._access.put((identity, access), result)
        return result
