"""MecSubscriptions in the API server: create, read, list, replace, delete; the status writer.

The REST API keeps every ETSI subscription a client POSTs as a MecSubscription (its id is the
object's name, generated with the prefix `sub-`), so subscriptions outlive the process. Where
the stored body carries the subscription's own URI (MEC 010-2 AppLcm, MEC 013), the name is
chosen before the object is created (`create_subscription_named_by`); a MEC 013 PUT replaces
the spec whole, with the resourceVersion read, so a concurrent change is a conflict, never
lost. Each object carries the label `mec.dev/api` = spec.api, so one API's subscriptions are
listed with a label selector. The status (delivery counts) is written with a merge patch of the
status subresource: the fields sent replace theirs, the others are kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.rbac import PolicyRule
from mec_orchestrator.adapters.kube import objects
from mec_orchestrator.adapters.kube.status import merge_patch
from mec_orchestrator.model import GROUP, VERSION, ObjectMeta
from mec_orchestrator.model.subscription import (
    API_LABEL,
    MecSubscription,
    MecSubscriptionSpec,
    MecSubscriptionStatus,
    SubscriptionApi,
)

GENERATE_NAME = "sub-"
PLURAL = MecSubscription.PLURAL


REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        (GROUP,),
        ("mecsubscriptions",),
        ("get", "list", "watch", "create", "update", "patch", "delete"),
        scope="cluster",
    ),
)
"""ETSI subscriptions (MEC 010-2, 013, 016, 021) are MecSubscription objects."""


def _path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


async def create_subscription(
    api: client.ApiClient,
    namespace: str,
    spec: MecSubscriptionSpec,
    *,
    labels: Mapping[str, str] | None = None,
) -> MecSubscription:
    """Create a MecSubscription named `sub-<random>` in namespace; the object as stored.

    The label `mec.dev/api` is set from spec.api (it overrides a label of that key in labels).
    Fields are validated strictly: the API server refuses what the CRD does not know (ApiError
    422 naming the field).
    """
    body = MecSubscription(
        metadata=ObjectMeta(
            generate_name=GENERATE_NAME, labels={**(labels or {}), API_LABEL: spec.api.value}
        ),
        spec=spec,
    ).to_dict()
    return MecSubscription.model_validate(await objects.create_object(api, PLURAL, namespace, body))


async def create_named_subscription(
    api: client.ApiClient, namespace: str, name: str, spec: MecSubscriptionSpec
) -> MecSubscription:
    """Create the MecSubscription namespace/name (label mec.dev/api = spec.api); as stored.

    For a subscription whose stored body carries its own URI, so its name must be known before
    the object exists. ApiError 409 when the name is taken; 422 naming a field refused.
    """
    body = MecSubscription(
        metadata=ObjectMeta(name=name, labels={API_LABEL: spec.api.value}), spec=spec
    ).to_dict()
    return MecSubscription.model_validate(await objects.create_object(api, PLURAL, namespace, body))


async def create_subscription_named_by(
    api: client.ApiClient,
    namespace: str,
    spec_for: Callable[[str], MecSubscriptionSpec],
    *,
    attempts: int,
) -> MecSubscription:
    """Create a MecSubscription under a fresh name `sub-<random>`, its spec made for that name.

    A name taken already (ApiError 409) is replaced by another, up to attempts names; the last
    409 is raised.
    """
    for attempt in range(1, attempts + 1):
        name = f"{GENERATE_NAME}{secrets.token_hex(5)}"
        try:
            return await create_named_subscription(api, namespace, name, spec_for(name))
        except ApiException as error:
            if error.status != 409 or attempt >= attempts:
                raise
    raise ValueError(f"attempts must be at least 1, not {attempts}")


async def get_subscription(
    api: client.ApiClient, namespace: str, name: str
) -> MecSubscription | None:
    """The MecSubscription namespace/name as stored, or None when there is none."""
    body = await objects.get_object(api, PLURAL, namespace, name)
    return MecSubscription.model_validate(body) if body is not None else None


async def list_subscriptions(
    api: client.ApiClient,
    namespace: str | None,
    *,
    subscription_api: SubscriptionApi | None = None,
) -> list[MecSubscription]:
    """The MecSubscriptions of namespace (None: every namespace), of one API if given.

    Sorted by namespace and name, so a listing is stable. Objects are read in pages of 500.
    """
    selector = f"{API_LABEL}={subscription_api.value}" if subscription_api is not None else ""
    found = [
        MecSubscription.model_validate(item)
        for item in await objects.list_objects(api, PLURAL, namespace, label_selector=selector)
    ]
    return sorted(found, key=lambda s: (s.metadata.namespace or "", s.metadata.name or ""))


async def replace_subscription_spec(
    api: client.ApiClient, current: MecSubscription, spec: MecSubscriptionSpec
) -> MecSubscription:
    """Replace the spec of the MecSubscription read as current; as stored.

    The write carries current's resourceVersion: ApiError 409 if it changed since it was read,
    404 if it is gone, 422 if the API server refuses the spec (e.g. another subscriptionType).
    """
    namespace, name = current.metadata.namespace or "", current.metadata.name or ""
    body = current.model_copy(update={"spec": spec}).to_dict()
    body.pop("status", None)
    replaced: dict[str, Any] = await client.CustomObjectsApi(api).replace_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, body, field_validation="Strict"
    )
    return MecSubscription.model_validate(replaced)


async def delete_subscription(api: client.ApiClient, namespace: str, name: str) -> bool:
    """Delete the MecSubscription namespace/name; False when there was none."""
    return await objects.delete_object(api, PLURAL, namespace, name)


async def write_subscription_status(
    api: client.ApiClient,
    namespace: str,
    name: str,
    status: MecSubscriptionStatus | Mapping[str, Any],
) -> MecSubscription | None:
    """Merge status into the MecSubscription's status; the object as stored, None if gone.

    A model is sent without its unset fields, so only the fields it sets are replaced; a mapping
    is sent as is (a field set to None is removed, as a merge patch does).
    """
    fields = status.to_dict() if isinstance(status, MecSubscriptionStatus) else dict(status)
    try:
        stored = await merge_patch(api, f"{_path(namespace, name)}/status", {"status": fields})
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return MecSubscription.model_validate(stored)
